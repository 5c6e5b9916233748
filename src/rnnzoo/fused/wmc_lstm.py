r"""Fused recurrence of the LSTM with working memory connections (:class:`rnnzoo.cells.wmc_lstm.WMCLSTMCell`), one
autograd Function for the whole sequence with a hand-written backward::

    a_t = u_t + h_{t-1} @ U.T                   # u = project(x): W x + b, blocks i, f, g, o; U = weight_hh
    w_t = tanh(c_{t-1} @ V_if.T)                # V_if = weight_ch[:2H], the working memory of i and f
    i   = sigmoid(a_i + w_i);  f = sigmoid(a_f + w_f);  g = tanh(a_g)
    c_t = f * c_{t-1} + i * g
    q_t = tanh(c_t @ V_o.T)                     # V_o = weight_ch[2H:], read from the NEW cell
    o   = sigmoid(a_o + q_t)
    h_t = o * tanh(c_t)

Forward: the loop with raw tensor operations written into buffers allocated once (no autograd graph per step),
keeping ``h``, ``c``, the activated gates, ``w``, ``q`` and ``tanh(c)`` of every step; every tanh is
:func:`~rnnzoo.fused._common.tanh_into`'s ``2 sigmoid(2x) - 1`` (aten's tanh is several times slower on these CPUs).
Backward, per step back in time (``gh``, ``gc`` the cotangents of ``h_t`` and ``c_t``, zero on masked rows), the
gate cotangents written straight into ONE ``du (T, B, 4H)``::

    da_o = gh * tanh(c) * o (1 - o)
    dq   = da_o * (1 - q^2)
    gc'  = gc + gh * o * (1 - tanh(c)^2) + dq @ V_o
    da_i = gc' * g * i (1 - i);  da_f = gc' * c_{t-1} * f (1 - f);  da_g = gc' * i * (1 - g^2)
    dw   = [da_i, da_f] * (1 - w^2)
    gc_{t-1} = gc' * f + dw @ V_if;   gh_{t-1} = da @ U

then ``dU = da^T h_{t-1}``, ``dV_if = dw^T c_{t-1}`` and ``dV_o = dq^T c_t``, each ONE product over all steps. A
masked step (mask False) keeps ``(h, c)``, outputs zero and passes both cotangents through unchanged. The cell's
step loop is the reference twin: tests/fused/test_two_field_functions.py and the model contract suite hold the two
equal in outputs and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants, tanh_into
from rnnzoo.fused.workspace import buffer


class WMCLSTMFunction(torch.autograd.Function):
    """``(u (T, B, 4H), weight_hh (4H, H), weight_ch (3H, H), h0 (B, H), c0 (B, H), mask (T, B) or None)
    -> (out (T, B, H), h_T (B, H), c_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, U: Tensor, V: Tensor, h0: Tensor, c0: Tensor, mask: Tensor | None
                ) -> tuple[Tensor, Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Hs, Cs = buffer(u, (T + 1, B, H)), buffer(u, (T + 1, B, H))
        Hs[0], Cs[0] = h0, c0
        A = buffer(u, (T, B, 4 * H))  # activated i, f, g, o
        W = buffer(u, (T, B, 2 * H))  # the working memory tanh(c_{t-1} @ V_if.T)
        Q = buffer(u, (T, B, H))  # tanh(c_t @ V_o.T)
        TC = buffer(u, (T, B, H))  # tanh(c_t)
        Ut, Vif_t, Vo_t = U.t(), V[:2 * H].t(), V[2 * H:].t()
        us, hs, cs, as_, ws, qs, tcs = (x.unbind(0) for x in (u, Hs, Cs, A, W, Q, TC))
        ifs, gs, os_ = A[..., :2 * H].unbind(0), A[..., 2 * H:3 * H].unbind(0), A[..., 3 * H:].unbind(0)
        is_, fs = A[..., :H].unbind(0), A[..., H:2 * H].unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        const, const_w = tanh_constants(hs[0]), tanh_constants(ws[0]) if T else None
        for t in range(T):
            h, c, nh, nc = hs[t], cs[t], hs[t + 1], cs[t + 1]
            torch.addmm(us[t], h, Ut, out=as_[t])
            w = tanh_into(torch.mm(c, Vif_t, out=ws[t]), ws[t], const_w)
            ifs[t].add_(w).sigmoid_()
            g = tanh_into(gs[t], gs[t], const)
            torch.mul(is_[t], g, out=nc).addcmul_(fs[t], c)
            q = tanh_into(torch.mm(nc, Vo_t, out=qs[t]), qs[t], const)
            o = os_[t].add_(q).sigmoid_()
            torch.mul(o, tanh_into(nc, tcs[t], const), out=nh)
            if ms is not None:
                torch.where(ms[t], nh, h, out=nh)
                torch.where(ms[t], nc, c, out=nc)
        ctx.save_for_backward(mask, U, V, Hs, Cs, A, W, Q, TC)
        out = Hs[1:].clone() if mask is None else Hs[1:] * mask.unsqueeze(2)
        return out, Hs[T].clone(), Cs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_h: Tensor | None, g_c: Tensor | None) -> tuple[Any, ...]:
        mask, U, V, Hs, Cs, A, W, Q, TC = ctx.saved_tensors
        T, B, H = Q.shape
        Vif, Vo = V[:2 * H], V[2 * H:]
        du = buffer(Q, (T, B, 4 * H))
        DW = buffer(Q, (T, B, 2 * H))  # the cotangent of w's pre-activation
        DQ = buffer(Q, (T, B, H))  # the cotangent of q's pre-activation
        dus, dws, dqs = du.unbind(0), DW.unbind(0), DQ.unbind(0)
        dis, dfs, dgs, dos = (x.unbind(0) for x in du.split(H, -1))
        difs = du[..., :2 * H].unbind(0)
        is_, fs, gs, os_ = (x.unbind(0) for x in A.split(H, -1))
        cs, ws, qs, tcs = Cs.unbind(0), W.unbind(0), Q.unbind(0), TC.unbind(0)
        gos = g_out.unbind(0) if g_out is not None else None
        mf = mask.unsqueeze(2).to(Q.dtype).unbind(0) if mask is not None else None
        mb = mask.unsqueeze(2).unbind(0) if mask is not None else None
        gh = g_h if g_h is not None else Q.new_zeros((B, H))
        gc = g_c if g_c is not None else Q.new_zeros((B, H))
        for t in range(T - 1, -1, -1):
            if gos is not None:
                gh = gh + (gos[t] if mf is None else gos[t] * mf[t])
            ght, gct = (gh, gc) if mf is None else (gh * mf[t], gc * mf[t])
            i, f, g, o, tc, q, w, cp = is_[t], fs[t], gs[t], os_[t], tcs[t], qs[t], ws[t], cs[t]
            do, dq, dw = dos[t], dqs[t], dws[t]
            torch.mul(ght, tc, out=do).mul_(torch.addcmul(o, o, o, value=-1.0))
            torch.addcmul(do, do, torch.mul(q, q, out=dq), value=-1.0, out=dq)  # da_o (1 - q^2)
            go = ght * o
            gcs = (gct + go).addcmul_(go, tc * tc, value=-1.0).addmm_(dq, Vo)
            torch.mul(gcs, g, out=dis[t]).mul_(torch.addcmul(i, i, i, value=-1.0))
            torch.mul(gcs, cp, out=dfs[t]).mul_(torch.addcmul(f, f, f, value=-1.0))
            dg = torch.mul(gcs, i, out=dgs[t])
            dg.addcmul_(dg, g * g, value=-1.0)  # gc' i (1 - g^2)
            torch.addcmul(difs[t], difs[t], torch.mul(w, w, out=dw), value=-1.0, out=dw)  # (1 - w^2)
            nc = torch.addmm(gcs * f, dw, Vif)
            nh = dus[t] @ U
            if mb is None:
                gh, gc = nh, nc
            else:
                gh, gc = torch.where(mb[t], nh, gh), torch.where(mb[t], nc, gc)
        dU = du.flatten(0, 1).t() @ Hs[:-1].flatten(0, 1)
        dV = torch.cat([DW.flatten(0, 1).t() @ Cs[:-1].flatten(0, 1), DQ.flatten(0, 1).t() @ Cs[1:].flatten(0, 1)])
        return du, dU, dV, gh, gc, None


def wmc_lstm_recurrence(u: Tensor, weight_hh: Tensor, weight_ch: Tensor, h0: Tensor, c0: Tensor,
                        mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Run the WMC-LSTM over ``u (T, B, 4H)`` (the cell's ``project`` of the time-major input) from ``(h0, c0)``
    ``(B, H)`` each; ``mask (T, B)`` True = valid step (a masked step keeps ``(h, c)`` and outputs zero). Returns
    ``(out (T, B, H), h_T, c_T)``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return WMCLSTMFunction.apply(u, weight_hh, weight_ch, h0, c0, mask)
