r"""Fused recurrence of ATR (:class:`rnnzoo.cells.atr.ATRCell`), forward and a hand-written backward::

    p_t = u_t                                         # u = project(x) = W x
    q_t = h_{t-1} @ U.T + b
    i_t = sigmoid(p_t + q_t); f_t = sigmoid(p_t - q_t)
    h_t = i_t * p_t + f_t * h_{t-1}

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step):
``q_t`` into one scratch ``(B, H)`` (``addmm``), ``i_t`` into ``I[t]`` and ``f_t`` into ``F[t]`` (``add``/``sub``
then ``sigmoid_``), ``h_t`` into ``S[t]`` (``mul`` then ``addcmul_``). Without a mask the state buffer ``S`` is the
output itself. Backward, per step (``g`` the cotangent of ``h_t``, zeroed on masked rows)::

    a  = g * p * i * (1 - i);  c = g * h_{t-1} * f * (1 - f)
    dq = a - c                                        # into one preallocated dQ (T, B, H)
    dp = g * i + a + c                                # into one preallocated du (T, B, H)
    dh = g * f + dq @ U                               # the cotangent of h_{t-1} (masked rows: g unchanged)

the recurrent weight's gradient is one product over all steps after the loop (``dQ^T [h_0 .. h_{T-1}]``), the bias's
one sum of ``dQ``. A masked step (mask ``(T, B)``, True = valid) keeps the state and outputs zero; its gradient passes
through unchanged. The cell's step loop is the reference twin: ``tests/fused/test_one_field_functions.py`` and the model
contract suite hold the two equal in float64.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, step_back, weight_grad
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class ATRFunction(torch.autograd.Function):
    """``(u (T, B, H), W (H, H), b (H,) or None, h0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, b: Tensor | None, h0: Tensor,
                mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Wt = StepProduct(W, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        I = buffer(u, (T, B, H))  # noqa: E741
        F = buffer(u, (T, B, H))
        qb = buffer(u, (B, H))
        us, ss, is_, fs = u.unbind(0), S.unbind(0), I.unbind(0), F.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        h = h0
        for t in range(T):
            p = us[t]
            if b is None:
                q = Wt.mm(h, qb)
            else:
                q = Wt.addmm_into(b, h, qb)
            i = torch.add(p, q, out=is_[t]).sigmoid_()
            f = torch.sub(p, q, out=fs[t]).sigmoid_()
            new = torch.mul(i, p, out=ss[t]).addcmul_(f, h)
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.has_mask, ctx.has_bias = mask is not None, b is not None
        ctx.save_for_backward(u, W, h0, S, I, F, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        u, W, h0, S, I, F, mask = ctx.saved_tensors
        T, B, H = S.shape
        du = buffer(g_out, (T, B, H))
        if T == 0:
            db = g_out.new_zeros((H,)) if ctx.has_bias else None
            return du, torch.zeros_like(W), db, g_h, None
        dQ = buffer(g_out, (T, B, H))
        a, c = buffer(g_out, (B, H)), buffer(g_out, (B, H))
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        us, ss, is_, fs = u.unbind(0), S.unbind(0), I.unbind(0), F.unbind(0)
        gos, dus, dqs = g_out.unbind(0), du.unbind(0), dQ.unbind(0)
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            i, f = is_[t], fs[t]
            hp = ss[t - 1] if t else h0
            gm = g if ms is None else g * ms[t]
            torch.mul(gm, us[t], out=a).mul_(i)
            a.addcmul_(a, i, value=-1.0)  # g p i (1 - i)
            torch.mul(gm, hp, out=c).mul_(f)
            c.addcmul_(c, f, value=-1.0)  # g h f (1 - f)
            dq = torch.sub(a, c, out=dqs[t])
            torch.add(a, c, out=dus[t]).addcmul_(gm, i)
            gn = torch.addmm(gm * f, dq, W)
            g = step_back(gn, g, gos, ms, t)
        dW = None
        if ctx.needs_input_grad[1]:
            dW = weight_grad(dQ, h0, S)
        db = dQ.sum((0, 1)) if ctx.has_bias and ctx.needs_input_grad[2] else None
        return du, dW, db, g, None


def atr_recurrence(u: Tensor, W: Tensor, b: Tensor | None, h0: Tensor,
                   mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run ATR over ``u (T, B, H)`` (``project`` of the time-major input) with ``W = weight_hh (H, H)`` and the bias
    ``b (H,)`` (or None) on the history's projection, from ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked
    step keeps ``h`` and outputs zero). Returns ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return ATRFunction.apply(u, W, b, h0, mask)
