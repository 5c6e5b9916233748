r"""Fused layer-normalised GRU recurrence: :class:`~rnnzoo.cells.gru.GRUCell` with ``layer_norm=True``.

The layer-normalised GRU of Ba, Kiros & Hinton 2016 (arXiv:1607.06450) as the authors' code writes it
(``lngru_layer`` in github.com/ryankiros/layer-norm; the paper gives no GRU equations): the input and
the recurrent products are normalised separately, as the paper's LN-LSTM (supplement eq (20)) does,
and each per block, the gates (r, z) and the candidate n.
With ``u_t`` the hoisted input side (``cell.project``: ``[LN(W_rz x_t), LN(W_n x_t)] + b_i``, plus
``b_h`` in the "before" form) and ``LN(a; w, b) = w * (a - mean(a)) / sqrt(var(a) + eps) + b``::

    r, z = sigmoid(u_rz + LN(U_rz h_{t-1}; w_rz, b_hrz))
    reset="after":   n = tanh(u_n + r * LN(U_n h_{t-1}; w_n, b_hn))     # the authors' form
    reset="before":  n = tanh(u_n + LN(U_n (r * h_{t-1}); w_n))          # Cho et al.'s reset, b_h in u
    h_t = (1 - z) * n + z * h_{t-1}

``w = ln_hh_weight`` split (2H | H), ``b_h = bias_hh`` (None: no bias). Masked steps keep h and output
zero.

Forward runs the loop with raw ops into preallocated buffers: per step the two recurrent products
(into ``A_rz``, ``A_n``, the LN inputs), one ``native_layer_norm`` each (the recurrent bias goes in
as the LN's bias) and the gates as :mod:`rnnzoo.fused.gru`. Backward runs per step the two LNs'
input gradients (``native_layer_norm_backward``) and the recurrent products ``da @ U``; derivative
factors are tabulated a chunk of steps at a time. After the loop, ``dU`` is one product over all
steps per block, and the gains and recurrent biases one ``native_layer_norm_backward`` over all
``T*B`` rows per block.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import LN_EPS, check_mask, tanh_constants, tanh_into
from rnnzoo.fused.gru import derivative_tables
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer

_CHUNK_BYTES = 1 << 19
"""Backward tabulates derivative factors for this many bytes of one gate block at a time."""

_RESETS = ("after", "before")
_layer_norm = torch.native_layer_norm
_layer_norm_backward = torch.ops.aten.native_layer_norm_backward.default


class LayerNormGRUFunction(torch.autograd.Function):
    """``(u, h0, weight_hh, ln_hh_weight, bias_hh, mask, reset) -> (out, h_T)``; see the module.
    ``bias_hh`` is used only by the "after" form (None for no bias)."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, weight_hh: Tensor, ln_hh_weight: Tensor, bias_hh: Tensor | None,
                mask: Tensor | None, reset: str) -> tuple[Tensor, Tensor]:
        T, B = u.shape[:2]
        H = h0.shape[1]
        after = reset == "after"
        w_rz_t, w_n_t = StepProduct(weight_hh[:2 * H], B), StepProduct(weight_hh[2 * H:], B)  # fused.products
        g_rz, g_n = ln_hh_weight[:2 * H], ln_hh_weight[2 * H:]
        b_rz, b_n = (bias_hh[:2 * H], bias_hh[2 * H:]) if bias_hh is not None else (None, None)
        Hs = buffer(u, (T + 1, B, H))
        Hs[0] = h0
        RZ = buffer(u, (T, B, 2 * H))  # activated r, z
        N = buffer(u, (T, B, H))  # activated n
        A_rz = buffer(u, (T, B, 2 * H))  # U_rz h_{t-1}
        A_n = buffer(u, (T, B, H))  # U_n h_{t-1} ("after") or U_n (r * h_{t-1}) ("before")
        RH = None if after else buffer(u, (T, B, H))  # r * h_{t-1}
        hs, rzs, ns, arz, an = Hs.unbind(0), RZ.unbind(0), N.unbind(0), A_rz.unbind(0), A_n.unbind(0)
        rs, zs = RZ[:, :, :H].unbind(0), RZ[:, :, H:].unbind(0)
        u_rz, u_n = u[:, :, :2 * H].unbind(0), u[:, :, 2 * H:].unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        tanh_consts = tanh_constants(h0)
        stats_rz: list[tuple[Tensor, Tensor]] = []
        stats_n: list[tuple[Tensor, Tensor]] = []
        ys_n: list[Tensor] = []  # "after": LN(U_n h) + b_hn, the factor r multiplies

        for t in range(T):
            w_rz_t.mm_into(hs[t], arz[t])
            y, mean, rstd = _layer_norm(arz[t], (2 * H,), g_rz, b_rz if after else None, LN_EPS)
            stats_rz.append((mean, rstd))
            torch.add(u_rz[t], y, out=rzs[t]).sigmoid_()
            if after:
                w_n_t.mm_into(hs[t], an[t])
                y, mean, rstd = _layer_norm(an[t], (H,), g_n, b_n, LN_EPS)
                ys_n.append(y)
                torch.addcmul(u_n[t], rs[t], y, out=ns[t])
            else:
                torch.mul(rs[t], hs[t], out=RH[t])
                w_n_t.mm_into(RH[t], an[t])
                y, mean, rstd = _layer_norm(an[t], (H,), g_n, None, LN_EPS)
                torch.add(u_n[t], y, out=ns[t])
            stats_n.append((mean, rstd))
            tanh_into(ns[t], ns[t], tanh_consts)
            torch.lerp(ns[t], hs[t], zs[t], out=hs[t + 1])
            if ms is not None:
                torch.where(ms[t], hs[t + 1], hs[t], out=hs[t + 1])

        mean_rz, rstd_rz = (torch.stack(s) for s in zip(*stats_rz, strict=True))  # (T, B, 1) each
        mean_n, rstd_n = (torch.stack(s) for s in zip(*stats_n, strict=True))
        extra = torch.stack(ys_n) if after else RH
        out = Hs[1:]
        if mask is not None:
            out = out * mask.unsqueeze(2).to(out.dtype)
        ctx.save_for_backward(Hs, RZ, N, A_rz, A_n, extra, mean_rz, rstd_rz, mean_n, rstd_n, weight_hh,
                              ln_hh_weight, bias_hh, mask)
        ctx.reset = reset
        return out, Hs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor, gh: Tensor) -> tuple[Tensor | None, ...]:
        (Hs, RZ, N, A_rz, A_n, extra, mean_rz, rstd_rz, mean_n, rstd_n, weight_hh, ln_hh_weight, bias_hh,
         mask) = ctx.saved_tensors
        T, B, H = N.shape
        after = ctx.reset == "after"
        r, z, n, h_prev = RZ[:, :, :H], RZ[:, :, H:], N, Hs[:-1]
        w_rz, w_n = weight_hh[:2 * H], weight_hh[2 * H:]
        g_rz, g_n = ln_hh_weight[:2 * H], ln_hh_weight[2 * H:]
        mf = mask.unsqueeze(2).to(N.dtype) if mask is not None else None
        if mf is not None:
            gout = gout * mf
        # D_rz, D_n: the gradients of u's blocks; D_rz is also the gradient of the (r, z) LN's output.
        # DY_n: the gradient of the n block's LN output ("after": dn_pre * r; "before": D_n itself).
        # Factors, tabulated a chunk of steps at a time into the gradient buffers, scaled per step:
        #   dn_pre = dh * Mn, Mn = (1 - z)(1 - n^2);  dz_pre = dh * Mz, Mz = (h_{t-1} - n) z (1 - z);
        #   dr_pre = d(r-product) * Mr, Mr = r (1 - r) * (LN(U_n h) + b_hn  |  h_{t-1});  dh_{t-1} += dh * z.
        D_rz = torch.empty((T, B, 2 * H), dtype=N.dtype, device=N.device)
        D_n = torch.empty_like(N)
        DY_n = torch.empty_like(N) if after else D_n
        d_r, d_z = D_rz[:, :, :H], D_rz[:, :, H:]
        chunk, tables = derivative_tables(r, z, n, h_prev, extra if after else h_prev, D_n, d_z, mask, _CHUNK_BYTES)

        dH = torch.empty_like(gout)  # total gradient reaching h_t
        torch.add(gout[T - 1], gh, out=dH[T - 1])
        dhs, gouts = dH.unbind(0), gout.unbind(0)
        dh0 = torch.empty_like(gh)
        drz, dn, dyn = D_rz.unbind(0), D_n.unbind(0), DY_n.unbind(0)
        dr, dz, rs = d_r.unbind(0), d_z.unbind(0), r.unbind(0)
        arz, an = A_rz.unbind(0), A_n.unbind(0)
        mrz, rrz, mn, rn = mean_rz.unbind(0), rstd_rz.unbind(0), mean_n.unbind(0), rstd_n.unbind(0)
        input_only = [True, False, False]
        dA_rz, dA_n = torch.empty_like(A_rz), torch.empty_like(A_n)  # the LNs' input gradients, copied in per step
        da_rz, da_n = dA_rz.unbind(0), dA_n.unbind(0)
        for b in range(T, 0, -chunk):
            a = max(0, b - chunk)
            Mrs, Zs = (v.unbind(0) for v in tables(a, b))
            for t in range(b - 1, a - 1, -1):
                j, dh = t - a, dhs[t]
                dh_prev = dhs[t - 1] if t > 0 else dh0
                dn[t].mul_(dh)  # dn_pre
                dz[t].mul_(dh)  # dz_pre
                if after:
                    torch.mul(dn[t], rs[t], out=dyn[t])  # the gradient of LN(U_n h) + b_hn
                    torch.mul(dn[t], Mrs[j], out=dr[t])  # dr_pre
                    dan = _layer_norm_backward(dyn[t], an[t], (H,), mn[t], rn[t], g_n, None, input_only)[0]
                    darz = _layer_norm_backward(drz[t], arz[t], (2 * H,), mrz[t], rrz[t], g_rz, None, input_only)[0]
                    if t > 0:
                        torch.addmm(gouts[t - 1], darz, w_rz, out=dh_prev)
                    else:
                        torch.mm(darz, w_rz, out=dh_prev)
                    dh_prev.addmm_(dan, w_n)
                else:
                    dan = _layer_norm_backward(dn[t], an[t], (H,), mn[t], rn[t], g_n, None, input_only)[0]
                    drh = torch.mm(dan, w_n)  # the gradient of r * h_{t-1}
                    torch.mul(drh, Mrs[j], out=dr[t])  # dr_pre
                    darz = _layer_norm_backward(drz[t], arz[t], (2 * H,), mrz[t], rrz[t], g_rz, None, input_only)[0]
                    if t > 0:
                        torch.addmm(gouts[t - 1], darz, w_rz, out=dh_prev)
                    else:
                        torch.mm(darz, w_rz, out=dh_prev)
                    dh_prev.addcmul_(drh, rs[t])
                dh_prev.addcmul_(dh, Zs[j])
                da_rz[t].copy_(darz)
                da_n[t].copy_(dan)

        need = ctx.needs_input_grad
        rows = T * B
        d_w = d_ln = d_b = None
        if need[2]:
            n_input = h_prev if after else extra  # what U_n multiplies: h_{t-1} or r * h_{t-1}
            d_w = torch.cat([torch.mm(dA_rz.view(rows, 2 * H).t(), h_prev.reshape(rows, H)),
                             torch.mm(dA_n.view(rows, H).t(), n_input.reshape(rows, H))])
        with_bias = after and bias_hh is not None and need[4]
        if need[3] or with_bias:
            b_rz, b_n = (bias_hh[:2 * H], bias_hh[2 * H:]) if with_bias else (None, None)
            which = [False, need[3], with_bias]
            _, dg_rz, db_rz = _layer_norm_backward(D_rz.view(rows, 2 * H), A_rz.view(rows, 2 * H), (2 * H,),
                                                   mean_rz.view(rows, 1), rstd_rz.view(rows, 1), g_rz, b_rz, which)
            _, dg_n, db_n = _layer_norm_backward(DY_n.view(rows, H), A_n.view(rows, H), (H,), mean_n.view(rows, 1),
                                                 rstd_n.view(rows, 1), g_n, b_n, which)
            d_ln = torch.cat([dg_rz, dg_n]) if need[3] else None
            d_b = torch.cat([db_rz, db_n]) if with_bias else None
        return torch.cat([D_rz, D_n], 2), dh0, d_w, d_ln, d_b, None, None


