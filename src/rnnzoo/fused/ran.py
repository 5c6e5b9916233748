r"""Fused recurrence of RAN (:class:`rnnzoo.cells.ran.RANCell`), forward and a hand-written backward::

    [ai, af]_t = u_t[H:] + h_{t-1} @ [W_ih; W_fh].T   # u = project(x) = [W_cx x, W_ix x + b_i, W_fx x + b_f]
    i_t = sigmoid(ai); f_t = sigmoid(af)
    c_t = i_t * ct_t + f_t * c_{t-1}                   # ct_t = u_t[:H]
    h_t = g(c_t)                                        # g = tanh or identity

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step): both
gate pre-activations into ``G[t] (B, 2H)`` (``addmm``), ``sigmoid_`` in place, ``c_t`` into ``C[t]`` (``mul`` +
``addcmul_``), ``h_t`` into ``S[t]`` (tanh as :func:`rnnzoo.fused._common.tanh_into`'s ``2 * sigmoid(2x) - 1``,
about twice as fast as ``aten::tanh`` here; with the identity ``S`` is ``C``). Backward, per step (``gh``, ``gc``
the cotangents of ``h_t``, ``c_t``, zeroed on masked rows)::

    dc  = gc + gh * g'(c_t)                     # g' = 1 - h_t^2 (tanh) or 1
    dct = dc * i_t;  dai = dc * ct_t * i_t (1 - i_t);  daf = dc * c_{t-1} * f_t (1 - f_t)
    gc_{t-1} = dc * f_t;  gh_{t-1} = [dai, daf] @ [W_ih; W_fh]   (masked rows: gh, gc unchanged)

written straight into one preallocated ``du (T, B, 3H)``; the recurrent weight's gradient is one product over all
steps after the loop. A masked step (mask ``(T, B)``, True = valid) keeps both state fields and outputs zero; its
gradient passes through unchanged. The cell's step loop is the reference twin:
``tests/fused/test_two_field_functions.py`` and the model contract suite hold the two equal in float64.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants, tanh_into, weight_grad
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class RANFunction(torch.autograd.Function):
    """``(u (T, B, 3H), W (2H, H), h0, c0 (B, H), mask (T, B) or None, use_tanh) -> (out (T, B, H), h_T, c_T)``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, h0: Tensor, c0: Tensor, mask: Tensor | None,
                use_tanh: bool) -> tuple[Tensor, Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Wt = StepProduct(W, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        C = buffer(u, (T, B, H))  # c_1 .. c_T
        alias = not use_tanh and mask is None  # h_t = c_t on every row: S is C
        S = C if alias else buffer(u, (T, B, H))  # h_1 .. h_T
        G = buffer(u, (T, B, 2 * H))  # [i, f]
        uts, ugs = u[..., :H].unbind(0), u[..., H:].unbind(0)
        cs, ss, gs = C.unbind(0), S.unbind(0), G.unbind(0)
        ig, fg = G[..., :H].unbind(0), G[..., H:].unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        k = tanh_constants(h0) if use_tanh else None
        h, c = h0, c0
        for t in range(T):
            Wt.addmm_into(ugs[t], h, gs[t]).sigmoid_()
            cn = torch.mul(ig[t], uts[t], out=cs[t]).addcmul_(fg[t], c)
            if ms is not None:
                torch.where(ms[t], cn, c, out=cn)
            if use_tanh:
                hn = tanh_into(cn, ss[t], k)
                if ms is not None:
                    torch.where(ms[t], hn, h, out=hn)
            elif ms is not None:  # a row masked from the start keeps h0, which may differ from c0
                hn = torch.where(ms[t], cn, h, out=ss[t])
            else:
                hn = cn
            h, c = hn, cn
        ctx.use_tanh, ctx.has_mask = use_tanh, mask is not None
        ctx.save_for_backward(u, W, h0, c0, S, C, G, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone(), c.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor, g_c: Tensor) -> tuple[Any, ...]:
        u, W, h0, c0, S, C, G, mask = ctx.saved_tensors
        T, B, H = S.shape
        du = buffer(g_out, (T, B, 3 * H))
        if T == 0:
            return du, torch.zeros_like(W), g_h, g_c, None, None
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ss, cs, gos = S.unbind(0), C.unbind(0), g_out.unbind(0)
        uts = u[..., :H].unbind(0)
        ig, fg = G[..., :H].unbind(0), G[..., H:].unbind(0)
        dts, dis, dfs, dgs = du[..., :H].unbind(0), du[..., H:2 * H].unbind(0), du[..., 2 * H:].unbind(0), \
            du[..., H:].unbind(0)
        gh = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        gc = g_c
        for t in range(T - 1, -1, -1):
            i, f, dt, di, df = ig[t], fg[t], dts[t], dis[t], dfs[t]
            c_prev = cs[t - 1] if t else c0
            ghm, gcm = (gh, gc) if ms is None else (gh * ms[t], gc * ms[t])
            if ctx.use_tanh:
                dc = torch.addcmul(ghm, ghm * ss[t], ss[t], value=-1.0).add_(gcm)
            else:
                dc = ghm + gcm
            torch.mul(dc, i, out=dt)
            torch.mul(dt, uts[t], out=di).addcmul_(di, i, value=-1.0)  # dc ct i (1 - i)
            torch.mul(dc, c_prev, out=df).mul_(f)
            df.addcmul_(df, f, value=-1.0)  # dc c_{t-1} f (1 - f)
            gh_prev = torch.mm(dgs[t], W)
            gc_prev = dc.mul_(f)
            if ms is not None:
                gh_prev = torch.where(ms[t], gh_prev, gh)
                gc_prev = torch.where(ms[t], gc_prev, gc)
            if t:
                gh_prev = gh_prev + gos[t - 1] if ms is None else torch.addcmul(gh_prev, gos[t - 1], ms[t - 1])
            gh, gc = gh_prev, gc_prev
        dW = None
        if ctx.needs_input_grad[1]:
            dW = weight_grad(du[..., H:], h0, S)
        return du, dW, gh, gc, None, None


def ran_recurrence(u: Tensor, W: Tensor, h0: Tensor, c0: Tensor, mask: Tensor | None = None, *,
                   activation: str = "tanh") -> tuple[Tensor, Tensor, Tensor]:
    """Run RAN over ``u (T, B, 3H)`` (``project`` of the time-major input) with ``W = weight_hh (2H, H)`` from
    ``(h0, c0)`` (each ``(B, H)``); ``mask (T, B)`` True = valid step (a masked step keeps the state and outputs
    zero); ``activation`` ``"tanh"`` or ``"identity"``. Returns ``(out (T, B, H), h_T, c_T)``, equal to the step
    loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return RANFunction.apply(u, W, h0, c0, mask, activation == "tanh")
