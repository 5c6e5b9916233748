r"""Fused recurrence of the three GRU mutations MUT1, MUT2 and MUT3 (:mod:`rnnzoo.cells.mut`), one autograd
Function for the whole sequence with a hand-written backward::

    u_t = [uz, ur, uh]                          # project(x): the input terms with their biases, (B, 3H)
    z   = sigmoid(uz)                           MUT1 (input only: all steps at once before the loop)
          sigmoid(uz + h_{t-1} @ W_hz.T)        MUT2
          sigmoid(uz + tanh(h_{t-1}) @ W_hz.T)  MUT3
    r   = sigmoid(ur + h_{t-1} @ W_hr.T)        (MUT2: z and r in one product with weight_hg = [W_hz; W_hr])
    c   = tanh(uh + (r * h_{t-1}) @ W_hh.T)
    h_t = h_{t-1} + z * (c - h_{t-1})

Forward: the loop with raw tensor operations written into buffers allocated once (no autograd graph per step),
keeping ``h``, ``z``, ``r``, ``r * h``, ``c`` (and MUT3's ``tanh(h)``) of every step; its tanh is
:func:`~rnnzoo.fused._common.tanh_into`'s ``2 sigmoid(2x) - 1`` (aten's tanh is several times slower on these
CPUs). Backward, per step back in time (``g`` the cotangent of ``h_t``, zero on masked rows), each gate cotangent
written straight into its block of ONE ``du (T, B, 3H)``::

    dc  = g * z * (1 - c^2)                     # du's h block
    dm  = dc @ W_hh                             # the cotangent of r * h_{t-1}
    dz  = g * (c - h) * z (1 - z)               # du's z block
    dr  = dm * h * r (1 - r)                    # du's r block
    dh  = g * (1 - z) + dm * r + dr @ W_hr
          (+ dz @ W_hz  MUT2;  + (dz @ W_hz) * (1 - tanh(h)^2)  MUT3)

then every weight gradient as ONE product over all steps: ``dW_hh = dc^T (r * h)``, ``dW_hr = dr^T h``,
``dW_hz = dz^T h`` (MUT2) or ``dz^T tanh(h)`` (MUT3). A masked step (mask False) keeps ``h``, outputs zero and
passes its gradient through unchanged. The cells' step loop is the reference twin: tests/fused/test_mut_function.py
and the model contract suite hold the two equal in outputs and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class MUTFunction(torch.autograd.Function):
    """``(u (T, B, 3H), W_hg (G*H, H), W_hh (H, H), h0 (B, H), variant 1|2|3, mask (T, B) or None)
    -> (out (T, B, H), h_T (B, H))``; ``W_hg`` is ``W_hr`` (MUT1, G = 1) or ``[W_hz; W_hr]`` (MUT2, MUT3)."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, Whg: Tensor, Whh: Tensor, h0: Tensor, variant: int, mask: Tensor | None
                ) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Hs = buffer(u, (T + 1, B, H))
        Hs[0] = h0
        ZR = buffer(u, (T, B, 2 * H))  # activated z, r (MUT2 writes both with one product)
        RH = buffer(u, (T, B, H))  # r * h_{t-1}
        C = buffer(u, (T, B, H))  # the candidate
        TH = buffer(u, (T, B, H)) if variant == 3 else None  # tanh(h_{t-1})
        uz, ur, uc = (b.unbind(0) for b in u.split(H, -1))
        hs, zrs, rhs, cs = Hs.unbind(0), ZR.unbind(0), RH.unbind(0), C.unbind(0)
        zs, rs = ZR[..., :H].unbind(0), ZR[..., H:].unbind(0)
        uzr = u[..., :2 * H].unbind(0) if variant == 2 else None
        ths = TH.unbind(0) if TH is not None else None
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        Whh_t, Whg_t = StepProduct(Whh, B), StepProduct(Whg, B)  # faster form (fused.products)
        Whz_t, Whr_t = (StepProduct(Whg[:H], B), StepProduct(Whg[H:], B)) if variant == 3 else (None, Whg_t)
        const = tanh_constants(hs[0])
        if variant == 1:
            torch.sigmoid(u[..., :H], out=ZR[..., :H])  # z reads the input only: all steps at once
        for t in range(T):
            h, nxt, z, r, c = hs[t], hs[t + 1], zs[t], rs[t], cs[t]
            if variant == 1:
                Whr_t.addmm_into(ur[t], h, r).sigmoid_()
            elif variant == 2:
                Whg_t.addmm_into(uzr[t], h, zrs[t]).sigmoid_()
            else:
                th = tanh_into(h, ths[t], const)
                Whz_t.addmm_into(uz[t], th, z)
                Whr_t.addmm_into(ur[t], h, r)
                zrs[t].sigmoid_()
            Whh_t.addmm_into(uc[t], torch.mul(r, h, out=rhs[t]), c)
            tanh_into(c, c, const)
            torch.lerp(h, c, z, out=nxt)
            if ms is not None:
                torch.where(ms[t], nxt, h, out=nxt)
        ctx.save_for_backward(mask, Whg, Whh, Hs, ZR, RH, C, TH)
        ctx.variant = variant
        out = Hs[1:].clone() if mask is None else Hs[1:] * mask.unsqueeze(2)
        return out, Hs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_h: Tensor | None) -> tuple[Any, ...]:
        mask, Whg, Whh, Hs, ZR, RH, C, TH = ctx.saved_tensors
        variant = ctx.variant
        T, B, H = C.shape
        Whz, Whr = (Whg[:H], Whg[H:]) if variant == 3 else (None, Whg)
        du = buffer(C, (T, B, 3 * H))
        dzs, drs, dcs = (b.unbind(0) for b in du.split(H, -1))
        dzrs = du[..., :2 * H].unbind(0) if variant == 2 else None
        hs, cs = Hs.unbind(0), C.unbind(0)
        zs, rs = ZR[..., :H].unbind(0), ZR[..., H:].unbind(0)
        gos = g_out.unbind(0) if g_out is not None else None
        ths = TH.unbind(0) if TH is not None else None
        mf = mask.unsqueeze(2).to(C.dtype).unbind(0) if mask is not None else None
        mb = mask.unsqueeze(2).unbind(0) if mask is not None else None
        g = g_h if g_h is not None else C.new_zeros((B, H))
        for t in range(T - 1, -1, -1):
            if gos is not None:
                g = g + (gos[t] if mf is None else gos[t] * mf[t])
            gt = g if mf is None else g * mf[t]
            h, c, z, r, dz, dr, dc = hs[t], cs[t], zs[t], rs[t], dzs[t], drs[t], dcs[t]
            gz = gt * z
            torch.addcmul(gz, gz, torch.mul(c, c, out=dc), value=-1.0, out=dc)  # g z (1 - c^2)
            dm = dc @ Whh
            torch.sub(c, h, out=dz).mul_(gt).mul_(torch.addcmul(z, z, z, value=-1.0))  # z (1 - z)
            torch.mul(dm, h, out=dr).mul_(torch.addcmul(r, r, r, value=-1.0))
            dh = (gt - gz).addcmul_(dm, r)
            if variant == 2:
                dh.addmm_(dzrs[t], Whg)
            else:
                dh.addmm_(dr, Whr)
                if variant == 3:
                    th = ths[t]
                    dth = dz @ Whz
                    dh.add_(dth).addcmul_(dth, th * th, value=-1.0)  # + dth * (1 - tanh(h)^2)
            g = dh if mb is None else torch.where(mb[t], dh, g)
        prev = Hs[:-1].flatten(0, 1)
        dWhh = du[..., 2 * H:].flatten(0, 1).t() @ RH.flatten(0, 1)
        if variant == 1:
            dWhg = du[..., H:2 * H].flatten(0, 1).t() @ prev
        elif variant == 2:
            dWhg = du[..., :2 * H].flatten(0, 1).t() @ prev
        else:
            dWhg = torch.cat([du[..., :H].flatten(0, 1).t() @ TH.flatten(0, 1),
                              du[..., H:2 * H].flatten(0, 1).t() @ prev])
        return du, dWhg, dWhh, g, None, None


def mut_recurrence(u: Tensor, weight_hg: Tensor, weight_hh: Tensor, h0: Tensor, variant: int,
                   mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run MUT``variant`` (1, 2 or 3) over ``u (T, B, 3H)`` (the cell's ``project`` of the time-major input) from
    ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs zero). Returns
    ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    if variant not in (1, 2, 3):
        raise ValueError(f"variant: expected 1, 2 or 3, got {variant!r}")
    check_mask(mask, u.shape[0], u.shape[1])
    return MUTFunction.apply(u, weight_hg, weight_hh, h0, variant, mask)
