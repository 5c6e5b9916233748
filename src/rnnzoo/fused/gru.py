r"""Fused GRU recurrence, both forms of :class:`~rnnzoo.cells.gru.GRUCell` (001 eqs (36)-(39)).

With ``u_t = [u_r, u_z, u_n]`` the hoisted input projections (``W x_t + b_i*``, plus ``b_h*`` in
the "before" form) and ``U = weight_hh`` (3H, H) stacked (r, z, n)::

    r = sigmoid(u_r + U_r h_{t-1} [+ b_hr])                      # 001 eq (39)
    z = sigmoid(u_z + U_z h_{t-1} [+ b_hz])                      # 001 eq (37)
    reset="after":  n = tanh(u_n + r * (U_n h_{t-1} + b_hn))     # torch.nn.GRU / cuDNN
    reset="before": n = tanh(u_n + U_n (r * h_{t-1}))            # 001 eq (38), Cho et al.
    h_t = (1 - z) * n + z * h_{t-1} = lerp(n, h_{t-1}, z)        # 001 eq (36), z relabelled as the cell

Masked steps (``mask[t, b]`` False) keep h and output zero.

Forward runs the loop with raw tensor ops (no autograd graph; tanh as ``2 sigmoid(2x) - 1``) and
keeps r, z, n, every h_t and the n block's recurrent input (``U_n h + b_hn`` or ``r * h``);
backward runs the recurrent products of one step per step (one for "after"; ``dn @ U_n`` and
``d[r, z] @ U_rz`` for "before") and the recurrent-weight gradient as one product over all steps
per block. The pointwise derivative factors are tabulated a chunk of steps at a time into the
gradient buffers, and ``dh_{t-1} = ... + dh_t * z_t`` with z replaced by 1 on masked steps carries
the gradient through frozen steps for free.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer

_CHUNK_BYTES = 1 << 19
"""Backward tabulates derivative factors for this many bytes of one gate block at a time."""

_RESETS = ("after", "before")


def derivative_tables(r: Tensor, z: Tensor, n: Tensor, h_prev: Tensor, r_input: Tensor, d_n: Tensor, d_z: Tensor,
                      mask: Tensor | None, chunk_bytes: int) -> tuple[int, Callable[[int, int], tuple[Tensor, Tensor]]]:
    """The GRU's pointwise derivative factors, tabulated a chunk of steps at a time (one kernel per factor
    per chunk, the chunk sized to stay in cache) into the gradient buffers, which the backward loop then
    scales in place; shared by the plain and the layer-normalised GRU Functions::

        dn_pre = dh * Mn, Mn = (1 - z)(1 - n^2)          (into d_n)
        dz_pre = dh * Mz, Mz = (h_{t-1} - n) z (1 - z)   (into d_z)
        dr_pre = d(r-product) * Mr, Mr = r (1 - r) * r_input   (r_input: U_n h + b_hn "after", h_{t-1} "before")
        dh_{t-1} += dh * Z, Z = z (1 on a frozen step: the gradient passes through)

    All ``(T, B, H)``; ``mask`` ``(T, B)`` or None. Returns ``(chunk, tables)`` with ``tables(a, b) -> (Mr, Z)``
    for steps ``a..b-1`` (at most ``chunk`` of them), having written ``d_n`` and ``d_z`` there.
    """
    T, B, H = n.shape
    chunk = max(1, min(T, chunk_bytes // max(1, B * H * n.element_size())))
    ones = torch.ones_like(n[:chunk])
    Mr, Zeff, tmp = torch.empty_like(ones), torch.empty_like(ones), torch.empty_like(ones)
    mf = mask.unsqueeze(2).to(n.dtype) if mask is not None else None

    def tables(a: int, b: int) -> tuple[Tensor, Tensor]:
        k = b - a
        one_minus_z = torch.sub(ones[:k], z[a:b], out=tmp[:k])
        torch.addcmul(ones[:k], n[a:b], n[a:b], value=-1, out=d_n[a:b]).mul_(one_minus_z)
        torch.sub(h_prev[a:b], n[a:b], out=d_z[a:b]).mul_(z[a:b]).mul_(one_minus_z)
        torch.sub(ones[:k], r[a:b], out=Mr[:k]).mul_(r[a:b]).mul_(r_input[a:b])
        if mf is None:
            return Mr[:k], z[a:b]
        d_n[a:b].mul_(mf[a:b])
        d_z[a:b].mul_(mf[a:b])
        return Mr[:k], torch.where(mask[a:b].unsqueeze(2), z[a:b], ones[:k], out=Zeff[:k])  # frozen: pass dh

    return chunk, tables


class GRUFunction(torch.autograd.Function):
    """``(u, h0, weight_hh, bias_hh, mask, reset) -> (out, h_T)``; see the module. ``bias_hh`` is
    used only by the "after" form (None for no bias)."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, weight_hh: Tensor, bias_hh: Tensor | None, mask: Tensor | None,
                reset: str) -> tuple[Tensor, Tensor]:
        T, B = u.shape[:2]
        H = h0.shape[1]
        Hs = buffer(u, (T + 1, B, H))
        Hs[0] = h0
        RZ = buffer(u, (T, B, 2 * H))  # activated r, z
        N = buffer(u, (T, B, H))  # activated n
        hs, rzs, ns = Hs.unbind(0), RZ.unbind(0), N.unbind(0)
        rs, zs = RZ[:, :, :H].unbind(0), RZ[:, :, H:].unbind(0)
        u_rz, u_n = u[:, :, :2 * H].unbind(0), u[:, :, 2 * H:].unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        tanh_consts = tanh_constants(h0)
        if reset == "after":
            HH = buffer(u, (T, B, 3 * H))  # U h_{t-1} + b_hh: its n block is needed by backward
            hhs, hh_rz, hh_n = HH.unbind(0), HH[:, :, :2 * H].unbind(0), HH[:, :, 2 * H:].unbind(0)
            wt = StepProduct(weight_hh, B)  # faster form
            for t in range(T):
                if bias_hh is None:
                    wt.mm_into(hs[t], hhs[t])
                else:
                    wt.addmm_into(bias_hh, hs[t], hhs[t])
                torch.add(u_rz[t], hh_rz[t], out=rzs[t]).sigmoid_()
                tanh_into(torch.addcmul(u_n[t], rs[t], hh_n[t], out=ns[t]), ns[t], tanh_consts)
                torch.lerp(ns[t], hs[t], zs[t], out=hs[t + 1])
                if ms is not None:
                    torch.where(ms[t], hs[t + 1], hs[t], out=hs[t + 1])
            extra = HH[:, :, 2 * H:]
        else:
            RH = buffer(u, (T, B, H))  # r * h_{t-1}: the n block's recurrent input
            rhs = RH.unbind(0)
            w_rz_t, w_n_t = StepProduct(weight_hh[:2 * H], B), StepProduct(weight_hh[2 * H:], B)  # faster form
            for t in range(T):
                w_rz_t.addmm_into(u_rz[t], hs[t], rzs[t]).sigmoid_()
                torch.mul(rs[t], hs[t], out=rhs[t])
                tanh_into(w_n_t.addmm_into(u_n[t], rhs[t], ns[t]), ns[t], tanh_consts)
                torch.lerp(ns[t], hs[t], zs[t], out=hs[t + 1])
                if ms is not None:
                    torch.where(ms[t], hs[t + 1], hs[t], out=hs[t + 1])
            extra = RH
        out = Hs[1:]
        if mask is not None:
            out = out * mask.unsqueeze(2).to(out.dtype)
        ctx.save_for_backward(Hs, RZ, N, extra, weight_hh, mask)
        ctx.reset = reset
        ctx.has_bias = bias_hh is not None
        return out, Hs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor, gh: Tensor) -> tuple[Tensor | None, ...]:
        Hs, RZ, N, extra, weight_hh, mask = ctx.saved_tensors
        T, B, H = N.shape
        after = ctx.reset == "after"
        r, z, n, h_prev = RZ[:, :, :H], RZ[:, :, H:], N, Hs[:-1]
        mf = mask.unsqueeze(2).to(N.dtype) if mask is not None else None
        if mf is not None:
            gout = gout * mf
        # dU: the gradient of u, blocks (r, z, n). dGate: the gradient of the recurrent product per block
        # ("after": U h + b_hh, whose n block is dn_pre * r; "before": U_rz h, its r, z blocks are dU's).
        dU = torch.empty((T, B, 3 * H), dtype=N.dtype, device=N.device)
        dHH = torch.empty_like(dU) if after else dU
        du_n = dU[:, :, 2 * H:]
        d_r, d_z = dHH[:, :, :H], dHH[:, :, H:2 * H]

        chunk, tables = derivative_tables(r, z, n, h_prev, extra if after else h_prev, du_n, d_z, mask, _CHUNK_BYTES)

        dH = torch.empty_like(gout)  # total gradient reaching h_t
        torch.add(gout[T - 1], gh, out=dH[T - 1])
        dhs, gouts = dH.unbind(0), gout.unbind(0)
        dh0 = torch.empty_like(gh)
        dun, dr, dz, rs = du_n.unbind(0), d_r.unbind(0), d_z.unbind(0), r.unbind(0)
        if after:
            dhh, dhh_n = dHH.unbind(0), dHH[:, :, 2 * H:].unbind(0)
        else:
            w_rz, w_n = weight_hh[:2 * H], weight_hh[2 * H:]
            d_rz = dU[:, :, :2 * H].unbind(0)
            drh = torch.empty_like(gh)
        for b in range(T, 0, -chunk):
            a = max(0, b - chunk)
            Mrs, Zs = (v.unbind(0) for v in tables(a, b))
            for t in range(b - 1, a - 1, -1):
                j, dh = t - a, dhs[t]
                dh_prev = dhs[t - 1] if t > 0 else dh0
                dun[t].mul_(dh)  # dn_pre
                dz[t].mul_(dh)  # dz_pre
                if after:
                    torch.mul(dun[t], Mrs[j], out=dr[t])  # dr_pre
                    torch.mul(dun[t], rs[t], out=dhh_n[t])
                    if t > 0:
                        torch.addmm(gouts[t - 1], dhh[t], weight_hh, out=dh_prev)
                    else:
                        torch.mm(dhh[t], weight_hh, out=dh_prev)
                else:
                    torch.mm(dun[t], w_n, out=drh)  # gradient of r * h_{t-1}
                    torch.mul(drh, Mrs[j], out=dr[t])  # dr_pre
                    if t > 0:
                        torch.addmm(gouts[t - 1], d_rz[t], w_rz, out=dh_prev)
                    else:
                        torch.mm(d_rz[t], w_rz, out=dh_prev)
                    dh_prev.addcmul_(drh, rs[t])
                dh_prev.addcmul_(dh, Zs[j])
        need = ctx.needs_input_grad
        d_w = d_b = None
        if after:
            dU[:, :, :2 * H] = dHH[:, :, :2 * H]
            if need[2]:
                d_w = torch.mm(dHH.view(T * B, 3 * H).t(), h_prev.reshape(T * B, H))
            if ctx.has_bias and need[3]:
                d_b = dHH.sum((0, 1))
        elif need[2]:
            flat = dU.view(T * B, 3 * H)
            d_w = torch.cat([torch.mm(flat[:, :2 * H].t(), h_prev.reshape(T * B, H)),
                             torch.mm(flat[:, 2 * H:].t(), extra.reshape(T * B, H))])
        return dU, dh0, d_w, d_b, None, None


def gru_recurrence(u: Tensor, h0: Tensor, weight_hh: Tensor, bias_hh: Tensor | None = None, *,
                   reset: str = "after", mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run a GRU over all steps with the fused Function.

    Args:
        u: ``(T, B, 3H)`` time-major input projections (r, z, n): ``W x_t + b_ih`` for "after",
            ``W x_t + b_ih + b_hh`` for "before" (as ``GRUCell.project``).
        h0: ``(B, H)``. weight_hh: ``(3H, H)``.
        bias_hh: ``(3H,)`` the recurrent bias of the "after" form (None for none; must be None for "before").
        reset: ``"after"`` or ``"before"``.
        mask: ``(T, B)`` boolean, True = valid step.

    Returns:
        ``(out (T, B, H), h_T (B, H))``.
    """
    if reset not in _RESETS:
        raise ValueError(f"reset: expected one of {_RESETS}, got {reset!r}")
    if reset == "before" and bias_hh is not None:
        raise ValueError("bias_hh: the 'before' form folds b_hh into u; pass None")
    check_mask(mask, u.shape[0], u.shape[1])
    return GRUFunction.apply(u.contiguous(), h0, weight_hh, bias_hh, mask, reset)
