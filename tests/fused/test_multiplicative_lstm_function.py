"""The fused multiplicative-LSTM Function (:mod:`rnnzoo.fused.multiplicative_lstm`) against the cell's step loop, its
reference twin, in float64: outputs, final (h, c) and every gradient (input, initial h and c, each parameter), with a
mask with holes, one step, both cell inputs (linear, ``candidate_tanh``) and no bias."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.multiplicative_lstm import MultiplicativeLSTMCell, MultiplicativeLSTMState
from rnnzoo.fused.multiplicative_lstm import multiplicative_lstm_recurrence

B, I, H = 3, 5, 4
OPTIONS = [{}, {"candidate_tanh": True}, {"bias": False}]


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
        r = rnnzoo.run(cell, x, MultiplicativeLSTMState(h0, c0), mask=mask, batch_first=False, use_fused=use_fused)
        return r.output, r.state.h, r.state.c
    return fn


def _function(cell):
    def fn(x, h0, c0, mask):
        return multiplicative_lstm_recurrence(cell.project(x), cell.weight_mh, cell.weight_m, h0, c0,
                                              candidate_tanh=cell.candidate_tanh, mask=mask)
    return fn


@pytest.mark.parametrize("masked", [False, True], ids=["dense", "mask"])
@pytest.mark.parametrize("T", [1, 7])
@pytest.mark.parametrize("opts", OPTIONS, ids=["default", "candidate_tanh", "no_bias"])
def test_function_equals_step_loop(opts, T, masked):
    torch.manual_seed(0)
    cell = MultiplicativeLSTMCell(I, H, **opts).double()
    assert cell.fused_kind == "rnnzoo"
    ref_out, ref_grads = _grads(cell, _run(cell, False), T, masked, seed=1)
    for fn in (_function(cell), _run(cell, True)):
        out, grads = _grads(cell, fn, T, masked, seed=1)
        for a, b in zip(out, ref_out, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-12, atol=1e-12)
        for a, b in zip(grads, ref_grads, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_masked_step_keeps_state_and_outputs_zero():
    cell = MultiplicativeLSTMCell(I, H).double()
    x = torch.randn(4, B, I, dtype=torch.float64)
    h0, c0 = torch.randn(2, B, H, dtype=torch.float64)
    mask = torch.ones(4, B, dtype=torch.bool)
    mask[1:, 0] = False
    out, h, c = multiplicative_lstm_recurrence(cell.project(x), cell.weight_mh, cell.weight_m, h0, c0, mask=mask)
    assert (out[1:, 0] == 0).all()
    torch.testing.assert_close(h[0], out[0, 0])
