"""Highway layers against a naive implementation typed from Srivastava, Greff & Schmidhuber 2015 (eq (3)),
float64, per-gate matrices and loops; the per-step ``highway`` cell built on them."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import Highway, HighwayCell, HighwayState

B, T, I, H = 3, 5, 4, 6


def sig(v):
    return 1.0 / (1.0 + torch.exp(-v))


def _naive_layers(block: Highway, y: torch.Tensor, act) -> torch.Tensor:
    """y = H(y) T(y) + y (1 - T(y)) per layer (eq (3)); plain: y = H(y) (eq (1))."""
    for layer in range(block.depth):
        w, b = block.weight.detach()[layer], block.bias.detach()[layer]
        if block.plain:
            y = act(y @ w.T + b)
            continue
        WH, WT = w.chunk(2, 0)
        bH, bT = b.chunk(2, 0)
        h = act(y @ WH.T + bH)
        tg = sig(y @ WT.T + bT)
        y = h * tg + y * (1 - tg)
    return y


ACTS = {"tanh": torch.tanh, "relu": lambda v: torch.clamp(v, min=0)}


@pytest.mark.parametrize("activation", sorted(ACTS))
@pytest.mark.parametrize("plain", [False, True])
def test_block_equals_the_papers_equations(activation, plain):
    torch.manual_seed(0)
    block = Highway(H, 4, activation=activation, plain=plain).double()
    with torch.no_grad():
        block.bias.normal_()
    x = torch.randn(B, 2, H, dtype=torch.float64)
    torch.testing.assert_close(block(x), _naive_layers(block, x, ACTS[activation]))


@pytest.mark.parametrize("use_fused", [False, True])
def test_cell_equals_the_papers_equations_at_every_step(use_fused):
    torch.manual_seed(0)
    cell = HighwayCell(I, H, depth=3).double()
    with torch.no_grad():
        cell.highway.bias.normal_()
        cell.bias_in.normal_()
    x = torch.randn(B, T, I, dtype=torch.float64)
    y0 = torch.tanh(x @ cell.weight_in.detach().T + cell.bias_in.detach())
    expect = _naive_layers(cell.highway, y0, torch.tanh)
    torch.testing.assert_close(rnnzoo.run(cell, x, use_fused=use_fused).output, expect)


def test_transform_gate_starts_closed_with_the_negative_bias():
    """b_T = -2 (the paper's MNIST setting): at initialisation each layer mostly carries its input."""
    block = Highway(H, 2)
    b = block.bias.detach().view(2, 2, H)
    assert (b[:, 1] == -2.0).all() and (b[:, 0] == 0.0).all()
    with torch.no_grad():
        block.weight.zero_()
    x = torch.randn(B, H)
    tg = torch.sigmoid(torch.tensor(-2.0))
    torch.testing.assert_close(block(x), x * (1 - tg) ** 2)


def test_fused_equals_step_loop_with_holes_and_gradients():
    torch.manual_seed(1)
    cell = HighwayCell(I, H, depth=3).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 0, 1, 0], [0, 0, 0, 0, 0], [0, 1, 1, 1, 1]], dtype=torch.bool)
    y0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    leaves = [x, y0, *cell.parameters()]
    results = []
    for use_fused in (True, False):
        out = rnnzoo.run(cell, x, HighwayState(y0), mask=mask, use_fused=use_fused)
        w = torch.randn(out.output.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        loss = (out.output * w).sum() + out.state.y.pow(2).sum()
        results.append((out.output, out.state.y, torch.autograd.grad(loss, leaves)))
    (o1, s1, g1), (o2, s2, g2) = results
    torch.testing.assert_close(o1, o2)
    torch.testing.assert_close(s1, s2)
    torch.testing.assert_close(s1[1], y0[1])  # no valid step: the initial state
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)


def test_output_depends_on_its_own_step_only():
    torch.manual_seed(0)
    cell = HighwayCell(I, H)
    x = torch.randn(B, T, I)
    x2 = x.clone()
    x2[:, 2] += 1.0
    a, b = rnnzoo.run(cell, x).output, rnnzoo.run(cell, x2).output
    changed = (a - b).abs().amax((0, 2)) > 0
    assert changed.tolist() == [False, False, True, False, False]


def test_plain_cell_reports_no_gate_and_has_no_gate_parameters():
    cell = HighwayCell(I, H, depth=3, plain=True)
    assert cell.highway.weight.shape == (3, H, H)
    from rnnzoo.core.probe import record
    with record() as rec:
        rnnzoo.run(cell, torch.randn(B, T, I))
    assert rec.names(cell) == []
    gated = HighwayCell(I, H, depth=3)
    with record() as rec:
        rnnzoo.run(gated, torch.randn(B, T, I))
    assert rec.names(gated) == ["t"] and rec.valid(gated, "t").shape == (B * T, 3 * H)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="depth"):
        Highway(H, 0)
    with pytest.raises(ValueError, match="activation"):
        Highway(H, 2, activation="swish?")
    with pytest.raises(TypeError, match="plain"):
        HighwayCell(I, H, plain=1)
    with pytest.raises(ValueError, match="x: expected 6 features"):
        Highway(H, 2)(torch.randn(2, 5))
