r"""Fused LSTM recurrence: every variant of :class:`~rnnzoo.cells.lstm.LSTMCell` and the ConvLSTM.

The equations are the cell's (see :class:`~rnnzoo.cells.lstm.LSTMCell`, 001 eqs (16)-(20);
:class:`~rnnzoo.cells.convlstm.ConvLSTMCell`, Shi et al. 2015 eqs (3)), with ``u_t`` the hoisted
input projection ``W x_t + b`` and ``R`` the recurrent transform (``U h``: a matrix product, or a
"same" convolution for the ConvLSTM)::

    [i, f, g, o]_pre = u_t + R(h_{t-1})                (i, g, o without a separate forget gate)
    i = sigmoid(i_pre [+ w_ci * c_{t-1}])              # 001 eq (16)
    f = sigmoid(f_pre [+ w_cf * c_{t-1}])              # 001 eq (17); coupled: f = 1 - i; none: f = 1
    g = tanh(g_pre)   (or sigmoid, input_activation)
    c_t = f * c_{t-1} + i * g                          # 001 eq (18)
    o = sigmoid(o_pre [+ w_co * c_t])                  # 001 eq (19)
    r_t = o * tanh(c_t)   (o * c_t without cell_activation)   # 001 eq (20)
    h_t = weight_hr @ r_t if projected, else r_t

Masked steps (``mask[t, b]`` False) keep ``(h, c)`` and output zero.

Forward runs the loop with raw tensor ops (no autograd graph) into preallocated buffers, about
eight kernels a step, and keeps only what backward needs: the activated gates, every c_t,
tanh(c_t), every h_t (and r_t when projected). tanh is computed as ``2 sigmoid(2x) - 1`` (see
:func:`rnnzoo.fused._common.tanh_into`). Backward runs one recurrent product per step
(``dgates_t @ U`` or a transposed convolution) and every weight gradient as ONE product over all
steps: ``dU = dgates(T*B, G)^T @ h_prev(T*B, H)``. The pointwise derivative factors are tabulated
a chunk of steps at a time (a few kernels per chunk, the chunk sized to stay in cache) into the
gradient buffer itself, so a backward step is five kernels, peepholes included. ``u``'s gradient is
the stacked pre-activation gradients; the input weights' and biases' gradients then flow through
autograd's ordinary product in ``cell.project``. The cell's fast path instead hands the Function ``x``,
``weight_ih`` and the bias (``projection=``): the projection is then written straight into the gate
buffer (no copy of ``u``, one large buffer fewer per call) and backward returns the gradients of x,
weight_ih and the bias, one product (or sum) over all steps each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import Conv, Linear, broadcast_mask, check_mask, tanh_constants, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


@dataclass(frozen=True)
class LSTMSpec:
    """The pointwise variant and the recurrent transform of an LSTM recurrence.

    forget_gate / coupled / input_activation / cell_activation: as :class:`~rnnzoo.cells.lstm.LSTMCell`.
    conv: the recurrent weight is a "same" 2-D convolution kernel (ConvLSTM) instead of a matrix.
    """

    forget_gate: bool = True
    coupled: bool = False
    input_activation: str = "tanh"
    cell_activation: bool = True
    conv: bool = False

    @property
    def n(self) -> int:
        """Gate blocks: 4 (i, f, g, o) or 3 (i, g, o)."""
        return 4 if self.forget_gate and not self.coupled else 3

    @property
    def g_index(self) -> int:
        """Position of the input node g among the blocks."""
        return self.n - 2


_CHUNK_BYTES = 1 << 21
"""Backward tabulates derivative factors for this many bytes of gates at a time (see LSTMFunction): the L2
cache of one core on this project's CPUs. Against 512 KiB (issue 9, default environment, interleaved in one
process, 21 rounds): peephole_lstm 0.96-0.97x the time at (32, 100, 64, 128), 0.98x at (64, 100, 256, 256);
cifg_lstm 0.95-0.99x; 8 MiB no better than 2 MiB."""


def _rec(spec: LSTMSpec, weight: Tensor) -> Linear | Conv:
    return Conv(weight) if spec.conv else Linear(weight)


class GateStep:
    """The pointwise part of one forward step, shared by the LSTM Functions (plain and layer-normalised).

    ``G`` ``(T, B, n*H, *S)`` holds each step's gate pre-activations, activated in place; ``Cs``
    ``(T + 1, B, H, *S)`` the cell states, ``Cs[0]`` given. ``step(t)`` activates the gates of step t
    (peepholes on c_{t-1} for i and f, on c_t for o; tanh computed as ``2 sigmoid(2x) - 1``), writes
    ``c_t = f * c_{t-1} + i * g`` (coupled: ``f = 1 - i``; no forget gate: ``f = 1``) into ``Cs[t + 1]``
    and freezes it where ``ms[t]`` is False. ``oo[t]`` is then the activated output gate.

    The plain Function's forms, one kernel fewer per step each (:func:`doubled_forms` says which apply):
    ``double_g``: the caller has doubled the g block's pre-activations (``G`` and the g rows of the recurrent
    weight, once per sequence), so that ``tanh(g_pre) = 2 sigmoid(2 g_pre) - 1`` needs no doubling per step
    (tanh input node only). ``double_c``: ``Cs`` hold ``2 c`` (the caller doubles ``c0`` and halves ``Cs``
    after the loop), so that ``tanh(c_t) = 2 sigmoid(Cs[t + 1]) - 1`` needs no doubling per step either:
    ``2 c_t = f * 2 c_{t-1} + 2 i g``, peephole weights halved; coupled (tanh input node only): the g block
    holds ``2 g`` until :meth:`finish` halves it, and ``2 c_t = lerp(2 c_{t-1}, 2 g, i)``. Scaling by 2 is
    exact in floating point, so the results are those of the plain form bit for bit.
    """

    def __init__(self, G: Tensor, Cs: Tensor, spec: LSTMSpec, hidden: int, mask: Tensor | None,
                 w_ci: Tensor | None, w_cf: Tensor | None, w_co: Tensor | None, tanh_consts: tuple[Tensor, Tensor],
                 double_g: bool = False, double_c: bool = False) -> None:
        n, gi = spec.n, spec.g_index
        Gv = G.unflatten(2, (n, hidden))  # (T, B, n, H, *S)
        tanh_g = spec.input_activation == "tanh"
        if (double_g or (double_c and spec.coupled)) and not tanh_g:
            raise ValueError("GateStep: double_g, and double_c of a coupled cell, need a tanh input node")
        self.spec, self.n, self.double_g, self.double_c, self.tanh_consts = spec, n, double_g, double_c, tanh_consts
        self.G_g = Gv[:, :, gi]
        self.gs, self.cs = G.unbind(0), Cs.unbind(0)
        self.ii, self.gg, self.oo = Gv[:, :, 0].unbind(0), Gv[:, :, gi].unbind(0), Gv[:, :, n - 1].unbind(0)
        self.ff = Gv[:, :, 1].unbind(0) if n == 4 else None
        self.ms = broadcast_mask(mask, Cs.dim() - 1).unbind(0) if mask is not None else None
        self.peephole = w_ci is not None
        self.w_co = w_co * 0.5 if w_co is not None and double_c else w_co  # w * c = (w / 2) * (2 c)
        if self.peephole:
            assert w_ci is not None
            w_if = torch.stack([w_ci, w_cf]) if n == 4 else w_ci.unsqueeze(0)  # (1 or 2, H, *S)
            self.w_if = w_if * 0.5 if double_c else w_if
            self.g_if, self.c_b = Gv[:, :, :gi].unbind(0), Cs.unsqueeze(2).unbind(0)  # c_{t-1} over i, (f)
        self.tanh_g = tanh_g
        self.two = 2 if double_c else 1  # c_t = ... + i * g scaled with c
        self.through_g = G[:, :, :(gi + 1) * hidden].unbind(0)  # i, (f,) g: activated together with peepholes
        # coupled in the doubled form: the g block holds 2 g = 4 sigmoid(2 g_pre) - 2 until finish()
        self.g_consts = (tanh_consts[0] * 2, tanh_consts[1] * 2) if double_c and spec.coupled else tanh_consts

    def step(self, t: int) -> Tensor:
        """Activate step ``t``'s gates and write c_t; returns c_t (a view of ``Cs[t + 1]``; ``2 c_t`` with double_c)."""
        c_prev, c = self.cs[t], self.cs[t + 1]
        ii, gg, oo = self.ii[t], self.gg[t], self.oo[t]
        if self.peephole:
            self.g_if[t].addcmul_(self.c_b[t], self.w_if)  # i (and f) peepholes on c_{t-1}
        if self.tanh_g and not self.double_g:
            gg.add_(gg)  # tanh(x) = 2 sigmoid(2x) - 1: one sigmoid for every block
        (self.through_g[t] if self.peephole else self.gs[t]).sigmoid_()  # o waits for c_t with peepholes
        if self.tanh_g:
            torch.addcmul(self.g_consts[0], gg, self.g_consts[1], out=gg)
        if self.n == 4:
            torch.mul(self.ff[t], c_prev, out=c)
            c.addcmul_(ii, gg, value=self.two)
        elif self.spec.coupled:
            torch.lerp(c_prev, gg, ii, out=c)  # (1 - i) * c_prev + i * g (doubled: 2 c from 2 g)
        else:
            torch.addcmul(c_prev, ii, gg, value=self.two, out=c)
        if self.ms is not None:
            torch.where(self.ms[t], c, c_prev, out=c)
        if self.peephole:
            oo.addcmul_(c, self.w_co).sigmoid_()
        return c

    def finish(self) -> None:
        """After the loop: the g block holds g (coupled with double_c: it held 2 g)."""
        if self.double_c and self.spec.coupled:
            self.G_g.mul_(0.5)


