"""UnICORNN's hand-written Function (:mod:`rnnzoo.fused.unicornn`) against its reference twin, the cell's step loop
(``use_fused=False``), in float64: outputs, both final state fields and every gradient (input, both initial fields,
``w``, ``c``, ``V``, bias), without and with a mask with holes, at T = 1 and T = 0, without bias."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.unicornn import UnICORNNCell, UnICORNNState
from rnnzoo.fused.unicornn import UnICORNNFunction, unicornn_recurrence

B, T, I, H = 3, 7, 4, 5


def _run(cell, x, state, mask, use_fused):
    x, y0, z0 = (v.clone().requires_grad_() for v in (x, state.y, state.z))
    res = rnnzoo.run(cell, x, UnICORNNState(y0, z0), mask=mask, use_fused=use_fused)
    w = [torch.randn_like(v, generator=torch.Generator().manual_seed(1)) for v in (res.output, *res.state)]
    loss = sum((a * b).sum() for a, b in zip((res.output, *res.state), w, strict=True))
    grads = torch.autograd.grad(loss, [x, y0, z0, *cell.parameters()])
    return [res.output, *res.state, *grads]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("steps,holes", [(T, False), (T, True), (1, False), (1, True)])
def test_function_equals_step_loop(bias, steps, holes):
    torch.manual_seed(0)
    cell = UnICORNNCell(I, H, bias=bias, dt=0.4, alpha=1.5).double()
    with torch.no_grad():
        cell.weight_hh.uniform_(-1.0, 1.0)  # w of both signs, so every path of the backward carries weight
    x = torch.randn(B, steps, I, dtype=torch.float64)
    state = UnICORNNState(torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64))
    mask = None
    if holes:
        mask = torch.rand(B, steps, generator=torch.Generator().manual_seed(2)) > 0.4
        mask[0] = False  # a sequence with no valid step at all
        mask[1, 0] = True
        mask[2, -1] = False  # a hole at the last step
    got = _run(cell, x, state, mask, True)
    want = _run(cell, x, state, mask, False)
    assert len(got) == 3 + 3 + len(list(cell.parameters()))
    for a, b in zip(got, want, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_the_runner_takes_the_function(monkeypatch):
    calls = []
    apply = UnICORNNFunction.apply
    monkeypatch.setattr(UnICORNNFunction, "apply", lambda *a: calls.append(1) or apply(*a))
    cell = UnICORNNCell(I, H)
    rnnzoo.run(cell, torch.randn(B, T, I))
    assert calls and cell.fused_kind == "rnnzoo"


def test_no_steps():
    cell = UnICORNNCell(I, H).double()
    u = torch.zeros(0, B, H, dtype=torch.float64, requires_grad=True)
    y0, z0 = (torch.randn(B, H, dtype=torch.float64, requires_grad=True) for _ in range(2))
    out, y, z = unicornn_recurrence(u, y0, z0, cell.weight_hh, cell.c, cell.dt, cell.alpha)
    assert out.shape == (0, B, H)
    torch.testing.assert_close(y, y0)
    torch.testing.assert_close(z, z0)
    (y.sum() + 2 * z.sum()).backward()
    torch.testing.assert_close(y0.grad, torch.ones(B, H, dtype=torch.float64))
    torch.testing.assert_close(z0.grad, torch.full((B, H), 2.0, dtype=torch.float64))
    assert cell.weight_hh.grad.abs().max() == 0 and cell.c.grad.abs().max() == 0


def test_a_bad_mask_is_refused():
    cell = UnICORNNCell(I, H)
    u, y0 = torch.zeros(T, B, H), torch.zeros(B, H)
    with pytest.raises(ValueError, match="mask"):
        unicornn_recurrence(u, y0, y0, cell.weight_hh, cell.c, cell.dt, cell.alpha, torch.ones(T, B))
