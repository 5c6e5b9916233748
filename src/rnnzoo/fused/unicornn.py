r"""UnICORNN's whole sequence in one autograd Function with a hand-written elementwise backward
(:class:`~rnnzoo.cells.unicornn.UnICORNNCell`, arXiv:2103.05487 eq (3))::

    a_t = u_t + w * y_{t-1};  s_t = tanh(a_t)
    z_t = z_{t-1} - d * (s_t + alpha * y_{t-1});  y_t = y_{t-1} + d * z_t,   d = dt * sigmoid(c)

Backward, per step (``gy``, ``gz``: the cotangents of y_t, z_t; a masked step passes them through)::

    gz   += d * gy                          gd += gy * z_t - gz * (s_t + alpha y_{t-1})
    ga    = -d * gz * (1 - s_t^2)           gw += ga * y_{t-1};  gu_t = ga
    gy'   = gy - d * alpha * gz + w * ga    gz' = gz

(``gc = sum gd * dt * sigmoid'(c)``). No derivative tables: every step is a handful of (B, H) operations. The
cell's step loop (:class:`~rnnzoo.core.pointwise.PointwiseCell`'s ``step``) is the reference twin;
``tests/cells/test_unicornn.py`` holds the two equal in values and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask


class UnICORNNFunction(torch.autograd.Function):
    """``(u, y0, z0, w, c, dt, alpha, mask) -> (out, y_T, z_T)``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, y0: Tensor, z0: Tensor, w: Tensor, c: Tensor, dt: float, alpha: float,
                mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        d = dt * torch.sigmoid(c)
        T = u.shape[0]
        ys, zs, ss = [y0], [z0], []
        y, z = y0, z0
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        for t, u_t in enumerate(u.unbind(0)):
            s = torch.tanh(torch.addcmul(u_t, w, y))
            z_new = z - d * torch.add(s, y, alpha=alpha)
            y_new = torch.addcmul(y, d, z_new)
            if ms is not None:
                y_new, z_new = torch.where(ms[t], y_new, y), torch.where(ms[t], z_new, z)
            y, z = y_new, z_new
            ys.append(y)
            zs.append(z)
            ss.append(s)
        Y = torch.stack(ys)  # (T+1, B, H)
        out = Y[1:] * mask.unsqueeze(2).to(Y.dtype) if mask is not None else Y[1:].clone()
        S = torch.stack(ss) if T else u.new_empty(0)
        ctx.dt, ctx.alpha, ctx.has_mask = dt, alpha, mask is not None
        ctx.save_for_backward(Y, torch.stack(zs), S, w, c, mask if mask is not None else u.new_empty(0))
        return out, Y[-1], zs[-1]

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_y: Tensor | None, g_z: Tensor | None
                 ) -> tuple[Tensor | None, ...]:
        Y, Z, S, w, c, mask = ctx.saved_tensors
        dt, alpha = ctx.dt, ctx.alpha
        T = Y.shape[0] - 1
        sig = torch.sigmoid(c)
        d = dt * sig
        gy = g_y.clone() if g_y is not None else torch.zeros_like(Y[-1])
        gz = g_z.clone() if g_z is not None else torch.zeros_like(Z[-1])
        gu = Y.new_empty((T, *Y.shape[1:]))
        gw = torch.zeros_like(w)
        gd = torch.zeros_like(d)
        for t in range(T - 1, -1, -1):
            if g_out is not None:
                gy = gy + (g_out[t] * mask[t].unsqueeze(1) if ctx.has_mask else g_out[t])
            y_prev, s = Y[t], S[t]
            gz_t = torch.addcmul(gz, d, gy)  # the cotangent of z_t once y_t = y_{t-1} + d z_t is taken back
            ga = -(d * gz_t) * (1 - s * s)
            gd_t = gy * Z[t + 1] - gz_t * torch.add(s, y_prev, alpha=alpha)
            gy_prev = gy - (d * alpha) * gz_t + w * ga
            if ctx.has_mask:
                m = mask[t].unsqueeze(1)
                ga = ga * m
                gd_t = gd_t * m
                gy_prev = torch.where(m, gy_prev, gy)
                gz_t = torch.where(m, gz_t, gz)
            gu[t] = ga
            gw += (ga * y_prev).sum(0)
            gd += gd_t.sum(0)
            gy, gz = gy_prev, gz_t
        gc = gd * dt * sig * (1 - sig)
        return gu, gy, gz, gw, gc, None, None, None


def unicornn_recurrence(u: Tensor, y0: Tensor, z0: Tensor, w: Tensor, c: Tensor, dt: float, alpha: float,
                        mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """UnICORNN over ``u (T, B, H)`` (the projected inputs ``V x + b``, time-major) from ``(y0, z0)`` (B, H); ``w``,
    ``c`` (H,); ``mask (T, B)`` booleans, True = valid step. Returns ``(out (T, B, H), y_T, z_T)``, a masked step
    keeping the state and outputting zero: equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return UnICORNNFunction.apply(u, y0, z0, w, c, float(dt), float(alpha), mask)
