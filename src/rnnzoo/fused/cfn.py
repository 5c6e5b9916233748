r"""Fused recurrence of the chaos-free network (:class:`rnnzoo.cells.cfn.CFNCell`), forward and a hand-written
backward::

    [theta_t, eta_t] = sigmoid([ut_t, ue_t] + h_{t-1} @ [U_theta; U_eta].T)   # u = project(x) = [ut, ue, ux]
    h_t = theta_t * tanh(h_{t-1}) + eta_t * tanh(ux_t)

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step): both
gates into ``G[t] (B, 2H)`` (``addmm`` then one ``sigmoid_``), ``[tanh(h_{t-1}), tanh(ux_t)]`` into ``TX[t] (B, 2H)``
(both halves in one pass as ``2 * sigmoid(2x) - 1``, :func:`rnnzoo.fused._common.tanh_into`'s form, about twice as
fast as ``aten::tanh`` here), ``h_t`` into ``S[t]``. Without a mask the state buffer ``S`` is the output itself.
Backward, per step (``g`` the cotangent of ``h_t``, zeroed on masked rows; both gates in one pass over the
``(B, 2, H)`` views)::

    [dut, due] = g * [tanh(h_{t-1}), tanh(ux)] * G * (1 - G)
    dux = g * eta * (1 - tanh(ux)^2)
    dh  = g * theta * (1 - tanh(h_{t-1})^2) + [dut, due] @ [U_theta; U_eta]     # masked rows: g unchanged

written straight into one preallocated ``du (T, B, 3H)``; the recurrent weight's gradient is one product over all
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

from rnnzoo.fused._common import check_mask, step_back, tanh_constants, weight_grad
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class CFNFunction(torch.autograd.Function):
    """``(u (T, B, 3H), W (2H, H), h0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Wt = StepProduct(W, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        G = buffer(u, (T, B, 2 * H))  # [theta, eta]
        TX = buffer(u, (T, B, 2 * H))  # [tanh(h_{t-1}), tanh(ux_t)]
        neg1, two = tanh_constants(buffer(u, (B, 2 * H)))
        us, ss, gs, txs = u.unbind(0), S.unbind(0), G.unbind(0), TX.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        h = h0
        for t in range(T):
            gt, tx = gs[t], txs[t]
            Wt.addmm_into(us[t][:, :2 * H], h, gt).sigmoid_()
            # tanh_into over both halves at once: [th, x] = 2 sigmoid(2 [h, ux]) - 1
            torch.add(h, h, out=tx[:, :H])
            torch.add(us[t][:, 2 * H:], us[t][:, 2 * H:], out=tx[:, H:])
            torch.addcmul(neg1, tx.sigmoid_(), two, out=tx)
            new = torch.mul(gt[:, :H], tx[:, :H], out=ss[t]).addcmul_(gt[:, H:], tx[:, H:])
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.has_mask = mask is not None
        ctx.save_for_backward(W, h0, S, G, TX, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        W, h0, S, G, TX, mask = ctx.saved_tensors
        T, B, H = S.shape
        du = buffer(g_out, (T, B, 3 * H))
        if T == 0:
            return du, torch.zeros_like(W), g_h, None
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        gs, txs, gos, dus = G.unbind(0), TX.unbind(0), g_out.unbind(0), du.unbind(0)
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            gt, tx = gs[t], txs[t]
            theta, eta, th, x = gt[:, :H], gt[:, H:], tx[:, :H], tx[:, H:]
            dg, dux = dus[t][:, :2 * H], dus[t][:, 2 * H:]
            gm = g if ms is None else g * ms[t]
            torch.mul(tx.view(B, 2, H), gm.unsqueeze(1), out=dg.view(B, 2, H))
            dg.mul_(gt)
            dg.addcmul_(dg, gt, value=-1.0)  # g [th, x] G (1 - G)
            torch.mul(gm, eta, out=dux)
            dux.addcmul_(dux * x, x, value=-1.0)  # g eta (1 - x^2)
            dh = gm * theta
            dh.addcmul_(dh * th, th, value=-1.0)  # g theta (1 - th^2)
            dh = torch.addmm(dh, dg, W)
            g = step_back(dh, g, gos, ms, t)
        dW = None
        if ctx.needs_input_grad[1]:
            dg_all = du[..., :2 * H]
            dW = weight_grad(dg_all, h0, S)
        return du, dW, g, None


def cfn_recurrence(u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run the CFN over ``u (T, B, 3H)`` (``project`` of the time-major input) with ``W = weight_hh (2H, H)`` from
    ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs zero). Returns
    ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return CFNFunction.apply(u, W, h0, mask)
