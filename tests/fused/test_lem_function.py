"""LEM's hand-written Function (:mod:`rnnzoo.fused.lem`) against its reference twin, the cell's
step loop (``use_fused=False``), in float64: outputs, final state and every gradient (input, initial state,
parameters), with a mask with holes, at T = 1, without bias, and with a time step dt < 1."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.lem import LEMCell, LEMState
from rnnzoo.fused.lem import LEMFunction, lem_recurrence

B, T, I, H = 3, 7, 4, 5


def _run(cell, x, state, mask, use_fused):
    x, h0, c0 = (v.clone().requires_grad_() for v in (x, state.y, state.z))
    res = rnnzoo.run(cell, x, LEMState(h0, c0), mask=mask, use_fused=use_fused)
    w = [torch.randn_like(v, generator=torch.Generator().manual_seed(1)) for v in (res.output, *res.state)]
    loss = sum((a * b).sum() for a, b in zip((res.output, *res.state), w, strict=True))
    params = list(cell.parameters())
    grads = torch.autograd.grad(loss, [x, h0, c0, *params])
    return [res.output, *res.state, *grads]


@pytest.mark.parametrize("bias,dt", [(True, 1.0), (False, 1.0), (True, 0.3)])
@pytest.mark.parametrize("steps,holes", [(T, False), (T, True), (1, False), (1, True)])
def test_function_equals_step_loop(bias, dt, steps, holes):
    torch.manual_seed(0)
    cell = LEMCell(I, H, bias=bias, dt=dt).double()
    x = torch.randn(B, steps, I, dtype=torch.float64)
    state = LEMState(torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64))
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
    apply = LEMFunction.apply
    monkeypatch.setattr(LEMFunction, "apply", lambda *a: calls.append(1) or apply(*a))
    cell = LEMCell(I, H)
    rnnzoo.run(cell, torch.randn(B, T, I))
    assert calls and cell.fused_kind == "rnnzoo"


def test_no_steps():
    cell = LEMCell(I, H).double()
    u = torch.zeros(0, B, 4 * H, dtype=torch.float64, requires_grad=True)
    h0, c0 = (torch.randn(B, H, dtype=torch.float64, requires_grad=True) for _ in range(2))
    out, h, c = lem_recurrence(u, cell.weight_hh, cell.weight_zy, h0, c0, cell.dt)
    assert out.shape == (0, B, H)
    torch.testing.assert_close(h, h0)
    (h.sum() + 2 * c.sum()).backward()
    torch.testing.assert_close(h0.grad, torch.ones(B, H, dtype=torch.float64))
    torch.testing.assert_close(c0.grad, torch.full((B, H), 2.0, dtype=torch.float64))
    assert cell.weight_hh.grad.abs().max() == 0


def test_a_bad_mask_is_refused():
    cell = LEMCell(I, H)
    u, h0 = torch.zeros(T, B, 4 * H), torch.zeros(B, H)
    with pytest.raises(ValueError, match="mask"):
        lem_recurrence(u, cell.weight_hh, cell.weight_zy, h0, h0, cell.dt, torch.ones(T, B))
