r"""Fused recurrence of MinimalRNN (:class:`rnnzoo.cells.minimal_rnn.MinimalRNNCell`), forward and a hand-written
backward::

    [z_t, a_t] = u_t                                  # u = project(x): [tanh(W x + b_z), W_hz z + b_u]
    k_t = sigmoid(a_t + h_{t-1} @ W_h.T)
    h_t = k_t * h_{t-1} + (1 - k_t) * z_t

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step):
``k_t`` into ``K[t]`` (``addmm`` then ``sigmoid_``), ``h_t`` into ``S[t]`` (``lerp``). Without a mask the state
buffer ``S`` is the output itself. Backward, per step (``g`` the cotangent of ``h_t``, zeroed on masked rows)::

    dz = g * (1 - k)
    da = g * (h_{t-1} - z) * k * (1 - k)  = (h_t - z) * dz
    dh = g * k + da @ W_h                             # the cotangent of h_{t-1} (masked rows: g unchanged)

written straight into one preallocated ``du (T, B, 2H)``; the recurrent weight's gradient is one product over all
steps after the loop. A masked step (mask ``(T, B)``, True = valid) keeps the state and outputs zero; its gradient
passes through unchanged. The cell's step loop is the reference twin: ``tests/fused/test_one_field_functions.py``
and the model contract suite hold the two equal in float64.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, step_back, weight_grad
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class MinimalRNNFunction(torch.autograd.Function):
    """``(u (T, B, 2H), W (H, H), h0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Wt = StepProduct(W, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        K = buffer(u, (T, B, H))
        zs, as_, ss, ks = u[..., :H].unbind(0), u[..., H:].unbind(0), S.unbind(0), K.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        h = h0
        for t in range(T):
            k = Wt.addmm_into(as_[t], h, ks[t]).sigmoid_()
            new = torch.lerp(zs[t], h, k, out=ss[t])
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.has_mask = mask is not None
        ctx.save_for_backward(u, W, h0, S, K, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        u, W, h0, S, K, mask = ctx.saved_tensors
        T, B, H = K.shape
        du = buffer(g_out, (T, B, 2 * H))
        if T == 0:
            return du, torch.zeros_like(W), g_h, None
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ss, ks, zs, gos = S.unbind(0), K.unbind(0), u[..., :H].unbind(0), g_out.unbind(0)
        dzs, das = du[..., :H].unbind(0), du[..., H:].unbind(0)
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            k, dz, da = ks[t], dzs[t], das[t]
            gm = g if ms is None else g * ms[t]
            torch.addcmul(gm, gm, k, value=-1.0, out=dz)  # g (1 - k)
            torch.sub(ss[t], zs[t], out=da).mul_(dz)  # (h_t - z) g (1 - k) = g (h_{t-1} - z) k (1 - k)
            gn = torch.addmm(gm - dz, da, W)
            g = step_back(gn, g, gos, ms, t)
        dW = None
        if ctx.needs_input_grad[1]:
            da_all = du[..., H:]
            dW = weight_grad(da_all, h0, S)
        return du, dW, g, None


def minimal_rnn_recurrence(u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run MinimalRNN over ``u (T, B, 2H)`` (``project`` of the time-major input) with ``W = weight_hh (H, H)`` from
    ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs zero). Returns
    ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return MinimalRNNFunction.apply(u, W, h0, mask)
