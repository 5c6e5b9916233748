"""coRNN's hand-written Function (:mod:`rnnzoo.fused.cornn`) against the cell's own step looped by hand, float64:
outputs, both final fields (y, z) and every gradient (projected inputs, y0, z0, ``[W, Wz]``), without and with a mask
with holes, T = 1, T = 0, two sets of constants (the defaults and a stiff one); and the runner's fast path against its
step loop."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import CoRNNCell, CoRNNState
from rnnzoo.fused.cornn import cornn_recurrence

B, I, H = 3, 5, 4
OPTIONS = [{}, {"dt": 0.4, "gamma": 1.3, "epsilon": 2.1}]


def _cell(options):
    torch.manual_seed(0)
    return CoRNNCell(I, H, **options).double()


def _function(cell, u, y0, z0, mask):
    return cornn_recurrence(u, y0, z0, cell.weight_hh, cell.dt, cell.gamma, cell.epsilon, mask)


def _step_loop(cell, u, y0, z0, mask):
    """The reference: ``cell.step`` per step; a masked step keeps both fields and outputs zero."""
    state, outs = CoRNNState(y0, z0), []
    for t in range(u.shape[0]):
        y, new = cell.step(u[t], state)
        if mask is not None:
            m = mask[t].unsqueeze(1)
            new = CoRNNState(*(torch.where(m, a, b) for a, b in zip(new, state, strict=True)))
            y = torch.where(m, y, torch.zeros_like(y))
        state = new
        outs.append(y)
    return (torch.stack(outs) if outs else u.new_zeros((0, B, H))), state.y, state.z


def _grads(fn, cell, u, y0, z0, mask, w_out, w_y, w_z):
    u, y0, z0 = (t.detach().requires_grad_() for t in (u, y0, z0))
    cell.zero_grad(set_to_none=True)
    out, y, z = fn(cell, u, y0, z0, mask)
    ((out * w_out).sum() + (y * w_y).sum() + (z * w_z).sum()).backward()
    leaves = [u, y0, z0, cell.weight_hh]
    return [out.detach(), y.detach(), z.detach(), *(t.grad if t.grad is not None else torch.zeros_like(t)
                                                    for t in leaves)]


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


@pytest.mark.parametrize("options", OPTIONS)
@pytest.mark.parametrize(("T", "masked"), [(7, False), (7, True), (1, False), (1, True), (0, False)])
def test_function_equals_step_loop(options, T, masked):
    cell = _cell(options)
    u = cell.project(torch.randn(T, B, I, dtype=torch.float64)).detach()
    y0, z0 = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    mask = _mask(T) if masked else None
    w = [torch.randn(T, B, H, dtype=torch.float64), *(torch.randn(B, H, dtype=torch.float64) for _ in range(2))]
    got = _grads(_function, cell, u, y0, z0, mask, *w)
    want = _grads(_step_loop, cell, u, y0, z0, mask, *w)
    assert len(got) == len(want) == 7
    for a, b in zip(got, want, strict=True):
        _assert_equal(a, b)


def test_runner_fast_path_equals_step_loop():
    cell = _cell(OPTIONS[1])
    assert cell.fused_kind == rnnzoo.model_info("cornn").fast_path.value == "rnnzoo"
    x = torch.randn(B, 6, I, dtype=torch.float64)
    results = []
    for fused in (True, False):
        cell.zero_grad(set_to_none=True)
        res = rnnzoo.run(cell, x, lengths=[6, 3, 1], use_fused=fused)
        (res.output.square().sum() + res.state.y.sum() + res.state.z.square().sum()).backward()
        results.append([res.output.detach(), *(s.detach() for s in res.state),
                        *(p.grad.clone() for p in cell.parameters())])
    for a, b in zip(*results, strict=True):
        _assert_equal(a, b)
