r"""Fused recurrence of LEM (:class:`rnnzoo.cells.LEMCell`), forward and a hand-written backward::

    [g1, g2, zc] = [sigmoid, sigmoid, tanh](u_t[:, :3H] + y_{t-1} @ W_hh.T)   # u = project(x) = V x + b (4H)
    w1, w2 = dt * g1, dt * g2
    z_t  = z_{t-1} + w1 * (zc - z_{t-1})
    yc   = tanh(u_t[:, 3H:] + z_t @ W_zy.T)                                   # z_t: the NEW slow state
    y_t  = y_{t-1} + w2 * (yc - y_{t-1})

Forward: the loop with raw tensor operations into buffers allocated once (``[g1, g2, zc]``, ``yc``, ``y``, ``z``), no
autograd graph. Every ``tanh`` is :func:`rnnzoo.fused._common.tanh_into`
(``2 sigmoid(2x) - 1``, several times faster than ``aten::tanh`` on this project's CPUs).
Backward, per step back in time (``gy`` the cotangent of ``y_t``, ``gz`` that of ``z_t``; both zeroed
on masked rows)::

    dyc = gy * w2 * (1 - yc^2)                    # du[:, 3H:]
    dz  = gz + dyc @ W_zy
    dg2 = dt * gy * (yc - y_{t-1}) * g2 (1 - g2);   dg1 = dt * dz * (zc - z_{t-1}) * g1 (1 - g1)
    dzc = dz * w1 * (1 - zc^2)
    dz_{t-1} = dz * (1 - w1);   dy_{t-1} = gy * (1 - w2) + [dg1, dg2, dzc] @ W_hh

every cotangent of ``u`` written straight into one ``(T, B, 4H)`` buffer; after the loop ``dW_hh`` and ``dW_zy`` are
one product each over all steps. A masked step (mask False) keeps ``(y, z)``, outputs zero, and passes its cotangents
through unchanged. The cell's step loop is the reference twin: the model contract suite holds the two equal in outputs
and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


def _dtanh_(d: Tensor, y: Tensor) -> Tensor:
    """``d *= 1 - y^2`` in place (``y = tanh(p)``)."""
    dy = d * y
    return d.addcmul_(dy, y, value=-1.0)


class LEMFunction(torch.autograd.Function):
    """``(u (T, B, 4H), W_hh (3H, H), W_zy (H, H), y0 (B, H), z0 (B, H), dt, mask (T, B) or None)
    -> (out (T, B, H), y_T (B, H), z_T (B, H))``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, Wzy: Tensor, y0: Tensor, z0: Tensor, dt: float,
                mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        T, B = u.shape[0], u.shape[1]
        H = y0.shape[-1]
        Wt, Wzyt = StepProduct(W, B), StepProduct(Wzy, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        Ys, Zs = buffer(u, (T + 1, B, H)), buffer(u, (T + 1, B, H))
        Ys[0], Zs[0] = y0, z0
        P = buffer(u, (T, B, 3 * H))  # g1, g2, zc
        YC = buffer(u, (T, B, H))
        Wg = P[..., :2 * H] if dt == 1.0 else buffer(u, (T, B, 2 * H))  # w1, w2 = dt * (g1, g2)
        k = (u.new_full((), -1.0), u.new_full((), 2.0))  # tanh_into's constants (broadcast)
        # every per-step view made once (one unbind each): indexing inside the loop costs more than the arithmetic
        ys, zs, ps, ycs, u3s, uys = (x.unbind(0) for x in (Ys, Zs, P, YC, u[..., :3 * H], u[..., 3 * H:]))
        gs, zcs, wgs, w1s, w2s = (x.unbind(0) for x in (P[..., :2 * H], P[..., 2 * H:], Wg, Wg[..., :H],
                                                         Wg[..., H:]))
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        for t in range(T):
            Wt.addmm_into(u3s[t], ys[t], ps[t])
            gs[t].sigmoid_()
            tanh_into(zcs[t], zcs[t], k)
            if dt != 1.0:
                torch.mul(gs[t], dt, out=wgs[t])
            torch.lerp(zs[t], zcs[t], w1s[t], out=zs[t + 1])
            tanh_into(Wzyt.addmm_into(uys[t], zs[t + 1], ycs[t]), ycs[t], k)
            torch.lerp(ys[t], ycs[t], w2s[t], out=ys[t + 1])
            if ms is not None:
                torch.where(ms[t], ys[t + 1], ys[t], out=ys[t + 1])
                torch.where(ms[t], zs[t + 1], zs[t], out=zs[t + 1])
        ctx.save_for_backward(W, Wzy, Ys, Zs, P, YC, Wg, mask)
        ctx.dt = dt
        out = Ys[1:].clone() if mask is None else Ys[1:] * mask.unsqueeze(2)
        return out, Ys[T].clone(), Zs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_y: Tensor, g_z: Tensor) -> tuple[Any, ...]:
        W, Wzy, Ys, Zs, P, YC, Wg, mask = ctx.saved_tensors
        dt = ctx.dt
        T, B, H = YC.shape
        du = buffer(P, (T, B, 4 * H))
        d3s, dgs, dg1s, dg2s, dzcs, dycs = (x.unbind(0) for x in (
            du[..., :3 * H], du[..., :2 * H], du[..., :H], du[..., H:2 * H], du[..., 2 * H:3 * H], du[..., 3 * H:]))
        ys, zs, ycs, gos = Ys.unbind(0), Zs.unbind(0), YC.unbind(0), g_out.unbind(0)
        gs, zcs, w1s, w2s = (x.unbind(0) for x in (P[..., :2 * H], P[..., 2 * H:], Wg[..., :H], Wg[..., H:]))
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        gy, gz = g_y, g_z
        for t in range(T - 1, -1, -1):
            if ms is not None:
                gy_in, gz_in = torch.addcmul(gy, gos[t], ms[t]), gz  # a masked step's output is a constant zero
                gy, gz = gy_in * ms[t], gz * ms[t]
            else:
                gy = gy + gos[t]
            w1, w2 = w1s[t], w2s[t]
            _dtanh_(torch.mul(gy, w2, out=dycs[t]), ycs[t])  # dyc
            dz = torch.addmm(gz, dycs[t], Wzy)
            torch.mul(torch.sub(ycs[t], ys[t], out=dg2s[t]), gy, out=dg2s[t])  # d w2
            torch.mul(torch.sub(zcs[t], zs[t], out=dg1s[t]), dz, out=dg1s[t])  # d w1
            dd = dgs[t] * gs[t]
            torch.addcmul(dd, dd, gs[t], value=-1.0, out=dgs[t])
            if dt != 1.0:
                dgs[t].mul_(dt)
            _dtanh_(torch.mul(dz, w1, out=dzcs[t]), zcs[t])  # dzc
            gz = dz.addcmul_(dz, w1, value=-1.0)
            gyn = torch.addcmul(gy, gy, w2, value=-1.0)
            dy = torch.addmm(gyn, d3s[t], W)
            if ms is not None:
                gy = torch.where(ms[t], dy, gy_in)
                gz = torch.where(ms[t], gz, gz_in)
            else:
                gy = dy
        dW = du[..., :3 * H].flatten(0, 1).t() @ Ys[:-1].flatten(0, 1)
        dWzy = du[..., 3 * H:].flatten(0, 1).t() @ Zs[1:].flatten(0, 1)
        return du, dW, dWzy, gy, gz, None, None


def lem_recurrence(u: Tensor, W: Tensor, Wzy: Tensor, y0: Tensor, z0: Tensor, dt: float,
                   mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Run LEM over ``u (T, B, 4H)`` (``project`` of the time-major input) with ``W = weight_hh (3H, H)`` and
    ``Wzy = weight_zy (H, H)`` and the largest time step ``dt``, from ``(y0, z0)`` ``(B, H)``; ``mask (T, B)``
    True = valid step (a masked step keeps ``(y, z)`` and outputs zero). Returns ``(out (T, B, H), y_T (B, H),
    z_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return LEMFunction.apply(u, W, Wzy, y0, z0, float(dt), mask)
