"""FastRNN's and FastGRNN's Function (rnnzoo.fused.fastrnn, one Function with a switch) against each cell's own step
looped by hand, float64: outputs, final state and every gradient (projected inputs, recurrent weight, biases, the two
scalar logits, initial state), without and with a mask with holes, with and without a bias, T = 1, T = 0; and the
runner's fast path against its step loop."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import FastGRNNCell, FastRNNCell, FastRNNState
from rnnzoo.fused.fastrnn import fast_recurrence

B, I, H = 3, 5, 4


def _step_loop(cell, u, h0, mask):
    """The reference: ``cell.step`` per step; a masked step keeps the state and outputs zero."""
    state, outs = FastRNNState(h0), []
    for t in range(u.shape[0]):
        y, new = cell.step(u[t], state)
        if mask is not None:
            m = mask[t].unsqueeze(1)
            new, y = FastRNNState(torch.where(m, new.h, state.h)), torch.where(m, y, torch.zeros_like(y))
        state = new
        outs.append(y)
    return (torch.stack(outs) if outs else u.new_zeros((0, *h0.shape))), state.h


def _function(cell, u, h0, mask):
    a, b = (torch.sigmoid(getattr(cell, f"{name}_logit")) for name in cell.scalars)
    gated = isinstance(cell, FastGRNNCell)
    return fast_recurrence(u, cell.weight_hh, cell.bias if gated else None, a, b, h0, mask, gated=gated)


def _grads(fn, cell, u, h0, mask, w_out, w_h):
    u, h0 = u.detach().requires_grad_(), h0.detach().requires_grad_()
    cell.zero_grad(set_to_none=True)
    out, h = fn(cell, u, h0, mask)
    ((out * w_out).sum() + (h * w_h).sum()).backward()
    leaves = (u, h0, *cell.parameters())
    grads = [t.grad if t.grad is not None else torch.zeros_like(t) for t in leaves]  # T = 0, weight_ih: unused
    return out.detach(), h.detach(), *grads


def _assert_equal(a, b):
    """float64 equality to 1e-12 (``torch.testing.assert_close`` costs a 4 s import on its first call here)."""
    assert a.shape == b.shape and a.dtype == b.dtype
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-12), (a - b).abs().max()


def _mask(T):
    g = torch.Generator().manual_seed(1)
    mask = torch.rand(T, B, generator=g) > 0.3
    mask[0, 0] = mask[-1, 1] = False  # a hole at the first step of one row and the last of another
    mask[:, 2] = True
    return mask


@pytest.mark.parametrize("cls", [FastRNNCell, FastGRNNCell])
@pytest.mark.parametrize(("T", "masked", "bias"), [(7, False, True), (7, True, True), (7, True, False),
                                                   (7, False, False), (1, False, True), (1, True, True),
                                                   (0, False, True)])
def test_function_equals_step_loop(cls, T, masked, bias):
    torch.manual_seed(0)
    cell = cls(I, H, bias=bias).double()
    with torch.no_grad():
        for p in cell.parameters():
            if p.dim() < 2:
                p.uniform_(-1.0, 1.0)  # biases off zero, scalars away from the defaults' saturated sigmoids
    u = cell.project(torch.randn(T, B, I, dtype=torch.float64)).detach()
    h0 = torch.randn(B, H, dtype=torch.float64) * 0.5
    mask = _mask(T) if masked else None
    w_out, w_h = torch.randn(T, B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    got = _grads(_function, cell, u, h0, mask, w_out, w_h)
    want = _grads(_step_loop, cell, u, h0, mask, w_out, w_h)
    for a, b in zip(got, want, strict=True):
        _assert_equal(a, b)


@pytest.mark.parametrize(("cls", "name"), [(FastRNNCell, "fastrnn"), (FastGRNNCell, "fastgrnn")])
def test_runner_fast_path_equals_step_loop(cls, name):
    torch.manual_seed(0)
    cell = cls(I, H).double()
    assert cell.fused_kind == rnnzoo.model_info(name).fast_path.value == "rnnzoo"
    x = torch.randn(B, 6, I, dtype=torch.float64)
    results = []
    for fused in (True, False):
        cell.zero_grad(set_to_none=True)
        res = rnnzoo.run(cell, x, lengths=[6, 3, 1], use_fused=fused)
        (res.output.square().sum() + res.state.h.sum()).backward()
        results.append([res.output.detach(), res.state.h.detach(), *(p.grad.clone() for p in cell.parameters())])
    for a, b in zip(*results, strict=True):
        _assert_equal(a, b)
