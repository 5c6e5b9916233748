r"""Fused recurrence of the minimal gated unit (:class:`rnnzoo.cells.MGUCell`), forward and a hand-written backward::

    f_t  = sigmoid(uf_t + h_{t-1} @ U_f.T)          # u = project(x): [W_f x + b_f, W_h x + b_h]
    c_t  = tanh(uh_t + (f_t * h_{t-1}) @ U_h.T)
    h_t  = (1 - f_t) * h_{t-1} + f_t * c_t

Forward: ``u`` copied once into the gate buffer ``G (T, B, 2H)``, then the loop with raw tensor operations written
into preallocated buffers (no autograd graph per step): ``[f, c]`` in place in ``G[t]`` (two ``addmm`` with ``out=``
their input; ``sigmoid_`` in place; the tanh as ``2 sigmoid(2a) - 1`` with the doubling folded into the ``addmm``,
:func:`~rnnzoo.fused._common.tanh_into`'s form), ``f_t * h_{t-1}`` into ``FH[t]``, ``h_t`` into ``S[t]`` (``lerp``).
Without a mask the state buffer ``S`` is the output itself. Backward, per step (``g`` the cotangent of ``h_t``, zeroed
on masked rows)::

    da_h = g * f * (1 - c^2)
    dm   = da_h @ U_h                                # the cotangent of f * h_{t-1}
    da_f = (g * (c - h_{t-1}) + dm * h_{t-1}) * f * (1 - f)
         = (g * (h_t - h_{t-1}) + dm * (f h_{t-1})) * (1 - f)     # as computed: h_t - h_{t-1} = f (c - h_{t-1})
    dh   = g + (dm - g) * f + da_f @ U_f              # the cotangent of h_{t-1} (masked rows: g unchanged)

written straight into one preallocated ``du (T, B, 2H)``; ``U_f``'s gradient is one product over all steps against
the states, ``U_h``'s one against ``FH``. A masked step (mask ``(T, B)``, True = valid) keeps the state and outputs
zero; its gradient passes through unchanged. The cell's step loop is the reference twin:
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


class MGUFunction(torch.autograd.Function):
    """``(u (T, B, 2H), W (2H, H), h0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Uft, Uht = StepProduct(W[:H], B), StepProduct(W[H:], B)  # faster form (fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        FH = buffer(u, (T, B, H))  # f_t * h_{t-1}
        G = buffer(u, u.shape).copy_(u)  # [uf, uh] for all steps in one copy, then [f, c] in place
        ss, fhs = S.unbind(0), FH.unbind(0)
        fs, cs = G[..., :H].unbind(0), G[..., H:].unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        minus_one, two = tanh_constants(h0)
        h = h0
        for t in range(T):
            f = Uft.addmm_into(fs[t], h, fs[t]).sigmoid_()  # in place (out=self: no copy)
            fh = torch.mul(f, h, out=fhs[t])
            c = Uht.addmm_into(cs[t], fh, cs[t], beta=2.0, alpha=2.0).sigmoid_()
            torch.addcmul(minus_one, c, two, out=c)  # tanh(a) = 2 sigmoid(2a) - 1
            new = torch.lerp(h, c, f, out=ss[t])
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.has_mask = mask is not None
        ctx.save_for_backward(W, h0, S, FH, G, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        W, h0, S, FH, G, mask = ctx.saved_tensors
        T, B, H = S.shape
        du = buffer(g_out, (T, B, 2 * H))
        if T == 0:
            return du, torch.zeros_like(W), g_h, None
        Uf, Uh = W[:H], W[H:]
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ss, fhs, gos = S.unbind(0), FH.unbind(0), g_out.unbind(0)
        fs, cs = G[..., :H].unbind(0), G[..., H:].unbind(0)
        dfs, dcs = du[..., :H].unbind(0), du[..., H:].unbind(0)
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            f, c, df, dc = fs[t], cs[t], dfs[t], dcs[t]
            h_prev = ss[t - 1] if t else h0
            gm = g if ms is None else g * ms[t]
            torch.mul(gm, f, out=dc)
            dc.addcmul_(dc * c, c, value=-1.0)  # g f (1 - c^2)
            dm = torch.mm(dc, Uh)
            torch.sub(ss[t], h_prev, out=df).mul_(gm).addcmul_(dm, fhs[t])
            df.addcmul_(df, f, value=-1.0)  # (g (h_t - h_{t-1}) + dm f h_{t-1}) (1 - f)
            gn = torch.addcmul(gm, dm.sub_(gm), f)  # g (1 - f) + dm f
            torch.addmm(gn, df, Uf, out=gn)
            g = step_back(gn, g, gos, ms, t)
        dW = None
        if ctx.needs_input_grad[1]:
            dW = torch.empty_like(W)
            dW[:H] = weight_grad(du[..., :H], h0, S)
            torch.mm(du[..., H:].flatten(0, 1).t(), FH.flatten(0, 1), out=dW[H:])
        return du, dW, g, None


def mgu_recurrence(u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run MGU over ``u (T, B, 2H)`` (``project`` of the time-major input) with ``W = weight_hh (2H, H)`` from
    ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs zero). Returns
    ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return MGUFunction.apply(u, W, h0, mask)
