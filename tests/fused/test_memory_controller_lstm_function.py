"""The memory-controller LSTM's Function against the cell's step loop (its reference twin), float64: outputs, the
final (h, v, c) and every gradient (input projection, recurrent weight, initial state), with a mask with holes and
at T = 1 and T = 0."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.cells.memory_controller_lstm import MemoryControllerLSTMCell, MemoryControllerLSTMState
from rnnzoo.fused.loop import autograd_loop
from rnnzoo.fused.memory_controller_lstm import memory_controller_lstm_recurrence

B, I, H = 3, 4, 5


def _inputs(T, seed):
    g = torch.Generator().manual_seed(seed)
    cell = MemoryControllerLSTMCell(I, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64, generator=g))  # large: every nonlinearity bends
    u = torch.randn(T, B, 5 * H, dtype=torch.float64, generator=g, requires_grad=True)
    state = [torch.randn(B, H, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(3)]
    cot = [torch.randn(T, B, H, dtype=torch.float64, generator=g)] + [
        torch.randn(B, H, dtype=torch.float64, generator=g) for _ in range(3)]
    return cell, u, state, cot


@pytest.mark.parametrize("T, holes", [(6, False), (6, True), (1, False), (1, True)])
def test_function_equals_the_step_loop(T, holes):
    cell, u, state, cot = _inputs(T, seed=T + holes)
    mask = None
    if holes:
        mask = torch.ones(T, B, dtype=torch.bool)
        mask[0, 1] = False
        if T > 1:
            mask[2:4, 0] = False
            mask[3:, 2] = False
    results = []
    for fused in (False, True):
        if fused:
            out, *final = memory_controller_lstm_recurrence(u, cell.weight_hh, *state, mask)
        else:
            out, s = autograd_loop(cell.step, u, MemoryControllerLSTMState(*state), mask)
            final = list(s)
        loss = (out * cot[0]).sum() + sum((f * c).sum() for f, c in zip(final, cot[1:], strict=True))
        inputs = [u, cell.weight_hh, *state]
        grads = torch.autograd.grad(loss, inputs, allow_unused=True)  # h0 never read without a mask: h does not recur
        results.append((out, final, [torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs,
                                                                                              strict=True)]))
    (o1, f1, g1), (o2, f2, g2) = results
    torch.testing.assert_close(o2, o1, rtol=0, atol=1e-12)
    for a, b in zip(f2, f1, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    for a, b in zip(g2, g1, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_zero_steps_return_the_state():
    cell, u, state, _ = _inputs(0, seed=0)
    out, *final = memory_controller_lstm_recurrence(u, cell.weight_hh, *state)
    assert out.shape == (0, B, H)
    for a, b in zip(final, state, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("used", ["out", "h", "vc"])
def test_unused_outputs_get_no_gradient(used):
    """Backward with some cotangents None (unused outputs are not materialised), with a mask with holes."""
    T = 5
    cell, u, state, cot = _inputs(T, seed=7)
    mask = torch.ones(T, B, dtype=torch.bool)
    mask[1:3, 0] = False
    mask[4, 2] = False
    results = []
    for fused in (False, True):
        if fused:
            out, *final = memory_controller_lstm_recurrence(u, cell.weight_hh, *state, mask)
        else:
            out, s = autograd_loop(cell.step, u, MemoryControllerLSTMState(*state), mask)
            final = list(s)
        if used == "out":
            loss = (out * cot[0]).sum()
        elif used == "h":
            loss = (final[0] * cot[1]).sum()
        else:
            loss = (final[1] * cot[2]).sum() + (final[2] * cot[3]).sum()
        inputs = [u, cell.weight_hh, *state]
        grads = torch.autograd.grad(loss, inputs, allow_unused=True)
        results.append([torch.zeros_like(x) if g is None else g for g, x in zip(grads, inputs, strict=True)])
    for a, b in zip(results[1], results[0], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("T, holes, bias", [(6, False, True), (6, True, True), (1, True, False)])
def test_projection_inside_equals_the_step_loop(T, holes, bias):
    """``projection=(x, weight_ih, bias)``: the Function projects x itself; gradients of x, weight_ih and bias."""
    g = torch.Generator().manual_seed(11 + T)
    cell = MemoryControllerLSTMCell(I, H, bias=bias).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.copy_(torch.randn(p.shape, dtype=torch.float64, generator=g))
    x = torch.randn(T, B, I, dtype=torch.float64, generator=g, requires_grad=True)
    state = [torch.randn(B, H, dtype=torch.float64, generator=g, requires_grad=True) for _ in range(3)]
    cot = [torch.randn(T, B, H, dtype=torch.float64, generator=g)] + [
        torch.randn(B, H, dtype=torch.float64, generator=g) for _ in range(3)]
    mask = None
    if holes:
        mask = torch.ones(T, B, dtype=torch.bool)
        mask[0, 1] = False
        mask[2:4, 0] = False
    results = []
    for fused in (False, True):
        if fused:
            out, *final = memory_controller_lstm_recurrence(None, cell.weight_hh, *state, mask,
                                                            projection=(x, cell.weight_ih, cell.bias))
        else:
            out, s = autograd_loop(cell.step, cell.project(x), MemoryControllerLSTMState(*state), mask)
            final = list(s)
        loss = (out * cot[0]).sum() + sum((f * c).sum() for f, c in zip(final, cot[1:], strict=True))
        inputs = [x, *cell.parameters(), *state]
        grads = torch.autograd.grad(loss, inputs, allow_unused=True)
        results.append((out, final, [torch.zeros_like(v) if d is None else d for d, v in zip(grads, inputs,
                                                                                              strict=True)]))
    (o1, f1, g1), (o2, f2, g2) = results
    torch.testing.assert_close(o2, o1, rtol=0, atol=1e-12)
    for a, b in zip(f2, f1, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)
    for a, b in zip(g2, g1, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_projection_inside_with_zero_steps():
    cell = MemoryControllerLSTMCell(I, H).double()
    x = torch.zeros(0, B, I, dtype=torch.float64, requires_grad=True)
    state = [torch.randn(B, H, dtype=torch.float64, requires_grad=True) for _ in range(3)]
    out, *final = memory_controller_lstm_recurrence(None, cell.weight_hh, *state, projection=(x, cell.weight_ih,
                                                                                               cell.bias))
    assert out.shape == (0, B, H)
    for a, b in zip(final, state, strict=True):
        torch.testing.assert_close(a, b)
    sum(f.sum() for f in final).backward()
    assert x.grad.shape == x.shape and float(cell.weight_ih.grad.abs().sum()) == 0.0
