"""SGU's and DSGU's hand-written Function (:mod:`rnnzoo.fused.sgu`) against the cell's own step looped by hand, float64:
outputs, final state and every gradient (projected inputs, initial state, ``W_g``, ``W_z``, DSGU's ``W_o``), without
and with a mask with holes, T = 1, T = 0, both hard-sigmoid slopes, with weights wide enough that the clamp saturates;
and the runner's fast path against its step loop."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import DSGUCell, SGUCell
from rnnzoo.fused.sgu import sgu_recurrence

B, I, H = 3, 5, 4
WEIGHTS = ("weight_hg", "weight_hz", "weight_go")


def _cell(cls, slope, scale):
    torch.manual_seed(0)
    cell = cls(I, H, hard_slope=slope).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-scale, scale)
    return cell


def _function(cell, u, h0, mask):
    Wo = cell.weight_go if cell.deep else None
    return sgu_recurrence(u, cell.weight_hg, cell.weight_hz, Wo, h0, cell.hard_slope, mask)


def _step_loop(cell, u, h0, mask):
    """The reference: ``cell.step`` per step; a masked step keeps the state and outputs zero."""
    state, outs = cell.initial_state(B)._replace(h=h0), []
    for t in range(u.shape[0]):
        y, new = cell.step(u[t], state)
        if mask is not None:
            m = mask[t].unsqueeze(1)
            new, y = type(state)(torch.where(m, new.h, state.h)), torch.where(m, y, torch.zeros_like(y))
        state = new
        outs.append(y)
    return (torch.stack(outs) if outs else u.new_zeros((0, *h0.shape))), state.h


def _grads(fn, cell, u, h0, mask, w_out, w_h):
    u, h0 = u.detach().requires_grad_(), h0.detach().requires_grad_()
    cell.zero_grad(set_to_none=True)
    out, h = fn(cell, u, h0, mask)
    ((out * w_out).sum() + (h * w_h).sum()).backward()
    leaves = [u, h0, *(p for n, p in cell.named_parameters() if n in WEIGHTS)]
    return [out.detach(), h.detach(), *(t.grad if t.grad is not None else torch.zeros_like(t) for t in leaves)]


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


@pytest.mark.parametrize("cls", [SGUCell, DSGUCell])
@pytest.mark.parametrize(("slope", "scale"), [(0.2, 0.5), (1 / 6, 1.5)])
@pytest.mark.parametrize(("T", "masked"), [(7, False), (7, True), (1, False), (1, True), (0, False)])
def test_function_equals_step_loop(cls, slope, scale, T, masked):
    cell = _cell(cls, slope, scale)
    u = cell.project(torch.randn(T, B, I, dtype=torch.float64) * 2).detach()
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = _mask(T) if masked else None
    w_out, w_h = torch.randn(T, B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    got = _grads(_function, cell, u, h0, mask, w_out, w_h)
    want = _grads(_step_loop, cell, u, h0, mask, w_out, w_h)
    assert len(got) == len(want) == (7 if cell.deep else 6)
    for a, b in zip(got, want, strict=True):
        _assert_equal(a, b)


def test_the_clamp_saturates_in_the_wide_case():
    """The (1/6, 1.5) rows reach both flat ends of the hard sigmoid, so its zero gradient there is exercised."""
    cell = _cell(SGUCell, 1 / 6, 1.5)
    u = cell.project(torch.randn(7, B, I, dtype=torch.float64) * 2).detach()
    h, zs = torch.randn(B, H, dtype=torch.float64), []
    for t in range(7):
        z = torch.clamp(cell.hard_slope * (u[t, :, H:] + h @ cell.weight_hz.detach().t()) + 0.5, 0, 1)
        zs.append(z)
        h = cell.step(u[t], cell.initial_state(B)._replace(h=h))[1].h.detach()
    zs = torch.stack(zs)
    assert (zs == 0).any() and (zs == 1).any() and ((zs > 0) & (zs < 1)).any()


@pytest.mark.parametrize(("name", "cls"), [("sgu", SGUCell), ("dsgu", DSGUCell)])
def test_runner_fast_path_equals_step_loop(name, cls):
    cell = _cell(cls, 0.2, 0.5)
    assert cell.fused_kind == rnnzoo.model_info(name).fast_path.value == "rnnzoo"
    x = torch.randn(B, 6, I, dtype=torch.float64)
    results = []
    for fused in (True, False):
        cell.zero_grad(set_to_none=True)
        res = rnnzoo.run(cell, x, lengths=[6, 3, 1], use_fused=fused)
        (res.output.square().sum() + res.state[0].sum()).backward()
        results.append([res.output.detach(), res.state[0].detach(), *(p.grad.clone() for p in cell.parameters())])
    for a, b in zip(*results, strict=True):
        _assert_equal(a, b)
