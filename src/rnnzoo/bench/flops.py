"""Floating-point operations of one train step (issue 11: "the benchmark computes each model's FLOPs per train
step and prints GFLOP/s beside the time").

Counted, not modelled: one train step (forward on the row's input, ``output.sum().backward()``) of the built
module runs once under :class:`torch.utils.flop_counter.FlopCounterMode`, outside the timed rounds, and the
count is what torch's counter attributes to the ATen ops dispatched: the matrix products (``mm``, ``addmm``,
``bmm``, ``baddbmm``, convolutions, attention), each ``2 * m * n * k``; elementwise work (gates,
nonlinearities, scans) is not counted. So a row's GFLOP/s is its rate of matrix-product arithmetic, the
quantity issue 11's target for matrix recurrences compares with torch.nn.LSTM's. The same rule counts every
row (rnnzoo models, torch.nn.LSTM, peers): a hand-written backward is counted through the products it runs.

**torch.nn.LSTM on the CPU**: its train step dispatches one opaque oneDNN op per direction
(``aten.mkldnn_rnn_layer`` and ``aten.mkldnn_rnn_layer_backward``), which the counter does not see (it counts
0). The counting step therefore runs with oneDNN disabled (``torch.backends.mkldnn.flags(enabled=False)``),
where torch's LSTM takes its native path of ``addmm``/``mm`` per step: the same products oneDNN computes (the
timed steps keep oneDNN). For ``nn.LSTM(I, H)`` at (B, T) that count is exactly :func:`lstm_train_flops`:
``2 B T 4H (I + H)`` forward, the same again for the weight gradients, ``2 B (T - 1) 4H H`` for the state
gradient (nothing for the input, which needs no gradient, nor for the initial state);
``tests/bench/test_bench_flops.py`` holds the counter to it.

**In-place products**: torch's counter has no formula for ``aten.addmm_`` and ``aten.baddbmm_`` (it counts 0), which
the hand-written Functions use (a weight gradient accumulated into one buffer, a product added into a gate buffer):
:data:`IN_PLACE` maps them to the formulas of ``addmm`` and ``baddbmm`` (the same arithmetic).
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from rnnzoo.bench.cases import Size, train_step


def _addmm_flop(self_shape: Any, a_shape: Any, b_shape: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """``self += a (m, k) @ b (k, n)``: 2 m k n (torch's ``addmm`` formula)."""
    return 2 * a_shape[0] * a_shape[1] * b_shape[1]


def _baddbmm_flop(self_shape: Any, a_shape: Any, b_shape: Any, out_shape: Any = None, **kwargs: Any) -> int:
    """``self += a (p, m, k) @ b (p, k, n)``: 2 p m k n (torch's ``baddbmm`` formula)."""
    return 2 * a_shape[0] * a_shape[1] * a_shape[2] * b_shape[2]


IN_PLACE = {torch.ops.aten.addmm_: _addmm_flop, torch.ops.aten.baddbmm_: _baddbmm_flop}
"""The in-place products torch's counter leaves out, with the formulas of their out-of-place twins."""


def train_step_flops(module: nn.Module, x: Any) -> int:
    """The floating-point operations of one train step of ``module`` on ``x`` (see the module docstring):
    forward, ``output.sum().backward()``, counted with oneDNN off; the gradients are cleared before and after."""
    module.zero_grad(set_to_none=True)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="TF32 acceleration on top of oneDNN")  # flags() sets it back
        counter = FlopCounterMode(display=False, custom_mapping=IN_PLACE)
        with torch.backends.mkldnn.flags(enabled=False), counter:
            train_step(module, x)
    module.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def lstm_train_flops(size: Size) -> int:
    """``torch.nn.LSTM(I, H)``'s train step at ``size``, by hand: the forward products ``2 B T 4H (I + H)``, the
    weight gradients as many, the state gradient ``2 B (T - 1) 4H H`` (no input or initial-state gradient)."""
    B, T, I, H = size.B, size.T, size.I, size.H
    return 2 * (2 * B * T * 4 * H * (I + H)) + 2 * B * (T - 1) * 4 * H * H


def gflop_rate(flops: int | None, seconds: float | None) -> float | None:
    """GFLOP/s, or None when either is unknown (or the count is 0: nothing the counter sees)."""
    if not flops or not seconds:
        return None
    return flops / seconds / 1e9
