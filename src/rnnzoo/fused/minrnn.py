r"""The sequential fast path of minGRU and minLSTM (Feng et al. 2024, arXiv:2410.01201): gates, candidate
and recurrence in one Function with a hand-written backward.

From the projections ``u = (k_z, k_h)`` (minGRU) or ``(k_f, k_i, k_h)`` (minLSTM), for all steps at once::

    g_t = g(k_h), g(v) = v + 0.5 (v >= 0) else sigmoid(v);  g'_t its derivative
    minGRU:  z = sigmoid(k_z);                    a = 1 - z;          b = z * g
    minLSTM: f = sigmoid(k_f), i = sigmoid(k_i);  a = f / (f + i);    b = (1 - a) * g
    masked steps: a = 1, b = 0

then one ``addcmul`` per step, ``h_t = a_t * h_{t-1} + b_t``, into a preallocated buffer. Backward: one
``addcmul`` per step, ``dh_{t-1} = dout_{t-1} + a_t * dh_t``; then for all steps at once ``dB = m dh``,
``dA = m dh h_{t-1}`` and the chain rule through the gates:

    minGRU:  dk_z = (dB g - dA) z (1 - z);                 dk_h = dB z g'
    minLSTM: dd = (dA - dB g) a (1 - a);  dk_f = dd (1 - f);  dk_i = -dd (1 - i);  dk_h = dB (1 - a) g'

(``a = sigmoid(log f - log i)``, and ``d log sigmoid(k) / dk = 1 - sigmoid(k)``.) Autograd through the same
ops would allocate and traverse about twice as many ``(T, B, H)`` tensors.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask
from rnnzoo.fused.workspace import buffer

KINDS = ("mingru", "minlstm")


def _coefficients(u: Tensor, mask: Tensor | None,
                  kind: str) -> tuple[Tensor, Tensor, Tensor, Tensor, tuple[Tensor, ...]]:
    """``(a, b, g, g', gates)`` from the projections, masked (``a = 1, b = 0`` at masked steps), computed in
    place where possible (each fresh ``(T, B, H)`` tensor costs an allocation and its page faults)."""
    kh = u[..., -(u.shape[-1] // (2 if kind == "mingru" else 3)):]
    s = torch.sigmoid(kh)
    pos = kh >= 0
    g = torch.where(pos, kh + 0.5, s)
    gp = torch.addcmul(s, s, s, value=-1, out=s).masked_fill_(pos, 1.0)  # s (1 - s); 1 where k_h >= 0
    if kind == "mingru":
        kz = u[..., :kh.shape[-1]]
        z = torch.sigmoid(kz)
        gates: tuple[Tensor, ...] = (z,)
        a = torch.rsub(z, 1.0)
        b = torch.mul(z, g)
    else:
        H = kh.shape[-1]
        f, i = torch.sigmoid(u[..., :H]), torch.sigmoid(u[..., H:2 * H])
        gates = (f, i)
        a = torch.add(f, i)
        torch.div(f, a, out=a)  # f / (f + i)
        b = torch.rsub(a, 1.0).mul_(g)  # i / (f + i) * g
    if mask is not None:
        off = ~mask.unsqueeze(2)
        a.masked_fill_(off, 1.0)
        b.masked_fill_(off, 0.0)
    return a, b, g, gp, gates


class MinRNNFunction(torch.autograd.Function):
    """``(u, h0, mask, kind) -> (out, h_T)``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, mask: Tensor | None, kind: str) -> tuple[Tensor, Tensor]:
        a, b, g, gp, gates = _coefficients(u, mask, kind)
        T = u.shape[0]
        hs_all = buffer(u, (T + 1, *h0.shape))
        hs_all[0] = h0
        as_, bs, hs = a.unbind(0), b.unbind(0), hs_all.unbind(0)
        for t in range(T):
            torch.addcmul(bs[t], as_[t], hs[t], out=hs[t + 1])
        out = hs_all[1:]
        if mask is not None:
            out = out * mask.unsqueeze(2).to(out.dtype)
        ctx.kind = kind
        ctx.save_for_backward(hs_all, a, g, gp, mask, *gates)
        return out, hs_all[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor, gh: Tensor) -> tuple[Tensor | None, ...]:
        # a is the masked coefficient: at a masked step dA = dB = 0, so the gates' gradients are 0 whatever a is
        hs_all, a, g, gp, mask, *gates = ctx.saved_tensors
        T, H = gout.shape[0], gout.shape[-1]
        mf = mask.unsqueeze(2).to(gout.dtype) if mask is not None else None
        if mf is not None:
            gout = gout * mf
        dh = torch.empty_like(gout)  # total gradient reaching h_t
        torch.add(gout[T - 1], gh, out=dh[T - 1])
        dhs, gouts, as_ = dh.unbind(0), gout.unbind(0), a.unbind(0)
        for t in range(T - 1, 0, -1):
            torch.addcmul(gouts[t - 1], as_[t], dhs[t], out=dhs[t - 1])
        dh0 = dh[0] * a[0] if ctx.needs_input_grad[1] else None
        if not ctx.needs_input_grad[0]:
            return None, dh0, None, None
        dB = dh.mul_(mf) if mf is not None else dh
        dA = dB * hs_all[:-1]
        du = buffer(gout, (*gout.shape[:-1], (len(gates) + 1) * H))
        dkh = du[..., -H:]
        if ctx.kind == "mingru":
            (z,) = gates
            torch.addcmul(dA, dB, g, value=-1, out=dA).neg_()  # dB g - dA
            torch.mul(dA, z, out=du[..., :H])
            torch.addcmul(du[..., :H], du[..., :H], z, value=-1, out=du[..., :H])  # * (1 - z)
            torch.mul(dB, z, out=dkh).mul_(gp)
        else:
            f, i = gates
            dd = torch.addcmul(dA, dB, g, value=-1, out=dA).mul_(a)
            dd.addcmul_(dd, a, value=-1)  # (dA - dB g) a (1 - a)
            torch.addcmul(dd, dd, f, value=-1, out=du[..., :H])  # dd (1 - f)
            torch.addcmul(dd, dd, i, value=-1, out=du[..., H:2 * H]).neg_()  # -dd (1 - i)
            torch.mul(dB, gp, out=dkh)
            dkh.addcmul_(dkh, a, value=-1)  # dB g' (1 - a)
        return du, dh0, None, None


def minrnn_recurrence(u: Tensor, h0: Tensor, *, kind: str, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """minGRU's or minLSTM's whole sequence from its projections.

    Args:
        u: ``(T, B, G*H)`` time-major projections (G = 2 for ``"mingru"``: k_z, k_h; 3 for ``"minlstm"``:
            k_f, k_i, k_h).
        h0: ``(B, H)`` initial state, any real numbers.
        kind: ``"mingru"`` or ``"minlstm"``.
        mask: ``(T, B)`` boolean, True = valid step.

    Returns:
        ``(out (T, B, H), h_T (B, H))``.
    """
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {KINDS}, got {kind!r}")
    n = 2 if kind == "mingru" else 3
    if u.dim() != 3 or u.shape[-1] != n * h0.shape[-1] or tuple(h0.shape) != (u.shape[1], u.shape[-1] // n):
        raise ValueError(f"u, h0: expected (T, B, {n}*H) and (B, H), got {tuple(u.shape)} and {tuple(h0.shape)}")
    check_mask(mask, u.shape[0], u.shape[1])
    return MinRNNFunction.apply(u, h0, mask, kind)
