r"""Fused recurrence of JANET (:class:`rnnzoo.cells.janet.JANETCell`), forward and a hand-written backward::

    [s_t, sc_t] = u_t + c_{t-1} @ [U_f; U_c].T        # u = project(x) = [W_f x + b_f, W_c x + b_c]
    f_t  = sigmoid(s_t)
    q_t  = sigmoid(s_t - beta)                         # the input gate is 1 - q_t
    cc_t = tanh(sc_t)
    c_t  = f_t * c_{t-1} + (1 - q_t) * cc_t

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step): both
pre-activations into ``G[t] (B, 2H)`` (``addmm``), ``q_t`` into ``Q[t]``, then ``sigmoid_`` and tanh on
``G[t]``'s halves in place (the tanh as :func:`rnnzoo.fused._common.tanh_into`'s ``2 * sigmoid(2x) - 1``, about twice
as fast as ``aten::tanh`` here), ``c_t`` into ``S[t]`` (two ``addcmul``). Without a mask the state buffer ``S`` is the
output itself. Backward, per step (``g`` the cotangent of ``c_t``, zeroed on masked rows)::

    ds  = g * c_{t-1} * f * (1 - f) - g * cc * q * (1 - q)
    dsc = g * (1 - q) * (1 - cc^2)
    dc  = g * f + [ds, dsc] @ [U_f; U_c]                # masked rows: g unchanged

written straight into one preallocated ``du (T, B, 2H)``; the recurrent weight's gradient is one product over all
steps after the loop. A masked step (mask ``(T, B)``, True = valid) keeps the state and outputs zero; its gradient
passes through unchanged. The cell's step loop is the reference twin:
``tests/fused/test_one_field_functions.py`` and the
model contract suite hold the two equal in float64.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, step_back, tanh_constants, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class JANETFunction(torch.autograd.Function):
    """``(u (T, B, 2H), W (2H, H), c0 (B, H), beta, mask (T, B) or None) -> (out (T, B, H), c_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, c0: Tensor, beta: float, mask: Tensor | None
                ) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], c0.shape[-1]
        Wt = StepProduct(W, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        S = buffer(u, (T, B, H))  # c_1 .. c_T
        G = buffer(u, (T, B, 2 * H))  # [f, cc]
        Q = buffer(u, (T, B, H))
        us, ss, gs, qs = u.unbind(0), S.unbind(0), G.unbind(0), Q.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        k = tanh_constants(c0)
        c = c0
        for t in range(T):
            gt = Wt.addmm_into(us[t], c, gs[t])
            q = torch.sub(gt[:, :H], beta, out=qs[t]).sigmoid_()
            f, cc = gt[:, :H].sigmoid_(), tanh_into(gt[:, H:], gt[:, H:], k)
            new = torch.addcmul(cc, q, cc, value=-1.0, out=ss[t]).addcmul_(f, c)  # (1 - q) cc + f c
            if ms is not None:
                torch.where(ms[t], new, c, out=new)
            c = new
        ctx.has_mask = mask is not None
        ctx.save_for_backward(W, c0, S, G, Q, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_c: Tensor) -> tuple[Any, ...]:
        W, c0, S, G, Q, mask = ctx.saved_tensors
        T, B, H = S.shape
        du = buffer(g_out, (T, B, 2 * H))
        if T == 0:
            return du, torch.zeros_like(W), g_c, None, None
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ss, gs, qs, gos, dus = S.unbind(0), G.unbind(0), Q.unbind(0), g_out.unbind(0), du.unbind(0)
        g = g_c + gos[T - 1] if ms is None else torch.addcmul(g_c, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            f, cc, q = gs[t][:, :H], gs[t][:, H:], qs[t]
            prev = ss[t - 1] if t else c0
            ds, dsc = dus[t][:, :H], dus[t][:, H:]
            gm = g if ms is None else g * ms[t]
            torch.mul(gm, prev, out=ds).mul_(f)
            ds.addcmul_(ds, f, value=-1.0)  # g c f (1 - f)
            gq = torch.mul(gm, cc).mul_(q)  # g cc q
            ds.sub_(gq).addcmul_(gq, q)  # - g cc q (1 - q)
            torch.addcmul(gm, gm, q, value=-1.0, out=dsc)  # g (1 - q)
            dsc.addcmul_(dsc * cc, cc, value=-1.0)  # * (1 - cc^2)
            dc = torch.addmm(gm * f, dus[t], W)
            g = step_back(dc, g, gos, ms, t)
        dW = None
        if ctx.needs_input_grad[1]:
            dW = du[0].t() @ c0
            if T > 1:
                dW.addmm_(du[1:].flatten(0, 1).t(), S[:-1].flatten(0, 1))
        return du, dW, g, None, None


def janet_recurrence(u: Tensor, W: Tensor, c0: Tensor, beta: float, mask: Tensor | None = None
                     ) -> tuple[Tensor, Tensor]:
    """Run JANET over ``u (T, B, 2H)`` (``project`` of the time-major input) with ``W = weight_hh (2H, H)`` from
    ``c0 (B, H)``, input-gate shift ``beta``; ``mask (T, B)`` True = valid step (a masked step keeps ``c`` and outputs
    zero). Returns ``(out (T, B, H), c_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return JANETFunction.apply(u, W, c0, float(beta), mask)
