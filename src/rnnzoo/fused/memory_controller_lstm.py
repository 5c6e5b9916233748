r"""The memory-controller LSTM's whole sequence in one autograd Function with a hand-written backward
(:class:`~rnnzoo.cells.memory_controller_lstm.MemoryControllerLSTMCell`)::

    [f, i, o, m | n]_t = [sigmoid | tanh](u_t + v_{t-1} @ U.T)        # u = project(x): W x + b, blocks f, i, o, m, n
    c_t = f_t c_{t-1} + i_t n_t;   h_t = o_t tanh(c_t);   v_t = m_t tanh(c_t)

Forward: per step one ``addmm`` into a preallocated gate buffer ``G (T, B, 5H)``, activated in place, and the
states written into preallocated ``(T+1, B, H)`` buffers (no autograd graph, no whole-sequence temporaries).

Backward, per step (``gh, gv, gc``: the cotangents of h_t, v_t, c_t; h does not recur, so ``gh`` is the output's
cotangent at that step, plus the final state's at T)::

    dc  = gc + (gh o + gv m) (1 - tanh(c)^2)
    ds  = [dc c_{t-1}, dc n, gh tanh(c), gv tanh(c)] * g (1 - g)  |  dc i (1 - n^2)     # written into du[t]
    gv' = ds @ U;   gc' = dc f

and ``dU = sum_t ds_t^T v_{t-1}`` as one product over all steps. A masked step keeps every state field (h too) and
passes the three cotangents through. The cell's step loop is the reference twin: the model contract suite and
``tests/fused/test_memory_controller_lstm_function.py`` hold the two equal in outputs and float64 gradients.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask


class MemoryControllerLSTMFunction(torch.autograd.Function):
    """``(u (T, B, 5H), W (5H, H), h0, v0, c0 (B, H), mask (T, B) or None) -> (out (T, B, H), h_T, v_T, c_T)``."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, W: Tensor, h0: Tensor, v0: Tensor, c0: Tensor, mask: Tensor | None
                ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        T, B, H = u.shape[0], u.shape[1], h0.shape[-1]
        w_t = W.t()
        G = u.new_empty((T, B, 5 * H))
        Hs, V, C, TC = (u.new_empty((T + 1, B, H)) for _ in range(4))
        Hs[0], V[0], C[0] = h0, v0, c0
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        gs, us, hs, vs, cs, tcs = G.unbind(0), u.unbind(0), Hs.unbind(0), V.unbind(0), C.unbind(0), TC.unbind(0)
        for t in range(T):
            g = torch.addmm(us[t], vs[t], w_t, out=gs[t])
            g[:, :4 * H].sigmoid_()
            g[:, 4 * H:].tanh_()
            f, i, o, m, n = g.split(H, -1)
            c = torch.mul(f, cs[t], out=cs[t + 1]).addcmul_(i, n)
            tc = torch.tanh(c, out=tcs[t])
            torch.mul(o, tc, out=hs[t + 1])
            torch.mul(m, tc, out=vs[t + 1])
            if ms is not None:
                for buf in (cs, hs, vs):
                    torch.where(ms[t], buf[t + 1], buf[t], out=buf[t + 1])
        out = Hs[1:] * mask.unsqueeze(2).to(Hs.dtype) if mask is not None else Hs[1:].clone()
        ctx.has_mask = mask is not None
        ctx.save_for_backward(W, G, V, C, TC, mask if mask is not None else u.new_empty(0))
        return out, Hs[T].clone(), V[T].clone(), C[T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor | None, g_h: Tensor | None, g_v: Tensor | None, g_c: Tensor | None
                 ) -> tuple[Tensor | None, ...]:
        W, G, V, C, TC, mask = ctx.saved_tensors
        mask = mask if ctx.has_mask else None
        T, B, H = G.shape[0], G.shape[1], V.shape[-1]
        zeros = V.new_zeros((B, H))
        gh = g_h if g_h is not None else zeros
        gv = g_v if g_v is not None else zeros
        gc = g_c if g_c is not None else zeros
        du = G.new_empty((T, B, 5 * H))
        dus, gs, cs, tcs = du.unbind(0), G.unbind(0), C.unbind(0), TC.unbind(0)
        gos = g_out.unbind(0) if g_out is not None else None
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        for t in range(T - 1, -1, -1):
            if gos is not None:  # the output is zero on a masked row: its gradient goes nowhere
                gh = gh + gos[t] * ms[t] if ms is not None else gh + gos[t]
            if ms is not None:
                gh_t, gv_t, gc_t = gh * ms[t], gv * ms[t], gc * ms[t]
            else:
                gh_t, gv_t, gc_t = gh, gv, gc
            g, tc, ds = gs[t], tcs[t], dus[t]
            f, i, o, m, n = g.split(H, -1)
            dsf, dsi, dso, dsm, dsn = ds.split(H, -1)
            dtc = torch.mul(gh_t, o).addcmul_(gv_t, m)
            dc = torch.addcmul(gc_t, dtc, 1 - tc * tc)
            torch.mul(dc, cs[t], out=dsf)
            torch.mul(dc, n, out=dsi)
            torch.mul(gh_t, tc, out=dso)
            torch.mul(gv_t, tc, out=dsm)
            torch.mul(dc, i, out=dsn)
            sig = g[:, :4 * H]
            ds[:, :4 * H].mul_(sig - sig * sig)
            dsn.mul_(1 - n * n)
            gv_new = ds @ W
            gc_new = dc * f
            if ms is not None:  # a masked step kept every field: its cotangents pass through
                gh = torch.where(ms[t], 0.0, gh)
                gv, gc = torch.where(ms[t], gv_new, gv), torch.where(ms[t], gc_new, gc)
            else:
                gh, gv, gc = zeros, gv_new, gc_new
        dW = du.flatten(0, 1).t() @ V[:-1].flatten(0, 1) if T else torch.zeros_like(W)
        return du, dW, gh, gv, gc, None


def memory_controller_lstm_recurrence(u: Tensor, W: Tensor, h0: Tensor, v0: Tensor, c0: Tensor,
                                      mask: Tensor | None = None) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """Run the memory-controller LSTM over ``u (T, B, 5H)`` (``project`` of the time-major input) with
    ``W = weight_hh (5H, H)`` from ``(h0, v0, c0)``, each ``(B, H)``; ``mask (T, B)`` True = valid step. Returns
    ``(out (T, B, H), h_T, v_T, c_T)``, equal to the step loop's."""
    check_mask(mask, u.shape[0], u.shape[1])
    return MemoryControllerLSTMFunction.apply(u, W, h0, v0, c0, mask)
