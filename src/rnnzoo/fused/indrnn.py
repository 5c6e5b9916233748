r"""Fused IndRNN recurrence (Li et al. 2018, arXiv:1803.04831, eq (2)): an elementwise recurrence::

    h_t = act(u_t + w * h_{t-1})          # u_t = W x_t + b (all steps at once), w (H,), act relu or tanh

Masked steps keep h and output zero.

Forward: one ``addcmul`` and one in-place activation per step into a preallocated buffer (no autograd
graph). Backward: with ``D_t = act'(h_t) * m_t`` (relu: ``h_t > 0``; tanh: ``1 - h_t^2``; ``m_t`` the mask)
and ``A_t = D_t * w + (1 - m_t)`` computed for all steps at once, the gradient reaching ``h_{t-1}`` is
one fused multiply-add per step, ``dh_{t-1} = dout_{t-1} + A_t * dh_t``; then, for all steps at once,
``du = D * dh`` and ``dw = sum(du * h_{t-1})``.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask
from rnnzoo.fused.workspace import buffer

INDRNN_ACTIVATIONS = ("relu", "tanh")


class IndRNNFunction(torch.autograd.Function):
    """``(u, h0, w, mask, activation) -> (out, h_T)``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, w: Tensor, mask: Tensor | None,
                activation: str) -> tuple[Tensor, Tensor]:
        T = u.shape[0]
        hs_all = buffer(u, (T + 1, *h0.shape))
        hs_all[0] = h0
        us, hs = u.unbind(0), hs_all.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        for t in range(T):
            torch.addcmul(us[t], w, hs[t], out=hs[t + 1])
            if activation == "relu":
                hs[t + 1].relu_()
            else:
                hs[t + 1].tanh_()
            if ms is not None:
                torch.where(ms[t], hs[t + 1], hs[t], out=hs[t + 1])
        out = hs_all[1:]
        if mask is not None:
            out = out * mask.unsqueeze(2).to(out.dtype)
        ctx.activation = activation
        ctx.save_for_backward(hs_all, w, mask)
        return out, hs_all[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor, gh: Tensor) -> tuple[Tensor | None, ...]:
        hs_all, w, mask = ctx.saved_tensors
        T = gout.shape[0]
        h = hs_all[1:]
        d = (h > 0).to(h.dtype) if ctx.activation == "relu" else 1 - h * h  # act'(pre_t) read off h_t
        if mask is not None:
            mf = mask.unsqueeze(2).to(gout.dtype)
            gout = gout * mf
            d = d * mf
            a = d * w + (1 - mf)  # a masked step passes its gradient to h_{t-1} unchanged
        else:
            a = d * w
        dh = torch.empty_like(gout)  # total gradient reaching h_t
        torch.add(gout[T - 1], gh, out=dh[T - 1])
        dhs, gouts, as_ = dh.unbind(0), gout.unbind(0), a.unbind(0)
        for t in range(T - 1, 0, -1):
            torch.addcmul(gouts[t - 1], as_[t], dhs[t], out=dhs[t - 1])
        need = ctx.needs_input_grad
        du = dh * d
        dh0 = dh[0] * a[0] if need[1] else None
        dw = (du * hs_all[:-1]).sum((0, 1)) if need[2] else None
        return du if need[0] else None, dh0, dw, None, None


def indrnn_recurrence(u: Tensor, h0: Tensor, w: Tensor, *, activation: str = "relu",
                      mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``h_t = act(u_t + w * h_{t-1})`` for all steps with the fused Function.

    Args:
        u: ``(T, B, H)`` time-major input projections ``W x_t + b``.
        h0: ``(B, H)`` initial state.
        w: ``(H,)`` the recurrent weights (already constrained by the cell).
        activation: ``"relu"`` or ``"tanh"``.
        mask: ``(T, B)`` boolean, True = valid step.

    Returns:
        ``(out (T, B, H), h_T (B, H))``.
    """
    if activation not in INDRNN_ACTIVATIONS:
        raise ValueError(f"activation: expected one of {INDRNN_ACTIVATIONS}, got {activation!r}")
    if w.dim() != 1 or w.shape[0] != u.shape[-1]:
        raise ValueError(f"w: expected shape ({u.shape[-1]},), got {tuple(w.shape)}")
    if tuple(h0.shape) != tuple(u.shape[1:]):
        raise ValueError(f"h0: expected shape {tuple(u.shape[1:])}, got {tuple(h0.shape)}")
    check_mask(mask, u.shape[0], u.shape[1])
    return IndRNNFunction.apply(u, h0, w, mask, activation)
