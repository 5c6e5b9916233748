r"""Fused SRU recurrence (Lei et al. 2018, arXiv:1709.02755): only elementwise operations in time.

With ``u_t = [z_t, uf_t, ur_t (, xp_t)]`` the input projections of step t (all steps at once, one
matrix product outside this Function), ``v = [v_f; v_r]`` and ``b = [b_f; b_r]``::

    f_t = sigmoid(uf_t + v_f * c_{t-1} + b_f)
    r_t = sigmoid(ur_t + v_r * c_{t-1} + b_r)
    c_t = f_t * c_{t-1} + (1 - f_t) * z_t = lerp(z_t, c_{t-1}, f_t)
    h_t = r_t * c_t + (1 - r_t) * xp_t    = lerp(xp_t, c_t, r_t)

``xp_t`` (the highway term) is ``u``'s fourth block when ``u`` has ``4H`` columns, else
``scale * skip_t`` (the input itself, SRU's scaled highway), else zero. Masked steps keep c and output zero.

Forward: only ``f`` and ``c`` are sequential, three kernels per step (``addcmul``, ``sigmoid_``,
``lerp``) into preallocated buffers; ``r`` and ``h`` depend on ``c_{t-1}``, ``c_t`` only, so they are
computed for all steps at once after the loop. Backward: the gradient reaching ``c_t`` obeys the linear
recurrence ``D_t = K_t + A_{t+1} * D_{t+1}`` with ``A_t = dc_t/dc_{t-1} = f_t + (c_{t-1} - z_t) f_t (1 - f_t) v_f``
and ``K_t = dh_t r_t + dr~_{t+1} v_r`` (``dr~`` the reset gate's preactivation gradient, which does not
depend on D): one ``addcmul`` per step; every other gradient is computed for all steps at once.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask
from rnnzoo.fused.workspace import buffer


class SRUFunction(torch.autograd.Function):
    """``(u, c0, weight_c, bias, mask, skip, scale) -> (h (T, B, H), c_T (B, H))``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, c0: Tensor, weight_c: Tensor, bias: Tensor, mask: Tensor | None,
                skip: Tensor | None, scale: float) -> tuple[Tensor, Tensor]:
        T, H = u.shape[0], c0.shape[-1]
        blocks = u.shape[-1] // H
        z, uf, ur = u[..., :H], u[..., H:2 * H], u[..., 2 * H:3 * H]
        if blocks == 4:
            xp = u[..., 3 * H:]
        elif skip is not None:
            xp = skip * scale
        else:
            xp = u.new_zeros(())
        v_f, v_r = weight_c[0], weight_c[1]
        ufb = uf + bias[0]  # (T, B, H), the forget gate's input part for all steps
        C = buffer(u, (T + 1, *c0.shape))
        C[0] = c0
        F = torch.empty_like(ufb)
        cs, fs, zs, us = C.unbind(0), F.unbind(0), z.unbind(0), ufb.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        for t in range(T):
            torch.addcmul(us[t], v_f, cs[t], out=fs[t]).sigmoid_()
            torch.lerp(zs[t], cs[t], fs[t], out=cs[t + 1])
            if ms is not None:
                torch.where(ms[t], cs[t + 1], cs[t], out=cs[t + 1])
        c_prev, c_new = C[:-1], C[1:]
        R = torch.addcmul(ur + bias[1], v_r, c_prev).sigmoid_()
        h = torch.lerp(xp.expand_as(c_new), c_new, R)
        mf = mask.unsqueeze(2).to(u.dtype) if mask is not None else None
        if mf is not None:
            h = h * mf
        if any(ctx.needs_input_grad):
            G = (c_prev - z) * F * (1 - F)  # dc_t/df~_t (f~ the forget gate's preactivation)
            E = (c_new - xp) * R * (1 - R)  # dh_t/dr~_t
            ctx.save_for_backward(c_prev, F, G, R, E, weight_c, mask)
        ctx.blocks, ctx.has_skip, ctx.scale = blocks, skip is not None, scale
        return h, C[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gh: Tensor, gc: Tensor) -> tuple[Tensor | None, ...]:
        c_prev, F, G, R, E, weight_c, mask = ctx.saved_tensors
        T = gh.shape[0]
        v_f, v_r = weight_c[0], weight_c[1]
        A = torch.addcmul(F, G, v_f)  # dc_t/dc_{t-1}
        if mask is not None:
            m = mask.unsqueeze(2)
            mf = m.to(gh.dtype)
            gh = gh * mf
            A = torch.where(m, A, 1.0)  # a masked step passes c (and its gradient) through
        dar = gh * E  # the reset gate's preactivation gradient (zero on masked steps)
        K = gh * R
        K[:-1].addcmul_(dar[1:], v_r)
        K[-1] += gc
        D = K  # the total gradient reaching c_t, computed in place of K
        ds, As = D.unbind(0), A.unbind(0)
        for t in range(T - 2, -1, -1):
            torch.addcmul(ds[t], As[t + 1], ds[t + 1], out=ds[t])
        need = ctx.needs_input_grad
        dc0 = torch.addcmul(D[0] * A[0], dar[0], v_r) if need[1] else None
        Dm = D * mf if mask is not None else D
        daf = Dm * G
        du = dskip = None
        if need[0] or need[5]:
            parts = [Dm * (1 - F), daf, dar]
            dxp = gh * (1 - R)
            if ctx.blocks == 4:
                parts.append(dxp)
            elif ctx.has_skip and need[5]:
                dskip = dxp * ctx.scale
            du = torch.cat(parts, -1) if need[0] else None
        dv = torch.stack([(daf * c_prev).sum((0, 1)), (dar * c_prev).sum((0, 1))]) if need[2] else None
        db = torch.stack([daf.sum((0, 1)), dar.sum((0, 1))]) if need[3] else None
        return du, dc0, dv, db, None, dskip, None


