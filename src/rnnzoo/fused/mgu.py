r"""Fused recurrence of the minimal gated unit (:class:`rnnzoo.cells.MGUCell`), forward and a hand-written backward::

    f_t  = sigmoid(uf_t + h_{t-1} @ U_f.T)          # u = project(x): [W_f x + b_f, W_h x + b_h]
    c_t  = tanh(uh_t + (f_t * h_{t-1}) @ U_h.T)
    h_t  = (1 - f_t) * h_{t-1} + f_t * c_t

Forward: the loop with raw tensor operations (no autograd graph per step), keeping ``h``, ``f`` and ``c`` of every step.
Backward, per step (``g`` the cotangent of ``h_t``, zero on masked rows)::

    da_h = g * f * (1 - c^2)
    dm   = da_h @ U_h                                # the cotangent of f * h_{t-1}
    da_f = (g * (c - h) + dm * h) * f * (1 - f)
    dh   = g * (1 - f) + dm * f + da_f @ U_f

with ``(1 - c^2)``, ``f (1 - f)``, ``1 - f`` and ``c - h`` computed for all steps at once before the loop, and the
weight gradients as two products over all steps after it. The cell's step loop is the reference twin: the model
contract suite holds the two equal in outputs and float64 gradients (masked, bidirectional, every wrapper).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask


class MGUFunction(torch.autograd.Function):
    """``(u (T, B, 2H), W (2H, H), h0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        H = h0.shape[-1]
        Uf_t, Uh_t = W[:H].t(), W[H:].t()
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        h = h0
        hs, fs, cs, outs = [h0], [], [], []
        for t, u_t in enumerate(u.unbind(0)):
            uf, uh = u_t.split(H, -1)
            f = torch.sigmoid(torch.addmm(uf, h, Uf_t))
            c = torch.tanh(torch.addmm(uh, f * h, Uh_t))
            new = torch.lerp(h, c, f)
            if ms is not None:
                new = torch.where(ms[t], new, h)
                outs.append(new * ms[t])
            else:
                outs.append(new)
            fs.append(f)
            cs.append(c)
            hs.append(new)
            h = new
        out = torch.stack(outs) if outs else u.new_zeros((0, *h0.shape))
        empty = u.new_zeros((0, *h0.shape))
        ctx.save_for_backward(W, torch.stack(hs), torch.stack(fs) if fs else empty, torch.stack(cs) if cs else empty,
                              mask if mask is not None else u.new_empty(0))
        ctx.has_mask = mask is not None
        return out, h

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_h: Tensor | None) -> tuple[Any, ...]:
        W, hs, fs, cs, mask = ctx.saved_tensors
        mask = mask if ctx.has_mask else None
        T, B, H = fs.shape[0], hs.shape[1], hs.shape[2]
        Uf, Uh = W[:H], W[H:]
        prev = hs[:-1]  # h_{t-1}, (T, B, H)
        dtanh = 1 - cs * cs
        dsig = fs * (1 - fs)
        keep = 1 - fs
        c_minus_h = cs - prev
        g = g_h if g_h is not None else hs.new_zeros((B, H))
        m_t = mask.unsqueeze(2).unbind(0) if mask is not None else None
        daf_list: list[Tensor] = []
        dah_list: list[Tensor] = []
        for t in range(T - 1, -1, -1):
            if g_out is not None:
                g = g + g_out[t] * m_t[t] if m_t is not None else g + g_out[t]
            gt = g * m_t[t] if m_t is not None else g
            f, h = fs[t], prev[t]
            dah = gt * f * dtanh[t]
            dm = dah @ Uh
            daf = torch.addcmul(gt * c_minus_h[t], dm, h) * dsig[t]
            dh = torch.addmm(torch.addcmul(gt * keep[t], dm, f), daf, Uf)
            g = torch.where(m_t[t], dh, g) if m_t is not None else dh
            daf_list.append(daf)
            dah_list.append(dah)
        if T:
            daf_all, dah_all = torch.stack(daf_list[::-1]), torch.stack(dah_list[::-1])
            du = torch.cat([daf_all, dah_all], -1)
            flat_prev = prev.reshape(T * B, H)
            dW = torch.cat([daf_all.reshape(T * B, H).t() @ flat_prev,
                            dah_all.reshape(T * B, H).t() @ (fs.reshape(T * B, H) * flat_prev)])
        else:
            du, dW = hs.new_zeros((0, B, 2 * H)), torch.zeros_like(W)
        return du, dW, g, None


def mgu_recurrence(u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run MGU over ``u (T, B, 2H)`` (``project`` of the time-major input) with ``W = weight_hh (2H, H)`` from
    ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs zero). Returns
    ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return MGUFunction.apply(u, W, h0, mask)
