r"""Fused recurrence of the light GRU (:class:`rnnzoo.cells.LiGRUCell`), forward and a hand-written backward::

    z_t  = sigmoid(uz_t + h_{t-1} @ U_z.T)           # u = project(x): [BN(W_z x), BN(W_h x)] (or + bias)
    hc_t = act(uh_t + h_{t-1} @ U_h.T)               # act: relu (the paper's) or tanh
    h_t  = z_t * h_{t-1} + (1 - z_t) * hc_t          # torch.lerp(hc_t, h_{t-1}, z_t)

Forward: per step one ``addmm`` of ``[U_z; U_h]`` into the gate buffer ``A (T, B, 2H)``, the two activations in
place (a tanh as :func:`rnnzoo.fused._common.tanh_into`'s ``2 * sigmoid(2x) - 1``, about twice as fast as
``aten::tanh`` here), one ``lerp`` into the state buffer ``Hs (T+1, B, H)``. A masked step (mask False) gets
``z = 1``: the state is kept exactly (``lerp(hc, h, 1) = h``), its output is zero.

Backward, ``g`` the cotangent of ``h_t``: the input-only factors of ``du`` for all steps at once before the loop,
written into ``du (T, B, 2H)`` itself::

    du[uz] = (h_{t-1} - hc) z (1 - z),   du[uh] = (1 - z) act'(hc)     (relu: [hc > 0]; tanh: 1 - hc^2)

(zero at masked steps: z = 1), then per step ``du_t *= g`` (both blocks, one broadcast multiply) and
``g_{t-1} = gout_{t-1} + g z + du_t @ [U_z; U_h]``; the recurrent weight's gradient is one product over all steps
after the loop. The cell's step loop is the reference twin: ``tests/fused/test_ligru_function.py`` and the model
contract suite hold the two equal in outputs and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class LiGRUFunction(torch.autograd.Function):
    """``(u (T, B, 2H), U (2H, H), h0 (B, H), mask (T, B) or None, relu: bool) -> (out (T, B, H), h_T (B, H))``;
    T >= 1."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, U: Tensor, h0: Tensor, mask: Tensor | None, relu: bool
                ) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Ut = StepProduct(U, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        A = buffer(u, (T, B, 2 * H))
        Hs = buffer(u, (T + 1, B, H))
        Hs[0] = h0
        us, As, hs = u.unbind(0), A.unbind(0), Hs.unbind(0)
        keep = None if mask is None else mask.logical_not().unsqueeze(-1)
        k = None if relu else tanh_constants(h0)
        for t in range(T):
            a = Ut.addmm_into(us[t], hs[t], As[t])
            z, hc = a[:, :H], a[:, H:]
            z.sigmoid_()
            if relu:
                hc.relu_()
            else:
                tanh_into(hc, hc, k)
            if keep is not None:
                z.masked_fill_(keep[t], 1.0)
            torch.lerp(hc, hs[t], z, out=hs[t + 1])
        out = Hs[1:].clone() if keep is None else Hs[1:].masked_fill(keep, 0.0)
        ctx.has_mask, ctx.relu = mask is not None, relu
        ctx.save_for_backward(U, A, Hs, mask if mask is not None else buffer(u, 0))
        return out, Hs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Tensor | None, ...]:
        U, A, Hs, mask = ctx.saved_tensors
        T, B, H2 = A.shape
        H = H2 // 2
        if ctx.has_mask:
            g_out = g_out * mask.unsqueeze(-1)
        Z, HC = A[..., :H], A[..., H:]
        du = buffer(g_out, (T, B, 2 * H))
        dz, dv = du[..., :H], du[..., H:]
        torch.sub(Hs[:-1], HC, out=dz)
        dz.mul_(Z)
        dz.addcmul_(dz, Z, value=-1.0)  # (h - hc) z (1 - z)
        if ctx.relu:
            torch.sign(HC, out=dv)  # relu'(v) = [hc > 0] = sign(hc), hc >= 0 (no boolean temporary)
            dv.addcmul_(dv, Z, value=-1.0)  # [hc > 0] (1 - z)
        else:
            torch.addcmul(torch.ones((), dtype=HC.dtype, device=HC.device), HC, HC, value=-1.0, out=dv)
            dv.addcmul_(dv, Z, value=-1.0)  # (1 - hc^2) (1 - z)
        dus, zs, gouts = du.view(T, B, 2, H).unbind(0), Z.unbind(0), g_out.unbind(0)
        g = g_out[T - 1] + g_h
        for t in range(T - 1, -1, -1):
            dus[t].mul_(g.unsqueeze(1))
            gn = torch.addcmul(gouts[t - 1], g, zs[t]) if t else g * zs[t]
            g = gn.addmm_(dus[t].view(B, 2 * H), U)
        dU = du.flatten(0, 1).t() @ Hs[:-1].flatten(0, 1)
        return du, dU, g, None, None


def ligru_recurrence(u: Tensor, U: Tensor, h0: Tensor, mask: Tensor | None = None, *, activation: str = "relu"
                     ) -> tuple[Tensor, Tensor]:
    """Run Li-GRU over ``u (T, B, 2H)`` (``project`` of the time-major input) with ``U = weight_hh (2H, H)`` from
    ``h0 (B, H)``; ``mask (T, B)`` True = valid step; ``activation`` the candidate's ("relu" or "tanh"). Returns
    ``(out (T, B, H), h_T (B, H))``, equal to the step loop's; ``T >= 1``."""
    if u.shape[0] == 0:
        raise ValueError("ligru_recurrence: T must be >= 1")
    if activation not in ("relu", "tanh"):
        raise ValueError(f"activation: expected 'relu' or 'tanh', got {activation!r}")
    check_mask(mask, u.shape[0], u.shape[1])
    return LiGRUFunction.apply(u, U, h0, mask, activation == "relu")
