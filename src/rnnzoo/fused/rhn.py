r"""Fused recurrent highway network (:class:`~rnnzoo.cells.rhn.RHNCell`, Zilly et al. 2017, arXiv:1607.03474)::

    s_0 = s_{t-1}
    for l = 1..L:   pre_l = [u_t if l = 1 else b_l] + R_l s_{l-1}      # R_l = weight_hh rows of micro-layer l
                    h_l = tanh(pre_l[H]), t_l = sigmoid(pre_l[T]), c_l = 1 - t_l or sigmoid(pre_l[C])
                    s_l = h_l * t_l + s_{l-1} * c_l
    s_t = s_L

Masked steps keep s and output zero. Forward: L products per step, no autograd graph; every micro-layer's
input and gates are kept. Backward, per step and micro-layer from the last: ``ds_{l-1} = ds_l * c_l +
dpre_l @ R_l`` with ``dpre_l = [ds_l t_l (1 - h_l^2), ds_l (h_l - s_{l-1}) t_l (1 - t_l)]`` (coupled; uncoupled
``ds_l h_l t_l (1 - t_l)`` and ``ds_l s_{l-1} c_l (1 - c_l)``); the weight and bias gradients are one product
(one sum) per micro-layer over all steps.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class RHNFunction(torch.autograd.Function):
    """``(u, s0, weight_hh, bias, mask, depth, coupled) -> (out, s_T)``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, s0: Tensor, weight_hh: Tensor, bias: Tensor, mask: Tensor | None,
                depth: int, coupled: bool) -> tuple[Tensor, Tensor]:
        T, B, GH = u.shape
        H = s0.shape[1]
        # every micro-layer's state in order: S[t*depth + l] is micro-layer l's input at step t, written in place
        S = buffer(u, (T * depth + 1, B, H))
        S[0] = s0
        A = buffer(u, (T, depth, B, GH))  # each micro-layer's activations [h, t(, c)]
        ws = [StepProduct(weight_hh[i * GH:(i + 1) * GH], B) for i in range(depth)]  # faster form (fused.products)
        bs = [bias[i * GH:(i + 1) * GH] for i in range(depth)]
        ss = S.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        k = 0
        for t in range(T):
            for layer in range(depth):
                s, nxt, a = ss[k], ss[k + 1], A[t, layer]
                ws[layer].addmm_into(u[t] if layer == 0 else bs[layer], s, a)
                a[:, :H].tanh_()
                a[:, H:].sigmoid_()
                h, tg = a[:, :H], a[:, H:2 * H]
                if coupled:
                    torch.lerp(s, h, tg, out=nxt)
                else:
                    torch.mul(h, tg, out=nxt).addcmul_(s, a[:, 2 * H:])
                k += 1
            if ms is not None:
                torch.where(ms[t], ss[k], ss[k - depth], out=ss[k])
        out = S[depth::depth]
        out = out * mask.unsqueeze(2).to(out.dtype) if mask is not None else out.clone()
        ctx.save_for_backward(S, A, weight_hh, mask)
        ctx.coupled = coupled
        return out, S[T * depth].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor, gs: Tensor) -> tuple[Tensor | None, ...]:
        S, A, weight_hh, mask = ctx.saved_tensors
        T, depth, B, GH = A.shape
        H = S.shape[2]
        # a masked step's last micro-layer state was overwritten by the frozen state: its gradients are masked
        # out below, and every other micro-layer's input is as computed
        G = GH // H
        inputs = S[:T * depth].view(T, depth, B, H)
        # every micro-layer's local derivatives at once: dpre = F * ds_l (per gate block), ds_{l-1} = ds_l * C + dpre R
        h, tg = A[..., :H], A[..., H:2 * H]
        F = torch.empty_like(A).view(T, depth, B, G, H)
        dsig_t = tg * (1 - tg)
        torch.mul(tg, 1 - h * h, out=F[..., 0, :])
        if ctx.coupled:
            torch.mul(h - inputs, dsig_t, out=F[..., 1, :])
            C = 1 - tg
        else:
            c = A[..., 2 * H:]
            torch.mul(h, dsig_t, out=F[..., 1, :])
            torch.mul(inputs, c * (1 - c), out=F[..., 2, :])
            C = c
        del dsig_t
        ws = [weight_hh[i * GH:(i + 1) * GH] for i in range(depth)]
        dP = torch.empty_like(A)
        dPv = dP.view(T, depth, B, G, H)
        mf = mask.unsqueeze(2).to(gout.dtype) if mask is not None else None
        ds = gs
        for t in range(T - 1, -1, -1):
            total = ds + (gout[t] if mf is None else gout[t] * mf[t])
            d = total if mf is None else total * mf[t]
            for layer in range(depth - 1, -1, -1):
                torch.mul(F[t, layer], d.unsqueeze(1), out=dPv[t, layer])
                d = torch.addmm(d * C[t, layer], dP[t, layer], ws[layer])
            ds = d if mf is None else d + total * (1 - mf[t])
        du = dP[:, 0].clone()
        d_w = d_b = None
        if ctx.needs_input_grad[2]:
            d_w = torch.cat([dP[:, i].reshape(T * B, GH).t() @ inputs[:, i].reshape(T * B, H) for i in range(depth)],
                            0)
        if ctx.needs_input_grad[3]:
            d_b = torch.cat([torch.zeros_like(dP[0, 0, 0]), *(dP[:, i].sum((0, 1)) for i in range(1, depth))], 0)
        return du, ds, d_w, d_b, None, None, None


def rhn_recurrence(u: Tensor, s0: Tensor, weight_hh: Tensor, bias: Tensor, *, depth: int, coupled: bool = True,
                   mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run an RHN layer over all steps with the fused Function.

    Args:
        u: ``(T, B, G*H)`` time-major input projections ``W x_t + b_1`` (G = 2 coupled, 3 uncoupled).
        s0: ``(B, H)``. weight_hh: ``(depth*G*H, H)``, micro-layer l's ``R_l`` in rows ``[l*G*H, (l+1)*G*H)``.
        bias: ``(depth*G*H,)``; micro-layer l > 1 adds its rows (micro-layer 1's bias is in ``u``).
        depth: L. coupled: ``c = 1 - t``. mask: ``(T, B)`` boolean, True = valid step.

    Returns:
        ``(out (T, B, H), s_T (B, H))``.
    """
    check_mask(mask, u.shape[0], u.shape[1])
    return RHNFunction.apply(u.contiguous(), s0, weight_hh, bias, mask, depth, coupled)
