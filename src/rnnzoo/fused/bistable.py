r"""Fused recurrence of the bistable cells (:class:`rnnzoo.cells.bistable.BRCell` and
:class:`~rnnzoo.cells.bistable.NBRCell`), forward and a hand-written backward, one Function for both::

    [ra_t, rc_t] = [w_a; w_c] * [h_{t-1}; h_{t-1}]      # BRC: per-unit weights, W (2H,)
                 = h_{t-1} @ [W_a; W_c].T                # nBRC: one product, W (2H, H)
    ta_t = tanh(ua_t + ra_t)                             # a_t = 1 + ta_t; u = project(x) = [ua, uc, ux]
    c_t  = sigmoid(uc_t + rc_t)
    n_t  = tanh(ux_t + a_t * h_{t-1})
    h_t  = c_t * h_{t-1} + (1 - c_t) * n_t

``W.dim()`` is the switch. Forward: the loop with raw tensor operations written into preallocated buffers (no autograd
graph per step): both gates' pre-activations into ``G[t] (B, 2H)`` (``addmm``, or one ``addcmul`` over a
``(B, 2, H)`` view), ``tanh`` and ``sigmoid_`` on their halves in place, ``n_t`` into ``N[t]``, ``h_t`` into
``S[t]`` (``lerp``). Both tanh are :func:`rnnzoo.fused._common.tanh_into` (``2 * sigmoid(2x) - 1``, about twice
as fast as ``aten::tanh`` here). Without a mask the state buffer ``S`` is the output itself. Backward, per step (``g``
the cotangent of ``h_t``, zeroed on masked rows)::

    dux = g * (1 - c) * (1 - n^2)
    dua = dux * h_{t-1} * (1 - ta^2)
    duc = g * (h_{t-1} - n) * c * (1 - c)
    dh  = g * c + dux * a + [dua, duc] @ W          # nBRC; BRC: + w_a * dua + w_c * duc (masked rows: g unchanged)

each written straight into one preallocated ``du (T, B, 3H)``. nBRC's weight gradient is one product over all steps
after the loop; BRC's ``[dw_a; dw_c] = sum [dua, duc] * h_{t-1}`` is accumulated per step into one ``(B, 2, H)``
buffer and summed over the batch once. A masked step (mask ``(T, B)``, True = valid) keeps the state and outputs
zero; its gradient passes through unchanged. The cells' step loop is the reference twin:
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


class BistableFunction(torch.autograd.Function):
    """``(u (T, B, 3H), W (2H, H) or (2H,), h0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        matrix = W.dim() == 2
        Wt = StepProduct(W, B) if matrix else W.view(2, H)  # the faster form of h @ W.T (rnnzoo.fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        G = buffer(u, (T, B, 2 * H))  # [ta, c]
        N = buffer(u, (T, B, H))
        us, ss, gs, ns = u.unbind(0), S.unbind(0), G.unbind(0), N.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        k = tanh_constants(h0)
        h = h0
        for t in range(T):
            gt, ut = gs[t], us[t]
            if matrix:
                Wt.addmm_into(ut[:, :2 * H], h, gt)
            else:
                torch.addcmul(ut[:, :2 * H].view(B, 2, H), Wt, h.unsqueeze(1), out=gt.view(B, 2, H))
            ta, c = tanh_into(gt[:, :H], gt[:, :H], k), gt[:, H:].sigmoid_()
            n = torch.add(ut[:, 2 * H:], h, out=ns[t]).addcmul_(ta, h)
            tanh_into(n, n, k)  # tanh(ux + (1 + ta) h)
            new = torch.lerp(n, h, c, out=ss[t])
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.has_mask = mask is not None
        ctx.save_for_backward(W, h0, S, G, N, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        W, h0, S, G, N, mask = ctx.saved_tensors
        T, B, H = S.shape
        matrix = W.dim() == 2
        du = buffer(g_out, (T, B, 3 * H))
        if T == 0:
            return du, torch.zeros_like(W), g_h, None
        Wv = None if matrix else W.view(2, H)
        acc = None if matrix else g_out.new_zeros((B, 2, H))  # BRC: sum over steps of [dua, duc] * h_{t-1}
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ss, gs, ns, gos, dus = S.unbind(0), G.unbind(0), N.unbind(0), g_out.unbind(0), du.unbind(0)
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            ta, c, n = gs[t][:, :H], gs[t][:, H:], ns[t]
            prev = ss[t - 1] if t else h0
            dut = dus[t]
            dua, duc, dux = dut[:, :H], dut[:, H:2 * H], dut[:, 2 * H:]
            gm = g if ms is None else g * ms[t]
            dn = torch.addcmul(gm, gm, c, value=-1.0)  # g (1 - c)
            torch.addcmul(dn, dn * n, n, value=-1.0, out=dux)  # * (1 - n^2)
            torch.sub(prev, n, out=duc).mul_(gm).mul_(c)
            duc.addcmul_(duc, c, value=-1.0)  # g (h - n) c (1 - c)
            torch.mul(dux, prev, out=dua)
            dua.addcmul_(dua * ta, ta, value=-1.0)  # dux h (1 - ta^2)
            dh = torch.addcmul(dux, gm, c).addcmul_(dux, ta)  # g c + dux (1 + ta)
            if matrix:
                dh = torch.addmm(dh, dut[:, :2 * H], W)
            else:
                dg = dut[:, :2 * H].view(B, 2, H)
                dh.addcmul_(dua, Wv[0]).addcmul_(duc, Wv[1])
                acc.addcmul_(dg, prev.unsqueeze(1))
            g = step_back(dh, g, gos, ms, t)
        dW = None
        if ctx.needs_input_grad[1]:
            if matrix:
                dg_all = du[..., :2 * H]
                dW = weight_grad(dg_all, h0, S)
            else:
                dW = acc.sum(0).flatten()
        return du, dW, g, None


def bistable_recurrence(u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run BRC (``W = weight_hh (2H,)``) or nBRC (``W = weight_hh (2H, H)``) over ``u (T, B, 3H)`` (``project`` of
    the time-major input) from ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs
    zero). Returns ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return BistableFunction.apply(u, W, h0, mask)
