"""The NAS Function's own projection path (:mod:`rnnzoo.fused.nas`, ``projection=(x, weight_ih)``) against the path
given ``u = project(x)``, in float64. The Function against the step loop: tests/fused/test_two_field_functions.py."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.cells.nas import NASCell
from rnnzoo.fused.nas import nas_recurrence
from rnnzoo.fused.products import forced_form

B, T, I, H = 3, 7, 4, 5


@pytest.mark.parametrize("form", [None, "column"], ids=["rule", "column"])
@pytest.mark.parametrize("holes", [False, True])
def test_projection_inside_equals_u_given(holes, form):
    """``projection=(x, weight_ih)`` (what the cell's fast path passes) and ``u = project(x)``: equal outputs and
    float64 gradients of x, every parameter and the initial state; the per-step product in either form
    (rnnzoo.fused.products)."""
    with forced_form(form):
        _projection_inside_equals_u_given(holes)


def _projection_inside_equals_u_given(holes):
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
