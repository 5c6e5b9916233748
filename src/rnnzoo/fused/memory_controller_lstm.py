r"""The memory-controller LSTM's whole sequence in one autograd Function with a hand-written backward
(:class:`~rnnzoo.cells.memory_controller_lstm.MemoryControllerLSTMCell`)::

    [f, i, o, m | n]_t = [sigmoid | tanh](u_t + v_{t-1} @ U.T)        # u = project(x): W x + b, blocks f, i, o, m, n
    c_t = f_t c_{t-1} + i_t n_t;   h_t = o_t tanh(c_t);   v_t = m_t tanh(c_t)

Forward: per step one in-place ``addmm`` into the gate buffer ``G (T, B, 5H)`` (a copy of ``u``), one sigmoid over
all five blocks, and the states written into preallocated ``(T+1, B, H)`` buffers (no autograd graph, no
whole-sequence temporaries). Every tanh is ``2 sigmoid(2x) - 1`` (``aten::tanh`` is several times slower than
sigmoid here, see :func:`rnnzoo.fused._common.tanh_into`) in the doubled forms of the LSTM Function: ``G``'s n
block and ``W``'s n rows are doubled once per call and ``C`` holds ``2 c`` during the loop (exact scalings).

Backward, per step (``gh, gv, gc``: the cotangents of h_t, v_t, c_t; h does not recur, so ``gh`` is the output's
cotangent at that step, plus the final state's at T, known before the loop)::

    dc  = gc + (gh o + gv m) (1 - tanh(c)^2)
    ds  = [dc c_{t-1}, dc n, gh tanh(c), gv tanh(c)] * g (1 - g)  |  dc i (1 - n^2)     # written into du[t]
    gv' = ds @ U;   gc' = dc f

The derivative factors (and the whole ``gh`` part: ``ds_o`` and ``gh o (1 - tanh(c)^2)``) are tabulated a chunk
of steps at a time into ``du`` and two small buffers, so a backward step is six kernels (one product and five
in-place multiply-adds); ``dU = sum_t ds_t^T v_{t-1}`` is one product over all steps.
A masked step keeps every state field (h too) and passes the three cotangents through. The cell's step loop is the
reference twin: the model contract suite and ``tests/fused/test_memory_controller_lstm_function.py`` hold the two
equal in outputs and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask, tanh_constants
from rnnzoo.fused.lstm import _CHUNK_BYTES
from rnnzoo.fused.products import StepProduct
from rnnzoo.fused.workspace import buffer


class MemoryControllerLSTMFunction(torch.autograd.Function):
    """``(u (T, B, 5H), W (5H, H), h0, v0, c0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T, v_T, c_T)``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor | None, W: Tensor, h0: Tensor, v0: Tensor, c0: Tensor, mask: Tensor | None,
                x: Tensor | None = None, weight_ih: Tensor | None = None, bias: Tensor | None = None
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        H = h0.shape[-1]
        consts = tanh_constants(c0)
        # the doubled forms (exact): G's n block and W's n rows hold 2 n_pre, C holds 2 c, so that every tanh
        # is 2 sigmoid(.) - 1 with no doubling per step
        x_flat = None
        if u is None:  # the input projection here, straight into the gate buffer (doubled n rows of W_ih and b)
            assert x is not None and weight_ih is not None
            T, B = x.shape[:2]
            w_in = weight_ih.clone()
            w_in[4 * H:].mul_(2)
            x_flat = x.reshape(T * B, x.shape[2])
            G = buffer(x, (T, B, 5 * H))
            if bias is None:
                torch.mm(x_flat, w_in.t(), out=G.view(T * B, 5 * H))
            else:
                b_in = bias.clone()
                b_in[4 * H:].mul_(2)
                torch.addmm(b_in, x_flat, w_in.t(), out=G.view(T * B, 5 * H))
        else:  # the gates start as the projections (one copy)
            T, B = u.shape[:2]
            G = u.clone(memory_format=torch.contiguous_format)
            G[:, :, 4 * H:].mul_(2)
        w2 = W.clone()
        w2[4 * H:].mul_(2)
        w_t = StepProduct(w2, B)  # h -> h @ W.T in the faster form (rnnzoo.fused.products)
        Hs, V, C = (buffer(G, (T + 1, B, H)) for _ in range(3))
        TC = buffer(G, (T, B, H))
        Hs[0], V[0] = h0, v0
        torch.mul(c0, 2.0, out=C[0])
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        Gv = G.unflatten(2, (5, H))
        gs, ff, ii, oo, mm, nn = G.unbind(0), *(Gv[:, :, k].unbind(0) for k in range(5))
        hs, vs, cs, tcs = Hs.unbind(0), V.unbind(0), C.unbind(0), TC.unbind(0)
        for t in range(T):
            g = gs[t]
            w_t.addmm_into(g, vs[t], g)
            g.sigmoid_()
            n = torch.addcmul(consts[0], nn[t], consts[1], out=nn[t])  # tanh(n_pre) = 2 sigmoid(2 n_pre) - 1
            c = torch.mul(ff[t], cs[t], out=cs[t + 1]).addcmul_(ii[t], n, value=2)  # 2 c_t
            if ms is not None:
                torch.where(ms[t], c, cs[t], out=c)
            tc = torch.sigmoid(c, out=tcs[t])
            torch.addcmul(consts[0], tc, consts[1], out=tc)  # tanh(c_t)
            torch.mul(oo[t], tc, out=hs[t + 1])
            torch.mul(mm[t], tc, out=vs[t + 1])
            if ms is not None:
                torch.where(ms[t], hs[t + 1], hs[t], out=hs[t + 1])
                torch.where(ms[t], vs[t + 1], vs[t], out=vs[t + 1])
        C.mul_(0.5)
        out = Hs[1:] * mask.unsqueeze(2).to(Hs.dtype) if mask is not None else Hs[1:]
        ctx.has_mask = mask is not None
        ctx.set_materialize_grads(False)
        ctx.save_for_backward(W, G, V, C, TC, mask if mask is not None else buffer(G, 0), x_flat, weight_ih)
        ctx.projected, ctx.has_bias, ctx.x_shape = u is None, bias is not None, None if x is None else x.shape
        return out, Hs[T].clone(), V[T].clone(), C[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_h: Tensor | None, g_v: Tensor | None, g_c: Tensor | None
                 ) -> tuple[Tensor | None, ...]:
        W, G, V, C, TC, mask, x_flat, weight_ih = ctx.saved_tensors
        mask = mask if ctx.has_mask else None
        T, B, H = G.shape[0], G.shape[1], V.shape[-1]
        gv = g_v.clone() if g_v is not None else V.new_zeros((B, H))  # the cotangent of v_t, updated in place
        dc = g_c.clone() if g_c is not None else V.new_zeros((B, H))  # the cotangent of c_t, updated in place
        if T == 0:
            dh0 = g_h if g_h is not None else V.new_zeros((B, H))
            return _with_projection(ctx, G.new_zeros(G.shape), torch.zeros_like(W), dh0, gv, dc, x_flat, weight_ih)
        mf = mask.unsqueeze(2).to(G.dtype) if mask is not None else None  # (T, B, 1)
        # dH: the cotangent of h_t (h does not recur: the outputs', the final state's, and through masked steps)
        if mf is not None:
            dH = g_out * mf if g_out is not None else G.new_zeros((T, B, H))
            if g_h is not None:
                dH[T - 1].add_(g_h)
            notm = (1 - mf).unbind(0)
            dhs = dH.unbind(0)
            for t in range(T - 1, 0, -1):  # a masked step t kept h_{t-1}: its cotangent passes through
                dhs[t - 1].addcmul_(dhs[t], notm[t])
            dh0 = dH[0] * notm[0]
        else:
            dh0 = G.new_zeros((B, H))
            if g_h is None:
                dH = g_out if g_out is not None else G.new_zeros((T, B, H))
            else:
                dH = g_out.clone(memory_format=torch.contiguous_format) if g_out is not None else \
                    G.new_zeros((T, B, H))
                dH[T - 1].add_(g_h)
        Gv = G.unflatten(2, (5, H))
        f, i, o, m, n = (Gv[:, :, k] for k in range(5))
        # F_t: what carries c_t's cotangent to c_{t-1} (f, or 1 on a masked step)
        F = torch.where(mask.unsqueeze(2), f, 1.0) if mask is not None else f
        Fs = F.unbind(0)
        # du first holds the derivative factors, then per step the pre-activation gradients in place:
        #   du_f = dc * f' c_{t-1}, du_i = dc * i' n, du_o = gh * o' tanh(c), du_m = gv * m' tanh(c), du_n = dc * n' i
        # and dc_t = gc_t + E_t + gv_t K_t, E = gh o (1 - tanh(c)^2), K = m (1 - tanh(c)^2), gc_t = dc_{t+1} F_{t+1}.
        # The factors (du_o and E complete: gh is known) are tabulated a chunk of steps at a time, in cache.
        du = torch.empty_like(G)
        dv = du.unflatten(2, (5, H))
        step_bytes = max(1, G[0].numel() * G.element_size())
        chunk = max(1, min(T, _CHUNK_BYTES // step_bytes))
        ones_g = torch.ones_like(G[:chunk])
        ones = ones_g[:, :, :H]
        K, E = torch.empty_like(TC[:chunk]), torch.empty_like(TC[:chunk])

        def tables(a: int, b: int) -> None:
            k = b - a
            torch.sub(ones_g[:k], G[a:b], out=du[a:b]).mul_(G[a:b])  # sigmoid' of every block ...
            torch.addcmul(ones[:k], n[a:b], n[a:b], value=-1, out=dv[a:b, :, 4])  # ... tanh' for n
            dv[a:b, :, 0].mul_(C[a:b])
            dv[a:b, :, 1].mul_(n[a:b])
            dv[a:b, :, 4].mul_(i[a:b])
            tc = TC[a:b]
            Kc = torch.addcmul(ones[:k], tc, tc, value=-1, out=K[:k])
            if mf is not None:  # a masked step's gates get no gradient
                du[a:b].mul_(mf[a:b])
                Kc.mul_(mf[a:b])
            dv[a:b, :, 2:4].mul_(tc.unsqueeze(2))
            dv[a:b, :, 2].mul_(dH[a:b])
            torch.mul(Kc, o[a:b], out=E[:k]).mul_(dH[a:b])
            Kc.mul_(m[a:b])

        dus, du_fi, du_m, du_n = du.unbind(0), dv[:, :, :2].unbind(0), dv[:, :, 3].unbind(0), dv[:, :, 4].unbind(0)
        Ks, Es = K.unbind(0), E.unbind(0)
        dc_b = dc.unsqueeze(1)
        gv_m = torch.empty_like(gv) if mask is not None else None
        for b in range(T, 0, -chunk):
            a = max(0, b - chunk)
            tables(a, b)
            for t in range(b - 1, a - 1, -1):
                j = t - a
                du_m[t].mul_(gv)
                if t == T - 1:
                    dc.add_(Es[j])
                else:
                    torch.addcmul(Es[j], dc, Fs[t + 1], out=dc)
                dc.addcmul_(gv, Ks[j])
                du_fi[t].mul_(dc_b)
                du_n[t].mul_(dc)
                if gv_m is not None:  # a masked step kept v: its cotangent passes through
                    torch.mul(gv, notm[t], out=gv_m)
                    torch.addmm(gv_m, dus[t], W, out=gv)
                else:
                    torch.mm(dus[t], W, out=gv)
        dc.mul_(Fs[0])
        dW = du.flatten(0, 1).t() @ V[:-1].flatten(0, 1) if ctx.needs_input_grad[1] else None
        return _with_projection(ctx, du, dW, dh0, gv, dc, x_flat, weight_ih)


def _with_projection(ctx: Any, du: Tensor, dW: Tensor | None, dh0: Tensor, dv0: Tensor, dc0: Tensor,
                     x_flat: Tensor | None, weight_ih: Tensor | None) -> tuple[Tensor | None, ...]:
    """The Function's gradients: ``u``'s, or, with the projection inside, those of x, weight_ih and the bias, one
    product (or sum) over all steps each."""
    if not ctx.projected:
        return du, dW, dh0, dv0, dc0, None, None, None, None
    assert x_flat is not None and weight_ih is not None
    need = ctx.needs_input_grad
    du_flat = du.view(-1, du.shape[2])
    dx = torch.mm(du_flat, weight_ih).view(ctx.x_shape) if need[6] else None
    d_wih = torch.mm(du_flat.t(), x_flat) if need[7] else None
    db = du_flat.sum(0) if ctx.has_bias and need[8] else None
    return None, dW, dh0, dv0, dc0, None, dx, d_wih, db


def memory_controller_lstm_recurrence(u: Tensor | None, W: Tensor, h0: Tensor, v0: Tensor, c0: Tensor,
                                      mask: Tensor | None = None, *,
                                      projection: tuple[Tensor, Tensor, Tensor | None] | None = None
                                      ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run the memory-controller LSTM over ``u (T, B, 5H)`` (``project`` of the time-major input) with
    ``W = weight_hh (5H, H)`` from ``(h0, v0, c0)``, each ``(B, H)``; ``mask (T, B)`` True = valid step. Returns
    ``(out (T, B, H), h_T, v_T, c_T)``, equal to the step loop's.

    ``projection=(x (T, B, I), weight_ih (5H, I), bias (5H,) or None)`` instead of ``u`` (None): the Function
    computes ``u = x @ weight_ih.T + bias`` itself, straight into its gate buffer (no copy of ``u``), and returns
    the gradients of x, weight_ih and bias."""
    if (u is None) == (projection is None):
        raise ValueError("memory_controller_lstm_recurrence: expected exactly one of u and projection")
    if projection is not None:
        x, weight_ih, bias = projection
        G = 5 * h0.shape[-1]
        if x.dim() != 3 or tuple(weight_ih.shape) != (G, x.shape[2]) or (bias is not None and bias.shape != (G,)):
            raise ValueError(f"projection: expected x (T, B, I), weight_ih ({G}, I) and bias ({G},) or None, got "
                             f"{tuple(x.shape)}, {tuple(weight_ih.shape)}, "
                             f"{None if bias is None else tuple(bias.shape)}")
        check_mask(mask, x.shape[0], x.shape[1])
        return MemoryControllerLSTMFunction.apply(None, W, h0, v0, c0, mask, x, weight_ih, bias)
    check_mask(mask, u.shape[0], u.shape[1])
    return MemoryControllerLSTMFunction.apply(u, W, h0, v0, c0, mask)
