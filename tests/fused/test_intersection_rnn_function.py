"""The intersection RNN's Function (rnnzoo.fused.intersection_rnn) against the cell's own step looped by hand, float64:
outputs, final state and every gradient (projected inputs, recurrent weight, initial state), without and with a mask
with holes, T = 1, T = 0; and the runner's fast path (the state's ``y`` included) against its step loop."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import IntersectionRNNCell, IntersectionState
from rnnzoo.fused.intersection_rnn import intersection_rnn_from_input, intersection_rnn_recurrence
from rnnzoo.fused.products import forced_form

B, I, H = 3, 5, 4


def _step_loop(cell, u, h0, mask):
    """The reference: ``cell.step`` per step; a masked step keeps the state and outputs zero."""
    state, outs = IntersectionState(h0, torch.zeros_like(h0)), []
    for t in range(u.shape[0]):
        y, new = cell.step(u[t], state)
        if mask is not None:
            m = mask[t].unsqueeze(1)
            new = IntersectionState(torch.where(m, new.h, state.h), torch.where(m, new.y, state.y))
            y = torch.where(m, y, torch.zeros_like(y))
        state = new
        outs.append(y)
    return (torch.stack(outs) if outs else u.new_zeros((0, *h0.shape))), state.h


def _grads(fn, cell, u, h0, mask, w_out, w_h):
    u, h0 = u.detach().requires_grad_(), h0.detach().requires_grad_()
    cell.zero_grad(set_to_none=True)
    out, h = fn(cell, u, h0, mask)
    ((out * w_out).sum() + (h * w_h).sum()).backward()
    grads = [t.grad if t.grad is not None else torch.zeros_like(t) for t in (u, h0, cell.weight_hh)]  # T = 0: unused
    return out.detach(), h.detach(), *grads


def _assert_equal(a, b):
    """float64 equality to 1e-12 (``torch.testing.assert_close`` costs a 4 s import on its first call here)."""
    assert a.shape == b.shape and a.dtype == b.dtype
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-12), (a - b).abs().max()


def _function(cell, u, h0, mask):
    return intersection_rnn_recurrence(u, cell.weight_hh, h0, mask)


def _mask(T):
    g = torch.Generator().manual_seed(1)
    mask = torch.rand(T, B, generator=g) > 0.3
    mask[0, 0] = mask[-1, 1] = False  # a hole at the first step of one row and the last of another
    mask[:, 2] = True
    return mask


@pytest.mark.parametrize("form", [None, "column"], ids=["rule", "column"])
@pytest.mark.parametrize("I_", [I, H])  # a carry projection (I != H), the paper's identity carry (I == H)
@pytest.mark.parametrize(("T", "masked"), [(7, False), (7, True), (1, False), (1, True), (0, False)])
def test_function_equals_step_loop(T, masked, I_, form):
    """``form``: the per-step product's form (rnnzoo.fused.products; "column" forced, the rule's row form here)."""
    with forced_form(form):
        _function_equals_step_loop(T, masked, I_)


def _function_equals_step_loop(T, masked, I_):
    torch.manual_seed(0)
    cell = IntersectionRNNCell(I_, H).double()
    with torch.no_grad():
        cell.bias.uniform_(-0.5, 0.5)
    u = cell.project(torch.randn(T, B, I_, dtype=torch.float64)).detach()
    h0 = torch.randn(B, H, dtype=torch.float64) * 0.5
    mask = _mask(T) if masked else None
    w_out, w_h = torch.randn(T, B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    got = _grads(_function, cell, u, h0, mask, w_out, w_h)
    want = _grads(_step_loop, cell, u, h0, mask, w_out, w_h)
    for a, b in zip(got, want, strict=True):
        _assert_equal(a, b)


@pytest.mark.parametrize("I_", [I, H])
def test_runner_fast_path_equals_step_loop(I_):
    torch.manual_seed(0)
    cell = IntersectionRNNCell(I_, H).double()
    assert cell.fused_kind == rnnzoo.model_info("intersection_rnn").fast_path.value == "rnnzoo"
    x = torch.randn(B, 6, I_, dtype=torch.float64)
    mask = torch.ones(B, 6, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = mask[2, :] = False  # a hole, a short row, a row with no valid step (keeps state.y)
    results = []
    for fused in (True, False):
        cell.zero_grad(set_to_none=True)
        h0 = torch.randn(B, H, dtype=torch.float64, generator=torch.Generator().manual_seed(2)).requires_grad_()
        y0 = torch.randn(B, H, dtype=torch.float64, generator=torch.Generator().manual_seed(3)).requires_grad_()
        res = rnnzoo.run(cell, x, IntersectionState(h0, y0), mask=mask, use_fused=fused)
        (res.output.square().sum() + res.state.h.sum() + (res.state.y * res.state.y.detach()).sum()).backward()
        results.append([res.output.detach(), res.state.h.detach(), res.state.y.detach(), h0.grad, y0.grad,
                        *(p.grad.clone() for p in cell.parameters())])
    for a, b in zip(*results, strict=True):
        _assert_equal(a, b)


def _input_step_loop(cell, x, h0, mask):
    return _step_loop(cell, cell.project(x), h0, mask)


def _input_function(cell, x, h0, mask):
    carry = None if cell.weight_carry is None else x @ cell.weight_carry.t()
    return intersection_rnn_from_input(x, cell.weight_ih, cell.bias, cell.weight_hh, h0, carry, mask)


@pytest.mark.parametrize("form", [None, "column"], ids=["rule", "column"])
@pytest.mark.parametrize(("I_", "bias"), [(I, True), (H, True), (H, False)])
@pytest.mark.parametrize(("T", "masked"), [(7, False), (7, True), (1, False), (1, True), (0, False)])
def test_input_function_equals_step_loop(T, masked, I_, bias, form):
    """``form``: the per-step product's form (rnnzoo.fused.products; "column" forced, the rule's row form here)."""
    with forced_form(form):
        _input_function_equals_step_loop(T, masked, I_, bias)


def _input_function_equals_step_loop(T, masked, I_, bias):
    """The Function that projects ``x`` itself: every gradient (``x``, ``h0``, every parameter) as the step loop's."""
    torch.manual_seed(0)
    cell = IntersectionRNNCell(I_, H, bias=bias).double()
    x = torch.randn(T, B, I_, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64) * 0.5
    mask = _mask(T) if masked else None
    w_out, w_h = torch.randn(T, B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    results = []
    for fn in (_input_function, _input_step_loop):
        xg, hg = x.clone().requires_grad_(), h0.clone().requires_grad_()
        cell.zero_grad(set_to_none=True)
        out, h = fn(cell, xg, hg, mask)
        ((out * w_out).sum() + (h * w_h).sum()).backward()
        grads = [t.grad if t.grad is not None else torch.zeros_like(t) for t in (xg, hg, *cell.parameters())]
        results.append([out.detach(), h.detach(), *grads])
    for a, b in zip(*results, strict=True):
        _assert_equal(a, b)
