r"""Fused layer-normalised LSTM recurrence: :class:`~rnnzoo.cells.lstm.LSTMCell` with ``layer_norm=True``.

Ba, Kiros & Hinton 2016, "Layer Normalization", arXiv:1607.06450, supplementary eqs (20)-(22), with
``u_t`` the hoisted input side ``LN(W x_t; ln_ih_weight) + b`` (``cell.project``)::

    pre_t = u_t + LN(U h_{t-1}; ln_hh_weight)           # eq (20), blocks (i, f, g, o) or (i, g, o)
    i = sigmoid(pre_i [+ w_ci * c_{t-1}]);  f = sigmoid(pre_f [+ w_cf * c_{t-1}])
    g = tanh(pre_g)  (or sigmoid, input_activation)
    c_t = f * c_{t-1} + i * g                           # eq (21); coupled: f = 1 - i; no forget gate: f = 1
    o = sigmoid(pre_o [+ w_co * c_t])
    r_t = o * tanh(LN(c_t; ln_c_weight, ln_c_bias))     # eq (22); o * LN(c_t) without cell_activation
    h_t = weight_hr @ r_t if projected, else r_t

``LN(a; w, b) = w * (a - mean(a)) / sqrt(var(a) + eps) + b`` over the feature axis of one example and
step (the whole stacked ``n*H`` vector for the recurrent product, ``H`` for the cell state; biased
variance, ``eps =`` :data:`~rnnzoo.fused._common.LN_EPS`). Masked steps keep ``(h, c)`` and output zero.

Forward runs the loop with raw ops into preallocated buffers (no autograd graph): the recurrent
product into ``A``, one ``native_layer_norm`` whose output is added to ``u_t`` in the gate buffer,
the gates as :mod:`rnnzoo.fused.lstm` does them, one ``native_layer_norm`` of ``c_t``. It keeps
``A``, the per-step LN statistics, the activated gates, every ``c_t``, ``h_t`` and ``tanh(LN(c_t))``
(and ``r_t`` when projected). The bracketed peepholes (Gers et al. 2002) add to the normalised
pre-activations, from the cell state itself. Backward, per step: the cell-state LN's input gradient
(``native_layer_norm_backward``), the gate gradients, the recurrent LN's input gradient and one
recurrent product ``da_t @ U`` (one more, ``dh_t @ weight_hr``, when projected); the derivative
factors are tabulated a chunk of steps at a time as in :mod:`rnnzoo.fused.lstm`, the peepholes on
``c_{t-1}`` folded into the factor that carries ``dc``. After the loop, every weight gradient is ONE
product or reduction over all steps: ``dU = da(T*B, G)^T @ h_prev(T*B, P)``, the gains and bias of
both LNs from one ``native_layer_norm_backward`` over all ``T*B`` rows each, the peepholes and
``weight_hr`` likewise.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import LN_EPS, broadcast_mask, check_mask, tanh_constants, tanh_into
from rnnzoo.fused.lstm import GateStep, LSTMSpec, gate_factors
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer

_CHUNK_BYTES = 1 << 19
"""Backward tabulates derivative factors for this many bytes of gates at a time (as rnnzoo.fused.lstm)."""

_layer_norm = torch.native_layer_norm
_layer_norm_backward = torch.ops.aten.native_layer_norm_backward.default


class LayerNormLSTMFunction(torch.autograd.Function):
    """``(u, h0, c0, weight_hh, ln_hh_weight, ln_c_weight, ln_c_bias, w_ci, w_cf, w_co, weight_hr, mask, spec)
    -> (out, h_T, c_T)``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, ln_hh_weight: Tensor,
                ln_c_weight: Tensor, ln_c_bias: Tensor, w_ci: Tensor | None, w_cf: Tensor | None,
                w_co: Tensor | None, weight_hr: Tensor | None, mask: Tensor | None,
                spec: LSTMSpec) -> tuple[Tensor, Tensor, Tensor]:
        T, B = u.shape[:2]
        H = c0.shape[1]
        width = spec.n * H
        G = torch.empty_like(u)  # activated gates (T, B, n*H)
        A = torch.empty_like(u)  # recurrent products U h_{t-1}, the recurrent LN's input
        Cs = buffer(u, (T + 1, B, H))
        Cs[0] = c0
        Hs = buffer(u, (T + 1, *h0.shape))
        Hs[0] = h0
        TC = buffer(u, (T, B, H))  # tanh(LN(c_t)), or LN(c_t) without cell activation
        R = buffer(u, (T, B, H)) if weight_hr is not None else None  # r_t = o * TC_t before the projection
        wt = StepProduct(weight_hh, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        whr_t = StepProduct(weight_hr, B) if weight_hr is not None else None
        us, gs, as_, hs, tcs = u.unbind(0), G.unbind(0), A.unbind(0), Hs.unbind(0), TC.unbind(0)
        rs = R.unbind(0) if R is not None else None
        ms = broadcast_mask(mask, 2).unbind(0) if mask is not None else None
        tanh_consts = tanh_constants(c0)
        gates = GateStep(G, Cs, spec, H, mask, w_ci, w_cf, w_co, tanh_consts)  # eq (21), as the plain LSTM's
        oo = gates.oo
        stats_a: list[tuple[Tensor, Tensor]] = []
        stats_c: list[tuple[Tensor, Tensor]] = []

        for t in range(T):
            wt.mm_into(hs[t], as_[t])
            y, mean, rstd = _layer_norm(as_[t], (width,), ln_hh_weight, None, LN_EPS)  # eq (20)
            stats_a.append((mean, rstd))
            torch.add(us[t], y, out=gs[t])  # pre-activations
            c = gates.step(t)
            y, mean, rstd = _layer_norm(c, (H,), ln_c_weight, ln_c_bias, LN_EPS)  # eq (22)
            stats_c.append((mean, rstd))
            if spec.cell_activation:
                tanh_into(y, tcs[t], tanh_consts)
            else:
                tcs[t].copy_(y)
            if rs is not None:
                torch.mul(oo[t], tcs[t], out=rs[t])
                whr_t.mm_into(rs[t], hs[t + 1])
            else:
                torch.mul(oo[t], tcs[t], out=hs[t + 1])
            if ms is not None:
                torch.where(ms[t], hs[t + 1], hs[t], out=hs[t + 1])

        mean_a, rstd_a = (torch.stack(s) for s in zip(*stats_a, strict=True))  # (T, B, 1) each
        mean_c, rstd_c = (torch.stack(s) for s in zip(*stats_c, strict=True))
        out = Hs[1:]
        if mask is not None:
            out = out * broadcast_mask(mask, 2).to(out.dtype)
        ctx.save_for_backward(G, A, Cs, Hs, TC, R, mean_a, rstd_a, mean_c, rstd_c, weight_hh, ln_hh_weight,
                              ln_c_weight, ln_c_bias, w_ci, w_cf, w_co, weight_hr, mask)
        ctx.spec = spec
        return out, Hs[T].clone(), Cs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor, gh: Tensor, gc: Tensor) -> tuple[Tensor | None, ...]:
        (G, A, Cs, Hs, TC, R, mean_a, rstd_a, mean_c, rstd_c, weight_hh, ln_hh_weight, ln_c_weight, ln_c_bias,
         w_ci, w_cf, w_co, weight_hr, mask) = ctx.saved_tensors
        spec: LSTMSpec = ctx.spec
        T, B = G.shape[:2]
        n, H = spec.n, Cs.shape[2]
        width = n * H
        peephole = w_ci is not None
        c_prev, c_new = Cs[:-1], Cs[1:]
        Gv = G.unflatten(2, (n, H))
        i, o = Gv[:, :, 0], Gv[:, :, n - 1]
        f = Gv[:, :, 1] if n == 4 else None
        mf = broadcast_mask(mask, 2).to(G.dtype) if mask is not None else None  # (T, B, 1)

        # dG (the gradient of u) first holds the derivative factors M, then per step the pre-activation
        # gradients in place: d(i, f, g)_pre = dc_t * M[t, :, :n-1], do_pre = dr_t * M[t, :, n-1], with
        #   M_i = i' * g (coupled: i' * (g - c_{t-1})), M_f = f' * c_{t-1}, M_g = g' * i, M_o = o' * TC_t;
        # dr_t is the gradient reaching r_t = o * TC_t (dh_t, or dh_t @ weight_hr when projected).
        # dY_t = dr_t * K_t, K = o * tanh'(LN(c_t)) (o without cell activation), is the gradient of the
        # cell-state LN's output; its input gradient joins dc_t, and so does dr_t * Po_t, Po = M_o * w_co
        # (the output gate's peephole); dc_{t-1} = dc_t * F_t, F = f, 1 - i or 1, plus M_i * w_ci + M_f * w_cf
        # with peepholes. On a frozen (masked) step M = K = Po = 0 and F = 1. Tables a chunk at a time.
        dG = torch.empty_like(G)
        dGv = dG.unflatten(2, (n, H))
        chunk = max(1, min(T, _CHUNK_BYTES // max(1, G[0].numel() * G.element_size())))
        ones_g = torch.ones_like(G[:chunk])
        ones = ones_g.unflatten(2, (n, H))[:, :, 0]
        K = torch.empty_like(Cs[1:chunk + 1])
        Po = torch.empty_like(K) if peephole else None
        F_ = torch.empty_like(K) if mf is not None or spec.coupled or peephole else None

        def tables(a: int, b: int) -> tuple[Tensor, Tensor | None, Tensor | None]:
            k = b - a
            Mv = dGv[a:b]
            gate_factors(spec, G, dG, c_prev, TC, ones_g, a, b)
            Kc = K[:k]
            if spec.cell_activation:
                torch.addcmul(ones[:k], TC[a:b], TC[a:b], value=-1, out=Kc).mul_(o[a:b])
            else:
                Kc.copy_(o[a:b])
            if mf is not None:
                Mv.mul_(mf[a:b].unsqueeze(2))  # a frozen step's gates get no gradient
                Kc.mul_(mf[a:b])
            Pc = torch.mul(Mv[:, :, n - 1], w_co, out=Po[:k]) if peephole else None
            Fc = f[a:b] if f is not None else None
            if spec.coupled:
                Fc = torch.sub(ones[:k], i[a:b], out=F_[:k])
            if peephole:
                Fc = torch.addcmul(Fc if Fc is not None else ones[:k], Mv[:, :, 0], w_ci, out=F_[:k])
                if f is not None:
                    Fc.addcmul_(Mv[:, :, 1], w_cf)
            if mf is not None and Fc is not None:  # a frozen step passes dc through
                Fc = torch.where(mask[a:b].unsqueeze(2), Fc, ones[:k], out=F_[:k])
            return Kc, Fc, Pc

        if mask is not None:
            notm = (1 - mf).unbind(0)
            gout = gout * mf
        dH = torch.empty_like(gout)  # total gradient reaching h_t
        torch.add(gout[T - 1], gh, out=dH[T - 1])
        DY = torch.empty_like(TC)  # gradient of the cell-state LN's output, every step
        dhs, gouts, dgs, dys = dH.unbind(0), gout.unbind(0), dG.unbind(0), DY.unbind(0)
        as_, cs = A.unbind(0), Cs.unbind(0)
        ma, ra, mc, rc = mean_a.unbind(0), rstd_a.unbind(0), mean_c.unbind(0), rstd_c.unbind(0)
        d_ifg, d_o = dGv[:, :, :n - 1].unbind(0), dGv[:, :, n - 1].unbind(0)
        dh0 = torch.empty_like(Hs[0])
        dc = gc.clone()  # total gradient reaching c_t, updated in place
        dc_b = dc.unsqueeze(1)  # broadcast over the i, (f,) g blocks
        dr_buf = torch.empty_like(Cs[0]) if weight_hr is not None else None
        dA = torch.empty_like(G)  # the recurrent LN's input gradients: copied in per step, while in cache
        das = dA.unbind(0)
        input_only = [True, False, False]
        for b in range(T, 0, -chunk):
            a = max(0, b - chunk)
            Kc, Fc, Pc = tables(a, b)
            Ks = Kc.unbind(0)
            Fs = Fc.unbind(0) if Fc is not None else None
            Ps = Pc.unbind(0) if Pc is not None else None
            for t in range(b - 1, a - 1, -1):
                j, dh = t - a, dhs[t]
                dr = dh if dr_buf is None else torch.mm(dh, weight_hr, out=dr_buf)  # reaching r_t = o * TC_t
                d_o[t].mul_(dr)  # do_pre
                torch.mul(dr, Ks[j], out=dys[t])
                dc.add_(_layer_norm_backward(dys[t], cs[t + 1], (H,), mc[t], rc[t], ln_c_weight, None,
                                             input_only)[0])
                if Ps is not None:
                    dc.addcmul_(dr, Ps[j])  # through the output gate's peephole on c_t
                d_ifg[t].mul_(dc_b)  # d(i, f, g)_pre
                if Fs is not None:
                    dc.mul_(Fs[j])
                das[t].copy_(_layer_norm_backward(dgs[t], as_[t], (width,), ma[t], ra[t], ln_hh_weight, None,
                                                  input_only)[0])
                if t > 0:
                    torch.addmm(gouts[t - 1], das[t], weight_hh, out=dhs[t - 1])
                else:
                    torch.mm(das[t], weight_hh, out=dh0)
                if mask is not None:
                    (dhs[t - 1] if t > 0 else dh0).addcmul_(dh, notm[t])  # a frozen step passes h's gradient

        need = ctx.needs_input_grad
        rows = T * B
        d_whh = d_ln_hh = d_ln_cw = d_ln_cb = d_ci = d_cf = d_co = d_whr = None
        if need[3]:
            d_whh = torch.mm(dA.view(rows, width).t(), Hs[:-1].reshape(rows, -1))
        if need[4]:
            d_ln_hh = _layer_norm_backward(dG.view(rows, width), A.view(rows, width), (width,), mean_a.view(rows, 1),
                                           rstd_a.view(rows, 1), ln_hh_weight, None, [False, True, False])[1]
        if need[5] or need[6]:
            _, d_ln_cw, d_ln_cb = _layer_norm_backward(DY.view(rows, H), c_new.reshape(rows, H), (H,),
                                                       mean_c.view(rows, 1), rstd_c.view(rows, 1), ln_c_weight,
                                                       ln_c_bias, [False, need[5], need[6]])
        if peephole:
            d_ci = (dGv[:, :, 0] * c_prev).sum((0, 1)) if need[7] else None
            d_cf = (dGv[:, :, 1] * c_prev).sum((0, 1)) if n == 4 and need[8] else None
            d_co = (dGv[:, :, n - 1] * c_new).sum((0, 1)) if need[9] else None
        if weight_hr is not None and need[10]:
            if mask is not None:  # a frozen step's h is h_{t-1}, not this step's projection
                dH = dH * mf
            d_whr = torch.mm(dH.reshape(rows, -1).t(), R.reshape(rows, H))
        return dG, dh0, dc, d_whh, d_ln_hh, d_ln_cw, d_ln_cb, d_ci, d_cf, d_co, d_whr, None, None


def layer_norm_lstm_recurrence(u: Tensor, h0: Tensor, c0: Tensor, weight_hh: Tensor, ln_hh_weight: Tensor,
                               ln_c_weight: Tensor, ln_c_bias: Tensor, *, mask: Tensor | None = None,
                               forget_gate: bool = True, coupled: bool = False, input_activation: str = "tanh",
                               cell_activation: bool = True,
                               peephole: tuple[Tensor, Tensor | None, Tensor] | None = None,
                               weight_hr: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Run a layer-normalised LSTM over all steps with the fused Function.

    Args:
        u: ``(T, B, n*H)`` time-major input side ``LN(W x_t; ln_ih_weight) + b`` in the gate order
            (i, f, g, o) or (i, g, o) (``cell.project`` of time-major input).
        h0: ``(B, P)`` initial hidden state (P = proj size or H). c0: ``(B, H)`` initial cell state.
        weight_hh: ``(n*H, P)`` recurrent weights.
        ln_hh_weight: ``(n*H,)`` gain of the recurrent product's LN (eq (20)'s alpha_1; no bias: b is in u).
        ln_c_weight, ln_c_bias: ``(H,)`` gain and bias of the cell state's LN (eq (22)'s alpha_3, beta_3).
        mask: ``(T, B)`` boolean, True = valid step; a masked step keeps the state and outputs zero.
        forget_gate, coupled, input_activation, cell_activation: the cell's options.
        peephole: ``(w_ci, w_cf, w_co)`` each ``(H,)`` (``w_cf`` None when there is no forget gate).
        weight_hr: ``(P, H)`` output projection (torch's ``proj_size``) or None.

    Returns:
        ``(out (T, B, P), h_T (B, P), c_T (B, H))``.
    """
    if input_activation not in ("tanh", "sigmoid"):
        raise ValueError(f"input_activation: expected 'tanh' or 'sigmoid', got {input_activation!r}")
    if coupled and not forget_gate:
        raise ValueError("coupled: a coupled input-forget gate needs forget_gate=True, got forget_gate=False")
    spec = LSTMSpec(forget_gate, coupled, input_activation, cell_activation, conv=False)
    H, P = c0.shape[1], h0.shape[1]
    if u.dim() != 3 or u.shape[2] != spec.n * H or tuple(weight_hh.shape) != (spec.n * H, P):
        raise ValueError(f"u/weight_hh: expected u (T, B, {spec.n * H}) and weight_hh ({spec.n * H}, {P}) for "
                         f"{spec.n} gate blocks of H={H}, got u {tuple(u.shape)}, weight_hh {tuple(weight_hh.shape)}")
    w_ci, w_cf, w_co = peephole if peephole is not None else (None, None, None)
    if peephole is not None and (spec.n == 4) != (w_cf is not None):
        raise ValueError("peephole: expected w_cf exactly when the cell has a separate forget gate")
    check_mask(mask, u.shape[0], u.shape[1])
    return LayerNormLSTMFunction.apply(u.contiguous(), h0, c0, weight_hh, ln_hh_weight, ln_c_weight, ln_c_bias,
                                       w_ci, w_cf, w_co, weight_hr, mask, spec)
