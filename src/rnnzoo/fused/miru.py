r"""Fused recurrence of MiRU2 (:class:`rnnzoo.cells.miru.MiRU2Cell`): a leaky tanh recurrence with fixed
coefficients, one autograd Function for the whole sequence::

    n_t = tanh(u_t + beta * h_{t-1} @ U^T)          # u_t = W_h x_t + b_h, all steps at once in the cell's project
    h_t = lam * h_{t-1} + (1 - lam) * n_t

Forward: the loop with raw tensor ops (no autograd graph per step), every state and candidate kept. Backward, per
step back in time: ``dpre_t = g_t (1 - lam) (1 - n_t^2)``, ``dh_{t-1} = lam g_t + beta dpre_t @ U`` (``g_t`` the
gradient reaching ``h_t``); then ``dU = beta dpre^T h_prev`` as ONE product over all steps. Masked steps (True =
valid) keep the state (their gradient passes through) and output zero. The step loop is the reference twin: the
contract suite holds them equal in outputs and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask


class MiRU2Function(torch.autograd.Function):
    """``(u (T, B, H), h0 (B, H), U (H, H), lam, beta, mask) -> (out (T, B, H), h_T (B, H))``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, U: Tensor, lam: float, beta: float, mask: Tensor | None
                ) -> tuple[Tensor, Tensor]:
        T = u.shape[0]
        hs = u.new_empty((T + 1, *h0.shape))
        hs[0] = h0
        ns = torch.empty_like(u)
        ut = U.t() * beta
        for t in range(T):
            torch.tanh(torch.addmm(u[t], hs[t], ut), out=ns[t])
            new = torch.lerp(ns[t], hs[t], lam)  # lam * h + (1 - lam) * n
            hs[t + 1] = new if mask is None else torch.where(mask[t].unsqueeze(1), new, hs[t])
        ctx.lam, ctx.beta = lam, beta
        ctx.save_for_backward(U, hs, ns, mask)
        out = hs[1:].clone() if mask is None else hs[1:] * mask.unsqueeze(2)
        return out, hs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor | None, gfinal: Tensor | None) -> tuple[Tensor | None, ...]:
        U, hs, ns, mask = ctx.saved_tensors
        lam, beta = ctx.lam, ctx.beta
        T = ns.shape[0]
        dh = torch.zeros_like(hs[0]) if gfinal is None else gfinal.clone()
        dpre = torch.empty_like(ns)
        for t in range(T - 1, -1, -1):
            g = dh if gout is None else dh + (gout[t] if mask is None else gout[t] * mask[t].unsqueeze(1))
            d = g * (1.0 - lam) * (1.0 - ns[t] * ns[t])
            if mask is not None:
                m = mask[t].unsqueeze(1)
                d = d * m
                dh = torch.where(m, torch.addmm(g * lam, d, U, alpha=beta), g)
            else:
                dh = torch.addmm(g * lam, d, U, alpha=beta)
            dpre[t] = d
        need = ctx.needs_input_grad
        H = hs.shape[-1]
        dU = beta * (dpre.reshape(-1, H).t() @ hs[:-1].reshape(-1, H)) if need[2] else None
        return dpre if need[0] else None, dh if need[1] else None, dU, None, None, None


def miru2_recurrence(u: Tensor, h0: Tensor, U: Tensor, *, lam: float, beta: float,
                     mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """All outputs ``(T, B, H)`` (zero at masked steps) and the final state ``(B, H)`` of MiRU2; see the module."""
    check_mask(mask, u.shape[0], u.shape[1])
    return MiRU2Function.apply(u, h0, U, float(lam), float(beta), mask)
