"""rnnzoo.fused.lightru against LightRU's step loop (its reference twin) in float64: outputs, final state and every
gradient (weights, bias, input, initial state), with a mask with holes (a late start, an early end, a row with no
valid step), without a mask, and at T = 1."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import LightRUCell
from rnnzoo.fused.lightru import lightru_recurrence

B, I, H = 4, 3, 5


def _mask(T):
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 0] = False
    mask[1, T // 2:] = False
    mask[2, 1::2] = False
    mask[3] = False
    return mask


def _run(cell, x, h0, mask, fused):
    xs, hs = x.clone().requires_grad_(True), h0.clone().requires_grad_(True)
    res = rnnzoo.run(cell, xs, type(cell.initial_state(B))(hs), mask=mask, use_fused=fused)
    cell.zero_grad(set_to_none=True)
    w = torch.linspace(-1.0, 1.0, res.output.numel(), dtype=torch.float64).view_as(res.output)
    ((res.output * w).sum() + 2.0 * res.state.h.sum()).backward()
    grads = {n: p.grad.clone() for n, p in cell.named_parameters()}
    return res, {**grads, "x": xs.grad, "h0": hs.grad}


@pytest.mark.parametrize("T,masked,bias", [(7, True, True), (7, False, True), (7, False, False), (1, True, True),
                                           (1, False, True)])
def test_function_equals_the_step_loop(T, masked, bias):
    torch.manual_seed(T)
    cell = LightRUCell(I, H, bias=bias).double()
    if bias:
        with torch.no_grad():
            cell.bias.uniform_(-1.0, 1.0)  # the bias initialises at zero
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = _mask(T) if masked else None
    got, g_got = _run(cell, x, h0, mask, True)
    want, g_want = _run(cell, x, h0, mask, False)
    torch.testing.assert_close(got.output, want.output, rtol=0, atol=1e-13)
    torch.testing.assert_close(got.state.h, want.state.h, rtol=0, atol=1e-13)
    assert g_got.keys() == g_want.keys()
    for name in g_want:
        torch.testing.assert_close(g_got[name], g_want[name], rtol=0, atol=1e-12, msg=name)


def test_the_cell_takes_the_function_and_refuses_empty():
    assert LightRUCell(I, H).fused_kind == "rnnzoo"
    with pytest.raises(ValueError, match="T must"):
        lightru_recurrence(torch.zeros(0, B, 2 * H), torch.zeros(H, H), torch.zeros(B, H))
