r"""UnICORNN's whole sequence in one autograd Function with a hand-written elementwise backward
(:class:`~rnnzoo.cells.unicornn.UnICORNNCell`, arXiv:2103.05487 eq (3))::

    a_t = u_t + w * y_{t-1};  s_t = tanh(a_t)
    z_t = z_{t-1} - d * (s_t + alpha * y_{t-1});  y_t = y_{t-1} + d * z_t,   d = dt * sigmoid(c)

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step): ``2 u``
for all steps at once into the ``S`` buffer (input-only, hoisted), then per step ``s_t`` in place in ``S[t]`` as
``2 sigmoid(2 u_t + 2 w y_{t-1}) - 1`` (:func:`~rnnzoo.fused._common.tanh_into`'s form; three operations, no
``aten::tanh``), ``z_t = z_{t-1} - d s_t - (d alpha) y_{t-1}`` into ``Z[t]`` (two ``addcmul``), ``y_t`` into
``Y[t]`` (one ``addcmul``). Without a mask the state buffer ``Y`` is the output itself.

Backward, per step (``gy``, ``gz``: the cotangents of y_t, z_t, zeroed on masked rows; a masked step passes them
through unchanged)::

    gz'  = gz + d * gy                      (the cotangent of z_t once y_t = y_{t-1} + d z_t is taken back)
    ga   = -d * gz' * (1 - s_t^2)           written straight into one preallocated du (T, B, H): gu_t = ga
    gy'  = gy - (d alpha) * gz' + w * ga    (the cotangent of y_{t-1});   gz' is the cotangent of z_{t-1}

and the parameter gradients accumulated per step into ``(B, H)`` buffers by one in-place ``addcmul_`` each (no
per-step reduction, no fresh tensor), summed over the batch once after the loop::

    gw = sum ga * y_{t-1};   gd = sum gy * z_t - gz' * s_t - alpha * gz' * y_{t-1};   gc = gd * dt * sigmoid'(c)

The cell's step loop (:class:`~rnnzoo.core.pointwise.PointwiseCell`'s ``step``) is the reference twin;
``tests/cells/test_unicornn.py`` and ``tests/fused/test_two_field_functions.py`` hold the two equal in values and
float64 gradients (a mask with holes, T = 1, T = 0).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants
from rnnzoo.fused.workspace import buffer


class UnICORNNFunction(torch.autograd.Function):
    """``(u, y0, z0, w, c, dt, alpha, mask) -> (out, y_T, z_T)``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, y0: Tensor, z0: Tensor, w: Tensor, c: Tensor, dt: float, alpha: float,
                mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        T = u.shape[0]
        d = dt * torch.sigmoid(c)
        neg_d, neg_da, w2 = -d, d * -alpha, w * 2.0
        Y = buffer(u, u.shape)  # y_1 .. y_T
        Z = buffer(u, u.shape)  # z_1 .. z_T
        S = torch.mul(u, 2.0, out=buffer(u, u.shape))  # 2 u_t, then s_t in place
        ys, zs, ss = Y.unbind(0), Z.unbind(0), S.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        minus_one, two = tanh_constants(y0)
        y, z = y0, z0
        for t in range(T):
            s = ss[t].addcmul_(w2, y).sigmoid_()
            torch.addcmul(minus_one, s, two, out=s)  # tanh(a) = 2 sigmoid(2a) - 1
            z_new = torch.addcmul(z, neg_d, s, out=zs[t]).addcmul_(neg_da, y)
            y_new = torch.addcmul(y, d, z_new, out=ys[t])
            if ms is not None:
                torch.where(ms[t], z_new, z, out=z_new)
                torch.where(ms[t], y_new, y, out=y_new)
            y, z = y_new, z_new
        ctx.dt, ctx.alpha, ctx.has_mask = dt, alpha, mask is not None
        ctx.save_for_backward(y0, Y, Z, S, w, c, mask if mask is not None else buffer(u, 0))
        out = Y if mask is None else Y * mask.unsqueeze(2)
        return out, y.clone(), z.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_y: Tensor, g_z: Tensor) -> tuple[Tensor | None, ...]:
        y0, Y, Z, S, w, c, mask = ctx.saved_tensors
        dt, alpha = ctx.dt, ctx.alpha
        T = Y.shape[0]
        sig = torch.sigmoid(c)
        d = dt * sig
        neg_d, neg_da = -d, d * -alpha
        du = buffer(g_out, Y.shape)
        if T == 0:
            return du, g_y, g_z, torch.zeros_like(w), torch.zeros_like(c), None, None, None
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ys, zs, ss, gos, dus = Y.unbind(0), Z.unbind(0), S.unbind(0), g_out.unbind(0), du.unbind(0)
        acc_w = torch.zeros_like(y0)  # sum_t ga * y_{t-1}
        acc_d = torch.zeros_like(y0)  # sum_t gy * z_t - gz' * s_t
        acc_dy = torch.zeros_like(y0)  # sum_t gz' * y_{t-1}  (gd's alpha term)
        gy = g_y + gos[T - 1] if ms is None else torch.addcmul(g_y, gos[T - 1], ms[T - 1])
        gz = g_z
        for t in range(T - 1, -1, -1):
            s, ga, y_prev = ss[t], dus[t], ys[t - 1] if t else y0
            gym, gzm = (gy, gz) if ms is None else (gy * ms[t], gz * ms[t])
            gz_t = torch.addcmul(gzm, d, gym)
            torch.mul(gz_t, neg_d, out=ga)
            ga.addcmul_(ga * s, s, value=-1.0)  # -d gz' (1 - s^2)
            acc_w.addcmul_(ga, y_prev)
            acc_d.addcmul_(gym, zs[t]).addcmul_(gz_t, s, value=-1.0)
            acc_dy.addcmul_(gz_t, y_prev)
            gy_prev = torch.addcmul(gym, neg_da, gz_t).addcmul_(w, ga)
            if ms is not None:
                torch.where(ms[t], gy_prev, gy, out=gy_prev)
                torch.where(ms[t], gz_t, gz, out=gz_t)
                if t:
                    gy_prev.addcmul_(gos[t - 1], ms[t - 1])
            elif t:
                gy_prev.add_(gos[t - 1])
            gy, gz = gy_prev, gz_t
        gw = acc_w.sum(0)
        gd = acc_d.sum(0).sub_(acc_dy.sum(0), alpha=alpha)
        gc = gd.mul_(sig * (1 - sig) * dt)
        return du, gy, gz, gw, gc, None, None, None


def unicornn_recurrence(u: Tensor, y0: Tensor, z0: Tensor, w: Tensor, c: Tensor, dt: float, alpha: float,
                        mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """UnICORNN over ``u (T, B, H)`` (the projected inputs ``V x + b``, time-major) from ``(y0, z0)`` (B, H); ``w``,
    ``c`` (H,); ``mask (T, B)`` booleans, True = valid step. Returns ``(out (T, B, H), y_T, z_T)``, a masked step
    keeping the state and outputting zero: equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return UnICORNNFunction.apply(u, y0, z0, w, c, float(dt), float(alpha), mask)
