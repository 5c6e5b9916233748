r"""Fused recurrence of the strongly-typed cells (:class:`rnnzoo.cells.TRNNCell`, ``TGRUCell``, ``TLSTMCell``):
one autograd Function for the three firmwares, forward and a hand-written backward.

``u = project(x)`` holds every step's learnware: ``[W x_t + b]`` (blocks z, f, and o for T-GRU/T-LSTM; ``G`` = 2H
or 3H columns) and, for T-GRU/T-LSTM, ``[V x_t]`` (G more columns). The step::

    a_t = u_t[:G] + q_t               # q_t = V x_{t-1} of the last valid step before t (the state's p = [pz pf po]);
                                      # T-RNN: a_t = u_t, no q
    z_t = a_t[z], f_t = sigmoid(a_t[f]), o_t = tanh(a_t[o])
    T-RNN:  h_t = f_t * h_{t-1} + (1 - f_t) * z_t
    T-GRU:  h_t = f_t * h_{t-1} + z_t * o_t
    T-LSTM: c_t = f_t * c_{t-1} + (1 - f_t) * z_t,  h_t = c_t * o_t

Every firmware is the diagonal linear recurrence ``s_t = f_t * s_{t-1} + b_t`` (s = h, or c for T-LSTM). Forward:
``a`` for all steps into one buffer (one add over all steps: ``u_{1:}[:G] + u_{:-1}[G:]``), the gates in place, ``b``
written straight into the state buffer ``S (T+1, B, H)``, then one ``S[t+1] += f_t * S[t]`` per step. A masked step
(mask False) gets ``f = 1, b = 0`` (the state kept), its output zero, and q is not advanced.

Backward, ``gs_t`` the total cotangent of ``s_t`` (``ge_t`` the output's, masked): one ``gs_{t-1} = ge_{t-1} +
f_t * gs_t`` per step, then for all steps at once, written straight into blocks of ONE ``du (T, B, P)``::

    T-RNN:  dz = gs (1 - f),   df = gs (h_{t-1} - z) f (1 - f)
    T-GRU:  dz = gs o,         df = gs h_{t-1} f (1 - f),   do = gs z (1 - o^2)
    T-LSTM: dz = gs (1 - f),   df = gs (c_{t-1} - z) f (1 - f),   do = ge c_t (1 - o^2)   (gs: ge o + f gs)
    d(V x_t) = d a_{t+1}[:G]   (the next valid step's; the final state's p at the last)

(``du``'s ``V x`` columns serve as scratch for ``gs``/``ge`` until that last copy.) The cells' step loop is the
reference twin: ``tests/fused/test_typed_rnn_function.py`` and the model contract suite hold the two equal in outputs
and float64 gradients, masks included.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask

KINDS = ("trnn", "tgru", "tlstm")


def _last_valid(mask: Tensor) -> Tensor:
    """``(B,)`` int64: each sequence's last valid step, -1 where none."""
    idx = torch.arange(mask.shape[0], device=mask.device).unsqueeze(1)
    return torch.where(mask, idx, -1).amax(0)


