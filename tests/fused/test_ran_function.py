"""RAN's hand-written Function (rnnzoo.fused.ran) against the cell's own step looped by hand, float64: outputs, both
final state fields and every gradient (projected inputs, recurrent weight, h0, c0), both activations, without and with
a mask with holes, T = 1, T = 0; and the runner's fast path against its step loop."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.ran import RANCell, RANState
from rnnzoo.fused.ran import ran_recurrence

B, I, H = 3, 5, 4


def _cell(activation):
    torch.manual_seed(0)
    return RANCell(I, H, activation=activation).double()


def _function(cell, u, h0, c0, mask):
    return ran_recurrence(u, cell.weight_hh, h0, c0, mask, activation=cell.activation)


def _step_loop(cell, u, h0, c0, mask):
    """The reference: ``cell.step`` per step; a masked step keeps the state and outputs zero."""
    state, outs = RANState(h0, c0), []
    for t in range(u.shape[0]):
        y, new = cell.step(u[t], state)
        if mask is not None:
            m = mask[t].unsqueeze(1)
            new = RANState(torch.where(m, new.h, state.h), torch.where(m, new.c, state.c))
            y = torch.where(m, y, torch.zeros_like(y))
        state = new
        outs.append(y)
    return (torch.stack(outs) if outs else u.new_zeros((0, B, H))), state.h, state.c


def _grads(fn, cell, u, h0, c0, mask, w):
    u, h0, c0 = (t.detach().requires_grad_() for t in (u, h0, c0))
    cell.zero_grad(set_to_none=True)
    res = fn(cell, u, h0, c0, mask)
    sum((r * wr).sum() for r, wr in zip(res, w, strict=True)).backward()
    leaves = [u, h0, c0, cell.weight_hh]
    return [*(r.detach() for r in res), *(t.grad if t.grad is not None else torch.zeros_like(t) for t in leaves)]


def _mask(T):
    g = torch.Generator().manual_seed(1)
    mask = torch.rand(T, B, generator=g) > 0.3
    mask[0, 0] = mask[-1, 1] = False  # a hole at the first step of one row and the last of another
    mask[:, 2] = True
    return mask


@pytest.mark.parametrize("activation", ["tanh", "identity"])
@pytest.mark.parametrize(("T", "masked"), [(7, False), (7, True), (1, False), (1, True), (0, False)])
def test_function_equals_step_loop(activation, T, masked):
    cell = _cell(activation)
    u = cell.project(torch.randn(T, B, I, dtype=torch.float64)).detach()
    h0, c0 = torch.randn(B, H, dtype=torch.float64) * 0.5, torch.randn(B, H, dtype=torch.float64) * 0.5
    mask = _mask(T) if masked else None
    w = (torch.randn(T, B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64),
         torch.randn(B, H, dtype=torch.float64))
    got = _grads(_function, cell, u, h0, c0, mask, w)
    want = _grads(_step_loop, cell, u, h0, c0, mask, w)
    for a, b in zip(got, want, strict=True):
        assert a.shape == b.shape and torch.allclose(a, b, rtol=1e-12, atol=1e-12), (a - b).abs().max()


@pytest.mark.parametrize("activation", ["tanh", "identity"])
def test_runner_fast_path_equals_step_loop(activation):
    cell = _cell(activation)
    assert cell.fused_kind == rnnzoo.model_info("ran").fast_path.value == "rnnzoo"
    x = torch.randn(B, 6, I, dtype=torch.float64)
    results = []
    for fused in (True, False):
        cell.zero_grad(set_to_none=True)
        res = rnnzoo.run(cell, x, lengths=[6, 3, 1], use_fused=fused)
        (res.output.square().sum() + res.state.h.sum() + res.state.c.square().sum()).backward()
        results.append([res.output.detach(), *res.state, *(p.grad.clone() for p in cell.parameters())])
    for a, b in zip(*results, strict=True):
        assert torch.allclose(a, b, rtol=1e-12, atol=1e-12), (a - b).abs().max()
