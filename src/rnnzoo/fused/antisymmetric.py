r"""Fused recurrence of AntisymmetricRNN and its gated form (:class:`rnnzoo.cells.antisymmetric.AntisymmetricRNNCell`,
:class:`~rnnzoo.cells.antisymmetric.GatedAntisymmetricRNNCell`), forward and a hand-written backward::

    r_t = h_{t-1} @ A.T                               # A = W_h - W_h^T - gamma I, built once per run by the cell
    plain:  c_t = tanh(u_t + r_t);                    h_t = h_{t-1} + eps * c_t
    gated:  z_t = sigmoid(u^z_t + r_t); c_t = tanh(u^h_t + r_t); h_t = h_{t-1} + eps * z_t * c_t

(``u = project(x)``: ``V_h x + b_h``, gated ``[V_z x + b_z, V_h x + b_h]``). ``A`` is an input of the Function: the
cell builds it outside (autograd carries ``dA`` back to ``weight_hh``). Forward: the loop with raw tensor operations
written into preallocated buffers (no autograd graph per step): the pre-activations into ``C[t]`` (plain, ``addmm``
then tanh) or ``G[t] (B, 2H)`` (gated: ``r_t`` once, added to both halves, ``sigmoid_`` / tanh in place), ``h_t``
into ``S[t]`` (``add`` / ``addcmul``). The tanh is :func:`rnnzoo.fused._common.tanh_into` (``2 * sigmoid(2x) - 1``,
about twice as fast as ``aten::tanh`` here). Without a mask the state buffer ``S`` is the output itself. Backward,
per step (``g`` the cotangent of ``h_t``, zeroed on masked rows)::

    plain:  dr = du_t = eps * g * (1 - c^2)
    gated:  du^z_t = eps * g * c * z * (1 - z);  du^h_t = eps * g * z * (1 - c^2);  dr = du^z_t + du^h_t
    dh = g + dr @ A                                   # the cotangent of h_{t-1} (masked rows: g unchanged)

written straight into one preallocated ``du (T, B, P)`` (gated: ``dr`` into one ``(T, B, H)`` buffer too); ``A``'s
gradient is one product over all steps after the loop. A masked step (mask ``(T, B)``, True = valid) keeps the state
and outputs zero; its gradient passes through unchanged. The cells' step loop is the reference twin:
``tests/fused/test_one_field_functions.py`` and the model contract suite hold the two equal in float64.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, step_back, tanh_constants, tanh_into, weight_grad
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class AntisymmetricFunction(torch.autograd.Function):
    """``(u (T, B, P), A (H, H), h0 (B, H), mask (T, B) or None, eps, gated) -> (out (T, B, H), h_T (B, H))``,
    ``P = 2H`` gated, ``H`` plain."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, A: Tensor, h0: Tensor, mask: Tensor | None, eps: float,
                gated: bool) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        At = StepProduct(A, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        G = buffer(u, (T, B, u.shape[2]))  # plain: c; gated: [z, c]
        us, ss, gs = u.unbind(0), S.unbind(0), G.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        k = tanh_constants(h0)
        h = h0
        if gated:
            r2 = buffer(u, (B, H))
            zs, cs = G[..., :H].unbind(0), G[..., H:].unbind(0)
            for t in range(T):
                r = At.mm(h, r2).unsqueeze(1)  # (B, 1, H)
                torch.add(us[t].unflatten(-1, (2, H)), r, out=gs[t].view(B, 2, H))
                c = tanh_into(cs[t], cs[t], k)
                new = torch.addcmul(h, zs[t].sigmoid_(), c, value=eps, out=ss[t])
                if ms is not None:
                    torch.where(ms[t], new, h, out=new)
                h = new
        else:
            for t in range(T):
                c = tanh_into(At.addmm_into(us[t], h, gs[t]), gs[t], k)
                new = torch.add(h, c, alpha=eps, out=ss[t])
                if ms is not None:
                    torch.where(ms[t], new, h, out=new)
                h = new
        ctx.has_mask, ctx.eps, ctx.gated = mask is not None, eps, gated
        ctx.save_for_backward(A, h0, S, G, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        A, h0, S, G, mask = ctx.saved_tensors
        T, B, H = S.shape
        eps, gated = ctx.eps, ctx.gated
        du = buffer(g_out, (T, B, G.shape[2]))
        if T == 0:
            return du, torch.zeros_like(A), g_h, None, None, None
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        gos = g_out.unbind(0)
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        if gated:
            DR = buffer(g_out, (T, B, H))
            drs_all = DR
            zs, cs = G[..., :H].unbind(0), G[..., H:].unbind(0)
            dzs, dcs, drs = du[..., :H].unbind(0), du[..., H:].unbind(0), DR.unbind(0)
        else:
            drs_all = du
            cs, drs = G.unbind(0), du.unbind(0)
        for t in range(T - 1, -1, -1):
            c = cs[t]
            gm = g if ms is None else g * ms[t]
            if gated:
                z, dz, dc, dr = zs[t], dzs[t], dcs[t], drs[t]
                torch.mul(gm, z, out=dc).mul_(eps)  # eps g z
                torch.mul(dc, c, out=dz)  # eps g z c
                dz.addcmul_(dz, z, value=-1.0)  # * (1 - z)
                dc.addcmul_(dc * c, c, value=-1.0)  # * (1 - c^2)
                torch.add(dz, dc, out=dr)
            else:
                dr = drs[t]
                torch.addcmul(gm, gm * c, c, value=-1.0, out=dr).mul_(eps)  # eps g (1 - c^2)
            gn = torch.addmm(gm, dr, A)
            g = step_back(gn, g, gos, ms, t)
        dA = None
        if ctx.needs_input_grad[1]:
            dA = weight_grad(drs_all, h0, S)
        return du, dA, g, None, None, None


def antisymmetric_recurrence(u: Tensor, A: Tensor, h0: Tensor, mask: Tensor | None = None, *, epsilon: float,
                             gated: bool = False) -> tuple[Tensor, Tensor]:
    """Run (gated) AntisymmetricRNN over ``u (T, B, P)`` (``project`` of the time-major input; ``P = 2H`` gated, else
    ``H``) with the built matrix ``A = W_h - W_h^T - gamma I (H, H)`` from ``h0 (B, H)``; ``mask (T, B)`` True = valid
    step (a masked step keeps ``h`` and outputs zero). Returns ``(out (T, B, H), h_T (B, H))``, equal to the step
    loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return AntisymmetricFunction.apply(u, A, h0, mask, float(epsilon), bool(gated))