class TypedFunction(torch.autograd.Function):
    """``(u (T, B, P), h0, c0 or None, p0 (B, G) or None, mask (T, B) or None, kind)`` ->
    ``(out (T, B, H), h_T[, c_T][, p_T])`` (c_T for "tlstm", p_T for "tgru"/"tlstm"); T >= 1."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, c0: Tensor | None, p0: Tensor | None, mask: Tensor | None,
                kind: str) -> tuple[Tensor, ...]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        keep = None if mask is None else mask.logical_not().unsqueeze(-1)  # (T, B, 1): True where masked
        S = u.new_empty((T + 1, B, H))  # s_0 ... s_T
        S[0] = c0 if kind == "tlstm" else h0
        b = S[1:]
        pT = None
        if kind == "trnn":
            a = None
            z, f = u[..., :H], torch.sigmoid(u[..., H:2 * H])
        else:
            G = 3 * H
            a = u.new_empty((T, B, G))
            now, nxt = u[..., :G], u[..., G:]
            if mask is None:
                torch.add(now[0], p0, out=a[0])
                torch.add(now[1:], nxt[:-1], out=a[1:])
                pT = nxt[T - 1].clone()
            else:
                q = p0
                for t in range(T):
                    torch.add(now[t], q, out=a[t])
                    q = torch.where(mask[t].unsqueeze(1), nxt[t], q)
                pT = q.clone()
            z, f, o = a[..., :H], a[..., H:2 * H], a[..., 2 * H:]
            f.sigmoid_()
            o.tanh_()
        if kind == "tgru":
            torch.mul(z, o, out=b)
        else:  # (1 - f) z
            torch.mul(z, f, out=b)
            torch.sub(z, b, out=b)
        if keep is not None:
            b.masked_fill_(keep, 0.0)
            f.masked_fill_(keep, 1.0)
        ss, fs = S.unbind(0), f.unbind(0)
        for t in range(T):
            ss[t + 1].addcmul_(fs[t], ss[t])
        lv = None
        if kind == "tlstm":
            out = S[1:] * o
            if keep is None:
                hT = out[T - 1].clone()
            else:
                out.masked_fill_(keep, 0.0)
                lv = _last_valid(mask)
                hT = torch.where((lv >= 0).unsqueeze(1), out[lv.clamp(min=0), torch.arange(B, device=u.device)], h0)
        else:
            out = S[1:].clone() if keep is None else S[1:].masked_fill(keep, 0.0)
            hT = S[T].clone()
        ctx.kind, ctx.has_mask = kind, mask is not None
        empty = u.new_empty(0)
        ctx.save_for_backward(u if kind == "trnn" else a, f, S, mask if mask is not None else empty,
                              lv if lv is not None else empty)
        if kind == "trnn":
            return out, hT
        if kind == "tgru":
            return out, hT, pT
        return out, hT, S[T].clone(), pT

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor, *g_rest: Tensor) -> tuple[Tensor | None, ...]:
        kind = ctx.kind
        ua, f, S, mask, lv = ctx.saved_tensors
        mask = mask if ctx.has_mask else None
        keep = None if mask is None else mask.logical_not().unsqueeze(-1)
        T, B, H = f.shape
        G = 2 * H if kind == "trnn" else 3 * H
        du = g_out.new_empty((T, B, G if kind == "trnn" else 2 * G))
        dz, df = du[..., :H], du[..., H:2 * H]
        z = ua[..., :H]
        prev = S[:-1]
        dh0 = dc0 = dp0 = None
        # gs: the total cotangent of s_t, in dz (T-RNN) or in du's V x columns (scratch until the last copy)
        gs = dz if kind == "trnn" else du[..., G + H:G + 2 * H]
        if kind == "tlstm":
            o = ua[..., 2 * H:]
            ge = du[..., G:G + H]  # the cotangent of h_t (the output and, at the last valid step, the final h)
            if mask is None:
                ge.copy_(g_out)
                ge[T - 1] += g_h
            else:
                torch.mul(g_out, mask.unsqueeze(-1), out=ge)
                rows = (lv >= 0).nonzero().squeeze(1)
                ge.index_put_((lv[rows], rows), g_h[rows], accumulate=True)
                dh0 = g_h * (lv < 0).unsqueeze(1)
            torch.mul(ge, o, out=gs)
            gs[T - 1] += g_rest[0]
        else:
            if mask is None:
                gs.copy_(g_out)
            else:
                torch.mul(g_out, mask.unsqueeze(-1), out=gs)
            gs[T - 1] += g_h
        gss, fs = gs.unbind(0), f.unbind(0)
        for t in range(T - 1, 0, -1):
            gss[t - 1].addcmul_(fs[t], gss[t])
        d0 = fs[0] * gss[0]
        if kind == "tlstm":
            dc0 = d0
        else:
            dh0 = d0
        if kind != "trnn":
            do = du[..., 2 * H:G]
            o = ua[..., 2 * H:]
            torch.addcmul(torch.ones((), dtype=o.dtype, device=o.device), o, o, value=-1.0, out=do)
            if kind == "tlstm":
                do.mul_(ge).mul_(S[1:])
            else:
                do.mul_(gs).mul_(z)
        # df = gs (s_{t-1} - z) f (1 - f) (T-GRU: gs h_{t-1} f (1 - f))
        if kind == "tgru":
            torch.mul(gs, prev, out=df)
        else:
            torch.sub(prev, z, out=df)
            df.mul_(gs)
        df.mul_(f)
        df.addcmul_(df, f, value=-1.0)
        if kind == "tgru":
            torch.mul(gs, o, out=dz)
            if keep is not None:
                du[..., :G].masked_fill_(keep, 0.0)
        elif kind == "trnn":  # dz holds gs
            dz.addcmul_(dz, f, value=-1.0)
        else:
            torch.mul(gs, f, out=dz)
            torch.sub(gs, dz, out=dz)
        if kind != "trnn":  # d(V x_t): the next valid step's d a[:G]; the final p's at the last
            g_p = g_rest[-1]
            da, dnxt = du[..., :G], du[..., G:]
            if mask is None:
                dnxt[:T - 1].copy_(da[1:])
                dnxt[T - 1].copy_(g_p)
                dp0 = da[0].clone()
            else:
                gq = g_p
                ms = mask.unsqueeze(-1)
                for t in range(T - 1, -1, -1):
                    torch.mul(gq, ms[t], out=dnxt[t])
                    gq = torch.where(ms[t], da[t], gq)
                dp0 = gq
        return du, dh0, dc0, dp0, None, None


def typed_recurrence(kind: str, u: Tensor, h0: Tensor, c0: Tensor | None = None, p0: Tensor | None = None,
                     mask: Tensor | None = None) -> tuple[Tensor, ...]:
    """Run a strongly-typed firmware (``kind`` "trnn", "tgru" or "tlstm") over ``u (T, B, P)`` (``project`` of the
    time-major input) from ``h0 (B, H)`` (and ``c0 (B, H)`` for T-LSTM, ``p0 = [pz pf po] (B, 3H)`` for T-GRU and
    T-LSTM); ``mask (T, B)`` True = valid step. Returns ``(out (T, B, H), h_T[, c_T][, p_T])``, equal to the step
    loop's; ``T >= 1``."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    if u.shape[0] == 0:
        raise ValueError("typed_recurrence: T must be >= 1")
    check_mask(mask, u.shape[0], u.shape[1])
    return TypedFunction.apply(u, h0, c0, p0, mask, kind)
