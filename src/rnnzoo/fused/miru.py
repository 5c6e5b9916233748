r"""Fused recurrence of MiRU2 (:class:`rnnzoo.cells.miru.MiRU2Cell`): a leaky tanh recurrence with fixed
coefficients, one autograd Function for the whole sequence::

    n_t = tanh(u_t + beta * h_{t-1} @ U^T)          # u_t = W_h x_t + b_h, all steps at once in the cell's project
    h_t = lam * h_{t-1} + (1 - lam) * n_t

Forward: ``u`` copied once into the ``N`` buffer, then the loop with raw tensor operations written into preallocated
buffers (no autograd graph per step): ``n_t`` in place in ``N[t]`` by one in-place ``addmm`` (``out=`` its input)
for ``2 u_t + 2 beta h_{t-1} @ U^T``, then ``sigmoid_`` and one ``addcmul`` (the tanh as ``2 sigmoid(2a) - 1``,
:func:`~rnnzoo.fused._common.tanh_into`'s form with the doubling folded into the product); ``h_t`` into ``S[t]``
(``lerp``). Without a mask the state buffer ``S`` is the output itself. Backward, per step back in time (``g`` the
cotangent of ``h_t``, zeroed on masked rows)::

    dpre = g (1 - lam) (1 - n_t^2)
    dh   = lam g + beta dpre @ U                     # the cotangent of h_{t-1} (masked rows: g unchanged)

(one ``addmm`` with ``beta=lam``, ``alpha=beta``), ``dpre`` written straight into one preallocated ``du (T, B, H)``;
then ``dU = beta sum_t dpre_t^T h_{t-1}`` as ONE product over all steps. A masked step (mask ``(T, B)``, True = valid)
keeps the state and outputs zero; its gradient passes through unchanged. The cell's step loop is the reference twin:
``tests/fused/test_one_field_functions.py`` and the model contract suite hold the two equal in float64.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, step_back, tanh_constants, weight_grad
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class MiRU2Function(torch.autograd.Function):
    """``(u (T, B, H), h0 (B, H), U (H, H), lam, beta, mask) -> (out (T, B, H), h_T (B, H))``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, U: Tensor, lam: float, beta: float, mask: Tensor | None
                ) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Ut = StepProduct(U, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        N = buffer(u, u.shape).copy_(u)  # u for all steps in one copy, then n_1 .. n_T in place
        ss, ns = S.unbind(0), N.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        minus_one, two = tanh_constants(h0)
        h = h0
        for t in range(T):
            n = Ut.addmm_into(ns[t], h, ns[t], beta=2.0, alpha=2.0 * beta).sigmoid_()  # in place
            torch.addcmul(minus_one, n, two, out=n)  # tanh(a) = 2 sigmoid(2a) - 1
            new = torch.lerp(n, h, lam, out=ss[t])  # lam * h + (1 - lam) * n
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.lam, ctx.beta, ctx.has_mask = lam, beta, mask is not None
        ctx.save_for_backward(U, h0, S, N, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        U, h0, S, N, mask = ctx.saved_tensors
        T, B, H = S.shape
        lam, beta = ctx.lam, ctx.beta
        du = buffer(g_out, (T, B, H))
        if T == 0:
            return du, g_h, torch.zeros_like(U), None, None, None
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ns, gos, dus = N.unbind(0), g_out.unbind(0), du.unbind(0)
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            n, d = ns[t], dus[t]
            gm = g if ms is None else g * ms[t]
            torch.mul(gm, 1.0 - lam, out=d)
            d.addcmul_(d * n, n, value=-1.0)  # g (1 - lam) (1 - n^2)
            gn = torch.addmm(gm, d, U, beta=lam, alpha=beta)  # lam g + beta d @ U
            g = step_back(gn, g, gos, ms, t)
        dU = None
        if ctx.needs_input_grad[2]:
            dU = weight_grad(du, h0, S).mul_(beta)
        return du, g, dU, None, None, None


def miru2_recurrence(u: Tensor, h0: Tensor, U: Tensor, *, lam: float, beta: float,
                     mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """All outputs ``(T, B, H)`` (zero at masked steps) and the final state ``(B, H)`` of MiRU2; see the module."""
    check_mask(mask, u.shape[0], u.shape[1])
    return MiRU2Function.apply(u, h0, U, float(lam), float(beta), mask)
