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
``a`` for all steps into one buffer (one add over all steps: ``u_{1:}[:G] + u_{:-1}[G:]``), the gates in place (``o``'s
tanh over all steps as :func:`rnnzoo.fused._common.tanh_into`'s ``2 * sigmoid(2x) - 1`` with ``(B, H)`` constants
expanded over time, about twice as fast as ``aten::tanh`` here), ``b``
written straight into the state buffer ``S (T+1, B, H)``, then one ``S[t+1] += f_t * S[t]`` per step (T-RNN and
T-LSTM: one ``torch.lerp(z_t, S[t], f_t)`` per step, the step's own operation). A masked step (mask False) gets
``f = 1, b = 0`` (the state kept exactly), its output zero, and q is not advanced.

Backward, ``gs_t`` the total cotangent of ``s_t`` (``ge_t`` the output's, masked): one ``gs_{t-1} = ge_{t-1} +
f_t * gs_t`` per step, then for all steps at once, written straight into blocks of ONE ``du (T, B, P)``::

    T-RNN:  dz = gs (1 - f),   df = gs (h_{t-1} - z) f (1 - f)
    T-GRU:  dz = gs o,         df = gs h_{t-1} f (1 - f),   do = gs z (1 - o^2)
    T-LSTM: dz = gs (1 - f),   df = gs (c_{t-1} - z) f (1 - f),   do = ge c_t (1 - o^2)   (gs: ge o + f gs)
    d(V x_t) = d a_{t+1}[:G]   (the next valid step's; the final state's p at the last)

(``du``'s ``V x`` columns serve as T-LSTM's scratch for ``ge`` until that last copy; ``gs`` lives in dz's block.)

:class:`TypedFunction` takes ``u``; :class:`TypedInputFunction` (T-GRU/T-LSTM without a mask, what a plain run
takes) takes ``x`` and the weights instead and writes ``a = W x + b + V x_{t-1}`` as two products straight into its
buffer, so ``u (T, B, 2G)`` and its gradient are never allocated (fresh memory costs about 1 ms per MB here: that is
~60 MB less per train step at (B, T, I, H) = (64, 100, 256, 256)); its backward gets ``dW``, ``dV``, ``dx`` from
``da (T, B, G)`` as products over all steps.

The cells' step loop is the reference twin: ``tests/fused/test_typed_rnn_function.py`` and the model contract suite
hold the two equal in outputs and float64 gradients, masks included.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants, tanh_into
from rnnzoo.fused.workspace import buffer

KINDS = ("trnn", "tgru", "tlstm")


def _tanh_(o: Tensor, h0: Tensor) -> None:
    """``o (T, B, H) = tanh(o)`` in place as :func:`tanh_into`, its constants ``h0``-shaped ``(B, H)`` and expanded over
    time (no fresh ``(T, B, H)`` constant tensors; the expanded addcmul stays in cache)."""
    neg1, two = tanh_constants(h0)
    tanh_into(o, o, (neg1.expand_as(o), two.expand_as(o)))


def _last_valid(mask: Tensor) -> Tensor:
    """``(B,)`` int64: each sequence's last valid step, -1 where none."""
    idx = torch.arange(mask.shape[0], device=mask.device).unsqueeze(1)
    return torch.where(mask, idx, -1).amax(0)


def _firmware_forward(kind: str, z: Tensor, f: Tensor, o: Tensor | None, S: Tensor, h0: Tensor,
                      mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """The firmware over all steps from the gates ``z, f, o`` (``(T, B, H)`` views, f and o activated): fills ``S``
    (``S[0]`` set: h0, or c0 for T-LSTM) and sets ``f = 1`` at masked steps. Returns ``(out, h_T, last valid step
    per row (T-LSTM with a mask) or None)``."""
    T, B = f.shape[0], f.shape[1]
    keep = None if mask is None else mask.logical_not().unsqueeze(-1)  # (T, B, 1): True where masked
    if keep is not None:
        f.masked_fill_(keep, 1.0)
    ss, fs = S.unbind(0), f.unbind(0)
    if kind == "tgru":  # s_t = f s_{t-1} + z o: b = z o written into S first, then one addcmul per step
        b = S[1:]
        torch.mul(z, o, out=b)
        if keep is not None:
            b.masked_fill_(keep, 0.0)
        for t in range(T):
            ss[t + 1].addcmul_(fs[t], ss[t])
    else:  # s_t = lerp(z, s_{t-1}, f), the step's own operation (f = 1 keeps s exactly)
        zs = z.unbind(0)
        for t in range(T):
            torch.lerp(zs[t], ss[t], fs[t], out=ss[t + 1])
    lv = None
    if kind == "tlstm":
        out = S[1:] * o
        if keep is None:
            hT = out[T - 1].clone()
        else:
            out.masked_fill_(keep, 0.0)
            lv = _last_valid(mask)
            hT = torch.where((lv >= 0).unsqueeze(1), out[lv.clamp(min=0), torch.arange(B, device=f.device)], h0)
    else:
        out = S[1:].clone() if keep is None else S[1:].masked_fill(keep, 0.0)
        hT = S[T].clone()
    return out, hT, lv


def _firmware_backward(kind: str, z: Tensor, f: Tensor, o: Tensor | None, S: Tensor, mask: Tensor | None,
                       lv: Tensor | None, g_out: Tensor, g_h: Tensor, g_c: Tensor | None, da: Tensor,
                       scratch: Tensor | None) -> tuple[Tensor | None, Tensor | None]:
    """The gates' pre-activation gradients written into ``da`` (``(T, B, G)``, blocks z, f[, o]; zero at masked
    steps); ``scratch`` a ``(T, B, H)`` buffer for T-LSTM's output cotangent. Returns ``(dh0, dc0)``."""
    T, H = f.shape[0], f.shape[-1]
    dz, df = da[..., :H], da[..., H:2 * H]
    dh0 = dc0 = None
    gs = dz  # the total cotangent of s_t, kept in dz's block until dz itself is written (last)
    ge = None
    if kind == "tlstm":
        ge = scratch  # the cotangent of h_t (the output and, at the last valid step, the final h)
        if mask is None:
            ge.copy_(g_out)
            ge[T - 1] += g_h
        else:
            torch.mul(g_out, mask.unsqueeze(-1), out=ge)
            rows = (lv >= 0).nonzero().squeeze(1)
            ge.index_put_((lv[rows], rows), g_h[rows], accumulate=True)
            dh0 = g_h * (lv < 0).unsqueeze(1)
        torch.mul(ge, o, out=gs)
        gs[T - 1] += g_c
    else:
        if mask is None:
            gs.copy_(g_out)
        else:
            torch.mul(g_out, mask.unsqueeze(-1), out=gs)
        gs[T - 1] += g_h
    gss, fs = gs.unbind(0), f.unbind(0)
    for t in range(T - 1, 0, -1):
        gss[t - 1].addcmul_(fs[t], gss[t])
    if kind == "tlstm":
        dc0 = fs[0] * gss[0]
    else:
        dh0 = fs[0] * gss[0]
    if o is not None:  # do = (gs z | ge c_t) (1 - o^2)
        do = da[..., 2 * H:3 * H]
        torch.addcmul(torch.ones((), dtype=o.dtype, device=o.device), o, o, value=-1.0, out=do)
        if kind == "tlstm":
            do.mul_(ge).mul_(S[1:])
        else:
            do.mul_(gs).mul_(z)
    # df = gs (s_{t-1} - z) f (1 - f) (T-GRU: gs h_{t-1} f (1 - f))
    if kind == "tgru":
        torch.mul(gs, S[:-1], out=df)
    else:
        torch.sub(S[:-1], z, out=df)
        df.mul_(gs)
    df.mul_(f)
    df.addcmul_(df, f, value=-1.0)
    if kind == "tgru":  # dz = gs o, zero at masked steps
        dz.mul_(o)
        if mask is not None:
            da.masked_fill_(mask.logical_not().unsqueeze(-1), 0.0)
    else:  # dz = gs (1 - f)
        dz.addcmul_(dz, f, value=-1.0)
    return dh0, dc0


class TypedFunction(torch.autograd.Function):
    """``(u (T, B, P), h0, c0 or None, p0 (B, G) or None, mask (T, B) or None, kind)`` ->
    ``(out (T, B, H), h_T[, c_T][, p_T])`` (c_T for "tlstm", p_T for "tgru"/"tlstm"); T >= 1."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, c0: Tensor | None, p0: Tensor | None, mask: Tensor | None,
                kind: str) -> tuple[Tensor, ...]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        S = buffer(u, (T + 1, B, H))  # s_0 ... s_T
        S[0] = c0 if kind == "tlstm" else h0
        pT = o = None
        if kind == "trnn":
            a = None
            z, f = u[..., :H], torch.sigmoid(u[..., H:2 * H])
        else:
            G = 3 * H
            a = buffer(u, (T, B, G))
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
            _tanh_(o, h0)
        out, hT, lv = _firmware_forward(kind, z, f, o, S, h0, mask)
        ctx.kind, ctx.has_mask = kind, mask is not None
        empty = buffer(u, 0)
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
        T, B, H = f.shape
        if kind == "trnn":
            du = buffer(g_out, (T, B, 2 * H))
            dh0, _ = _firmware_backward(kind, ua[..., :H], f, None, S, mask, lv, g_out, g_h, None, du, None)
            return du, dh0, None, None, None, None
        G = 3 * H
        du = buffer(g_out, (T, B, 2 * G))
        da, dnxt = du[..., :G], du[..., G:]
        g_c = g_rest[0] if kind == "tlstm" else None
        # du's V x columns serve as T-LSTM's scratch until d(V x) is written below
        dh0, dc0 = _firmware_backward(kind, ua[..., :H], f, ua[..., 2 * H:], S, mask, lv, g_out, g_h, g_c, da,
                                      dnxt[..., :H])
        # d(V x_t): the next valid step's d a; the final p's at the last
        g_p = g_rest[-1]
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


class TypedInputFunction(torch.autograd.Function):
    """T-GRU/T-LSTM without a mask, from the input itself: ``(x (T, B, I), W (G, I), V (G, I), bias (G,) or None,
    h0, c0 or None, p0 (B, G), kind)`` -> ``(out, h_T[, c_T], p_T)``.

    The learnware ``a_t = W x_t + b + V x_{t-1}`` (``p0`` at t = 0) is two products over all steps written into
    ``a`` itself (the rows of x in their memory order, batch- or time-major, the ``V`` product shifted by one step),
    so neither ``u = [W x + b, V x]`` nor its gradient ``(T, B, 2G)`` is ever allocated: ``da (T, B, G)`` gives
    ``dW``, ``dV`` and ``dx`` as products over all steps (``p_T = V x_T`` and its gradient besides)."""

    @staticmethod
    def forward(ctx: Any, x: Tensor, W: Tensor, V: Tensor, bias: Tensor | None, h0: Tensor, c0: Tensor | None,
                p0: Tensor, kind: str) -> tuple[Tensor, ...]:
        T, B, I = x.shape
        H = h0.shape[-1]
        bf = x.transpose(0, 1).is_contiguous()  # batch-major memory (a batch-first input made time-major)
        if not bf:
            x = x.contiguous()
        xf, shift = _rows(x, bf)
        af = torch.addmm(bias, xf, W.t()) if bias is not None else xf @ W.t()
        a = _like_x(af, T, B, bf)
        first = a[0].clone() if bf else None  # the first step's rows, which the shifted product below spoils
        af[shift:].addmm_(xf[:-shift], V.t())  # V x_{t-1}: the row one step earlier
        if first is not None:
            torch.add(first, p0, out=a[0])
        else:
            a[0].add_(p0)
        pT = x[T - 1] @ V.t()
        z, f, o = a[..., :H], a[..., H:2 * H], a[..., 2 * H:]
        f.sigmoid_()
        _tanh_(o, h0)
        S = buffer(x, (T + 1, B, H))
        S[0] = c0 if kind == "tlstm" else h0
        out, hT, _ = _firmware_forward(kind, z, f, o, S, h0, None)
        ctx.kind, ctx.bf, ctx.has_bias = kind, bf, bias is not None
        ctx.save_for_backward(x, W, V, a, S)
        if kind == "tgru":
            return out, hT, pT
        return out, hT, S[T].clone(), pT

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor, *g_rest: Tensor) -> tuple[Tensor | None, ...]:
        kind, bf = ctx.kind, ctx.bf
        x, W, V, a, S = ctx.saved_tensors
        T, B, _ = x.shape
        G = a.shape[-1]
        H = G // 3
        need = ctx.needs_input_grad
        daf = buffer(g_out, (T * B, G))
        da = _like_x(daf, T, B, bf)
        scratch = buffer(g_out, (T, B, H)) if kind == "tlstm" else None
        g_c = g_rest[0] if kind == "tlstm" else None
        dh0, dc0 = _firmware_backward(kind, a[..., :H], a[..., H:2 * H], a[..., 2 * H:], S, None, None, g_out, g_h,
                                      g_c, da, scratch)
        g_p = g_rest[-1]
        xf, shift = _rows(x, bf)
        dp0 = da[0].clone()
        dW = daf.t() @ xf if need[1] else None
        db = daf.sum(0) if need[3] and ctx.has_bias else None
        dxf = daf @ W if need[0] else None
        if bf:
            da[0].zero_()  # the first step's rows read p0, not a previous input (their gradient went to dp0)
        dV = None
        if need[2]:
            dV = daf[shift:].t() @ xf[:-shift]
            dV.addmm_(g_p.t(), x[T - 1])
        dx = None
        if dxf is not None:
            dxf[:-shift].addmm_(daf[shift:], V)
            dx = _like_x(dxf, T, B, bf)
            dx[T - 1].addmm_(g_p, V)
        return dx, dW, dV, db, dh0, dc0, dp0, None


def _rows(x: Tensor, bf: bool) -> tuple[Tensor, int]:
    """``x (T, B, I)`` as its ``(T*B, I)`` rows in memory order (a view), and how many rows one step back is."""
    T, B, I = x.shape
    if bf:
        return x.transpose(0, 1).reshape(B * T, I), 1
    return x.reshape(T * B, I), B


def _like_x(rows: Tensor, T: int, B: int, bf: bool) -> Tensor:
    """``(T*B, F)`` rows in ``x``'s memory order -> the time-major ``(T, B, F)`` view."""
    return rows.view(B, T, -1).transpose(0, 1) if bf else rows.view(T, B, -1)


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


def typed_input_recurrence(kind: str, x: Tensor, W: Tensor, V: Tensor, bias: Tensor | None, h0: Tensor,
                           c0: Tensor | None, p0: Tensor) -> tuple[Tensor, ...]:
    """T-GRU or T-LSTM (``kind``) without a mask from the time-major input ``x (T, B, I)`` itself (see
    :class:`TypedInputFunction`): the cell's ``weight_ih`` (W), ``weight_prev`` (V) and ``bias``; ``h0``, ``c0``
    (T-LSTM) and ``p0 = [pz pf po] (B, 3H)``. Returns ``(out (T, B, H), h_T[, c_T], p_T)``, equal to
    :func:`typed_recurrence` of ``project(x)``; ``T >= 1``."""
    if kind not in ("tgru", "tlstm"):
        raise ValueError(f"kind: expected 'tgru' or 'tlstm', got {kind!r}")
    if x.dim() != 3 or x.shape[0] == 0:
        raise ValueError(f"typed_input_recurrence: x must be (T, B, I) with T >= 1, got {tuple(x.shape)}")
    return TypedInputFunction.apply(x, W, V, bias, h0, c0, p0, kind)
