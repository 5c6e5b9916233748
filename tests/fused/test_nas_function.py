"""The NAS cell's hand-written Function (:mod:`rnnzoo.fused.nas`) against its reference twin, the cell's step loop
(``use_fused=False``), in float64: outputs, final state and every gradient (input, initial state, parameters), with a
mask with holes, at T = 1, and without bias."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.nas import NASCell, NASState
from rnnzoo.fused.nas import NASFunction, nas_recurrence

B, T, I, H = 3, 7, 4, 5


def _run(cell, x, state, mask, use_fused):
    x, h0, c0 = (v.clone().requires_grad_() for v in (x, state.h, state.c))
    res = rnnzoo.run(cell, x, NASState(h0, c0), mask=mask, use_fused=use_fused)
    w = [torch.randn_like(v, generator=torch.Generator().manual_seed(1)) for v in (res.output, *res.state)]
    loss = sum((a * b).sum() for a, b in zip((res.output, *res.state), w, strict=True))
    params = list(cell.parameters())
    grads = torch.autograd.grad(loss, [x, h0, c0, *params])
    return [res.output, *res.state, *grads]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("steps,holes", [(T, False), (T, True), (1, False), (1, True)])
def test_function_equals_step_loop(bias, steps, holes):
    torch.manual_seed(0)
    cell = NASCell(I, H, bias=bias).double()
    x = torch.randn(B, steps, I, dtype=torch.float64)
    state = NASState(torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64))
    mask = None
    if holes:
        mask = torch.rand(B, steps) > 0.4
        mask[0] = False  # a sequence with no valid step at all
        mask[1, 0] = True
    got = _run(cell, x, state, mask, True)
    want = _run(cell, x, state, mask, False)
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_the_runner_takes_the_function(monkeypatch):
    calls = []
    apply = NASFunction.apply
    monkeypatch.setattr(NASFunction, "apply", lambda *a: calls.append(1) or apply(*a))
    cell = NASCell(I, H)
    rnnzoo.run(cell, torch.randn(B, T, I))
    assert calls and cell.fused_kind == "rnnzoo"


def test_no_steps():
    cell = NASCell(I, H).double()
    u = torch.zeros(0, B, 8 * H, dtype=torch.float64, requires_grad=True)
    h0, c0 = (torch.randn(B, H, dtype=torch.float64, requires_grad=True) for _ in range(2))
    out, h, c = nas_recurrence(u, cell.weight_hh, cell.bias, h0, c0)
    assert out.shape == (0, B, H)
    torch.testing.assert_close(h, h0)
    (h.sum() + 2 * c.sum()).backward()
    torch.testing.assert_close(h0.grad, torch.ones(B, H, dtype=torch.float64))
    torch.testing.assert_close(c0.grad, torch.full((B, H), 2.0, dtype=torch.float64))
    assert cell.weight_hh.grad.abs().max() == 0


def test_a_bad_mask_is_refused():
    cell = NASCell(I, H)
    u, h0 = torch.zeros(T, B, 8 * H), torch.zeros(B, H)
    with pytest.raises(ValueError, match="mask"):
        nas_recurrence(u, cell.weight_hh, cell.bias, h0, h0, torch.ones(T, B))


@pytest.mark.parametrize("holes", [False, True])
def test_projection_inside_equals_u_given(holes):
    """``projection=(x, weight_ih)`` (what the cell's fast path passes) and ``u = project(x)``: equal outputs and
    float64 gradients of x, every parameter and the initial state."""
    torch.manual_seed(3)
    cell = NASCell(I, H).double()
    x = torch.randn(T, B, I, dtype=torch.float64)
    state = [torch.randn(B, H, dtype=torch.float64) for _ in range(2)]
    mask = torch.rand(T, B) > 0.4 if holes else None
    w = [torch.randn(T, B, H, dtype=torch.float64), *(torch.randn(B, H, dtype=torch.float64) for _ in range(2))]
    results = []
    for inside in (False, True):
        xs, h0, c0 = (v.clone().requires_grad_() for v in (x, *state))
        if inside:
            res = nas_recurrence(None, cell.weight_hh, cell.bias, h0, c0, mask, projection=(xs, cell.weight_ih))
        else:
            res = nas_recurrence(cell.project(xs), cell.weight_hh, cell.bias, h0, c0, mask)
        loss = sum((a * b).sum() for a, b in zip(res, w, strict=True))
        results.append([*res, *torch.autograd.grad(loss, [xs, h0, c0, *cell.parameters()])])
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
