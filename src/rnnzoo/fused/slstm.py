r"""Fused sLSTM recurrence (:class:`~rnnzoo.cells.slstm.SLSTMCell`), with a hand-written backward.

The step, with ``u_t`` the hoisted input projection and ``R`` block-diagonal per head (``weight`` ``(NH, 4d, d)``)::

    [i_raw, f_raw, z_raw, o_raw] = u_t + R h_{t-1}
    log_f = logsigmoid(f_raw)   (exp forget gate: f_raw)
    m_t = max(log_f + m_{t-1}, i_raw);  i = exp(i_raw - m_t);  f = exp(log_f + m_{t-1} - m_t)
    z = tanh(z_raw);  o = sigmoid(o_raw)
    c_t = f c_{t-1} + i z;  n_t = f n_{t-1} + i;  h_t = o c_t / n_t

Masked steps (``mask[t, b]`` False) keep ``(h, c, n, m)`` and output zero.

Forward loops with raw tensor ops (no autograd graph) and keeps the states before every step and the
activated gates. Backward, per step, from ``dh`` (output plus recurrence), ``dc``, ``dn``, ``dm``::

    do = dh c/n;  dc += dh o / n;  dn -= dh o c / n^2
    di = dc z + dn;  df = dc c_{t-1} + dn n_{t-1};  dz = dc i
    d(i_raw) = di i;  d(log_f) = df f;  dm_{t-1} = df f;  dm -= di i + df f
    the max routes dm to (log_f, m_{t-1}) where log_f + m_{t-1} >= i_raw, else to i_raw
    d(f_raw) = d(log_f) sigmoid(-f_raw) (exp gate: d(log_f));  d(z_raw) = dz (1 - z^2);  d(o_raw) = do o (1 - o)
    dc_{t-1} = dc f;  dn_{t-1} = dn f;  dh_{t-1} = R^T [d(i_raw), d(f_raw), d(z_raw), d(o_raw)]

and the recurrent weight's gradient over all steps as one batched product per head.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask
from rnnzoo.fused.workspace import buffer


def _heads_in(g: Tensor, NH: int) -> Tensor:
    """Gate-major ``(..., 4H)`` -> ``(NH, N, 4d)`` (per head, rows i f z o)."""
    N = g.numel() // g.shape[-1]
    return g.reshape(N, 4, NH, -1).permute(2, 0, 1, 3).reshape(NH, N, -1)


def _heads_out(r: Tensor, NH: int) -> Tensor:
    """``(NH, N, 4d)`` -> gate-major ``(N, 4H)``."""
    N = r.shape[1]
    return r.reshape(NH, N, 4, -1).permute(1, 2, 0, 3).reshape(N, -1)


class _Recurrent:
    """``h -> R h`` and its transpose for the block-diagonal ``weight`` (NH, 4d, d)."""

    def __init__(self, weight: Tensor) -> None:
        self.weight, self.NH = weight, weight.shape[0]

    def forward(self, h: Tensor) -> Tensor:  # (B, H) -> (B, 4H)
        if self.NH == 1:
            return h @ self.weight[0].t()
        hh = h.view(h.shape[0], self.NH, -1).transpose(0, 1)
        return _heads_out(torch.bmm(hh, self.weight.transpose(1, 2)), self.NH)

    def backward(self, dg: Tensor) -> Tensor:  # (B, 4H) -> (B, H)
        if self.NH == 1:
            return dg @ self.weight[0]
        dh = torch.bmm(_heads_in(dg, self.NH), self.weight)  # (NH, B, d)
        return dh.transpose(0, 1).reshape(dg.shape[0], -1)

    def weight_grad(self, dg: Tensor, h: Tensor) -> Tensor:
        """``dg (T, B, 4H)``, ``h (T, B, H)`` -> ``(NH, 4d, d)`` in one batched product."""
        if self.NH == 1:
            return (dg.reshape(-1, dg.shape[-1]).t() @ h.reshape(-1, h.shape[-1])).unsqueeze(0)
        hh = h.reshape(-1, self.NH, h.shape[-1] // self.NH).transpose(0, 1)  # (NH, N, d)
        return torch.bmm(_heads_in(dg, self.NH).transpose(1, 2), hh)


class SLSTMFunction(torch.autograd.Function):
    """``(u, h0, c0, n0, m0, weight, mask, exp_forget) -> (out, h, c, n, m)``; see the module."""

    @staticmethod
    def forward(ctx: Any, u: Tensor, h0: Tensor, c0: Tensor, n0: Tensor, m0: Tensor, weight: Tensor,
                mask: Tensor | None, exp_forget: bool) -> tuple[Tensor, ...]:
        T, B, G = u.shape
        H = G // 4
        rec = _Recurrent(weight)
        S = buffer(u, (4, T + 1, B, H))  # h, c, n, m before/after every step
        for k, s0 in enumerate((h0, c0, n0, m0)):
            S[k, 0] = s0
        gates = buffer(u, (T, 5, B, H))  # i, f, z, o, sigmoid(-f_raw) (unused for exp gates)
        sel = torch.empty((T, B, H), dtype=torch.bool, device=u.device)  # the max took the forget branch
        for t in range(T):
            h, c, n, m = S[0, t], S[1, t], S[2, t], S[3, t]
            raw = u[t] + rec.forward(h)
            i_raw, f_raw, z_raw, o_raw = raw.chunk(4, 1)
            g = gates[t]
            if exp_forget:
                log_f = f_raw
            else:
                torch.sigmoid(-f_raw, out=g[4])
                log_f = torch.nn.functional.logsigmoid(f_raw)
            lfm = log_f + m
            torch.ge(lfm, i_raw, out=sel[t])
            m_new = torch.maximum(lfm, i_raw)
            torch.exp(i_raw - m_new, out=g[0])
            torch.exp(lfm - m_new, out=g[1])
            torch.tanh(z_raw, out=g[2])
            torch.sigmoid(o_raw, out=g[3])
            # the step's own operations in its order, so both paths round alike
            c_new = g[1] * c + g[0] * g[2]
            n_new = g[1] * n + g[0]
            h_new = g[3] * (c_new / n_new)
            if mask is not None:
                v = mask[t].unsqueeze(1)
                h_new, c_new, n_new, m_new = (torch.where(v, a, b) for a, b in
                                              ((h_new, h), (c_new, c), (n_new, n), (m_new, m)))
            S[0, t + 1], S[1, t + 1], S[2, t + 1], S[3, t + 1] = h_new, c_new, n_new, m_new
        out = S[0, 1:]
        if mask is not None:
            out = out * mask.unsqueeze(2).to(out.dtype)
        ctx.save_for_backward(S, gates, sel, weight, mask)
        ctx.exp_forget = exp_forget
        return out, S[0, T].clone(), S[1, T].clone(), S[2, T].clone(), S[3, T].clone()

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor, gh: Tensor, gc: Tensor, gn: Tensor, gm: Tensor) -> tuple[Tensor | None, ...]:
        S, gates, sel, weight, mask = ctx.saved_tensors
        T, B, H = gout.shape
        rec = _Recurrent(weight)
        du = buffer(gout, (T, B, 4 * H))
        dh, dc, dn, dm = gh.clone(), gc.clone(), gn.clone(), gm.clone()
        if mask is not None:
            gout = gout * mask.unsqueeze(2).to(gout.dtype)
        for t in range(T - 1, -1, -1):
            dh = dh + gout[t]
            c_p, n_p = S[1, t], S[2, t]
            c, n = S[1, t + 1], S[2, t + 1]
            i, f, z, o = gates[t, 0], gates[t, 1], gates[t, 2], gates[t, 3]
            d_i, d_f, d_z, d_o = du[t].chunk(4, 1)
            hn = c / n
            torch.mul(dh * hn, o * (1 - o), out=d_o)
            dho_n = dh * o / n
            dc_t = dc + dho_n
            dn_t = dn - dho_n * hn
            di = torch.addcmul(dn_t, dc_t, z)
            df = torch.addcmul(dc_t * c_p, dn_t, n_p)
            torch.mul(dc_t * i, 1 - z * z, out=d_z)
            dii = di * i
            dff = df * f
            dm_t = dm - dii - dff
            fwd = sel[t]
            dlf = dff + torch.where(fwd, dm_t, 0.0)
            torch.add(dii, torch.where(fwd, 0.0, dm_t), out=d_i)
            if ctx.exp_forget:
                d_f.copy_(dlf)
            else:
                torch.mul(dlf, gates[t, 4], out=d_f)
            dm_p = dff + torch.where(fwd, dm_t, 0.0)
            dc_p, dn_p = dc_t * f, dn_t * f
            if mask is not None:
                v = mask[t].unsqueeze(1)
                du[t].masked_fill_(~v, 0.0)
                dc, dn, dm = torch.where(v, dc_p, dc), torch.where(v, dn_p, dn), torch.where(v, dm_p, dm)
                dh = torch.where(v, rec.backward(du[t]), dh)
            else:
                dc, dn, dm, dh = dc_p, dn_p, dm_p, rec.backward(du[t])
        dw = rec.weight_grad(du, S[0, :-1]) if ctx.needs_input_grad[5] else None
        return du, dh, dc, dn, dm, dw, None, None


def slstm_recurrence(u: Tensor, state: tuple[Tensor, Tensor, Tensor, Tensor], weight: Tensor, *,
                     exp_forget: bool = False, mask: Tensor | None = None) -> tuple[Tensor, tuple[Tensor, ...]]:
    """The sLSTM over all steps with the fused Function.

    Args:
        u: ``(T, B, 4H)`` time-major input projections, gate-major ``[i | f | z | o]``.
        state: ``(h, c, n, m)``, each ``(B, H)``.
        weight: ``(NH, 4d, d)``, the recurrent block of each head (rows i f z o).
        exp_forget: an exponential forget gate (``log f = f_raw``) instead of a sigmoid one.
        mask: ``(T, B)`` boolean, True = valid step.

    Returns:
        ``(out (T, B, H), (h, c, n, m))``.
    """
    check_mask(mask, u.shape[0], u.shape[1])
    out, *final = SLSTMFunction.apply(u, *state, weight, mask, exp_forget)
    return out, tuple(final)
