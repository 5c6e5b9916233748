r"""Fused recurrence of the NAS cell (:class:`rnnzoo.cells.NASCell`), forward and a hand-written backward::

    a_k = u_t block k (u = project(x) = W x, 8 blocks of H);   b = h_{t-1} @ U.T + bias
    p_k = a_k + b_k (k != 3),  p_3 = a_3 * b_3
    s0, l1, s2, l3, t4, s5, t6, s7 = sigmoid(p0), relu(p1), sigmoid(p2), relu(p3), tanh(p4), sigmoid(p5),
                                     tanh(p6), sigmoid(p7)            # the eight leaves, A_t (B, 8H)
    m0 = tanh(s0 * l1);  m2 = tanh(t4 * s5);  q = tanh(s2 + l3);  n3 = sigmoid(t6 + s7)      # L_t (B, 4, H)
    e  = tanh(m0 + c_{t-1});  k = tanh(m2 + n3)                                               # EK_t (B, 2, H)
    c_t = e * q;  h_t = tanh(c_t * k)

Forward: the loop with raw tensor operations into buffers allocated once (the leaves ``A``, the second layer ``L``,
``e`` and ``k``, the states, ``b_3``), no autograd graph. Every ``tanh`` is :func:`rnnzoo.fused._common.tanh_into`
(``2 sigmoid(2x) - 1``, several times faster than ``aten::tanh`` on this project's CPUs).
The pairs of leaves are laid out so that one operation
serves two of them: viewing ``A_t`` as ``(B, 4, 2, H)``, the products pair ``(0, 1)`` and ``(4, 5)`` and the sums pair
``(2, 3)`` and ``(6, 7)``.

Backward, per step back in time (``g`` the cotangent of ``h_t``, ``gc`` that of ``c_t``; both zeroed on masked rows)::

    dy = g * (1 - h^2);   dc = gc + dy * k;   dk = dy * c
    de = dc * q;          dq = dc * e
    [dm0, dm2] = [de, dk] * (1 - [e, k]^2);   dn3 = dm2;   dc_{t-1} = dm0
    [dm0, dm2, dq] *= 1 - [m0, m2, q]^2;      dn3 *= n3 (1 - n3)
    ds0, dl1, dt4, ds5 = dm0 * l1, dm0 * s0, dm2 * s5, dm2 * t4;   ds2 = dl3 = dq;   dt6 = ds7 = dn3
    dp_k = dleaf_k * leaf'(p_k);   db_k = da_k = dp_k (k != 3);   db_3 = dp_3 * a_3,  da_3 = dp_3 * b_3
    dh_{t-1} = db @ U

``db`` of every step is written into one ``(T, B, 8H)`` buffer; after the loop ``dU = db^T h_prev`` (one product over
all steps), ``dbias`` its sum, and the buffer becomes ``du`` once its block 3 is replaced by ``da_3``. A masked step
(mask False) keeps ``(h, c)``, outputs zero, and passes its cotangents through unchanged. The cell's step loop is the
reference twin: the model contract suite holds the two equal in outputs and float64 gradients.
With ``projection=`` the Function computes ``u = W x`` itself into ``A`` (``a_3`` copied aside) and returns the
gradients of x and W, one product each.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


def _dsigmoid_(d: Tensor, s: Tensor) -> None:
    """``d *= s (1 - s)`` in place (``s = sigmoid(p)``)."""
    ds = d * s
    torch.addcmul(ds, ds, s, value=-1.0, out=d)


def _dtanh_(d: Tensor, y: Tensor) -> None:
    """``d *= 1 - y^2`` in place (``y = tanh(p)``)."""
    dy = d * y
    d.addcmul_(dy, y, value=-1.0)


class NASFunction(torch.autograd.Function):
    """``(u (T, B, 8H), U (8H, H), bias (8H,) or None, h0 (B, H), c0 (B, H), mask (T, B) or None)
    -> (out (T, B, H), h_T (B, H), c_T (B, H))``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor | None, U: Tensor, bias: Tensor | None, h0: Tensor, c0: Tensor,
                mask: Tensor | None, x: Tensor | None = None, weight_ih: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor]:
        H = h0.shape[-1]
        x_flat = None
        if u is None:  # the projection here, straight into the leaves' buffer; a_3 kept aside (it multiplies b_3)
            assert x is not None and weight_ih is not None
            T, B = x.shape[0], x.shape[1]
            x_flat = x.reshape(T * B, x.shape[2])
            A = buffer(h0, (T, B, 8 * H))  # the projections, then the leaves
            torch.mm(x_flat, weight_ih.t(), out=A.view(T * B, 8 * H))
            U3 = A[..., 3 * H:4 * H].clone()  # a_3
        else:
            T, B = u.shape[0], u.shape[1]
            A = buffer(u, (T, B, 8 * H))  # the leaves
            U3 = u[..., 3 * H:4 * H]
        Up = StepProduct(U, B)  # the faster form of h @ U.T (rnnzoo.fused.products)
        Hs, Cs = buffer(A, (T + 1, B, H)), buffer(A, (T + 1, B, H))
        Hs[0], Cs[0] = h0, c0
        L = buffer(A, (T, B, 4, H))  # m0, m2, q, n3
        EK = buffer(A, (T, B, 2, H))  # e, k
        B3 = buffer(A, (T, B, H))  # b_3
        r = buffer(A, (B, 8 * H))
        k = (A.new_full((), -1.0), A.new_full((), 2.0))  # tanh_into's constants (broadcast)
        A4 = A.view(T, B, 4, 2, H)
        # every per-step view made once (one unbind each): indexing inside the loop costs more than the arithmetic
        hs, cs, u3s, As, A3s = (v.unbind(0) for v in (Hs, Cs, U3, A, A[..., 3 * H:4 * H]))
        us = u.unbind(0) if u is not None else None
        s02s, s57s, l13s, t46s = (x.unbind(0) for x in (A4[:, :, 0:2, 0], A4[:, :, 2:4, 1], A4[:, :, 0:2, 1],
                                                         A4[:, :, 2:4, 0]))
        p_ls, p_rs, q_ls, q_rs = (x.unbind(0) for x in (A4[:, :, 0::2, 0], A4[:, :, 0::2, 1], A4[:, :, 1::2, 0],
                                                         A4[:, :, 1::2, 1]))
        m0s, m2s, qs, n3s, l01s, l23s, l012s = (x.unbind(0) for x in (
            L[:, :, 0], L[:, :, 1], L[:, :, 2], L[:, :, 3], L[:, :, 0:2], L[:, :, 2:4], L[:, :, 0:3]))
        es, ks, eks, b3s = EK[:, :, 0].unbind(0), EK[:, :, 1].unbind(0), EK.unbind(0), B3.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        for t in range(T):
            if bias is None:
                rt = Up.mm(hs[t], r)  # r, or a transposed view of the product
            else:
                rt = Up.addmm_into(bias, hs[t], r)
            if us is None:
                As[t].add_(rt)
            else:
                torch.add(us[t], rt, out=As[t])
            r3 = rt[:, 3 * H:4 * H]
            torch.mul(u3s[t], r3, out=A3s[t])
            b3s[t].copy_(r3)
            s02s[t].sigmoid_()  # s0, s2
            s57s[t].sigmoid_()  # s5, s7
            l13s[t].relu_()  # l1, l3
            tanh_into(t46s[t], t46s[t], k)  # t4, t6
            torch.mul(p_ls[t], p_rs[t], out=l01s[t])  # s0 * l1, t4 * s5
            torch.add(q_ls[t], q_rs[t], out=l23s[t])  # s2 + l3, t6 + s7
            tanh_into(l012s[t], l012s[t], k)  # m0, m2, q
            n3s[t].sigmoid_()
            torch.add(m0s[t], cs[t], out=es[t])
            torch.add(m2s[t], n3s[t], out=ks[t])
            tanh_into(eks[t], eks[t], k)
            torch.mul(es[t], qs[t], out=cs[t + 1])
            tanh_into(torch.mul(cs[t + 1], ks[t], out=hs[t + 1]), hs[t + 1], k)
            if ms is not None:
                torch.where(ms[t], hs[t + 1], hs[t], out=hs[t + 1])
                torch.where(ms[t], cs[t + 1], cs[t], out=cs[t + 1])
        # where l1, l3 pass their gradient (1.0) or not (0.0), for all steps at once; sign: l >= 0, and a float mask
        # multiplies about 1.5x faster than a boolean one
        relu_on = torch.sign(A4[:, :, 0:2, 1])
        ctx.save_for_backward(U3, U, Hs, Cs, A, L, EK, B3, relu_on, mask, x_flat, weight_ih)
        ctx.has_bias, ctx.projected, ctx.x_shape = bias is not None, u is None, None if x is None else x.shape
        out = Hs[1:].clone() if mask is None else Hs[1:] * mask.unsqueeze(2)
        return out, Hs[T].clone(), Cs[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor, g_c: Tensor) -> tuple[Any, ...]:
        U3, U, Hs, Cs, A, L, EK, B3, relu_on, mask, x_flat, weight_ih = ctx.saved_tensors
        T, B, H = B3.shape
        D = buffer(A, (T, B, 8 * H))  # db, then du
        P3 = buffer(A, (T, B, H))  # da_3
        dL = buffer(A, (B, 4, H))  # the cotangents of [m0, m2, q, n3]
        dEK = buffer(A, (B, 2, H))  # the cotangents of [e, k]
        dm0, dm2, dq, dn3 = dL.unbind(1)
        dl01, dl23, dl012 = dL[:, 0:2], dL[:, 2:4].unsqueeze(2), dL[:, 0:3]
        de, dk = dEK.unbind(1)
        A4, D4 = A.view(T, B, 4, 2, H), D.view(T, B, 4, 2, H)
        hs, cs, u3s, b3s, Ds, D3s, P3s, gos = (x.unbind(0) for x in (
            Hs[1:], Cs[1:], U3, B3, D, D[..., 3 * H:4 * H], P3, g_out))
        qs, n3s, l012s, es, ks, eks = (x.unbind(0) for x in (
            L[:, :, 2], L[:, :, 3], L[:, :, 0:3], EK[:, :, 0], EK[:, :, 1], EK))
        s02s, s57s, r13s, t46s = (x.unbind(0) for x in (A4[:, :, 0:2, 0], A4[:, :, 2:4, 1], relu_on,
                                                         A4[:, :, 2:4, 0]))
        ds02s, ds57s, dl13s, dt46s = (x.unbind(0) for x in (D4[:, :, 0:2, 0], D4[:, :, 2:4, 1], D4[:, :, 0:2, 1],
                                                             D4[:, :, 2:4, 0]))
        p_ls, p_rs, dp_ls, dp_rs, dq_s = (x.unbind(0) for x in (
            A4[:, :, 0::2, 0], A4[:, :, 0::2, 1], D4[:, :, 0::2, 0], D4[:, :, 0::2, 1], D4[:, :, 1::2]))
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        g, gc = g_h, g_c
        for t in range(T - 1, -1, -1):
            if ms is not None:
                g_in, gc_in = torch.addcmul(g, gos[t], ms[t]), gc  # a masked step's output is a constant zero
                g, gc = g_in * ms[t], gc * ms[t]
            elif t == T - 1:
                g = g + gos[t]  # later steps add theirs in the product below
            h = hs[t]
            dy = g * h
            torch.addcmul(g, dy, h, value=-1.0, out=dy)  # g (1 - h^2)
            dc = torch.addcmul(gc, dy, ks[t])
            torch.mul(dy, cs[t], out=dk)
            torch.mul(dc, qs[t], out=de)
            torch.mul(dc, es[t], out=dq)
            dEKy = dEK * eks[t]
            torch.addcmul(dEK, dEKy, eks[t], value=-1.0, out=dl01)  # [dm0, dm2] = d[e, k] (1 - [e, k]^2)
            dn = dm2 * n3s[t]
            torch.addcmul(dn, dn, n3s[t], value=-1.0, out=dn3)  # dn3 = dm2 n3 (1 - n3), before dm2's own tanh
            gc = dm0.clone()  # dc_{t-1}
            _dtanh_(dl012, l012s[t])
            torch.mul(dl01, p_rs[t], out=dp_ls[t])  # ds0, dt4
            torch.mul(dl01, p_ls[t], out=dp_rs[t])  # dl1, ds5
            dq_s[t].copy_(dl23)  # ds2 = dl3 = dq, dt6 = ds7 = dn3
            _dsigmoid_(ds02s[t], s02s[t])
            _dsigmoid_(ds57s[t], s57s[t])
            dl13s[t].mul_(r13s[t])
            _dtanh_(dt46s[t], t46s[t])
            torch.mul(D3s[t], b3s[t], out=P3s[t])  # da_3
            D3s[t].mul_(u3s[t])  # db_3
            if ms is not None:
                g = torch.where(ms[t], torch.mm(Ds[t], U), g_in)
                gc = torch.where(ms[t], gc, gc_in)
            else:
                g = torch.addmm(gos[t - 1], Ds[t], U) if t else torch.mm(Ds[t], U)
        flat = D.flatten(0, 1)
        dU = flat.t() @ Hs[:-1].flatten(0, 1)
        dbias = flat.sum(0) if ctx.has_bias else None
        D[..., 3 * H:4 * H] = P3
        if not ctx.projected:
            return D, dU, dbias, g, gc, None, None, None
        # the input projection's gradients, one product each
        need = ctx.needs_input_grad
        dx = torch.mm(flat, weight_ih).view(ctx.x_shape) if need[6] else None
        d_wih = torch.mm(flat.t(), x_flat) if need[7] else None
        return None, dU, dbias, g, gc, None, dx, d_wih


