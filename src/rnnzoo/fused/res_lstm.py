r"""Fused recurrence of the residual LSTM (:class:`rnnzoo.cells.ResLSTMCell`), forward and a hand-written backward::

    [gi, gf, gc, go] = u_t[:, :4H] + h_{t-1} @ W_hh.T     # u = project(x): [W_x* x + b (4H), W_h x (H)]
    i = sigmoid(gi + w_ci * c_{t-1});   f = sigmoid(gf + w_cf * c_{t-1});   z = tanh(gc)
    c_t = f * c_{t-1} + i * z
    o = sigmoid(go + w_co * c_t);       r = tanh(c_t)
    m = u_t[:, 4H:] + r @ W_p.T;        h_t = o * m

Forward: the loop with raw tensor operations into buffers allocated once (the gates ``[i, f, z, o]``, ``c``, ``r``,
``m``, ``h``), no autograd graph. Every ``tanh`` is :func:`rnnzoo.fused._common.tanh_into`
(``2 sigmoid(2x) - 1``, several times faster than ``aten::tanh`` on this project's CPUs).
Backward, per step back in time (``g`` the cotangent of ``h_t``, ``gc`` that of
``c_t``; both zeroed on masked rows)::

    dm = g * o                                   # also the shortcut's cotangent, du[:, 4H:]
    dgo = g * m * o (1 - o)
    dc = gc + (dm @ W_p) * (1 - r^2) + dgo * w_co
    dgi = dc * z * i (1 - i);   dgf = dc * c_{t-1} * f (1 - f);   dgc = dc * i * (1 - z^2)
    dc_{t-1} = dc * f + dgi * w_ci + dgf * w_cf;   dh_{t-1} = [dgi, dgf, dgc, dgo] @ W_hh

every cotangent of ``u`` written straight into one ``(T, B, 5H)`` buffer; after the loop ``dW_hh``, ``dW_p`` and the
peepholes' gradients are one product or one reduction each over all steps. A masked step (mask False) keeps
``(h, c)``, outputs zero, and passes its cotangents through unchanged. The cell's step loop is the reference twin:
the model contract suite holds the two equal in outputs and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class ResLSTMFunction(torch.autograd.Function):
    """``(u (T, B, 5H), W_hh (4H, H), peephole (3H,), W_p (H, H), h0 (B, H), c0 (B, H), mask (T, B) or None)
    -> (out (T, B, H), h_T (B, H), c_T (B, H))``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, peephole: Tensor, Wp: Tensor, h0: Tensor, c0: Tensor,
                mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor]:
        T, B = u.shape[0], u.shape[1]
        H = h0.shape[-1]
        Wt, Wpt = StepProduct(W, B), StepProduct(Wp, B)  # the faster form of h @ W.T (rnnzoo.fused.products)
        w_if, w_co = peephole[:2 * H].view(2, H), peephole[2 * H:]
        Hs, Cs = buffer(u, (T + 1, B, H)), buffer(u, (T + 1, B, H))
        Hs[0], Cs[0] = h0, c0
        G = buffer(u, (T, B, 4 * H))  # i, f, z, o
        R, M = buffer(u, (T, B, H)), buffer(u, (T, B, H))
        k = (u.new_full((), -1.0), u.new_full((), 2.0))  # tanh_into's constants (broadcast)
        # every per-step view made once (one unbind each): indexing inside the loop costs more than the arithmetic
        hs, cs, gs, rs, mm = Hs.unbind(0), Cs.unbind(0), G.unbind(0), R.unbind(0), M.unbind(0)
        ugs, uss = u[..., :4 * H].unbind(0), u[..., 4 * H:].unbind(0)
        gifs, gis, gfs, gzs, gos = (x.unbind(0) for x in (G[..., :2 * H].unflatten(-1, (2, H)), G[..., :H],
                                                          G[..., H:2 * H], G[..., 2 * H:3 * H], G[..., 3 * H:]))
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        for t in range(T):
            c = cs[t]
            Wt.addmm_into(ugs[t], hs[t], gs[t])
            gifs[t].addcmul_(w_if, c.unsqueeze(1)).sigmoid_()  # i, f
            tanh_into(gzs[t], gzs[t], k)  # z
            torch.mul(gfs[t], c, out=cs[t + 1]).addcmul_(gis[t], gzs[t])
            gos[t].addcmul_(w_co, cs[t + 1]).sigmoid_()  # o
            tanh_into(cs[t + 1], rs[t], k)  # r
            Wpt.addmm_into(uss[t], rs[t], mm[t])
            torch.mul(gos[t], mm[t], out=hs[t + 1])
            if ms is not None:
                torch.where(ms[t], hs[t + 1], hs[t], out=hs[t + 1])
                torch.where(ms[t], cs[t + 1], c, out=cs[t + 1])
        ctx.save_for_backward(W, peephole, Wp, Hs, Cs, G, R, M, mask)
        out = Hs[1:].clone() if mask is None else Hs[1:] * mask.unsqueeze(2)
        return out, Hs[T].clone(), Cs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor, g_c: Tensor) -> tuple[Any, ...]:
        W, peephole, Wp, Hs, Cs, G, R, M, mask = ctx.saved_tensors
        T, B, H = R.shape
        w_ci, w_cf, w_co = peephole.view(3, H).unbind(0)
        du = buffer(G, (T, B, 5 * H))
        dus, dgs, dgifs, dgis, dgfs, dgzs, dgos, dss = (x.unbind(0) for x in (
            du, du[..., :4 * H], du[..., :2 * H], du[..., :H], du[..., H:2 * H], du[..., 2 * H:3 * H],
            du[..., 3 * H:4 * H], du[..., 4 * H:]))
        cs, rs, mm, gos_out = Cs.unbind(0), R.unbind(0), M.unbind(0), g_out.unbind(0)
        gifs, gis, gfs, gzs, gos = (x.unbind(0) for x in (G[..., :2 * H], G[..., :H], G[..., H:2 * H],
                                                          G[..., 2 * H:3 * H], G[..., 3 * H:]))
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        g, gc = g_h, g_c
        for t in range(T - 1, -1, -1):
            if ms is not None:
                g_in, gc_in = torch.addcmul(g, gos_out[t], ms[t]), gc  # a masked step's output is a constant zero
                g, gc = g_in * ms[t], gc * ms[t]
            elif t == T - 1:
                g = g + gos_out[t]  # later steps add theirs in the product below
            o, i, f, z, r, c0 = gos[t], gis[t], gfs[t], gzs[t], rs[t], cs[t]
            dm = torch.mul(g, o, out=dss[t])
            do = g * mm[t]
            dov = do * o
            torch.addcmul(dov, dov, o, value=-1.0, out=dgos[t])  # dgo
            dr = torch.mm(dm, Wp)
            drr = dr * r
            dc = torch.addcmul(gc, dgos[t], w_co)
            dc.add_(dr).addcmul_(drr, r, value=-1.0)
            torch.mul(dc, z, out=dgis[t])
            torch.mul(dc, c0, out=dgfs[t])
            dd = dgifs[t] * gifs[t]
            torch.addcmul(dd, dd, gifs[t], value=-1.0, out=dgifs[t])  # dgi, dgf
            dz = torch.mul(dc, i, out=dgzs[t])
            dzz = dz * z
            dz.addcmul_(dzz, z, value=-1.0)  # dgc
            gc = dc.mul_(f).addcmul_(dgis[t], w_ci).addcmul_(dgfs[t], w_cf)
            if ms is not None:
                g = torch.where(ms[t], torch.mm(dgs[t], W), g_in)
                gc = torch.where(ms[t], gc, gc_in)
            else:
                g = torch.addmm(gos_out[t - 1], dgs[t], W) if t else torch.mm(dgs[t], W)
        dG = du[..., :4 * H].flatten(0, 1)
        dW = dG.t() @ Hs[:-1].flatten(0, 1)
        dWp = du[..., 4 * H:].flatten(0, 1).t() @ R.flatten(0, 1)
        dpeep = torch.cat([(du[..., :2 * H].unflatten(-1, (2, H)) * Cs[:-1].unsqueeze(2)).sum((0, 1)).flatten(),
                           (du[..., 3 * H:4 * H] * Cs[1:]).sum((0, 1))])
        return du, dW, dpeep, dWp, g, gc, None


def res_lstm_recurrence(u: Tensor, W: Tensor, peephole: Tensor, Wp: Tensor, h0: Tensor, c0: Tensor,
                        mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor]:
    """Run the residual LSTM over ``u (T, B, 5H)`` (``project`` of the time-major input) with ``W = weight_hh
    (4H, H)``, ``peephole (3H,)`` and ``Wp = weight_proj (H, H)``, from ``(h0, c0)`` ``(B, H)``; ``mask (T, B)``
    True = valid step (a masked step keeps ``(h, c)`` and outputs zero). Returns ``(out (T, B, H), h_T (B, H),
    c_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return ResLSTMFunction.apply(u, W, peephole, Wp, h0, c0, mask)
