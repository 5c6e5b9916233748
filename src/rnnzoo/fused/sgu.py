r"""Fused recurrence of the simple gated unit and its deep form (:class:`rnnzoo.cells.SGUCell`,
:class:`rnnzoo.cells.DSGUCell`), forward and a hand-written backward::

    a_t   = x_g * h_{t-1}                           # u = project(x): [x_g, x_z]
    z_g   = tanh(a_t @ W_g.T)
    p_t   = z_g * h_{t-1}
    z_out = softplus(p_t)  (SGU)  |  sigmoid(p_t @ W_o.T)  (DSGU)
    v_t   = slope * (x_z + h_{t-1} @ W_z.T) + 1/2;   z_t = clamp(v_t, 0, 1)
    h_t   = h_{t-1} + z_t * (z_out - h_{t-1})

Forward: the loop with raw tensor operations, keeping ``h``, ``z_g``, ``z_out`` and ``v`` of every step. Backward, per
step (``g`` the cotangent of ``h_t``, zero on masked rows)::

    dz    = g * (z_out - h) * slope * [0 <= v <= 1]         # the clamp's gradient, as torch.clamp's
    dp    = g * z * sigmoid(p)                              (SGU)
    dq    = g * z * z_out * (1 - z_out);  dp = dq @ W_o     (DSGU)
    da    = (dp * h) * (1 - z_g^2) @ W_g
    dh    = g * (1 - z) + dp * z_g + da * x_g + dz @ W_z

and the weight gradients as one product per matrix over all steps after the loop. The cell's step loop is the
reference twin: the model contract suite holds them equal in outputs and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask


class SGUFunction(torch.autograd.Function):
    """``(u (T, B, 2H), Wg, Wz, Wo or None, h0, slope, mask) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, Wg: Tensor, Wz: Tensor, Wo: Tensor | None, h0: Tensor, slope: float,
                mask: Tensor | None) -> tuple[Tensor, Tensor]:
        H = h0.shape[-1]
        Wg_t, Wz_t = Wg.t(), Wz.t()
        Wo_t = Wo.t() if Wo is not None else None
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        h = h0
        hs, zgs, zouts, vs, outs = [h0], [], [], [], []
        for t, u_t in enumerate(u.unbind(0)):
            xg, xz = u_t.split(H, -1)
            zg = torch.tanh((xg * h) @ Wg_t)
            p = zg * h
            zout = torch.sigmoid(p @ Wo_t) if Wo_t is not None else torch.nn.functional.softplus(p)
            v = torch.addmm(xz, h, Wz_t) * slope + 0.5
            new = torch.lerp(h, zout, v.clamp(0.0, 1.0))
            if ms is not None:
                new = torch.where(ms[t], new, h)
                outs.append(new * ms[t])
            else:
                outs.append(new)
            zgs.append(zg)
            zouts.append(zout)
            vs.append(v)
            hs.append(new)
            h = new
        empty = u.new_zeros((0, *h0.shape))
        out = torch.stack(outs) if outs else empty

        def stack(xs: list[Tensor]) -> Tensor:
            return torch.stack(xs) if xs else empty

        ctx.save_for_backward(u, Wg, Wz, Wo if Wo is not None else u.new_empty(0), torch.stack(hs), stack(zgs),
                              stack(zouts), stack(vs), mask if mask is not None else u.new_empty(0))
        ctx.deep, ctx.has_mask, ctx.slope = Wo is not None, mask is not None, slope
        return out, h

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_h: Tensor | None) -> tuple[Any, ...]:
        u, Wg, Wz, Wo, hs, zgs, zouts, vs, mask = ctx.saved_tensors
        Wo = Wo if ctx.deep else None
        mask = mask if ctx.has_mask else None
        T, B, H = zgs.shape[0], hs.shape[1], hs.shape[2]
        slope = ctx.slope
        prev = hs[:-1]
        xg = u[..., :H]
        z = vs.clamp(0.0, 1.0)
        dz_factor = (zouts - prev) * (slope * ((vs >= 0) & (vs <= 1)).to(vs.dtype))  # dh_t/dz * dz/dpre
        keep = 1 - z
        p = zgs * prev
        out_factor = z * (zouts * (1 - zouts) if Wo is not None else torch.sigmoid(p))  # d z_out-path / d (p or q)
        dtanh = 1 - zgs * zgs
        g = g_h if g_h is not None else hs.new_zeros((B, H))
        m_t = mask.unsqueeze(2).unbind(0) if mask is not None else None
        dz_list: list[Tensor] = []
        dq_list: list[Tensor] = []
        dpre_list: list[Tensor] = []
        for t in range(T - 1, -1, -1):
            if g_out is not None:
                g = g + g_out[t] * m_t[t] if m_t is not None else g + g_out[t]
            gt = g * m_t[t] if m_t is not None else g
            h = prev[t]
            dz = gt * dz_factor[t]
            dq = gt * out_factor[t]
            dp = dq @ Wo if Wo is not None else dq
            dpre = dp * h * dtanh[t]
            da = dpre @ Wg
            dh = torch.addcmul(torch.addcmul(gt * keep[t], dp, zgs[t]), da, xg[t])
            dh = torch.addmm(dh, dz, Wz)
            g = torch.where(m_t[t], dh, g) if m_t is not None else dh
            dz_list.append(dz)
            dq_list.append(dq)
            dpre_list.append(dpre)
        if T == 0:
            zero = hs.new_zeros((0, B, 2 * H))
            return zero, torch.zeros_like(Wg), torch.zeros_like(Wz), torch.zeros_like(Wo) if Wo is not None else None, \
                g, None, None
        dz_all, dq_all, dpre_all = (torch.stack(xs[::-1]).reshape(T * B, H) for xs in (dz_list, dq_list, dpre_list))
        flat_prev = prev.reshape(T * B, H)
        a = (xg * prev).reshape(T * B, H)
        da_all = (dpre_all @ Wg).reshape(T, B, H)
        dxg = da_all * prev
        du = torch.cat([dxg, dz_all.view(T, B, H)], -1)
        dWg = dpre_all.t() @ a
        dWz = dz_all.t() @ flat_prev
        dWo = dq_all.t() @ p.reshape(T * B, H) if Wo is not None else None
        return du, dWg, dWz, dWo, g, None, None


def sgu_recurrence(u: Tensor, Wg: Tensor, Wz: Tensor, Wo: Tensor | None, h0: Tensor, slope: float,
                   mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run SGU (``Wo`` None) or DSGU over ``u (T, B, 2H)`` (``project`` of the time-major input) from ``h0 (B, H)``;
    ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs zero). Returns ``(out (T, B, H),
    h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return SGUFunction.apply(u, Wg, Wz, Wo, h0, slope, mask)
