r"""Fused recurrence of MiRU1 (:class:`rnnzoo.cells.miru.MiRU1Cell`), forward and a hand-written backward::

    r_t  = sigmoid(ur_t + h_{t-1} @ U_r^T)            # u = project(x) = [W_r x + b_r, W_h x + b_h]
    hc_t = tanh(uh_t + (r_t * h_{t-1}) @ U_h^T)
    h_t  = lam * h_{t-1} + (1 - lam) * hc_t

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step):
``[r, hc]`` into ``G[t] (B, 2H)`` (two ``addmm``, ``sigmoid_`` / tanh in place, the tanh as
:func:`rnnzoo.fused._common.tanh_into`'s ``2 * sigmoid(2x) - 1``, about twice as fast as ``aten::tanh`` here),
``r_t * h_{t-1}`` into ``RH[t]``, ``h_t`` into ``S[t]`` (``lerp``). Backward, per step (``g`` the cotangent of
``h_t``, zeroed on masked rows)::

    dah = g (1 - lam) (1 - hc^2);  drh = dah @ U_h
    dar = drh * h_{t-1} * r (1 - r)
    dh  = lam g + drh * r + dar @ U_r               # the cotangent of h_{t-1} (masked rows: g unchanged)

written straight into one preallocated ``du (T, B, 2H)``; ``U_r``'s gradient is one product over all steps against
the states, ``U_h``'s one against ``RH``. A masked step (mask ``(T, B)``, True = valid) keeps the state and outputs
zero; its gradient passes through unchanged. The cell's step loop is the reference twin:
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


class MiRU1Function(torch.autograd.Function):
    """``(u (T, B, 2H), W (2H, H), h0 (B, H), lam, mask (T, B) or None) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, h0: Tensor, lam: float, mask: Tensor | None
                ) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Urt, Uht = StepProduct(W[:H], B), StepProduct(W[H:], B)  # faster form (fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        RH = buffer(u, (T, B, H))  # r_t * h_{t-1}
        G = buffer(u, (T, B, 2 * H))  # [r, hc]
        urs, uhs = u[..., :H].unbind(0), u[..., H:].unbind(0)
        ss, rhs = S.unbind(0), RH.unbind(0)
        rs, hcs = G[..., :H].unbind(0), G[..., H:].unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        k = tanh_constants(h0)
        h = h0
        for t in range(T):
            r = Urt.addmm_into(urs[t], h, rs[t]).sigmoid_()
            rh = torch.mul(r, h, out=rhs[t])
            hc = tanh_into(Uht.addmm_into(uhs[t], rh, hcs[t]), hcs[t], k)
            new = torch.lerp(hc, h, lam, out=ss[t])
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.lam, ctx.has_mask = lam, mask is not None
        ctx.save_for_backward(W, h0, S, RH, G, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        W, h0, S, RH, G, mask = ctx.saved_tensors
        T, B, H = S.shape
        lam = ctx.lam
        du = buffer(g_out, (T, B, 2 * H))
        if T == 0:
            return du, torch.zeros_like(W), g_h, None, None
        Ur, Uh = W[:H], W[H:]
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ss, gos = S.unbind(0), g_out.unbind(0)
        rs, hcs = G[..., :H].unbind(0), G[..., H:].unbind(0)
        drs, dhs = du[..., :H].unbind(0), du[..., H:].unbind(0)
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            r, hc, dr, dh = rs[t], hcs[t], drs[t], dhs[t]
            h_prev = ss[t - 1] if t else h0
            gm = g if ms is None else g * ms[t]
            torch.mul(gm, 1.0 - lam, out=dh)
            dh.addcmul_(dh * hc, hc, value=-1.0)  # g (1 - lam) (1 - hc^2)
            drh = torch.mm(dh, Uh)
            torch.mul(drh, h_prev, out=dr).mul_(r)
            dr.addcmul_(dr, r, value=-1.0)  # drh h_{t-1} r (1 - r)
            gn = torch.addcmul(torch.mul(gm, lam), drh, r)
            gn.addmm_(dr, Ur)
            g = step_back(gn, g, gos, ms, t)
        dW = None
        if ctx.needs_input_grad[1]:
            dW = torch.empty_like(W)
            dW[:H] = weight_grad(du[..., :H], h0, S)
            torch.mm(du[..., H:].flatten(0, 1).t(), RH.flatten(0, 1), out=dW[H:])
        return du, dW, g, None, None


def miru1_recurrence(u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None = None, *,
                     lam: float) -> tuple[Tensor, Tensor]:
    """Run MiRU1 over ``u (T, B, 2H)`` (``project`` of the time-major input) with ``W = weight_hh [U_r; U_h] (2H, H)``
    and the update coefficient ``lam`` from ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps
    ``h`` and outputs zero). Returns ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return MiRU1Function.apply(u, W, h0, lam, mask)
