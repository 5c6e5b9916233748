"""The fused MUT1/MUT2/MUT3 Function (:mod:`rnnzoo.fused.mut`) against the cells' step loop, its reference twin,
in float64: outputs, final state and every gradient (input, initial state, each parameter), with a mask with holes,
one step, and each cell's identity / learned input form."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.mut import MUT1Cell, MUT2Cell, MUT3Cell, MUTState
from rnnzoo.fused.mut import mut_recurrence

B, H = 3, 4
CASES = [(MUT1Cell, 4), (MUT1Cell, 3), (MUT2Cell, 4), (MUT2Cell, 3), (MUT3Cell, 3)]  # I == H: the identity form


def _grads(cell, fn, T, I, masked, seed):
    """``fn(x (T, B, I), h0, mask (T, B) or None) -> (out, h_T)``; the outputs and the gradients of a random linear
    loss of both with respect to x, h0 and every parameter."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, I, generator=g, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, generator=g, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(T, B, generator=g) > 0.4 if masked else None
    w_out = torch.randn(T, B, H, generator=g, dtype=torch.float64)
    w_h = torch.randn(B, H, generator=g, dtype=torch.float64)
    out, h = fn(x, h0, mask)
    params = list(cell.parameters())
    grads = torch.autograd.grad((out * w_out).sum() + (h * w_h).sum(), [x, h0, *params])
    return out.detach(), h.detach(), grads


def _loop(cell):
    def fn(x, h0, mask):
        r = rnnzoo.run(cell, x, MUTState(h0), mask=mask, batch_first=False, use_fused=False)
        return r.output, r.state.h
    return fn


def _function(cell):
    def fn(x, h0, mask):
        return mut_recurrence(cell.project(x), cell.weight_hg, cell.weight_hh, h0, cell.variant, mask)
    return fn


def _runner(cell):
    def fn(x, h0, mask):
        r = rnnzoo.run(cell, x, MUTState(h0), mask=mask, batch_first=False)
        return r.output, r.state.h
    return fn


@pytest.mark.parametrize("masked", [False, True], ids=["dense", "mask"])
@pytest.mark.parametrize("T", [1, 7])
@pytest.mark.parametrize(("cls", "I"), CASES, ids=[f"{c.__name__}-I{i}" for c, i in CASES])
def test_function_equals_step_loop(cls, I, T, masked):
    torch.manual_seed(0)
    cell = cls(I, H).double()
    assert cell.fused_kind == "rnnzoo"
    ref = _grads(cell, _loop(cell), T, I, masked, seed=1)
    for got in (_grads(cell, _function(cell), T, I, masked, seed=1), _grads(cell, _runner(cell), T, I, masked, 1)):
        torch.testing.assert_close(got[0], ref[0], rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(got[1], ref[1], rtol=1e-12, atol=1e-12)
        for a, b in zip(got[2], ref[2], strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_masked_step_keeps_state_and_outputs_zero():
    cell = MUT3Cell(3, H).double()
    x = torch.randn(4, B, 3, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(4, B, dtype=torch.bool)
    mask[1:, 0] = False
    out, h = mut_recurrence(cell.project(x), cell.weight_hg, cell.weight_hh, h0, 3, mask)
    assert (out[1:, 0] == 0).all()
    torch.testing.assert_close(h[0], out[0, 0])


def test_rejects_unknown_variant():
    cell = MUT3Cell(3, H)
    with pytest.raises(ValueError, match="variant"):
        mut_recurrence(cell.project(torch.randn(2, B, 3)), cell.weight_hg, cell.weight_hh, torch.zeros(B, H), 4)
