r"""Fused recurrence of UGRNN (:class:`rnnzoo.cells.ugrnn.UGRNNCell`), forward and a hand-written backward::

    [ac, ag]_t = u_t + h_{t-1} @ [W_ch; W_gh].T      # u = project(x) = [W_cx x + b_c, W_gx x + b_g]
    c_t = tanh(ac); g_t = sigmoid(ag)
    h_t = g_t * h_{t-1} + (1 - g_t) * c_t

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step): both
pre-activations into ``G[t] (B, 2H)`` (``addmm``), tanh and ``sigmoid_`` on its halves in place (the tanh as
:func:`rnnzoo.fused._common.tanh_into`'s ``2 * sigmoid(2x) - 1``, about twice as fast as ``aten::tanh`` here),
``h_t`` into ``S[t]`` (``lerp``). Without a mask the state buffer ``S`` is the output itself. Backward, per step
(``g`` the cotangent of ``h_t``, zeroed on masked rows)::

    dac = g * (1 - g_t) * (1 - c^2)
    dag = g * (h_{t-1} - c) * g_t * (1 - g_t)  = (h_t - c) * g * (1 - g_t)
    dh  = g * g_t + [dac, dag] @ [W_ch; W_gh]          # the cotangent of h_{t-1} (masked rows: g unchanged)

written straight into one preallocated ``du (T, B, 2H)``; the recurrent weight's gradient is one product over all
steps after the loop. A masked step (mask ``(T, B)``, True = valid) keeps the state and outputs zero; its gradient
passes through unchanged. The cell's step loop is the reference twin:
``tests/fused/test_one_field_functions.py`` and the
model contract suite hold the two equal in float64.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, step_back, tanh_constants, tanh_into, weight_grad
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class UGRNNFunction(torch.autograd.Function):
    """``(u (T, B, 2H), W (2H, H), h0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Wt = StepProduct(W, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        G = buffer(u, (T, B, 2 * H))  # [c, g]
        us, ss, gs = u.unbind(0), S.unbind(0), G.unbind(0)
        cs, gates = G[..., :H].unbind(0), G[..., H:].unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        k = tanh_constants(h0)
        h = h0
        for t in range(T):
            Wt.addmm_into(us[t], h, gs[t])
            new = torch.lerp(tanh_into(cs[t], cs[t], k), h, gates[t].sigmoid_(), out=ss[t])
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.has_mask = mask is not None
        ctx.save_for_backward(W, h0, S, G, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        W, h0, S, G, mask = ctx.saved_tensors
        T, B, H = S.shape
        du = buffer(g_out, (T, B, 2 * H))
        if T == 0:
            return du, torch.zeros_like(W), g_h, None
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ss, gos, dus = S.unbind(0), g_out.unbind(0), du.unbind(0)
        cs, gates = G[..., :H].unbind(0), G[..., H:].unbind(0)
        dcs, dgs = du[..., :H].unbind(0), du[..., H:].unbind(0)
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            c, gt, dc, dg = cs[t], gates[t], dcs[t], dgs[t]
            gm = g if ms is None else g * ms[t]
            torch.addcmul(gm, gm, gt, value=-1.0, out=dc)  # g (1 - g_t)
            keep = gm - dc  # g g_t
            torch.sub(ss[t], c, out=dg).mul_(dc)  # (h_t - c) g (1 - g_t) = g (h_{t-1} - c) g_t (1 - g_t)
            dc.addcmul_(dc * c, c, value=-1.0)  # * (1 - c^2)
            gn = torch.addmm(keep, dus[t], W)
            g = step_back(gn, g, gos, ms, t)
        dW = None
        if ctx.needs_input_grad[1]:
            dW = weight_grad(du, h0, S)
        return du, dW, g, None


def ugrnn_recurrence(u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run UGRNN over ``u (T, B, 2H)`` (``project`` of the time-major input) with ``W = weight_hh (2H, H)`` from
    ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs zero). Returns
    ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return UGRNNFunction.apply(u, W, h0, mask)
