r"""Fused recurrence of SGRN (:class:`rnnzoo.cells.sgrn.SGRNCell`), forward and a hand-written backward::

    f_t = sigmoid(a_t + h_{t-1} @ W_h.T + b_f)        # a = project(x) = W x + b; b_f optional
    h_t = tanh((1 - f_t) * a_t + f_t * h_{t-1})

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step): the gate
into ``F[t]`` (``addmm``, ``+ b_f``, ``sigmoid_``), ``h_t`` into ``S[t]`` (``lerp`` then tanh in place, as
:func:`rnnzoo.fused._common.tanh_into`'s ``2 * sigmoid(2x) - 1``, about twice as fast as ``aten::tanh`` here).
Without a mask the state buffer ``S`` is the output itself. Backward, per step (``g`` the cotangent of ``h_t``,
zeroed on masked rows)::

    ga   = g * (1 - h_t^2)
    dpre = ga * (h_{t-1} - a) * f * (1 - f)           # the gate's pre-activation
    da   = dpre + ga * (1 - f)                        # a enters the gate and the blend
    dh   = ga * f + dpre @ W_h                        # masked rows: g unchanged

``dpre`` into one preallocated ``(T, B, H)`` buffer and ``da`` into another; after the loop the recurrent weight's
gradient is one product over all steps and ``b_f``'s one sum. A masked step (mask ``(T, B)``, True = valid) keeps the
state and outputs zero; its gradient passes through unchanged. The cell's step loop is the reference twin:
``tests/fused/test_one_field_functions.py`` and the model contract suite hold the two equal in float64.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, step_back, tanh_constants, tanh_into, weight_grad
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class SGRNFunction(torch.autograd.Function):
    """``(u (T, B, H), W (H, H), b_f (H,) or None, h0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, b_f: Tensor | None, h0: Tensor, mask: Tensor | None
                ) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Wt = StepProduct(W, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        F = buffer(u, (T, B, H))
        us, ss, fs = u.unbind(0), S.unbind(0), F.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        k = tanh_constants(h0)
        h = h0
        for t in range(T):
            f = Wt.addmm_into(us[t], h, fs[t])
            if b_f is not None:
                f.add_(b_f)
            f.sigmoid_()
            new = tanh_into(torch.lerp(us[t], h, f, out=ss[t]), ss[t], k)
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.has_mask = mask is not None
        ctx.save_for_backward(u, W, h0, S, F, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        u, W, h0, S, F, mask = ctx.saved_tensors
        T, B, H = S.shape
        du = buffer(g_out, (T, B, H))
        need_b = ctx.needs_input_grad[2]
        if T == 0:
            return du, torch.zeros_like(W), W.new_zeros(H) if need_b else None, g_h, None
        dpre = buffer(g_out, (T, B, H))
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        us, ss, fs, gos, dus, dps = u.unbind(0), S.unbind(0), F.unbind(0), g_out.unbind(0), du.unbind(0), dpre.unbind(0)
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            h1, f, dp = ss[t], fs[t], dps[t]
            prev = ss[t - 1] if t else h0
            gm = g if ms is None else g * ms[t]
            ga = torch.addcmul(gm, gm * h1, h1, value=-1.0)  # g (1 - h^2)
            torch.sub(prev, us[t], out=dp).mul_(ga).mul_(f)
            dp.addcmul_(dp, f, value=-1.0)  # ga (h - a) f (1 - f)
            torch.add(dp, ga, out=dus[t]).addcmul_(ga, f, value=-1.0)  # dpre + ga (1 - f)
            dh = torch.addmm(ga * f, dp, W)
            g = step_back(dh, g, gos, ms, t)
        dW = None
        if ctx.needs_input_grad[1]:
            dW = weight_grad(dpre, h0, S)
        db = dpre.sum((0, 1)) if need_b else None
        return du, dW, db, g, None


def sgrn_recurrence(u: Tensor, W: Tensor, b_f: Tensor | None, h0: Tensor, mask: Tensor | None = None
                    ) -> tuple[Tensor, Tensor]:
    """Run SGRN over ``u (T, B, H)`` (``project`` of the time-major input) with ``W = weight_hh (H, H)`` and the gate
    bias ``b_f = bias_f (H,)`` (or None) from ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps
    ``h`` and outputs zero). Returns ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return SGRNFunction.apply(u, W, b_f, h0, mask)