def layer_norm_gru_recurrence(u: Tensor, h0: Tensor, weight_hh: Tensor, ln_hh_weight: Tensor,
                              bias_hh: Tensor | None = None, *, reset: str = "after",
                              mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run a layer-normalised GRU over all steps with the fused Function.

    Args:
        u: ``(T, B, 3H)`` time-major input side (r, z, n): ``[LN(W_rz x_t), LN(W_n x_t)] + b_ih`` for
            "after", ``+ b_hh`` as well for "before" (as ``GRUCell.project``).
        h0: ``(B, H)``. weight_hh: ``(3H, H)``. ln_hh_weight: ``(3H,)`` gains of the (r, z) and n LNs.
        bias_hh: ``(3H,)`` the recurrent bias of the "after" form, the LNs' bias (None for none; must
            be None for "before", which folds it into u).
        reset: ``"after"`` or ``"before"``.
        mask: ``(T, B)`` boolean, True = valid step.

    Returns:
        ``(out (T, B, H), h_T (B, H))``.
    """
    if reset not in _RESETS:
        raise ValueError(f"reset: expected one of {_RESETS}, got {reset!r}")
    if reset == "before" and bias_hh is not None:
        raise ValueError("bias_hh: the 'before' form folds b_hh into u; pass None")
    H = h0.shape[1]
    if u.dim() != 3 or u.shape[2] != 3 * H or tuple(ln_hh_weight.shape) != (3 * H,):
        raise ValueError(f"u/ln_hh_weight: expected u (T, B, {3 * H}) and ln_hh_weight ({3 * H},) for H={H}, "
                         f"got u {tuple(u.shape)}, ln_hh_weight {tuple(ln_hh_weight.shape)}")
    check_mask(mask, u.shape[0], u.shape[1])
    return LayerNormGRUFunction.apply(u.contiguous(), h0, weight_hh, ln_hh_weight, bias_hh, mask, reset)
