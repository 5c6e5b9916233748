"""Mixed precision (``torch.autocast``, what ``--precision bf16-mixed`` turns on) with every registered cell: the
recurrence runs in the parameters' dtype with autocast off (:func:`rnnzoo.core.runner.run`), so each cell's fast path
and step loop give finite float32 outputs equal to the run without autocast, and gradients reach every parameter."""

from __future__ import annotations

import pytest
import torch

import rnnzoo

CELLS = [n for n in rnnzoo.list_models(kind=rnnzoo.ModelKind.CELL)
         if rnnzoo.model_info(n).input_kind == rnnzoo.InputKind.VECTOR_SEQUENCE]


@pytest.mark.parametrize("name", CELLS)
def test_bfloat16_autocast_runs_the_recurrence_in_float32(name):
    torch.manual_seed(0)
    model = rnnzoo.create(name, input_size=3, hidden_size=4)
    x = torch.randn(2, 5, 3)
    plain, _ = model(x)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        mixed, _ = model(x.to(torch.bfloat16))  # an upstream autocast layer hands over bfloat16
    assert mixed.dtype == torch.float32
    torch.testing.assert_close(mixed, plain, rtol=2e-2, atol=2e-2)  # the input's bfloat16 rounding only
    mixed.sum().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters() if p.requires_grad)