def sru_recurrence(u: Tensor, c0: Tensor, weight_c: Tensor, bias: Tensor, *, mask: Tensor | None = None,
                   skip: Tensor | None = None, scale: float = 1.0) -> tuple[Tensor, Tensor]:
    """The SRU recurrence for all steps with the fused Function.

    Args:
        u: ``(T, B, 3H)`` or ``(T, B, 4H)`` time-major projections ``[W x; W_f x; W_r x (; W' x)]``.
        c0: ``(B, H)`` initial cell state.
        weight_c: ``(2, H)``, ``[v_f; v_r]``. bias: ``(2, H)``, ``[b_f; b_r]``.
        mask: ``(T, B)`` boolean, True = valid step.
        skip: ``(T, B, H)``, the highway input when ``u`` has 3H columns (then ``xp = scale * skip``);
            None (with 3H columns): no highway term.
        scale: the highway scaling of ``skip``.

    Returns:
        ``(h (T, B, H), c_T (B, H))``.
    """
    if u.dim() != 3 or c0.dim() != 2 or u.shape[-1] not in (3 * c0.shape[-1], 4 * c0.shape[-1]):
        raise ValueError(f"u: expected (T, B, 3H) or (T, B, 4H) with c0 (B, H), got u {tuple(u.shape)} "
                         f"and c0 {tuple(c0.shape)}")
    H = c0.shape[-1]
    for name, p in (("weight_c", weight_c), ("bias", bias)):
        if tuple(p.shape) != (2, H):
            raise ValueError(f"{name}: expected shape (2, {H}), got {tuple(p.shape)}")
    if skip is not None and (u.shape[-1] != 3 * H or tuple(skip.shape) != (*u.shape[:2], H)):
        raise ValueError(f"skip: expected (T, B, H) = {(*u.shape[:2], H)} beside a (T, B, 3H) u, got "
                         f"{tuple(skip.shape)} beside u {tuple(u.shape)}")
    check_mask(mask, u.shape[0], u.shape[1])
    return SRUFunction.apply(u, c0, weight_c, bias, mask, skip, float(scale))
