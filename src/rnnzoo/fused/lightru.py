r"""Fused recurrence of the light recurrent unit (:class:`rnnzoo.cells.LightRUCell`), forward and a hand-written
backward::

    hc_t = tanh(uh_t)                                  # u = project(x): [W_h x, W_f x + b_f]
    f_t  = sigmoid(uf_t + h_{t-1} @ U_f.T)
    h_t  = (1 - f_t) * h_{t-1} + f_t * hc_t            # torch.lerp(h_{t-1}, hc_t, f_t)

Forward: per step ``hc_t`` into ``HC[t]`` (tanh as :func:`rnnzoo.fused._common.tanh_into`'s ``2 * sigmoid(2x) - 1``,
about twice as fast as ``aten::tanh`` here), one ``addmm`` into the gate buffer, an in-place sigmoid and one ``lerp``
into the state buffer ``Hs (T+1, B, H)``. A masked step (mask False) gets ``f = 0``: the
state is kept exactly (``lerp(h, hc, 0) = h``), its output is zero.

Backward, ``g`` the cotangent of ``h_t``: the input-only factors of ``du`` for all steps at once before the loop,
written into ``du (T, B, 2H)`` itself::

    du[uh] = f (1 - hc^2),   du[uf] = (hc - h_{t-1}) f (1 - f)           (zero at masked steps: f = 0)

then per step ``du_t *= g`` (both blocks, one broadcast multiply) and ``g_{t-1} = gout_{t-1} + g (1 - f) +
du_t[uf] @ U_f``; ``dU_f`` is one product over all steps after the loop. The cell's step loop is the reference
twin: ``tests/fused/test_lightru_function.py`` and the model contract suite hold the two equal in outputs and float64
gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class LightRUFunction(torch.autograd.Function):
    """``(u (T, B, 2H), U (H, H), h0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T (B, H))``; T >= 1."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, U: Tensor, h0: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Ut = StepProduct(U, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        HC = buffer(u, (T, B, H))
        F = buffer(u, (T, B, H))
        Hs = buffer(u, (T + 1, B, H))
        Hs[0] = h0
        us, hcs, fs, hs = u.unbind(0), HC.unbind(0), F.unbind(0), Hs.unbind(0)
        keep = None if mask is None else mask.logical_not().unsqueeze(-1)
        k = tanh_constants(h0)
        for t in range(T):
            tanh_into(us[t][:, :H], hcs[t], k)
            f = Ut.addmm_into(us[t][:, H:], hs[t], fs[t])
            f.sigmoid_()
            if keep is not None:
                f.masked_fill_(keep[t], 0.0)
            torch.lerp(hs[t], hcs[t], f, out=hs[t + 1])
        out = Hs[1:].clone() if keep is None else Hs[1:].masked_fill(keep, 0.0)
        ctx.has_mask = mask is not None
        ctx.save_for_backward(U, HC, F, Hs, mask if mask is not None else buffer(u, 0))
        return out, Hs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Tensor | None, ...]:
        U, HC, F, Hs, mask = ctx.saved_tensors
        T, B, H = F.shape
        if ctx.has_mask:
            g_out = g_out * mask.unsqueeze(-1)
        du = buffer(g_out, (T, B, 2 * H))
        dh, df = du[..., :H], du[..., H:]
        torch.addcmul(torch.ones((), dtype=HC.dtype, device=HC.device), HC, HC, value=-1.0, out=dh)
        dh.mul_(F)  # f (1 - hc^2)
        torch.sub(HC, Hs[:-1], out=df)
        df.mul_(F)
        df.addcmul_(df, F, value=-1.0)  # (hc - h) f (1 - f)
        dus, fs, gouts = du.view(T, B, 2, H).unbind(0), F.unbind(0), g_out.unbind(0)
        g = g_out[T - 1] + g_h
        for t in range(T - 1, -1, -1):
            dus[t].mul_(g.unsqueeze(1))
            gn = torch.addcmul(gouts[t - 1], g, fs[t], value=-1.0) if t else torch.mul(g, fs[t]).neg_()
            gn.add_(g)  # + g (1 - f)
            g = gn.addmm_(dus[t][:, 1], U)
        dU = df.flatten(0, 1).t() @ Hs[:-1].flatten(0, 1)
        return du, dU, g, None


def lightru_recurrence(u: Tensor, U: Tensor, h0: Tensor, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run LightRU over ``u (T, B, 2H)`` (``project`` of the time-major input) with ``U = weight_hh (H, H)`` from
    ``h0 (B, H)``; ``mask (T, B)`` True = valid step. Returns ``(out (T, B, H), h_T (B, H))``, equal to the step
    loop's; ``T >= 1``."""
    if u.shape[0] == 0:
        raise ValueError("lightru_recurrence: T must be >= 1")
    check_mask(mask, u.shape[0], u.shape[1])
    return LightRUFunction.apply(u, U, h0, mask)