def doubled_forms(spec: LSTMSpec) -> tuple[bool, bool]:
    """``(double_g, double_c)`` of :class:`GateStep` for the plain Function: each saves a kernel per step."""
    tanh_g = spec.input_activation == "tanh"
    return tanh_g, spec.cell_activation and (tanh_g or not spec.coupled)


def gate_factors(spec: LSTMSpec, G: Tensor, dG: Tensor, c_prev: Tensor, act_c: Tensor, ones_g: Tensor, a: int,
                 b: int) -> None:
    """The gates' derivative factors of steps ``a..b-1`` into ``dG[a:b]`` (shared by the LSTM Functions)::

        M_i = i' * g (coupled: i' * (g - c_{t-1})),  M_f = f' * c_{t-1},  M_g = g' * i,  M_o = o' * act(c_t)

    with ``'`` the derivative of each block's activation written from its output (sigmoid: ``s (1 - s)``,
    tanh: ``1 - g^2``). ``G`` ``(T, B, n*H, *S)`` the activated gates, ``c_prev`` and ``act_c`` ``(T, B, H, *S)``
    (``act_c``: what multiplies o, ``tanh(c_t)`` or ``c_t`` or the layer-normalised form), ``ones_g`` ones in a
    chunk of ``G``'s shape.
    """
    n, gi, k = spec.n, spec.g_index, b - a
    H = c_prev.shape[2]
    Gv, Mv = G[a:b].unflatten(2, (n, H)), dG[a:b].unflatten(2, (n, H))
    i, g = Gv[:, :, 0], Gv[:, :, gi]
    torch.sub(ones_g[:k], G[a:b], out=dG[a:b]).mul_(G[a:b])  # sigmoid' of every block ...
    if spec.input_activation == "tanh":  # ... tanh' = 1 - g^2 for g
        torch.addcmul(ones_g[:k].unflatten(2, (n, H))[:, :, 0], g, g, value=-1, out=Mv[:, :, gi])
    Mv[:, :, 0].mul_(g - c_prev[a:b] if spec.coupled else g)
    if n == 4:
        Mv[:, :, 1].mul_(c_prev[a:b])
    Mv[:, :, gi].mul_(i)
    Mv[:, :, n - 1].mul_(act_c[a:b])


