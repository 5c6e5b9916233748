r"""Fused recurrence of the simple gated unit and its deep form (:class:`rnnzoo.cells.SGUCell`,
:class:`rnnzoo.cells.DSGUCell`), forward and a hand-written backward::

    a_t   = x_g * h_{t-1}                           # u = project(x): [x_g, x_z]
    z_g   = tanh(a_t @ W_g.T)
    p_t   = z_g * h_{t-1}
    z_out = softplus(p_t)  (SGU)  |  sigmoid(p_t @ W_o.T)  (DSGU)
    v_t   = slope * x_z + 1/2 + slope * (h_{t-1} @ W_z.T);   z_t = clamp(v_t, 0, 1)
    h_t   = h_{t-1} + z_t * (z_out - h_{t-1})

Forward: ``slope * x_z + 1/2`` for all steps at once (input-only, into the ``V`` buffer), then the loop with raw
tensor operations written into preallocated ``(T, B, H)`` buffers (no autograd graph per step): ``a`` into ``A[t]``,
``z_g`` into ``ZG[t]`` (``mm``, then tanh as ``2 sigmoid(2x) - 1`` in place), ``p`` into ``P[t]``, ``z_out`` into
``ZO[t]``, ``v`` into ``V[t]`` (``addmm`` onto it), ``z`` into ``Z[t]``, ``h_t`` into ``S[t]`` (``lerp``).
Without a mask the state buffer ``S`` is the output itself. Backward: the step-independent factors for all steps at once
(``ind = [0 <= v <= 1]``, the clamp's gradient as torch.clamp's, is ``z == v``)::

    f_z   = (z_out - h_{t-1}) * slope * ind
    f_q   = z * sigmoid(p)  (SGU)  |  z * z_out * (1 - z_out)  (DSGU)
    f_a   = h_{t-1} * (1 - z_g^2)  = h_{t-1} - p * z_g
    SGU:  f_pre = f_q * f_a;  keep = 1 - z + f_q * z_g          DSGU:  keep = 1 - z

then per step (``g`` the cotangent of ``h_t``, zeroed on masked rows), each cotangent written straight into its
block of one ``du (T, B, 2H)`` or of the ``dpre``/``dq`` buffers that the weight gradients need::

    dz    = g * f_z                                        -> du[t][:, H:]
    SGU:  dpre = g * f_pre                                 DSGU: dq = g * f_q;  dp = dq @ W_o;  dpre = dp * f_a
    da    = dpre @ W_g
    dx_g  = da * h_{t-1}                                   -> du[t][:, :H]
    dh    = g * keep (+ dp * z_g, DSGU) + da * x_g + dz @ W_z     # the cotangent of h_{t-1} (masked rows: g unchanged)

Each step's ``da`` is used where it is made (``dx_g``), never recomputed after the loop; each weight's gradient is
one product over all steps after the loop (``dW_g = sum dpre^T a``, ``dW_z = sum dz^T h_{t-1}``, ``dW_o = sum dq^T
p``). A masked step (mask ``(T, B)``, True = valid) keeps the state and outputs zero; its gradient passes through
unchanged. The cell's step loop is the reference twin: ``tests/fused/test_one_field_functions.py`` and the model
contract suite hold them equal in outputs and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, step_back, tanh_constants, tanh_into, weight_grad
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class SGUFunction(torch.autograd.Function):
    """``(u (T, B, 2H), Wg, Wz, Wo or None, h0, slope, mask) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, Wg: Tensor, Wz: Tensor, Wo: Tensor | None, h0: Tensor, slope: float,
                mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Wg_t, Wz_t = StepProduct(Wg, B), StepProduct(Wz, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        Wo_t = StepProduct(Wo, B) if Wo is not None else None
        A, ZG, P, ZO, V, Z, S = (buffer(u, (T, B, H)) for _ in range(7))
        torch.mul(u[..., H:], slope, out=V).add_(0.5)  # the input-only part of v, all steps at once
        xgs = u[..., :H].unbind(0)
        As, ZGs, Ps, ZOs, Vs, Zs, Ss = (X.unbind(0) for X in (A, ZG, P, ZO, V, Z, S))
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        tc = tanh_constants(h0)
        h = h0
        for t in range(T):
            a, zg, p, zo, v, z = As[t], ZGs[t], Ps[t], ZOs[t], Vs[t], Zs[t]
            torch.mul(xgs[t], h, out=a)
            tanh_into(Wg_t.mm(a, zg), zg, tc)
            torch.mul(zg, h, out=p)
            if Wo_t is not None:
                Wo_t.mm_into(p, zo).sigmoid_()
            else:
                zo.copy_(F.softplus(p))  # public API (no out=); the (B, H) copy is a few microseconds
            Wz_t.addmm_into(v, h, v, alpha=slope)  # out=, not addmm_: FlopCounterMode sees it
            torch.clamp(v, 0.0, 1.0, out=z)
            new = torch.lerp(h, zo, z, out=Ss[t])
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.deep, ctx.has_mask, ctx.slope = Wo is not None, mask is not None, slope
        ctx.save_for_backward(u, Wg, Wz, Wo if Wo is not None else buffer(u, 0), h0, A, ZG, P, ZO, V, Z, S,
                              mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        u, Wg, Wz, Wo, h0, A, ZG, P, ZO, V, Z, S, mask = ctx.saved_tensors
        deep, slope = ctx.deep, ctx.slope
        T, B, H = S.shape
        du = buffer(g_out, (T, B, 2 * H))
        if T == 0:
            return du, torch.zeros_like(Wg), torch.zeros_like(Wz), torch.zeros_like(Wo) if deep else None, g_h, \
                None, None
        # the step-independent factors, all steps at once
        FZ = buffer(ZO, ZO.shape)
        torch.sub(ZO[0], h0, out=FZ[0])
        torch.sub(ZO[1:], S[:-1], out=FZ[1:])
        FZ.masked_fill_(Z != V, 0.0).mul_(slope)  # (z_out - h) * slope * [0 <= v <= 1]
        FQ = torch.addcmul(ZO, ZO, ZO, value=-1.0) if deep else torch.sigmoid(P)  # z_out (1 - z_out) | sigmoid(p)
        FQ.mul_(Z)
        FA = torch.mul(P, ZG)  # then h_{t-1} - p z_g = h_{t-1} (1 - z_g^2): one fresh buffer, not three
        torch.sub(h0, FA[0], out=FA[0])
        torch.sub(S[:-1], FA[1:], out=FA[1:])
        KEEP = torch.rsub(Z, 1.0)
        if deep:
            DQ = buffer(ZO, ZO.shape)
            dqs, fqs, zgs = DQ.unbind(0), FQ.unbind(0), ZG.unbind(0)
            dp = torch.empty_like(h0)
        else:
            KEEP.addcmul_(FQ, ZG)  # 1 - z + f_q z_g: the z_out path folded into the carry
            FA.mul_(FQ)  # f_pre
        DPRE = buffer(ZO, ZO.shape)
        da = torch.empty_like(h0)
        dpres, fas, fzs, keeps = DPRE.unbind(0), FA.unbind(0), FZ.unbind(0), KEEP.unbind(0)
        xgs, dxs, dzs = u[..., :H].unbind(0), du[..., :H].unbind(0), du[..., H:].unbind(0)
        prevs = (h0, *S.unbind(0)[:-1])
        gos = g_out.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        g = g_h + gos[T - 1] if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            gm = g if ms is None else g * ms[t]
            dz, dpre = dzs[t], dpres[t]
            torch.mul(gm, fzs[t], out=dz)
            if deep:
                torch.mm(torch.mul(gm, fqs[t], out=dqs[t]), Wo, out=dp)
                torch.mul(dp, fas[t], out=dpre)
            else:
                torch.mul(gm, fas[t], out=dpre)
            torch.mm(dpre, Wg, out=da)
            torch.mul(da, prevs[t], out=dxs[t])
            if ms is None and t:  # the output's cotangent at t - 1 folded in (step_back's add, one pass fewer)
                dh = torch.addcmul(gos[t - 1], gm, keeps[t])
            else:
                dh = torch.mul(gm, keeps[t])
            if deep:
                dh.addcmul_(dp, zgs[t])
            dh.addcmul_(da, xgs[t])
            torch.addmm(dh, dz, Wz, out=dh)
            g = dh if ms is None else step_back(dh, g, gos, ms, t)
        need = ctx.needs_input_grad
        dWg = torch.mm(DPRE.flatten(0, 1).t(), A.flatten(0, 1)) if need[1] else None
        dWz = weight_grad(du[..., H:], h0, S) if need[2] else None
        dWo = torch.mm(DQ.flatten(0, 1).t(), P.flatten(0, 1)) if deep and need[3] else None
        return du, dWg, dWz, dWo, g, None, None


def sgu_recurrence(u: Tensor, Wg: Tensor, Wz: Tensor, Wo: Tensor | None, h0: Tensor, slope: float,
                   mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run SGU (``Wo`` None) or DSGU over ``u (T, B, 2H)`` (``project`` of the time-major input) from ``h0 (B, H)``;
    ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs zero). Returns ``(out (T, B, H),
    h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return SGUFunction.apply(u, Wg, Wz, Wo, h0, slope, mask)
