r"""coRNN's whole sequence in one autograd Function with a hand-written backward
(:class:`~rnnzoo.cells.cornn.CoRNNCell`, arXiv:2010.00951 eq (3) solved for z_t)::

    s_t = tanh(u_t + [y_{t-1}, z_{t-1}] W^T)
    z_t = c z_{t-1} + k (s_t - gamma y_{t-1});  y_t = y_{t-1} + dt z_t,    c = 1 / (1 + dt eps), k = c dt

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step): the
state ``[y_t, z_t]`` into ``YZ[t + 1]`` of one ``(T + 1, B, 2H)`` buffer (``YZ[0] = [y0, z0]``), so the product reads
the previous step's block as it is (no ``cat``); ``k s_t`` into ``KS[t]`` (``u`` copied in once for all steps, then
``addmm`` onto it and tanh as ``k (2 sigmoid(2x) - 1)`` in place); ``z_t = k s_t + c z_{t-1} - k gamma y_{t-1}``,
``y_t = y_{t-1} + dt z_t``.
Backward, with ``d = k (1 - s^2)`` for all steps at once, per step (``gy``, ``gz``: the cotangents of y_t, z_t; a
masked step passes them through)::

    gz_t = gz + dt gy;   ga = gz_t d_t  -> du[t];   [gy', gz'] = [gy - k gamma gz_t, c gz_t] + ga W

the cotangent pair kept as one ``(B, 2H)`` tensor, and ``dW = sum_t ga_t^T [y_{t-1}, z_{t-1}]`` as one product over
all steps (``du`` against ``YZ[:-1]``). No derivative tables. The cell's step loop is the reference twin;
``tests/fused/test_two_field_functions.py`` and ``tests/cells/test_cornn.py`` hold the two equal in values and float64
gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class CoRNNFunction(torch.autograd.Function):
    """``(u, y0, z0, W, dt, gamma, epsilon, mask) -> (out, y_T, z_T)``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, y0: Tensor, z0: Tensor, W: Tensor, dt: float, gamma: float, epsilon: float,
                mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], y0.shape[-1]
        c = 1.0 / (1.0 + dt * epsilon)
        k = c * dt
        w_t = StepProduct(W, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        YZ = buffer(u, (T + 1, B, 2 * H))  # [y_t, z_t], t = 0 .. T
        KS = u.clone(memory_format=torch.contiguous_format)  # u_t, then k s_t: one copy, not one per step
        YZ[0, :, :H], YZ[0, :, H:] = y0, z0
        yzs, kss = YZ.unbind(0), KS.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        ktanh = (torch.full_like(y0, -k), torch.full_like(y0, 2 * k))  # tanh_into's constants, scaled by k
        for t in range(T):
            yz, new, ks = yzs[t], yzs[t + 1], kss[t]
            tanh_into(w_t.addmm_into(ks, yz, ks), ks, ktanh)  # out=: FlopCounterMode sees it
            z = torch.add(ks, yz[:, H:], alpha=c, out=new[:, H:]).add_(yz[:, :H], alpha=-k * gamma)
            torch.add(yz[:, :H], z, alpha=dt, out=new[:, :H])
            if ms is not None:
                torch.where(ms[t], new, yz, out=new)
        out = YZ[1:, :, :H] * mask.unsqueeze(2) if mask is not None else YZ[1:, :, :H].clone()
        ctx.consts, ctx.has_mask = (dt, gamma, c), mask is not None
        ctx.save_for_backward(YZ, KS, W, mask if mask is not None else buffer(u, 0))
        return out, YZ[-1, :, :H].clone(), YZ[-1, :, H:].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_y: Tensor, g_z: Tensor) -> tuple[Tensor | None, ...]:
        YZ, KS, W, mask = ctx.saved_tensors
        dt, gamma, c = ctx.consts
        k = c * dt
        T, B, H = KS.shape
        D = torch.addcmul(torch.full_like(KS, k), KS, KS, value=-1.0 / k)  # k (1 - s^2)
        GA = buffer(KS, KS.shape)
        gos, ds, gas = g_out.unbind(0), D.unbind(0), GA.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        G = torch.cat([g_y, g_z], 1)  # [gy, gz]
        for t in range(T - 1, -1, -1):
            gy = G[:, :H] + gos[t] if ms is None else torch.addcmul(G[:, :H], gos[t], ms[t])
            gz_t = torch.add(G[:, H:], gy, alpha=dt)  # the cotangent of z_t once y_t = y_{t-1} + dt z_t is taken
            ga = torch.mul(gz_t, ds[t], out=gas[t])
            if ms is not None:
                ga.mul_(ms[t])
            back = buffer(G, (B, 2 * H))
            torch.add(gy, gz_t, alpha=-k * gamma, out=back[:, :H])
            torch.mul(gz_t, c, out=back[:, H:])
            torch.addmm(back, ga, W, out=back)
            if ms is not None:  # a masked row passes [gy, gz] through (its gy is G's: g_out is zero there)
                torch.where(ms[t], back, G, out=back)
            G = back
        gW = None
        if ctx.needs_input_grad[3]:
            gW = torch.mm(GA.flatten(0, 1).t(), YZ[:-1].flatten(0, 1))
        return GA, G[:, :H], G[:, H:], gW, None, None, None, None


def cornn_recurrence(u: Tensor, y0: Tensor, z0: Tensor, W: Tensor, dt: float, gamma: float, epsilon: float,
                     mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """coRNN over ``u (T, B, H)`` (the projected inputs ``V x + b``, time-major) from ``(y0, z0)`` (B, H) with
    ``W = [W, Wz]`` (H, 2H); ``mask (T, B)`` booleans, True = valid step. Returns ``(out (T, B, H), y_T, z_T)``, a
    masked step keeping the state and outputting zero: equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return CoRNNFunction.apply(u, y0, z0, W, float(dt), float(gamma), float(epsilon), mask)
