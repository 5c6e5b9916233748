r"""coRNN's whole sequence in one autograd Function with a hand-written backward
(:class:`~rnnzoo.cells.cornn.CoRNNCell`, arXiv:2010.00951 eq (3) solved for z_t)::

    s_t = tanh(u_t + [y_{t-1}, z_{t-1}] W^T)
    z_t = c z_{t-1} + k (s_t - gamma y_{t-1});  y_t = y_{t-1} + dt z_t,    c = 1 / (1 + dt eps), k = c dt

Backward, per step (``gy``, ``gz``: the cotangents of y_t, z_t; a masked step passes them through)::

    gz_t = gz + dt gy;   ga = k gz_t (1 - s_t^2);   [gy', gz'] = [gy - k gamma gz_t, c gz_t] + ga W

and ``dW = sum_t ga_t^T [y_{t-1}, z_{t-1}]`` as one product over all steps. No derivative tables. The cell's step
loop is the reference twin; ``tests/cells/test_cornn.py`` holds the two equal in values and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask


class CoRNNFunction(torch.autograd.Function):
    """``(u, y0, z0, W, dt, gamma, epsilon, mask) -> (out, y_T, z_T)``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, y0: Tensor, z0: Tensor, W: Tensor, dt: float, gamma: float, epsilon: float,
                mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        c = 1.0 / (1.0 + dt * epsilon)
        w_t = W.t()
        ys, zs, ss = [y0], [z0], []
        y, z = y0, z0
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        for t, u_t in enumerate(u.unbind(0)):
            s = torch.tanh(torch.addmm(u_t, torch.cat([y, z], 1), w_t))
            z_new = torch.add(z * c, s.sub(y, alpha=gamma), alpha=c * dt)
            y_new = torch.add(y, z_new, alpha=dt)
            if ms is not None:
                y_new, z_new = torch.where(ms[t], y_new, y), torch.where(ms[t], z_new, z)
            y, z = y_new, z_new
            ys.append(y)
            zs.append(z)
            ss.append(s)
        Y = torch.stack(ys)  # (T+1, B, H)
        out = Y[1:] * mask.unsqueeze(2).to(Y.dtype) if mask is not None else Y[1:].clone()
        S = torch.stack(ss) if ss else u.new_empty(0)
        ctx.consts, ctx.has_mask = (dt, gamma, c), mask is not None
        ctx.save_for_backward(Y, torch.stack(zs), S, W, mask if mask is not None else u.new_empty(0))
        return out, Y[-1], zs[-1]

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_y: Tensor | None, g_z: Tensor | None
                 ) -> tuple[Tensor | None, ...]:
        Y, Z, S, W, mask = ctx.saved_tensors
        dt, gamma, c = ctx.consts
        k = c * dt
        T, B, H = Y.shape[0] - 1, Y.shape[1], Y.shape[2]
        gy = g_y.clone() if g_y is not None else torch.zeros_like(Y[-1])
        gz = g_z.clone() if g_z is not None else torch.zeros_like(Z[-1])
        GA = Y.new_empty((T, B, H))
        for t in range(T - 1, -1, -1):
            if g_out is not None:
                gy = gy + (g_out[t] * mask[t].unsqueeze(1) if ctx.has_mask else g_out[t])
            s = S[t]
            gz_t = torch.add(gz, gy, alpha=dt)  # the cotangent of z_t once y_t = y_{t-1} + dt z_t is taken back
            ga = (k * gz_t) * (1 - s * s)
            if ctx.has_mask:
                m = mask[t].unsqueeze(1)
                ga = ga * m
            back = ga @ W  # (B, 2H): to y_{t-1} and z_{t-1}
            gy_prev = torch.add(gy, gz_t, alpha=-k * gamma) + back[:, :H]
            gz_prev = torch.add(back[:, H:], gz_t, alpha=c)
            if ctx.has_mask:
                gy_prev, gz_prev = torch.where(m, gy_prev, gy), torch.where(m, gz_prev, gz)
            GA[t] = ga
            gy, gz = gy_prev, gz_prev
        gW = GA.reshape(T * B, H).t() @ torch.cat([Y[:-1], Z[:-1]], 2).reshape(T * B, 2 * H)
        return GA, gy, gz, gW, None, None, None, None


def cornn_recurrence(u: Tensor, y0: Tensor, z0: Tensor, W: Tensor, dt: float, gamma: float, epsilon: float,
                     mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """coRNN over ``u (T, B, H)`` (the projected inputs ``V x + b``, time-major) from ``(y0, z0)`` (B, H) with
    ``W = [W, Wz]`` (H, 2H); ``mask (T, B)`` booleans, True = valid step. Returns ``(out (T, B, H), y_T, z_T)``, a
    masked step keeping the state and outputting zero: equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return CoRNNFunction.apply(u, y0, z0, W, float(dt), float(gamma), float(epsilon), mask)
