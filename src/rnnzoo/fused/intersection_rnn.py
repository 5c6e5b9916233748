r"""Fused recurrence of the intersection RNN (:class:`rnnzoo.cells.intersection_rnn.IntersectionRNNCell`), forward
and a hand-written backward::

    [ay, ah, agy, agh]_t = u_t[:, :4H] + h_{t-1} @ W.T     # u = project(x) = [uy, uh, ugy, ugh, carry], W (4H, H)
    yin = relu(ay); hin = tanh(ah); gy = sigmoid(agy); gh = sigmoid(agh)
    y_t = gy * carry_t + (1 - gy) * yin                    # the output (a highway on the input)
    h_t = gh * h_{t-1} + (1 - gh) * hin                    # the state

Forward: the loop with raw tensor operations written into preallocated buffers (no autograd graph per step): the
four pre-activations into ``G[t] (B, 4H)`` (one ``addmm``), their activations in place on ``G[t]``'s blocks
(``relu_``, tanh, one ``sigmoid_`` over both gates; the tanh as :func:`rnnzoo.fused._common.tanh_into`'s
``2 * sigmoid(2x) - 1``, about twice as fast as ``aten::tanh`` here), ``h_t`` into ``S[t + 1]`` and ``y_t`` into
``Y[t]`` (one ``lerp`` each). Backward, per step (``g`` the cotangent of ``h_t`` and ``go`` that of ``y_t``, both
zeroed on masked rows)::

    dcarry = go * gy
    duy    = (go - dcarry) * [yin > 0]
    dugy   = go * (carry - yin) * gy * (1 - gy)
    duh    = g * (1 - gh) * (1 - hin^2)
    dugh   = g * (h_{t-1} - hin) * gh * (1 - gh)         # as g (1 - gh) (h_t - hin) in the Function from x
    dh     = g * gh + [duy, duh, dugy, dugh] @ W           # the cotangent of h_{t-1} (masked rows: g unchanged)

each written straight into one preallocated ``du (T, B, 5H)``; the recurrent weight's gradient is one product over
all steps after the loop. A masked step (mask ``(T, B)``, True = valid) keeps the state and outputs zero; its
gradient passes through unchanged. ``y`` feeds no step: the last valid ``y`` (the state's ``y`` field) is read from
the output by the cell. The cell's step loop is the reference twin: ``tests/fused/test_intersection_rnn_function.py``
and the model contract suite hold the two equal in float64.

:class:`IntersectionRNNInputFunction` (:func:`intersection_rnn_from_input`, what the cell takes when the runner has
not projected ``x`` yet) computes the same from ``x`` itself, without the ``(T, B, 5H)`` ``u``: its class docstring
says how (the depth path's update and most of its backward once for all steps).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants, tanh_into
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class IntersectionRNNFunction(torch.autograd.Function):
    """``(u (T, B, 5H), W (4H, H), h0 (B, H), mask (T, B) or None) -> (y (T, B, H), h_T (B, H))``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        Wt = StepProduct(W, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        S = buffer(u, (T + 1, B, H))  # h_0 .. h_T (masked steps: the state kept)
        S[0] = h0
        G = buffer(u, (T, B, 4 * H))  # [yin, hin, gy, gh]
        Y = buffer(u, (T, B, H))
        ss, gs, ys = S.unbind(0), G.unbind(0), Y.unbind(0)
        ins, carries = u[..., :4 * H].unbind(0), u[..., 4 * H:].unbind(0)
        yins, hins, gys, ghs = (blk.unbind(0) for blk in G.split(H, -1))
        gates = G[..., 2 * H:].unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        k = tanh_constants(h0)
        for t in range(T):
            h = ss[t]
            Wt.addmm_into(ins[t], h, gs[t])
            yins[t].relu_()
            tanh_into(hins[t], hins[t], k)
            gates[t].sigmoid_()
            new = torch.lerp(hins[t], h, ghs[t], out=ss[t + 1])
            y = torch.lerp(yins[t], carries[t], gys[t], out=ys[t])
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
                y.mul_(ms[t])
        ctx.has_mask = mask is not None
        ctx.save_for_backward(u, W, S, G, mask if mask is not None else buffer(u, 0))
        return Y, S[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        u, W, S, G, mask = ctx.saved_tensors
        T, B, H = G.shape[0], G.shape[1], W.shape[1]
        H4 = 4 * H
        du = buffer(g_out, (T, B, 5 * H))
        if T == 0:
            return du, torch.zeros_like(W), g_h, None
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ss, gos = S.unbind(0), g_out.unbind(0)
        carries = u[..., H4:].unbind(0)
        yins, hins, gys, ghs = (blk.unbind(0) for blk in G.split(H, -1))
        duys, duhs, dugys, dughs, dcarries = (blk.unbind(0) for blk in du.split(H, -1))
        drs = du[..., :H4].unbind(0)
        relu_backward = torch.ops.aten.threshold_backward.grad_input
        g = g_h
        for t in range(T - 1, -1, -1):
            yin, hin, gy, gh = yins[t], hins[t], gys[t], ghs[t]
            duy, duh, dugy, dugh, dcarry = duys[t], duhs[t], dugys[t], dughs[t], dcarries[t]
            go, gm = (gos[t], g) if ms is None else (gos[t] * ms[t], g * ms[t])
            # the output y_t
            torch.mul(go, gy, out=dcarry)
            relu_backward(torch.sub(go, dcarry, out=duy), yin, 0, grad_input=duy)  # go (1 - gy) relu'
            torch.sub(carries[t], yin, out=dugy).mul_(dcarry)
            dugy.addcmul_(dugy, gy, value=-1.0)  # go (carry - yin) gy (1 - gy)
            # the state h_t
            keep = gm * gh
            torch.sub(gm, keep, out=duh)  # g (1 - gh)
            duh.addcmul_(duh * hin, hin, value=-1.0)  # * (1 - hin^2)
            torch.sub(ss[t], hin, out=dugh).mul_(keep)
            dugh.addcmul_(dugh, gh, value=-1.0)  # g (h - hin) gh (1 - gh)
            gn = torch.addmm(keep, drs[t], W)
            g = gn if ms is None else torch.where(ms[t], gn, g)
        dW = None
        if ctx.needs_input_grad[1]:
            dW = du[..., :H4].flatten(0, 1).t() @ S[:-1].flatten(0, 1)
        return du, dW, g, None


_ORDER = [0, 2, 1, 3]  # [y, h, gy, gh] <-> [y, gy, h, gh] (its own inverse)


def _reorder(w: Tensor | None) -> Tensor | None:
    """The four H-blocks of ``w (4H, ...)`` from ``[y, h, gy, gh]`` to ``[y, gy, h, gh]`` (or back): a copy."""
    return None if w is None else w.view(4, w.shape[0] // 4, *w.shape[1:])[_ORDER].flatten(0, 1)


class IntersectionRNNInputFunction(torch.autograd.Function):
    """From ``x`` itself: ``(x (T, B, I), weight_ih (4H, I), bias (4H,) or None, W (4H, H), h0 (B, H),
    carry (T, B, H) or None (then ``x`` is the carry, I == H), mask) -> (y (T, B, H), h_T (B, H))``.

    The input projection is computed inside, its four blocks reordered ``[y, gy, h, gh]`` (the time path's two
    adjacent); its output ``G`` is then updated in place step by step by the recurrent product ``h_{t-1} @ W.T``
    (one ``addmm_``), the time path (``h``, ``gh``) activated and ``h_t`` made per step, and the depth path (``y``,
    ``gy``: read by no step) activated and ``y`` made for all steps at once after the loop. The backward: the depth
    path's cotangents for all steps first, with their contribution ``[duy, dugy] @ [W_yh; W_gyh]`` to every
    ``h_{t-1}`` in one product, then the loop over the time path only (its product ``(B, 2H) @ (2H, H)``), then the
    weights' gradients as one product each. No ``(T, B, 5H)`` projection, no slicing of one, is ever made. (Measured
    here, one thread: the whole ``(B, 4H)`` product per forward step beat a ``(B, 2H)`` one plus one depth product
    after the loop at (64, 100, 256, 256) and (64, 100, 512, 512); in the backward the split wins.)"""

    @staticmethod
    def forward(ctx: Any, x: Tensor, weight_ih: Tensor, bias: Tensor | None, W: Tensor, h0: Tensor,
                carry: Tensor | None, mask: Tensor | None) -> tuple[Tensor, Tensor]:
        T, B, H = x.shape[0], x.shape[1], h0.shape[-1]
        H2, H3 = 2 * H, 3 * H
        wih, b, Wp = _reorder(weight_ih), _reorder(bias), _reorder(W)
        xf = x.reshape(T * B, x.shape[2])
        G = (xf @ wih.t() if b is None else torch.addmm(b, xf, wih.t())).view(T, B, 4 * H)  # [y, gy, h, gh]
        S = buffer(x, (T + 1, B, H))  # h_0 .. h_T (masked steps: the state kept)
        S[0] = h0
        Wpt = StepProduct(Wp, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        ss, gs, hins, ghs = S.unbind(0), G.unbind(0), G[..., H2:H3].unbind(0), G[..., H3:].unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        k = tanh_constants(h0)
        for t in range(T):
            h = ss[t]
            Wpt.addmm_into(gs[t], h, gs[t])
            hin = tanh_into(hins[t], hins[t], k)
            new = torch.lerp(hin, h, ghs[t].sigmoid_(), out=ss[t + 1])
            if ms is not None:
                torch.where(ms[t], new, h, out=new)
        yin, gy = G[..., :H].relu_(), G[..., H:H2].sigmoid_()
        c = x if carry is None else carry
        Y = torch.lerp(yin, c, gy)
        if mask is not None:
            Y.mul_(mask.unsqueeze(2))
        ctx.has_mask, ctx.has_carry = mask is not None, carry is not None
        ctx.save_for_backward(xf, wih, Wp, S, G, c, mask if mask is not None else buffer(x, 0))
        return Y, S[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, g_h: Tensor) -> tuple[Any, ...]:
        xf, wih, Wp, S, G, c, mask = ctx.saved_tensors
        T, B, H = G.shape[0], G.shape[1], Wp.shape[1]
        H2, H3 = 2 * H, 3 * H
        need_x, need_wih, need_b, need_W, _, need_carry = ctx.needs_input_grad[:6]
        dG = buffer(g_out, (T, B, 4 * H))  # [duy, dugy, duh, dugh]
        # the depth path, all steps at once
        go = g_out if not ctx.has_mask else g_out * mask.unsqueeze(2)
        yin, gy = G[..., :H], G[..., H:H2]
        dcarry = go * gy
        duy, dugy = dG[..., :H], dG[..., H:H2]
        torch.ops.aten.threshold_backward.grad_input(torch.sub(go, dcarry, out=duy), yin, 0, grad_input=duy)
        torch.sub(c, yin, out=dugy).mul_(dcarry)
        dugy.addcmul_(dugy, gy, value=-1.0)  # go (carry - yin) gy (1 - gy)
        dH = (dG[..., :H2].flatten(0, 1) @ Wp[:H2]).view(T, B, H)  # the depth path's share of every h_{t-1}
        # the time path, step by step
        W_time = Wp[H2:]
        ms = mask.unsqueeze(2).unbind(0) if ctx.has_mask else None
        ss, dhs, hins, ghs = S.unbind(0), dH.unbind(0), G[..., H2:H3].unbind(0), G[..., H3:].unbind(0)
        dts, duhs, dughs = dG[..., H2:].unbind(0), dG[..., H2:H3].unbind(0), dG[..., H3:].unbind(0)
        g = g_h
        for t in range(T - 1, -1, -1):
            hin, gh, duh, dugh = hins[t], ghs[t], duhs[t], dughs[t]
            gm = g if ms is None else g * ms[t]
            keep = gm * gh
            torch.sub(gm, keep, out=duh)  # g (1 - gh)
            torch.sub(ss[t + 1], hin, out=dugh).mul_(duh)  # g (1 - gh) gh (h_{t-1} - hin)
            duh.addcmul_(duh * hin, hin, value=-1.0)  # * (1 - hin^2)
            gn = dhs[t].add_(keep).addmm_(dts[t], W_time)
            g = gn if ms is None else torch.where(ms[t], gn, g)
        dGf = dG.flatten(0, 1)
        dx = dwih = db = dW = dc = None
        if need_W:
            dW = _reorder(dGf.t() @ S[:-1].flatten(0, 1))
        if need_wih:
            dwih = _reorder(dGf.t() @ xf)
        if need_b:
            db = _reorder(dGf.sum(0))
        if ctx.has_carry:
            dc = dcarry if need_carry else None
        if need_x:
            dx = (dGf @ wih).view(T, B, xf.shape[1])
            if not ctx.has_carry:
                dx.add_(dcarry)
        return dx, dwih, db, dW, g, dc, None


def intersection_rnn_from_input(x: Tensor, weight_ih: Tensor, bias: Tensor | None, W: Tensor, h0: Tensor,
                                carry: Tensor | None = None, mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """Run the intersection RNN over the time-major input ``x (T, B, I)`` itself (its projection computed inside,
    no ``(T, B, 5H)`` ``u``): ``weight_ih (4H, I)``, ``bias (4H,)`` or None, ``W = weight_hh (4H, H)``, from ``h0 (B,
    H)``; ``carry (T, B, H)`` the carried input (``weight_carry @ x``), or None when ``x`` is carried itself (I == H);
    ``mask (T, B)`` True = valid step. Returns ``(y (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, x.shape[0], x.shape[1])
    return IntersectionRNNInputFunction.apply(x, weight_ih, bias, W, h0, carry, mask)


def intersection_rnn_recurrence(u: Tensor, W: Tensor, h0: Tensor, mask: Tensor | None = None
                                ) -> tuple[Tensor, Tensor]:
    """Run the intersection RNN over ``u (T, B, 5H)`` (``project`` of the time-major input) with ``W = weight_hh
    (4H, H)`` from ``h0 (B, H)``; ``mask (T, B)`` True = valid step (a masked step keeps ``h`` and outputs zero).
    Returns ``(y (T, B, H), h_T (B, H))``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return IntersectionRNNFunction.apply(u, W, h0, mask)
