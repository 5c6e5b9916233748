r"""Fused Elman recurrence, every activation of :class:`~rnnzoo.cells.elman.ElmanCell` (001 eqs (1)-(7))::

    h_t = activation(u_t + weight_hh @ h_{t-1})       # 001 eqs (1)-(2), u_t = W x_t + b (hoisted)

``activation`` is one of ``tanh``, ``sigmoid``, ``relu``, ``linear``, ``piecewise_linear`` (hard tanh)
and ``sine`` (sin clamped at +-pi/2), as :mod:`rnnzoo.cells.activations`. Masked steps keep h and
output zero. SCRN's hidden layer (a sigmoid Elman layer once the context product is hoisted) runs
here too.

Forward: one matrix product and one activation per step, no autograd graph. Backward: the
activation's derivative for all steps at once (from the outputs, or the pre-activations for
``sine``), then per step ``dpre_t = dh_t * f'_t`` and ``dh_{t-1} = dpre_t @ U (+ dout_{t-1})``;
the recurrent-weight gradient is one product ``dpre(T*B, H)^T @ h_prev(T*B, H)``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer

_HALF_PI = math.pi / 2
ACTIVATION_NAMES = ("tanh", "sigmoid", "relu", "linear", "piecewise_linear", "sine")
"""The activations this Function implements (each with its derivative)."""


def _derivative(activation: str, h: Tensor, pre: Tensor | None) -> Tensor | None:
    """f'(pre) for all steps from the outputs ``h = f(pre)`` (``pre`` for sine); None for linear.

    Matches autograd's conventions at the kinks: relu' = [h > 0]; hard tanh' = [-1 < pre < 1];
    sine' = cos(pre) on the closed interval [-pi/2, pi/2], 0 beyond (torch.clamp's backward)."""
    if activation == "tanh":
        return 1 - h * h
    if activation == "sigmoid":
        return h * (1 - h)
    if activation == "relu":
        return (h > 0).to(h.dtype)
    if activation == "piecewise_linear":
        return ((h > -1) & (h < 1)).to(h.dtype)
    if activation == "sine":
        assert pre is not None
        inside = (pre >= -_HALF_PI) & (pre <= _HALF_PI)
        return torch.cos(pre.clamp(-_HALF_PI, _HALF_PI)).mul_(inside)
    if activation == "linear":
        return None
    raise ValueError(f"activation: no fused derivative for {activation!r}")


class ElmanFunction(torch.autograd.Function):
    """``(u, h0, weight_hh, mask, activation) -> (out, h_T)``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, weight_hh: Tensor, mask: Tensor | None,
                activation: str) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape
        # each step's product is added in place to a copy of its projection (one copy in all): addmm into
        # its own input copies nothing, where addmm(u_t, ..., out=h) copied u_t at every step
        Hs = buffer(u, (T + 1, B, H))
        Hs[0] = h0
        P = u.clone(memory_format=torch.contiguous_format) if activation == "sine" else None
        if P is None:
            Hs[1:] = u
        hs = Hs.unbind(0)
        ps = P.unbind(0) if P is not None else None
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        wt = StepProduct(weight_hh, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        act_ = {"sigmoid": torch.Tensor.sigmoid_, "relu": torch.Tensor.relu_}.get(activation)
        tanh_consts = tanh_constants(h0) if activation == "tanh" else None
        for t in range(T):
            h = hs[t + 1]
            if ps is not None:  # sine: keep the pre-activation for the derivative
                wt.addmm_into(ps[t], hs[t], ps[t])
                torch.clamp(ps[t], -_HALF_PI, _HALF_PI, out=h).sin_()
            else:
                wt.addmm_into(h, hs[t], h)
                if act_ is not None:
                    act_(h)
                elif tanh_consts is not None:
                    tanh_into(h, h, tanh_consts)
                elif activation == "piecewise_linear":
                    h.clamp_(-1.0, 1.0)
            if ms is not None:
                torch.where(ms[t], h, hs[t], out=h)
        out = Hs[1:]
        if mask is not None:
            out = out * mask.unsqueeze(2).to(out.dtype)
        ctx.save_for_backward(Hs, P, weight_hh, mask)
        ctx.activation = activation
        return out, Hs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor, gh: Tensor) -> tuple[Tensor | None, ...]:
        Hs, P, weight_hh, mask = ctx.saved_tensors
        T, B, H = gout.shape
        D = _derivative(ctx.activation, Hs[1:], P)  # (T, B, H) or None (linear)
        if mask is not None:
            mf = mask.unsqueeze(2).to(gout.dtype)
            D = mf.expand(T, B, H).clone() if D is None else D.mul_(mf)
            gout = gout * mf
            notm = (1 - mf).unbind(0)
        dH = torch.empty_like(gout)  # total gradient reaching h_t
        torch.add(gout[T - 1], gh, out=dH[T - 1])
        dP = dH if D is None else D  # D becomes the pre-activation gradient in place
        dhs, dps, gouts = dH.unbind(0), dP.unbind(0), gout.unbind(0)
        dh0 = torch.empty_like(gh)
        for t in range(T - 1, -1, -1):
            if D is not None:
                dps[t].mul_(dhs[t])
            dh_prev = dhs[t - 1] if t > 0 else dh0
            if t > 0:
                torch.addmm(gouts[t - 1], dps[t], weight_hh, out=dh_prev)
            else:
                torch.mm(dps[t], weight_hh, out=dh_prev)
            if mask is not None:
                dh_prev.addcmul_(dhs[t], notm[t])  # a frozen step passes h's gradient through
        d_w = torch.mm(dP.reshape(T * B, H).t(), Hs[:-1].reshape(T * B, H)) if ctx.needs_input_grad[2] else None
        return dP, dh0, d_w, None, None


def elman_recurrence(u: Tensor, h0: Tensor, weight_hh: Tensor, *, activation: str = "tanh",
                     mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run an Elman layer over all steps with the fused Function.

    Args:
        u: ``(T, B, H)`` time-major input projections ``W x_t + b``.
        h0: ``(B, H)``. weight_hh: ``(H, H)``.
        activation: one of :data:`ACTIVATION_NAMES`.
        mask: ``(T, B)`` boolean, True = valid step.

    Returns:
        ``(out (T, B, H), h_T (B, H))``.
    """
    if activation not in ACTIVATION_NAMES:
        raise ValueError(f"activation: expected one of {ACTIVATION_NAMES}, got {activation!r}")
    check_mask(mask, u.shape[0], u.shape[1])
    return ElmanFunction.apply(u.contiguous(), h0, weight_hh, mask, activation)
