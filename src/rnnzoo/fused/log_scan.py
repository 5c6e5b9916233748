r"""Diagonal linear recurrences ``h_t = a_t * h_{t-1} + b_t`` (minGRU, minLSTM) with 0 < a_t and b_t > 0.

Two exact ways to compute all steps, equal up to rounding:

* :func:`log_space_scan`: the parallel form of Feng et al. 2024 (arXiv:2410.01201, appendix: the
  log-space ``parallel_scan_log``), in plain autograd ops, O(1) kernels in T::

      log A_t = cumsum(log a)_t                                 # A_t = a_1 ... a_t
      log S_t = log A_t + logcumsumexp(log b - log A)_t         # S_t = sum_k (a_{k+1} ... a_t) b_k
      h_t     = A_t * h_0 + exp(log S_t)

  ``h_0`` enters linearly beside the scan, not as its first log term (which needs h_0 > 0 and is how
  ``mingru-pytorch`` gets h_0 != 0 wrong, lucidrains/minGRU-pytorch#9): any real h_0 is exact.
* :func:`linear_recurrence`: the sequential form, one ``addcmul`` per step into a preallocated buffer
  (:class:`LinearRecurrenceFunction`, hand-written backward: ``dh_{t-1} = dout_{t-1} + a_t * dh_t``, one
  fused multiply-add per step, then ``db = dh`` and ``da = dh * h_{t-1}`` for all steps at once).

Masks (True = valid): a masked step has ``a = 1, b = 0`` (``log a = 0``, ``log b`` = the dtype's most
negative finite number, not -inf, whose logcumsumexp gradient is NaN), so it keeps the state; outputs are
zero there. The callers (``rnnzoo.cells.minrnn``) apply the mask before calling.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused.workspace import buffer


def log_space_scan(log_a: Tensor, log_b: Tensor, h0: Tensor) -> Tensor:
    """All states of ``h_t = a_t * h_{t-1} + b_t`` from the log coefficients.

    Args:
        log_a: ``(T, B, H)``, ``log a_t`` (<= 0 for a contraction; any real works).
        log_b: ``(T, B, H)``, ``log b_t`` (b > 0).
        h0: ``(B, H)``, any real numbers.

    Returns:
        ``(T, B, H)``: h_1 ... h_T.
    """
    log_A = torch.cumsum(log_a, 0)
    log_S = log_A + torch.logcumsumexp(log_b - log_A, 0)
    return torch.addcmul(log_S.exp(), log_A.exp(), h0)


class LinearRecurrenceFunction(torch.autograd.Function):
    """``(a, b, h0) -> H (T, B, H)``: the sequential recurrence; see the module."""

    @staticmethod
    def forward(ctx: Any, a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
        T = a.shape[0]
        hs_all = buffer(a, (T + 1, *h0.shape))
        hs_all[0] = h0
        as_, bs, hs = a.unbind(0), b.unbind(0), hs_all.unbind(0)
        for t in range(T):
            torch.addcmul(bs[t], as_[t], hs[t], out=hs[t + 1])
        ctx.save_for_backward(a, hs_all if ctx.needs_input_grad[0] else None)
        return hs_all[1:]

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, gout: Tensor) -> tuple[Tensor | None, ...]:
        a, hs_all = ctx.saved_tensors
        T = gout.shape[0]
        dh = torch.empty_like(gout)  # total gradient reaching h_t
        dh[T - 1] = gout[T - 1]
        dhs, gouts, as_ = dh.unbind(0), gout.unbind(0), a.unbind(0)
        for t in range(T - 1, 0, -1):
            torch.addcmul(gouts[t - 1], as_[t], dhs[t], out=dhs[t - 1])
        need = ctx.needs_input_grad
        da = dh * hs_all[:-1] if need[0] else None
        dh0 = dh[0] * a[0] if need[2] else None
        return da, dh if need[1] else None, dh0


def linear_recurrence(a: Tensor, b: Tensor, h0: Tensor) -> Tensor:
    """All states of ``h_t = a_t * h_{t-1} + b_t``, sequentially: ``a``, ``b`` ``(T, B, H)``, ``h0`` ``(B, H)``
    -> ``(T, B, H)``."""
    if a.shape != b.shape or tuple(h0.shape) != tuple(a.shape[1:]):
        raise ValueError(f"a, b, h0: expected (T, B, H), (T, B, H), (B, H), got {tuple(a.shape)}, "
                         f"{tuple(b.shape)}, {tuple(h0.shape)}")
    return LinearRecurrenceFunction.apply(a, b, h0)
