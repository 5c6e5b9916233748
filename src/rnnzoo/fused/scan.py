r"""Fused elementwise linear recurrence: SCRN's context layer (001 eq (32)), no matrix product in time::

    s_t = (1 - alpha) * b_t + alpha * s_{t-1} = lerp(b_t, s_{t-1}, alpha)

``alpha`` is a scalar or one value per unit ``(S,)`` (SCRN's learned alpha). Masked steps keep s
and output zero.

Forward: one ``lerp`` per step into a preallocated buffer (no autograd graph). Backward: one fused
multiply-add per step, ``ds_{t-1} = dout_{t-1} + alpha_t * ds_t`` (alpha replaced by 1 on masked
steps, which passes the gradient through a frozen step), then every parameter's gradient for all
steps at once: ``db = (1 - alpha) * ds``, ``dalpha = sum(ds * (s_{t-1} - b_t))``.

A log-depth (Hillis-Steele) scan or the closed form ``s_t = alpha^t * cumsum(alpha^-k ...)`` would
replace the T small kernels by O(log T) or O(1) large ones; the first does O(T log T) work and was
slower than the loop at the sizes measured (docs/performance.md), the second overflows for small
alpha or long sequences (``alpha^-T``).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask
from rnnzoo.fused.workspace import buffer


class LinearScanFunction(torch.autograd.Function):
    """``(b, s0, alpha, mask) -> (out, s_T)``; see the module."""

    @staticmethod
    def forward(ctx: Any, b: Tensor, s0: Tensor, alpha: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T = b.shape[0]
        Ss = buffer(b, (T + 1, *s0.shape))
        Ss[0] = s0
        bs, ss = b.unbind(0), Ss.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        for t in range(T):
            torch.lerp(bs[t], ss[t], alpha, out=ss[t + 1])
            if ms is not None:
                torch.where(ms[t], ss[t + 1], ss[t], out=ss[t + 1])
        out = Ss[1:]
        if mask is not None:
            out = out * mask.unsqueeze(2).to(out.dtype)
        # alpha's gradient needs s_{t-1} - b_t; b itself is often a view of a wider projection,
        # which saving it would keep alive
        diff = Ss[:-1] - b if ctx.needs_input_grad[2] else None
        ctx.save_for_backward(diff, alpha, mask)
        return out, Ss[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor, gs: Tensor) -> tuple[Tensor | None, ...]:
        diff, alpha, mask = ctx.saved_tensors
        T = gout.shape[0]
        a = alpha.to(gout.dtype)
        if mask is not None:
            mf = mask.unsqueeze(2).to(gout.dtype)
            gout = gout * mf
            a_eff = torch.where(mask.unsqueeze(2), a, 1.0)  # (T, B, S or 1)
            a_steps = a_eff.unbind(0)
        else:
            a_steps = [a] * T
        dS = torch.empty_like(gout)  # total gradient reaching s_t
        torch.add(gout[T - 1], gs, out=dS[T - 1])
        dss, gouts = dS.unbind(0), gout.unbind(0)
        for t in range(T - 1, 0, -1):
            torch.addcmul(gouts[t - 1], dss[t], a_steps[t], out=dss[t - 1])
        ds0 = dS[0] * a_steps[0]
        need = ctx.needs_input_grad
        dsm = dS * mf if mask is not None else dS
        db = dsm * (1 - a) if need[0] else None
        da = None
        if need[2]:
            da = dsm * diff
            da = da.sum() if alpha.dim() == 0 else da.sum((0, 1))
        return db, ds0 if need[1] else None, da, None


def linear_scan(b: Tensor, s0: Tensor, alpha: Tensor, *, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """``s_t = lerp(b_t, s_{t-1}, alpha)`` for all steps with the fused Function.

    Args:
        b: ``(T, B, S)`` time-major inputs (SCRN: ``context_ih @ x_t``).
        s0: ``(B, S)`` initial state.
        alpha: a 0-dim tensor or ``(S,)``, the self-connection weight.
        mask: ``(T, B)`` boolean, True = valid step.

    Returns:
        ``(out (T, B, S), s_T (B, S))``.
    """
    if alpha.dim() > 1 or (alpha.dim() == 1 and alpha.shape[0] != b.shape[-1]):
        raise ValueError(f"alpha: expected a scalar or ({b.shape[-1]},), got shape {tuple(alpha.shape)}")
    check_mask(mask, b.shape[0], b.shape[1])
    return LinearScanFunction.apply(b, s0, alpha, mask)