def nas_recurrence(u: Tensor | None, U: Tensor, bias: Tensor | None, h0: Tensor, c0: Tensor,
                   mask: Tensor | None = None, *, projection: tuple[Tensor, Tensor] | None = None
                   ) -> tuple[Tensor, Tensor, Tensor]:
    """Run the NAS cell over ``u (T, B, 8H)`` (``project`` of the time-major input) with ``U = weight_hh (8H, H)``
    and ``bias (8H,)`` or None, from ``(h0, c0)`` ``(B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps
    ``(h, c)`` and outputs zero). Returns ``(out (T, B, H), h_T (B, H), c_T (B, H))``, equal to the step loop's.

    ``projection=(x (T, B, I), weight_ih (8H, I))`` instead of ``u`` (None): the Function computes ``u = x @
    weight_ih.T`` itself, straight into its leaves' buffer (no ``u`` tensor), and returns the gradients of x and
    weight_ih."""
    if (u is None) == (projection is None):
        raise ValueError("nas_recurrence: expected exactly one of u and projection")
    if projection is not None:
        x, weight_ih = projection
        if x.dim() != 3 or tuple(weight_ih.shape) != (U.shape[0], x.shape[2]):
            raise ValueError(f"projection: expected x (T, B, I) and weight_ih ({U.shape[0]}, I), got "
                             f"{tuple(x.shape)}, {tuple(weight_ih.shape)}")
        check_mask(mask, x.shape[0], x.shape[1])
        return NASFunction.apply(None, U, bias, h0, c0, mask, x, weight_ih)
    check_mask(mask, u.shape[0], u.shape[1])
    return NASFunction.apply(u, U, bias, h0, c0, mask)
