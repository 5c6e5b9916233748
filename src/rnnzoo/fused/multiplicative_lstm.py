r"""Fused recurrence of the multiplicative LSTM (:class:`rnnzoo.cells.multiplicative_lstm.MultiplicativeLSTMCell`),
one autograd Function for the whole sequence with a hand-written backward::

    p_t = h_{t-1} @ W_mh.T                      # u = project(x): [W_mx x, W_ix x + b_i, ..., W_ox x + b_o]
    m_t = um_t * p_t
    a_t = u_t[:, H:] + m_t @ W_m.T              # blocks i, f, hh, o; W_m = [W_im; W_fm; W_hm; W_om]
    i, f, o = sigmoid(a_i, a_f, a_o);  hh = a_hh (tanh(a_hh) with candidate_tanh)
    c_t = f * c_{t-1} + i * hh
    h_t = tanh(c_t) * o

Forward: the loop with raw tensor operations written into buffers allocated once (no autograd graph per step),
keeping ``h``, ``c``, ``p``, ``m``, the activated gates and ``tanh(c)`` of every step; every tanh is
:func:`~rnnzoo.fused._common.tanh_into`'s ``2 sigmoid(2x) - 1`` (aten's tanh is several times slower on these CPUs).
Backward, per step back in time (``gh``, ``gc`` the cotangents of ``h_t`` and ``c_t``, zero on masked rows), the
cotangents written straight into ONE ``du (T, B, 5H)``::

    da_o = gh * tanh(c) * o (1 - o)
    gc'  = gc + gh * o * (1 - tanh(c)^2)
    da_i = gc' * hh * i (1 - i);  da_f = gc' * c_{t-1} * f (1 - f);  da_hh = gc' * i (* (1 - hh^2))
    dm   = da @ W_m;  dum = dm * p;  dp = dm * um
    gh_{t-1} = dp @ W_mh;  gc_{t-1} = gc' * f

then ``dW_m = da^T m`` and ``dW_mh = dp^T h_{t-1}``, each ONE product over all steps. A masked step (mask False)
keeps ``(h, c)``, outputs zero and passes both cotangents through unchanged. The cell's step loop is the reference
twin: tests/fused/test_two_field_functions.py and the model contract suite hold the two equal in outputs
and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class MultiplicativeLSTMFunction(torch.autograd.Function):
    """``(u (T, B, 5H), weight_mh (H, H), weight_m (4H, H), h0 (B, H), c0 (B, H), candidate_tanh, mask (T, B) or
    None) -> (out (T, B, H), h_T (B, H), c_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, Wmh: Tensor, Wm: Tensor, h0: Tensor, c0: Tensor, candidate_tanh: bool,
                mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Hs, Cs = buffer(u, (T + 1, B, H)), buffer(u, (T + 1, B, H))
        Hs[0], Cs[0] = h0, c0
        P = buffer(u, (T, B, H))  # h_{t-1} @ W_mh.T
        M = buffer(u, (T, B, H))  # m_t
        A = buffer(u, (T, B, 4 * H))  # activated i, f, hh, o
        TC = buffer(u, (T, B, H))  # tanh(c_t)
        Wmh_t, Wm_t = StepProduct(Wmh, B), StepProduct(Wm, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        hs, cs, ps, ms_, as_, tcs = (x.unbind(0) for x in (Hs, Cs, P, M, A, TC))
        ums, uas = u[..., :H].unbind(0), u[..., H:].unbind(0)
        is_, fs, hhs, os_ = (x.unbind(0) for x in A.split(H, -1))
        ifs = A[..., :2 * H].unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        const = tanh_constants(hs[0])
        for t in range(T):
            h, c, nh, nc = hs[t], cs[t], hs[t + 1], cs[t + 1]
            m = torch.mul(ums[t], Wmh_t.mm_into(h, ps[t]), out=ms_[t])
            Wm_t.addmm_into(uas[t], m, as_[t])
            ifs[t].sigmoid_()
            o = os_[t].sigmoid_()
            hh = tanh_into(hhs[t], hhs[t], const) if candidate_tanh else hhs[t]
            torch.mul(is_[t], hh, out=nc).addcmul_(fs[t], c)
            torch.mul(tanh_into(nc, tcs[t], const), o, out=nh)
            if ms is not None:
                torch.where(ms[t], nh, h, out=nh)
                torch.where(ms[t], nc, c, out=nc)
        ctx.save_for_backward(mask, u, Wmh, Wm, Hs, Cs, P, M, A, TC)
        ctx.candidate_tanh = candidate_tanh
        out = Hs[1:].clone() if mask is None else Hs[1:] * mask.unsqueeze(2)
        return out, Hs[T].clone(), Cs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_h: Tensor | None, g_c: Tensor | None) -> tuple[Any, ...]:
        mask, u, Wmh, Wm, Hs, Cs, P, M, A, TC = ctx.saved_tensors
        T, B, H = P.shape
        du = buffer(P, (T, B, 5 * H))
        DP = buffer(P, (T, B, H))  # the cotangent of p_t
        dums, dis, dfs, dhhs, dos = (x.unbind(0) for x in du.split(H, -1))
        das, dps = du[..., H:].unbind(0), DP.unbind(0)
        is_, fs, hhs, os_ = (x.unbind(0) for x in A.split(H, -1))
        cs, ps, tcs, ums = Cs.unbind(0), P.unbind(0), TC.unbind(0), u[..., :H].unbind(0)
        gos = g_out.unbind(0) if g_out is not None else None
        mf = mask.unsqueeze(2).to(P.dtype).unbind(0) if mask is not None else None
        mb = mask.unsqueeze(2).unbind(0) if mask is not None else None
        gh = g_h if g_h is not None else P.new_zeros((B, H))
        gc = g_c if g_c is not None else P.new_zeros((B, H))
        for t in range(T - 1, -1, -1):
            if gos is not None:
                gh = gh + (gos[t] if mf is None else gos[t] * mf[t])
            ght, gct = (gh, gc) if mf is None else (gh * mf[t], gc * mf[t])
            i, f, hh, o, tc = is_[t], fs[t], hhs[t], os_[t], tcs[t]
            torch.mul(ght, tc, out=dos[t]).mul_(torch.addcmul(o, o, o, value=-1.0))  # gh tanh(c) o (1 - o)
            go = ght * o
            gcs = (gct + go).addcmul_(go, tc * tc, value=-1.0)  # + gh o (1 - tanh(c)^2)
            torch.mul(gcs, hh, out=dis[t]).mul_(torch.addcmul(i, i, i, value=-1.0))
            torch.mul(gcs, cs[t], out=dfs[t]).mul_(torch.addcmul(f, f, f, value=-1.0))
            dhh = torch.mul(gcs, i, out=dhhs[t])
            if ctx.candidate_tanh:
                dhh.addcmul_(dhh, hh * hh, value=-1.0)  # (1 - tanh^2)
            dm = das[t] @ Wm
            torch.mul(dm, ps[t], out=dums[t])
            nh = torch.mul(dm, ums[t], out=dps[t]) @ Wmh
            nc = gcs * f
            if mb is None:
                gh, gc = nh, nc
            else:
                gh, gc = torch.where(mb[t], nh, gh), torch.where(mb[t], nc, gc)
        dWm = du[..., H:].flatten(0, 1).t() @ M.flatten(0, 1)
        dWmh = DP.flatten(0, 1).t() @ Hs[:-1].flatten(0, 1)
        return du, dWmh, dWm, gh, gc, None, None


def multiplicative_lstm_recurrence(u: Tensor, weight_mh: Tensor, weight_m: Tensor, h0: Tensor, c0: Tensor, *,
                                   candidate_tanh: bool = False, mask: Tensor | None = None
                                   ) -> tuple[Tensor, Tensor, Tensor]:
    """Run the multiplicative LSTM over ``u (T, B, 5H)`` (the cell's ``project`` of the time-major input) from
    ``(h0, c0)`` ``(B, H)`` each; ``mask (T, B)`` True = valid step (a masked step keeps ``(h, c)`` and outputs
    zero). Returns ``(out (T, B, H), h_T, c_T)``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return MultiplicativeLSTMFunction.apply(u, weight_mh, weight_m, h0, c0, bool(candidate_tanh), mask)
