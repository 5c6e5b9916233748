r"""Fused recurrence of FastRNN and FastGRNN (:mod:`rnnzoo.cells.fastrnn`), forward and a hand-written backward; one
Function, ``gated`` the switch::

    FastRNN  (gated=False; u = project(x) = W x + b, a, b the scalars alpha, beta):
        c_t = tanh(u_t + h_{t-1} @ U.T)
        h_t = a * c_t + b * h_{t-1}
    FastGRNN (gated=True; u = project(x) = W x, bias = [b_z; b_h], a, b the scalars zeta, nu):
        s_t = u_t + h_{t-1} @ U.T
        z_t = sigmoid(s_t + b_z); c_t = tanh(s_t + b_h)
        h_t = (a * (1 - z_t) + b) * c_t + z_t * h_{t-1}  = (a + b) c_t + z_t (h_{t-1} - a c_t)

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step):
``c_t`` into ``C[t]`` (``addmm`` then tanh as :func:`rnnzoo.fused._common.tanh_into`'s ``2 * sigmoid(2x) - 1``, about
twice as fast as ``aten::tanh`` here; gated: ``z_t`` into ``Z[t]``), ``h_t`` into ``S[t]``. The scalars
are read once as Python numbers. Without a mask the state buffer ``S`` is the output itself. Backward, per step
(``g`` the cotangent of ``h_t``, zeroed on masked rows)::

    FastRNN:   ds = a g (1 - c^2);  dh = b g + ds @ U
               d a = sum g c,  d b = sum g h_{t-1}         (after the loop: g kept in one buffer G (T, B, H))
    FastGRNN:  dz = g (h_{t-1} - a c) z (1 - z);  dc = g (a (1 - z) + b) (1 - c^2);  ds = dz + dc
               dh = g z + ds @ U
               d a = sum g c (1 - z),  d b = sum g c,  d b_z = sum dz,  d b_h = sum dc
                                                          (after the loop: g c kept in one buffer GC (T, B, H))

``ds`` is written straight into one preallocated ``du (T, B, H)``; the recurrent weight's gradient is one product
over all steps after the loop, the scalars' and biases' gradients one reduction each. A masked step (mask ``(T, B)``,
True = valid) keeps the state and outputs zero; its gradient passes through unchanged. The cells' step loops are the
reference twins: ``tests/fused/test_one_field_functions.py`` and the model contract suite hold them equal in float64.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants, tanh_into, weight_grad
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class FastFunction(torch.autograd.Function):
    """``(u (T, B, H), W (H, H), b (2H,) or None, a (1,), b (1,), h0 (B, H), mask (T, B) or None, gated)
    -> (out (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, bias: Tensor | None, a: Tensor, b: Tensor, h0: Tensor,
                mask: Tensor | None, gated: bool) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        af, bf = float(a), float(b)  # cpu: one host read per run (not per step), as Python scalars for alpha=
        Wt = StepProduct(W, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        S = buffer(u, (T, B, H))  # h_1 .. h_T
        C = buffer(u, (T, B, H))
        Z = buffer(u, (T, B, H) if gated else (0, B, H))
        us, ss, cs, zs = u.unbind(0), S.unbind(0), C.unbind(0), Z.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        bz, bh = bias.chunk(2) if bias is not None else (None, None)
        if gated:
            pre, tmp = buffer(u, (B, H)), buffer(u, (B, H))
        k = tanh_constants(h0)
        h = h0
        for t in range(T):
            if not gated:
                c = tanh_into(Wt.addmm_into(us[t], h, cs[t]), cs[t], k)
                new = torch.mul(h, bf, out=ss[t]).add_(c, alpha=af)
            else:
                Wt.addmm_into(us[t], h, pre)
                if bz is None:
                    z, c = torch.sigmoid(pre, out=zs[t]), tanh_into(pre, cs[t], k)
                else:
                    z = torch.add(pre, bz, out=zs[t]).sigmoid_()
                    c = tanh_into(torch.add(pre, bh, out=cs[t]), cs[t], k)
                torch.add(h, c, alpha=-af, out=tmp).mul_(z)
                new = torch.add(tmp, c, alpha=af + bf, out=ss[t])
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
            h = new
        ctx.has_mask, ctx.has_bias, ctx.gated, ctx.ab = mask is not None, bias is not None, gated, (af, bf)
        ctx.save_for_backward(W, h0, S, C, Z, mask if mask is not None else buffer(u, 0))
        out = S if mask is None else S * mask.unsqueeze(2)
        return out, h.clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        W, h0, S, C, Z, mask = ctx.saved_tensors
        T, B, H = S.shape
        af, bf = ctx.ab
        gated = ctx.gated
        du = buffer(g_out, (T, B, H))
        if T == 0:
            db = g_out.new_zeros((2 * H,)) if ctx.has_bias else None
            zero = g_out.new_zeros((1,))
            return du, torch.zeros_like(W), db, zero, zero.clone(), g_h, None, None
        # FastRNN keeps the masked cotangents g in G; FastGRNN keeps g c in G (and dz in DZ when it has biases)
        G = buffer(g_out, (T, B, H))
        DZ = buffer(g_out, (T, B, H) if gated and ctx.has_bias else (0, B, H))
        scr, scr2, scr3 = buffer(g_out, (B, H)), buffer(g_out, (B, H)), buffer(g_out, (B, H))
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ss, cs, zs, gs, dzs = S.unbind(0), C.unbind(0), Z.unbind(0), G.unbind(0), DZ.unbind(0)
        gos, dus = g_out.unbind(0), du.unbind(0)
        last = gs[T - 1] if not gated and ms is None else None
        g = torch.add(g_h, gos[T - 1], out=last) if ms is None else torch.addcmul(g_h, gos[T - 1], ms[T - 1])
        for t in range(T - 1, -1, -1):
            c, d = cs[t], dus[t]
            if not gated:
                gm = g if ms is None else torch.mul(g, ms[t], out=gs[t])
                torch.mul(gm, af, out=d)
                d.addcmul_(torch.mul(d, c, out=scr), c, value=-1.0)  # a g (1 - c^2)
                gn = torch.addmm(gm, d, W, beta=bf)
            else:
                z, hp = zs[t], (ss[t - 1] if t else h0)
                gm = g if ms is None else g * ms[t]
                gc = torch.mul(gm, c, out=gs[t])
                dz = torch.add(hp, c, alpha=-af, out=dzs[t] if ctx.has_bias else scr).mul_(gm).mul_(z)
                dz.addcmul_(dz, z, value=-1.0)  # g (h - a c) z (1 - z)
                fac = torch.mul(z, -af, out=scr2).add_(af + bf)
                torch.addcmul(gm, gc, c, value=-1.0, out=d).mul_(fac).add_(dz)
                gn = torch.addmm(torch.mul(gm, z, out=scr3), d, W)
            if ms is not None:
                gn = torch.where(ms[t], gn, g)
            if t:
                if ms is not None:
                    g = torch.addcmul(gn, gos[t - 1], ms[t - 1])
                else:
                    g = torch.add(gn, gos[t - 1], out=gs[t - 1] if not gated else None)
            else:
                g = gn
        dW = None
        if ctx.needs_input_grad[1]:
            dW = weight_grad(du, h0, S)
        db = None
        if not gated:
            da = torch.dot(G.flatten(), C.flatten()).reshape(1)
            dbeta = torch.dot(G[0].flatten(), h0.flatten())
            if T > 1:
                dbeta = dbeta + torch.dot(G[1:].flatten(), S[:-1].flatten())
            dbeta = dbeta.reshape(1)
        else:
            dbeta = G.sum().reshape(1)  # d nu = sum g c
            da = dbeta - torch.dot(G.flatten(), Z.flatten()).reshape(1)  # d zeta = sum g c (1 - z)
            if ctx.has_bias and ctx.needs_input_grad[2]:
                dbz = DZ.sum((0, 1))
                db = torch.cat([dbz, du.sum((0, 1)) - dbz])
        return du, dW, db, da, dbeta, g, None, None


def fast_recurrence(u: Tensor, W: Tensor, bias: Tensor | None, a: Tensor, b: Tensor, h0: Tensor,
                    mask: Tensor | None = None, *, gated: bool) -> tuple[Tensor, Tensor]:
    """Run FastRNN (``gated=False``: ``a, b`` = alpha, beta; ``bias`` None, it is in ``u``) or FastGRNN
    (``gated=True``: ``a, b`` = zeta, nu; ``bias = [b_z; b_h] (2H,)`` or None) over ``u (T, B, H)`` (``project`` of
    the time-major input) with ``W = weight_hh (H, H)`` from ``h0 (B, H)``; ``a``, ``b`` the scalars (1,) after their
    sigmoid; ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs zero). Returns
    ``(out (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return FastFunction.apply(u, W, bias, a, b, h0, mask, gated)
