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
``w_{t+1}`` and ``q_t`` both read ``c_t``: ONE product ``X_t = tanh(c_t @ V.T) = [w_{t+1} | q_t]`` per step (and
``X_0`` from ``c_0``) instead of two; a masked row's ``c_t`` is ``c_{t-1}`` before that product, so its
``w_{t+1}`` is right. The per-step products go through :class:`~rnnzoo.fused.products.StepProduct` (the faster of
the row and column forms).
Backward, per step back in time (``gh``, ``gc`` the cotangents of ``h_t`` and ``c_t``, zero on masked rows), the
gate cotangents written straight into ONE ``du (T, B, 4H)``::

    da_o = gh * tanh(c) * o (1 - o)
    dq   = da_o * (1 - q^2)
    gc'  = gc + gh * o * (1 - tanh(c)^2) + dq @ V_o
    da_i = gc' * g * i (1 - i);  da_f = gc' * c_{t-1} * f (1 - f);  da_g = gc' * i * (1 - g^2)
    dw   = [da_i, da_f] * (1 - w^2)
    gc_{t-1} = gc' * f + dw @ V_if;   gh_{t-1} = da @ U

The two products by ``V`` are ONE too: ``dw_{t+1} @ V_if`` is deferred one step and summed with ``dq_t @ V_o``
as ``[dw_{t+1} | dq_t] @ V`` (``dw`` is zero on masked rows, ``dq_t`` on rows masked at ``t``, so a masked row's
deferred term passes through with ``gc``). Then ``dU = da^T h_{t-1}``, ``dV_if = dw^T c_{t-1}`` and
``dV_o = dq^T c_t``, each ONE product over all steps. A
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
from rnnzoo.fused.products import StepProduct
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
        A = buffer(u, (T, B, 4 * H))
        X = buffer(u, (T + 1, B, 3 * H))  # X[t] = tanh(c_t @ V.T) = [w_{t+1} | q_t]
        TC = buffer(u, (T, B, H))
        Up, Vp = StepProduct(U, B), StepProduct(V, B)
        us, hs, cs, as_, xs, tcs = (x.unbind(0) for x in (u, Hs, Cs, A, X, TC))
        ws, qs = X[..., :2 * H].unbind(0), X[..., 2 * H:].unbind(0)
        ifs, gs, os_ = A[..., :2 * H].unbind(0), A[..., 2 * H:3 * H].unbind(0), A[..., 3 * H:].unbind(0)
        is_, fs = A[..., :H].unbind(0), A[..., H:2 * H].unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        const, const_x = tanh_constants(hs[0]), tanh_constants(xs[0])
        tanh_into(Vp.mm(cs[0], xs[0]), xs[0], const_x)
        for t in range(T):
            h, c, nh, nc = hs[t], cs[t], hs[t + 1], cs[t + 1]
            Up.addmm_into(us[t], h, as_[t])
            ifs[t].add_(ws[t]).sigmoid_()
            g = tanh_into(gs[t], gs[t], const)
            torch.mul(is_[t], g, out=nc).addcmul_(fs[t], c)
            if ms is not None:
                torch.where(ms[t], nc, c, out=nc)
            tanh_into(Vp.mm(nc, xs[t + 1]), xs[t + 1], const_x)  # [w_{t+1} | q_t]
            o = os_[t].add_(qs[t + 1]).sigmoid_()
            torch.mul(o, tanh_into(nc, tcs[t], const), out=nh)
            if ms is not None:
                torch.where(ms[t], nh, h, out=nh)
        ctx.save_for_backward(mask, U, V, Hs, Cs, A, X, TC)
        out = Hs[1:].clone() if mask is None else Hs[1:] * mask.unsqueeze(2)
        return out, Hs[T].clone(), Cs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_h: Tensor | None, g_c: Tensor | None) -> tuple[Any, ...]:
        mask, U, V, Hs, Cs, A, X, TC = ctx.saved_tensors
        T, B, H = TC.shape
        du = buffer(TC, (T, B, 4 * H))
        DX = buffer(TC, (T + 1, B, 3 * H))  # DX[s] = [dw_s | dq_{s-1}]; DX[0]'s dq block is never read
        DX[T, :, :2 * H] = 0  # no dw_T: the last step has no deferred term
        dus, dxs = du.unbind(0), DX.unbind(0)
        dws, dqs = DX[..., :2 * H].unbind(0), DX[..., 2 * H:].unbind(0)
        dis, dfs, dgs, dos = (x.unbind(0) for x in du.split(H, -1))
        difs = du[..., :2 * H].unbind(0)
        is_, fs, gs, os_ = (x.unbind(0) for x in A.split(H, -1))
        cs, tcs = Cs.unbind(0), TC.unbind(0)
        ws, qs = X[..., :2 * H].unbind(0), X[..., 2 * H:].unbind(0)
        gos = g_out.unbind(0) if g_out is not None else None
        mf = mask.unsqueeze(2).to(TC.dtype).unbind(0) if mask is not None else None
        mb = mask.unsqueeze(2).unbind(0) if mask is not None else None
        gh = g_h if g_h is not None else TC.new_zeros((B, H))
        gc = g_c if g_c is not None else TC.new_zeros((B, H))  # without the pending dw_{t+1} @ V_if
        for t in range(T - 1, -1, -1):
            if gos is not None:
                gh = gh + (gos[t] if mf is None else gos[t] * mf[t])
            ght = gh if mf is None else gh * mf[t]
            i, f, g, o, tc, q, w, cp = is_[t], fs[t], gs[t], os_[t], tcs[t], qs[t + 1], ws[t], cs[t]
            do, dq, dw = dos[t], dqs[t + 1], dws[t]
            torch.mul(ght, tc, out=do).mul_(torch.addcmul(o, o, o, value=-1.0))
            torch.addcmul(do, do, torch.mul(q, q, out=dq), value=-1.0, out=dq)
            go = ght * o
            G = torch.addmm(gc, dxs[t + 1], V)  # gc_t in full (+ dq_t @ V_o on valid rows)
            gcs = (G if mf is None else G * mf[t]).add_(go).addcmul_(go, tc * tc, value=-1.0)
            torch.mul(gcs, g, out=dis[t]).mul_(torch.addcmul(i, i, i, value=-1.0))
            torch.mul(gcs, cp, out=dfs[t]).mul_(torch.addcmul(f, f, f, value=-1.0))
            dg = torch.mul(gcs, i, out=dgs[t])
            dg.addcmul_(dg, g * g, value=-1.0)
            torch.addcmul(difs[t], difs[t], torch.mul(w, w, out=dw), value=-1.0, out=dw)
            nc = gcs.mul_(f)
            nh = dus[t] @ U
            if mb is None:
                gh, gc = nh, nc
            else:
                gh, gc = torch.where(mb[t], nh, gh), torch.where(mb[t], nc, G)
        gc = torch.addmm(gc, dws[0], V[:2 * H])
        dU = du.flatten(0, 1).t() @ Hs[:-1].flatten(0, 1)
        dV = torch.cat([DX[:T, :, :2 * H].flatten(0, 1).t() @ Cs[:-1].flatten(0, 1),
                        DX[1:, :, 2 * H:].flatten(0, 1).t() @ Cs[1:].flatten(0, 1)])
        return du, dU, dV, gh, gc, None


def wmc_lstm_recurrence(u: Tensor, weight_hh: Tensor, weight_ch: Tensor, h0: Tensor, c0: Tensor,
                        mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Run the WMC-LSTM over ``u (T, B, 4H)`` (the cell's ``project`` of the time-major input) from ``(h0, c0)``
    ``(B, H)`` each; ``mask (T, B)`` True = valid step (a masked step keeps ``(h, c)`` and outputs zero). Returns
    ``(out (T, B, H), h_T, c_T)``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return WMCLSTMFunction.apply(u, weight_hh, weight_ch, h0, c0, mask)