class LSTMFunction(torch.autograd.Function):
    """``(u, h0, c0, weight_hh, w_ci, w_cf, w_co, weight_hr, mask, spec, hmask) -> (out, h_T, c_T)``; see the
    module. ``hmask`` (``h``'s shape, or None) multiplies h_{t-1} where it enters the recurrent product
    (variational dropout on the recurrent connection, Gal & Ghahramani 2016): a constant, not differentiated."""

    @staticmethod
    def forward(ctx: Any, u: Tensor | None, h0: Tensor, c0: Tensor, weight_hh: Tensor, w_ci: Tensor | None,
                w_cf: Tensor | None, w_co: Tensor | None, weight_hr: Tensor | None, mask: Tensor | None,
                spec: LSTMSpec, hmask: Tensor | None = None, x: Tensor | None = None,
                weight_ih: Tensor | None = None, bias: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
        H = c0.shape[1]
        n, gi = spec.n, spec.g_index
        x_flat = None
        # the doubled forms (see GateStep): 2 g_pre from the projection and the weight, 2 c in Cs; exact
        double_g, double_c = doubled_forms(spec)
        if u is None:  # the input projection here: W x + b written straight into the gate buffer
            assert x is not None and weight_ih is not None
            T, B = x.shape[:2]
            G = buffer(x, (T, B, n * H))
            w_in, b_in = weight_ih, bias
            if double_g:  # 2 g_pre from doubled rows of W and b (exact)
                w_in = weight_ih.clone()
                w_in.unflatten(0, (n, H))[gi].mul_(2)
                if bias is not None:
                    b_in = bias.clone()
                    b_in.unflatten(0, (n, H))[gi].mul_(2)
            x_flat, G_flat = x.reshape(T * B, x.shape[2]), G.view(T * B, n * H)  # (saved: reshape may copy)
            if b_in is None:
                torch.mm(x_flat, w_in.t(), out=G_flat)
            else:
                torch.addmm(b_in, x_flat, w_in.t(), out=G_flat)
        else:
            T = u.shape[0]
            # the gates start as the projections (one copy); each step adds R(h) in place: addmm into its own
            # input copies nothing, where addmm(u_t, ..., out=g_t) copied u_t into g_t at every step
            G = u.clone(memory_format=torch.contiguous_format)  # then the activated gates (T, B, n*H, *S)
            if double_g:
                G.unflatten(2, (n, H))[:, :, gi].mul_(2)
        w_rec = weight_hh
        if double_g:
            w_rec = weight_hh.clone()
            w_rec.unflatten(0, (n, H))[gi].mul_(2)
        rec = _rec(spec, w_rec)
        Cs = buffer(G, (T + 1, *c0.shape))
        torch.mul(c0, 2.0, out=Cs[0]) if double_c else Cs[0].copy_(c0)
        Hs = buffer(G, (T + 1, *h0.shape))
        Hs[0] = h0
        TC = buffer(G, (T, *c0.shape)) if spec.cell_activation else None
        R = buffer(G, (T, *c0.shape)) if weight_hr is not None else None
        whr_t = StepProduct(weight_hr, G.shape[1]) if weight_hr is not None else None  # faster form

        gs, hs = G.unbind(0), Hs.unbind(0)
        tcs = TC.unbind(0) if TC is not None else None
        rs = R.unbind(0) if R is not None else None
        ms = broadcast_mask(mask, c0.dim()).unbind(0) if mask is not None else None
        tanh_consts = tanh_constants(c0)
        gates = GateStep(G, Cs, spec, H, mask, w_ci, w_cf, w_co, tanh_consts, double_g=double_g, double_c=double_c)
        oo = gates.oo
        h_in = torch.empty_like(h0) if hmask is not None else None

        for t in range(T):
            if h_in is not None:
                rec.forward_into(gs[t], torch.mul(hs[t], hmask, out=h_in), gs[t])  # pre-activations, masked h
            else:
                rec.forward_into(gs[t], hs[t], gs[t])  # pre-activations
            c = gates.step(t)
            h_out = rs[t] if rs is not None else hs[t + 1]
            if tcs is not None and double_c:  # tanh(c_t) = 2 sigmoid(2 c_t) - 1, Cs holding 2 c_t
                torch.addcmul(tanh_consts[0], torch.sigmoid(c, out=tcs[t]), tanh_consts[1], out=tcs[t])
                torch.mul(oo[t], tcs[t], out=h_out)
            elif tcs is not None:
                tanh_into(c, tcs[t], tanh_consts)
                torch.mul(oo[t], tcs[t], out=h_out)
            else:
                torch.mul(oo[t], c, out=h_out)
            if rs is not None:
                whr_t.mm_into(rs[t], hs[t + 1])
            if ms is not None:
                torch.where(ms[t], hs[t + 1], hs[t], out=hs[t + 1])

        gates.finish()
        if double_c:
            Cs.mul_(0.5)
        out = Hs[1:]
        if mask is not None:
            out = out * broadcast_mask(mask, h0.dim()).to(out.dtype)
        ctx.save_for_backward(G, Cs, Hs, TC, R, weight_hh, w_ci, w_cf, w_co, weight_hr, mask, hmask,
                              x_flat if u is None else None, weight_ih if u is None else None)
        ctx.spec, ctx.projected, ctx.has_bias = spec, u is None, bias is not None
        ctx.x_shape = x.shape if x is not None else None
        return out, Hs[T].clone(), Cs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor, gh: Tensor, gc: Tensor) -> tuple[Tensor | None, ...]:
        G, Cs, Hs, TC, R, weight_hh, w_ci, w_cf, w_co, weight_hr, mask, hmask, x_flat, weight_ih = ctx.saved_tensors
        spec: LSTMSpec = ctx.spec
        T, B = G.shape[:2]
        n, H = spec.n, Cs.shape[2]
        rec = _rec(spec, weight_hh)
        peephole = w_ci is not None
        c_prev, c_new = Cs[:-1], Cs[1:]
        Gv = G.unflatten(2, (n, H))
        i, o = Gv[:, :, 0], Gv[:, :, n - 1]
        f = Gv[:, :, 1] if n == 4 else None
        act_c = TC if TC is not None else c_new  # act(c_t): tanh(c_t) or c_t
        mf = broadcast_mask(mask, Cs.dim() - 1).to(G.dtype) if mask is not None else None  # (T, B, 1, ...)

        # dG (the gradient of u) first holds the derivative factors M, then per step the pre-activation
        # gradients in place: d(i, f, g)_pre = dc_t * M[t, :, :n-1], do_pre = dr_t * M[t, :, n-1], with
        #   M_i = i' * g (coupled: i' * (g - c_{t-1})), M_f = f' * c_{t-1}, M_g = g' * i, M_o = o' * act(c_t),
        # and dc_t += dr_t * K_t, K = o * act'(c_t); dc_{t-1} = dc_t * F_t (F = f, 1 - i or 1).
        # Peepholes fold into the factors: K += M_o * w_co, F += M_i * w_ci + M_f * w_cf.
        # On a frozen (masked) step M = K = 0 and F = 1.
        # The factors are tabulated for a chunk of steps at a time (one kernel per factor per chunk,
        # the chunk small enough to stay in cache), just before the loop reaches it.
        dG = torch.empty_like(G)
        dGv = dG.unflatten(2, (n, H))
        step_bytes = max(1, G[0].numel() * G.element_size())
        chunk = max(1, min(T, _CHUNK_BYTES // step_bytes))
        ones_g = torch.ones_like(G[:chunk])
        ones = ones_g.unflatten(2, (n, H))[:, :, 0]
        K = torch.empty_like(Cs[1:chunk + 1])
        F_ = torch.empty_like(K) if mf is not None or spec.coupled or peephole else None

        def tables(a: int, b: int) -> tuple[Tensor, Tensor | None]:
            """M into dG[a:b]; K and F (peepholes folded in: see above) for steps a..b-1."""
            k = b - a
            Mv = dGv[a:b]
            gate_factors(spec, G, dG, c_prev, act_c, ones_g, a, b)
            if mf is not None:
                Mv.mul_(mf[a:b].unsqueeze(2))  # a frozen step's gates get no gradient
            Kc = K[:k]
            if TC is not None:
                torch.addcmul(ones[:k], TC[a:b], TC[a:b], value=-1, out=Kc).mul_(o[a:b])
            else:
                Kc.copy_(o[a:b])
            if mf is not None:
                Kc.mul_(mf[a:b])
            if peephole:
                Kc.addcmul_(Mv[:, :, n - 1], w_co)
            Fc = f[a:b] if f is not None else None
            if spec.coupled:
                Fc = torch.sub(ones[:k], i[a:b], out=F_[:k])
            if peephole:
                Fc = torch.addcmul(Fc if Fc is not None else ones[:k], Mv[:, :, 0], w_ci, out=F_[:k])
                if f is not None:
                    Fc.addcmul_(Mv[:, :, 1], w_cf)
            if mf is not None and Fc is not None:  # a frozen step passes dc through
                Fc = torch.where(mask[a:b].view(mf[a:b].shape), Fc, ones[:k], out=F_[:k])
            return Kc, Fc

        if mask is not None:
            notm = (1 - mf).unbind(0)
            gout = gout * broadcast_mask(mask, Hs.dim() - 1).to(G.dtype)
        # total gradient reaching h_t: starts as the outputs' (one copy), the recurrent path is added in place
        dH = gout.clone(memory_format=torch.contiguous_format)
        dH[T - 1].add_(gh)
        dhs, dgs = dH.unbind(0), dG.unbind(0)
        d_ifg, d_o = dGv[:, :, :n - 1].unbind(0), dGv[:, :, n - 1].unbind(0)
        dh0 = torch.empty_like(Hs[0])
        dc = gc.clone()  # total gradient reaching c_t, updated in place
        dc_b = dc.unsqueeze(1)  # broadcast over the i, (f,) g blocks
        dr_buf = torch.empty_like(Cs[0]) if weight_hr is not None else None
        dhm = torch.empty_like(Hs[0]) if hmask is not None else None  # the gradient reaching the masked h
        for b in range(T, 0, -chunk):
            a = max(0, b - chunk)
            Kc, Fc = tables(a, b)
            Ks = Kc.unbind(0)
            Fs = Fc.unbind(0) if Fc is not None else None
            for t in range(b - 1, a - 1, -1):
                j = t - a
                dh = dhs[t]
                dr = dh if dr_buf is None else torch.mm(dh, weight_hr, out=dr_buf)  # reaching r_t = o * act(c_t)
                d_o[t].mul_(dr)  # do_pre
                dc.addcmul_(dr, Ks[j])
                d_ifg[t].mul_(dc_b)  # d(i, f, g)_pre
                if Fs is not None:
                    dc.mul_(Fs[j])
                dh_prev = dhs[t - 1] if t > 0 else dh0
                if dhm is None:
                    rec.backward_into(dgs[t], dh_prev if t > 0 else None, dh_prev)
                else:  # through h_{t-1} * hmask
                    rec.backward_into(dgs[t], None, dhm)
                    if t > 0:
                        dh_prev.addcmul_(dhm, hmask)
                    else:
                        torch.mul(dhm, hmask, out=dh_prev)
                if mask is not None:
                    dh_prev.addcmul_(dh, notm[t])  # a frozen step passes h's gradient through

        need = ctx.needs_input_grad
        d_whh = rec.weight_grad(dG, Hs[:-1] if hmask is None else Hs[:-1] * hmask) if need[3] else None
        d_ci = d_cf = d_co = d_whr = None
        if peephole:
            d_ci = (dGv[:, :, 0] * c_prev).sum((0, 1)) if need[4] else None
            d_cf = (dGv[:, :, 1] * c_prev).sum((0, 1)) if n == 4 and need[5] else None
            d_co = (dGv[:, :, n - 1] * c_new).sum((0, 1)) if need[6] else None
        if weight_hr is not None and need[7]:
            if mask is not None:
                dH = dH * broadcast_mask(mask, Hs.dim() - 1).to(G.dtype)
            d_whr = torch.mm(dH.reshape(-1, dH.shape[-1]).t(), R.reshape(-1, H))
        if not ctx.projected:
            return dG, dh0, dc, d_whh, d_ci, d_cf, d_co, d_whr, None, None, None, None, None, None
        # the input projection's gradients, each ONE product (or sum) over all steps
        dG_flat = dG.view(T * B, dG.shape[2])
        dx = torch.mm(dG_flat, weight_ih).view(ctx.x_shape) if need[11] else None
        d_wih = torch.mm(dG_flat.t(), x_flat) if need[12] else None
        db = dG_flat.sum(0) if ctx.has_bias and need[13] else None
        return None, dh0, dc, d_whh, d_ci, d_cf, d_co, d_whr, None, None, None, dx, d_wih, db


def lstm_recurrence(u: Tensor | None, h0: Tensor, c0: Tensor, weight_hh: Tensor, *, mask: Tensor | None = None,
                    forget_gate: bool = True, coupled: bool = False, input_activation: str = "tanh",
                    cell_activation: bool = True, peephole: tuple[Tensor, Tensor | None, Tensor] | None = None,
                    weight_hr: Tensor | None = None, h_mask: Tensor | None = None,
                    projection: tuple[Tensor, Tensor, Tensor | None] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Run an LSTM over all steps with the fused Function.

    Args:
        u: ``(T, B, n*H)`` time-major input projections ``W x_t + b`` in the gate order (i, f, g, o)
            or (i, g, o) (``cell.project`` of time-major input); None with ``projection``.
        projection: ``(x (T, B, I), weight_ih (n*H, I), bias (n*H,) or None)``, instead of ``u``: the Function
            computes ``u = x @ weight_ih.T + bias`` itself, straight into its gate buffer (no copy of ``u``), and
            returns the gradients of x, weight_ih and bias (issue 9: the small size's train step).
        h0: ``(B, P)`` initial hidden state (P = proj size or H). c0: ``(B, H)`` initial cell state.
        weight_hh: ``(n*H, P)`` recurrent weights.
        mask: ``(T, B)`` boolean, True = valid step; a masked step keeps the state and outputs zero.
        forget_gate, coupled, input_activation, cell_activation: the cell's options.
        peephole: ``(w_ci, w_cf, w_co)`` each ``(H,)`` (``w_cf`` None when there is no forget gate).
        weight_hr: ``(P, H)`` output projection (torch's ``proj_size``) or None.
        h_mask: ``(B, P)`` or None: multiplies h_{t-1} where it enters the recurrent product, the same at
            every step (variational dropout of the recurrent connection; not differentiated).

    Returns:
        ``(out (T, B, P), h_T (B, P), c_T (B, H))``.
    """
    spec = LSTMSpec(forget_gate, coupled, input_activation, cell_activation, conv=False)
    if h_mask is not None and tuple(h_mask.shape) != tuple(h0.shape):
        raise ValueError(f"h_mask: expected h's shape {tuple(h0.shape)}, got {tuple(h_mask.shape)}")
    if (u is None) == (projection is None):
        raise ValueError("lstm_recurrence: expected exactly one of u and projection")
    return _apply(u, h0, c0, weight_hh, mask, spec, peephole, weight_hr, h_mask, projection)


def convlstm_recurrence(u: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, *, mask: Tensor | None = None,
                        peephole: tuple[Tensor, Tensor, Tensor] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Run a ConvLSTM over all steps with the fused Function.

    Args:
        u: ``(T, B, 4H, Y, X)`` the input convolution of every frame (plus bias), gates (i, f, g, o).
        h0, c0: ``(B, H, Y, X)``. weight_hh: ``(4H, H, k, k)``, odd k, applied with "same" padding.
        mask: ``(T, B)`` boolean, True = valid step.
        peephole: ``(w_ci, w_cf, w_co)`` each ``(H, Y, X)`` (Hadamard peepholes) or None.

    Returns:
        ``(out (T, B, H, Y, X), h_T, c_T)``.
    """
    if weight_hh.shape[-1] % 2 == 0 or weight_hh.shape[-1] != weight_hh.shape[-2]:
        raise ValueError(f"weight_hh: expected a square kernel of odd size, got shape {tuple(weight_hh.shape)}")
    spec = LSTMSpec(conv=True)
    return _apply(u, h0, c0, weight_hh, mask, spec, peephole, None)


def _apply(u: Tensor | None, h0: Tensor, c0: Tensor, weight_hh: Tensor, mask: Tensor | None, spec: LSTMSpec,
           peephole: tuple[Tensor, Tensor | None, Tensor] | None, weight_hr: Tensor | None,
           h_mask: Tensor | None = None,
           projection: tuple[Tensor, Tensor, Tensor | None] | None = None) -> tuple[Tensor, Tensor, Tensor]:
    if spec.input_activation not in ("tanh", "sigmoid"):
        raise ValueError(f"input_activation: expected 'tanh' or 'sigmoid', got {spec.input_activation!r}")
    x, weight_ih, bias = projection if projection is not None else (None, None, None)
    if x is not None:
        assert weight_ih is not None
        G = spec.n * c0.shape[1]
        if x.dim() != 3 or tuple(weight_ih.shape) != (G, x.shape[2]) or (bias is not None and bias.shape != (G,)):
            raise ValueError(f"projection: expected x (T, B, I), weight_ih ({G}, I) and bias ({G},) or None, got "
                             f"{tuple(x.shape)}, {tuple(weight_ih.shape)}, "
                             f"{None if bias is None else tuple(bias.shape)}")
    lead = u if u is not None else x
    assert lead is not None
    check_mask(mask, lead.shape[0], lead.shape[1])
    w_ci, w_cf, w_co = peephole if peephole is not None else (None, None, None)
    if peephole is not None and (spec.n == 4) != (w_cf is not None):
        raise ValueError("peephole: expected w_cf exactly when the cell has a separate forget gate")
    hm = None if h_mask is None else h_mask.detach().to(lead.dtype)
    return LSTMFunction.apply(u.contiguous() if u is not None else None, h0, c0, weight_hh, w_ci, w_cf, w_co,
                              weight_hr, mask, spec, hm, x, weight_ih, bias)
