r"""Fused recurrence of STAR (:class:`rnnzoo.cells.star.STARCell`), forward and a hand-written backward::

    z_t = tanh(uz_t)                                  # u = project(x): [W_z x + b_z, W_x x + b_k]; z hoisted
    k_t = sigmoid(uk_t + h_{t-1} @ W_h.T)
    h_t = tanh((1 - k_t) * h_{t-1} + k_t * z_t)

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step): ``z_t``
into ``Z[t]``, ``k_t`` into ``K[t]`` (``addmm`` then ``sigmoid_``), ``h_t`` into ``S[t]`` (``lerp`` then tanh in
place); both tanh as :func:`rnnzoo.fused._common.tanh_into`'s ``2 * sigmoid(2x) - 1`` (about twice as fast as
``aten::tanh`` here). Without a mask the state buffer ``S`` is the output itself.
Backward, per step (``g`` the cotangent of ``h_t``; ``ga`` zeroed on masked rows)::

    ga   = g * (1 - h_t^2)                            # through the outer tanh
    duz  = ga * k * (1 - z^2)
    duk  = ga * (z - h_{t-1}) * k * (1 - k)
    dh   = ga * (1 - k) + duk @ W_h                   # the cotangent of h_{t-1} (masked rows: g unchanged)

each written straight into one preallocated ``du (T, B, 2H)``; the recurrent weight's gradient is one product over
all steps after the loop. A masked step (mask ``(T, B)``, True = valid) keeps the state and outputs zero; its
gradient passes through unchanged. The cell's step loop is the reference twin:
``tests/fused/test_one_field_functions.py``
and the model contract suite hold the two equal in outputs and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, step_back, tanh_constants, tanh_into, weight_grad
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class STARFunction(torch.autograd.Function):
    """``(u (T, B, 2H), W (H, H), h0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Wt = StepProduct(W, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        K = buffer(u, (T, B, H))
        Z = buffer(u, (T, B, H))
        us, zs, ss, ks = u.unbind(0), Z.unbind(0), S.unbind(0), K.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        tc = tanh_constants(h0)
        h = h0
        for t in range(T):
            z = tanh_into(us[t][:, :H], zs[t], tc)
            k = Wt.addmm_into(us[t][:, H:], h, ks[t]).sigmoid_()
            new = tanh_into(torch.lerp(h, z, k, out=ss[t]), ss[t], tc)
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.has_mask = mask is not None
        ctx.save_for_backward(W, h0, S, K, Z, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        W, h0, S, K, Z, mask = ctx.saved_tensors
        T, B, H = K.shape
        du = buffer(g_out, (T, B, 2 * H))
        if T == 0:
            return du, torch.zeros_like(W), g_h, None
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ss, ks, zs, gos, dus = S.unbind(0), K.unbind(0), Z.unbind(0), g_out.unbind(0), du.unbind(0)
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            h1, k, z = ss[t], ks[t], zs[t]
            prev = ss[t - 1] if t else h0
            ga = torch.addcmul(g, g * h1, h1, value=-1.0)  # g (1 - h^2)
            if ms is not None:
                ga.mul_(ms[t])
            dz, dk = dus[t][:, :H], dus[t][:, H:]
            torch.mul(ga, k, out=dz)
            keep = ga - dz  # ga (1 - k)
            torch.sub(z, prev, out=dk).mul_(dz)  # ga k (z - h)
            dk.addcmul_(dk, k, value=-1.0)  # * (1 - k)
            dz.addcmul_(dz * z, z, value=-1.0)  # * (1 - z^2)
            gn = torch.addmm(keep, dk, W)
            g = step_back(gn, g, gos, ms, t)
        dW = None
        if ctx.needs_input_grad[1]:
            dk_all = du[..., H:]
            dW = weight_grad(dk_all, h0, S)
        return du, dW, g, None


def star_recurrence(u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run STAR over ``u (T, B, 2H)`` (``project`` of the time-major input) with ``W = weight_hh (H, H)`` from
    ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs zero). Returns
    ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return STARFunction.apply(u, W, h0, mask)
