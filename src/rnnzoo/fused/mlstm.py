r"""mLSTM's parallel (training) form, stabilised, with the initial state and masks taken exactly.

The recurrent form (:class:`~rnnzoo.cells.mlstm.MLSTMCell`'s step) unrolls to, for steps ``s <= t`` of one
head, with ``b_t = sum_{r<=t} log_f_r`` (the cumulative log forget gate)::

    C_t exp(m_t) = exp(b_t + m_0) C_0 + sum_{s<=t} exp(b_t - b_s + i_raw_s) v_s k_s^T
    n_t exp(m_t) = exp(b_t + m_0) n_0 + sum_{s<=t} exp(b_t - b_s + i_raw_s) k_s
    m_t          = max(b_t + m_0, max_{s<=t} (b_t - b_s + i_raw_s))

(the last line is the recurrent ``m_t = max(log_f_t + m_{t-1}, i_raw_t)`` unrolled), so with
``D[t, s] = exp(b_t - b_s + i_raw_s - m_t)`` and ``d0[t] = exp(b_t + m_0 - m_t)``::

    num_t = sum_s D[t, s] (q_t . k_s) v_s + d0[t] C_0 q_t
    den_t = sum_s D[t, s] (q_t . k_s)     + d0[t] (n_0 . q_t)
    h~_t  = num_t / (max(|den_t|, exp(-m_t)) + eps)

which is the recurrent form's ``h~_t`` exactly (the package's ``parallel_stabilized_simple`` is this with
a zero initial state; its row maximum is the recurrent ``m_t``). A masked step (``mask[t, b]`` False)
has ``log_f = 0`` and ``i_raw = -inf``: ``i' = 0``, ``f' = 1``, ``m`` unchanged, the state frozen, which
is what the step loop's freezing does. Plain autograd operations, O(T^2) memory per head.
"""

from __future__ import annotations

import torch
from torch import Tensor


def mlstm_parallel(q: Tensor, k: Tensor, v: Tensor, i_raw: Tensor, log_f: Tensor, C0: Tensor, n0: Tensor,
                   m0: Tensor, *, mask: Tensor | None = None, eps: float = 1e-6
                   ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """The parallel form over T steps.

    Shapes: q, k, v (B, NH, T, d), k already scaled by 1/sqrt(d); i_raw, log_f (B, NH, T); C0 (B, NH, d, d)
    as ``C[v_index, k_index]``; n0 (B, NH, d); m0 (B, NH); mask (T, B) booleans or None.
    Returns h~ (B, NH, T, d) (unmasked: the caller zeroes masked steps) and the final (C, n, m).
    """
    T = q.shape[2]
    if mask is not None:
        valid = mask.t()[:, None, :]  # (B, 1, T)
        log_f = log_f.masked_fill(~valid, 0.0)
        i_raw = i_raw.masked_fill(~valid, float("-inf"))
    b = torch.cumsum(log_f, dim=-1)  # (B, NH, T)
    causal = torch.ones(T, T, dtype=torch.bool, device=q.device).tril()
    log_D = (b.unsqueeze(-1) - b.unsqueeze(-2) + i_raw.unsqueeze(-2)).masked_fill(~causal, float("-inf"))
    log_d0 = b + m0.unsqueeze(-1)  # (B, NH, T), finite: it bounds m_t from below
    m = torch.maximum(log_D.amax(dim=-1), log_d0)  # (B, NH, T)
    D = torch.exp(log_D - m.unsqueeze(-1))  # (B, NH, T, T)
    d0 = torch.exp(log_d0 - m)  # (B, NH, T)
    S = (q @ k.transpose(-2, -1)) * D  # (B, NH, T, T)
    num = S @ v + d0.unsqueeze(-1) * (q @ C0.transpose(-2, -1))
    den = S.sum(-1) + d0 * (q @ n0.unsqueeze(-1)).squeeze(-1)
    h = num / (torch.maximum(den.abs(), torch.exp(-m)) + eps).unsqueeze(-1)
    w = D[:, :, -1]  # (B, NH, T): the last row carries the final state
    # two batched products (an einsum over the three factors materialised (B, NH, T, d, d))
    C = d0[:, :, -1, None, None] * C0 + (v * w.unsqueeze(-1)).transpose(-2, -1) @ k
    n = d0[:, :, -1, None] * n0 + (w.unsqueeze(-2) @ k).squeeze(-2)
    return h, C, n, m[:, :, -1]
