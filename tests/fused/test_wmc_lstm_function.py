"""The fused WMC-LSTM Function (:mod:`rnnzoo.fused.wmc_lstm`) against the cell's step loop, its reference twin, in
float64: outputs, final (h, c) and every gradient (input, initial h and c, each parameter), with a mask with holes
and one step."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.wmc_lstm import WMCLSTMCell, WMCLSTMState
from rnnzoo.fused.wmc_lstm import wmc_lstm_recurrence

B, I, H = 3, 5, 4


def _grads(cell, fn, T, masked, seed):
    """``fn(x (T, B, I), h0, c0, mask (T, B) or None) -> (out, h_T, c_T)``; the outputs and the gradients of a random
    linear loss of all three with respect to x, h0, c0 and every parameter."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, I, generator=g, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, generator=g, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(B, H, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(T, B, generator=g) > 0.4 if masked else None
    w_out = torch.randn(T, B, H, generator=g, dtype=torch.float64)
    w_h, w_c = torch.randn(2, B, H, generator=g, dtype=torch.float64)
    out, h, c = fn(x, h0, c0, mask)
    loss = (out * w_out).sum() + (h * w_h).sum() + (c * w_c).sum()
    grads = torch.autograd.grad(loss, [x, h0, c0, *cell.parameters()])
    return (out.detach(), h.detach(), c.detach()), grads


def _run(cell, use_fused):
    def fn(x, h0, c0, mask):
        r = rnnzoo.run(cell, x, WMCLSTMState(h0, c0), mask=mask, batch_first=False, use_fused=use_fused)
        return r.output, r.state.h, r.state.c
    return fn


def _function(cell):
    def fn(x, h0, c0, mask):
        return wmc_lstm_recurrence(cell.project(x), cell.weight_hh, cell.weight_ch, h0, c0, mask)
    return fn


@pytest.mark.parametrize("masked", [False, True], ids=["dense", "mask"])
@pytest.mark.parametrize("T", [1, 7])
@pytest.mark.parametrize("bias", [True, False])
def test_function_equals_step_loop(T, masked, bias):
    torch.manual_seed(0)
    cell = WMCLSTMCell(I, H, bias=bias).double()
    assert cell.fused_kind == "rnnzoo"
    ref_out, ref_grads = _grads(cell, _run(cell, False), T, masked, seed=1)
    for fn in (_function(cell), _run(cell, True)):
        out, grads = _grads(cell, fn, T, masked, seed=1)
        for a, b in zip(out, ref_out, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        for a, b in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_masked_step_keeps_state_and_outputs_zero():
    cell = WMCLSTMCell(I, H).double()
    x = torch.randn(4, B, I, dtype=torch.float64)
    h0, c0 = torch.randn(2, B, H, dtype=torch.float64)
    mask = torch.ones(4, B, dtype=torch.bool)
    mask[1:, 0] = False
    out, h, c = wmc_lstm_recurrence(cell.project(x), cell.weight_hh, cell.weight_ch, h0, c0, mask)
    assert (out[1:, 0] == 0).all()
    torch.testing.assert_close(h[0], out[0, 0])
