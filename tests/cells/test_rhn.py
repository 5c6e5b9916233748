"""The recurrent highway network against a naive implementation typed from Zilly et al. 2017 (Sec. 3), in
float64 with per-gate matrices and a Python loop; its fused path against the step loop, uncoupled too."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import RHNCell, RHNState

B, T, I, H = 3, 5, 4, 6


def sig(v):
    return 1.0 / (1.0 + torch.exp(-v))


def _naive(cell: RHNCell, x: torch.Tensor, s0: torch.Tensor) -> torch.Tensor:
    """The paper's RHN layer: x enters only micro-layer 1; per micro-layer its own R and b for H, T (and C)."""
    G, L = cell.gates, cell.depth
    W = cell.weight_ih.detach().chunk(G, 0)  # W_H, W_T(, W_C)
    R = [cell.weight_hh.detach()[layer * G * H:(layer + 1) * G * H].chunk(G, 0) for layer in range(L)]
    b = [cell.bias.detach()[layer * G * H:(layer + 1) * G * H].chunk(G, 0) for layer in range(L)]
    s = s0
    outs = []
    for t in range(x.shape[1]):
        for layer in range(L):
            first = layer == 0
            h = torch.tanh((x[:, t] @ W[0].T if first else 0) + s @ R[layer][0].T + b[layer][0])
            tg = sig((x[:, t] @ W[1].T if first else 0) + s @ R[layer][1].T + b[layer][1])
            if cell.coupled:
                c = 1 - tg
            else:
                c = sig((x[:, t] @ W[2].T if first else 0) + s @ R[layer][2].T + b[layer][2])
            s = h * tg + s * c
        outs.append(s)
    return torch.stack(outs, 1)


@pytest.mark.parametrize("coupled", [True, False])
@pytest.mark.parametrize("depth", [1, 3])
@pytest.mark.parametrize("use_fused", [False, True])
def test_equals_the_papers_equations(coupled, depth, use_fused):
    torch.manual_seed(0)
    cell = RHNCell(I, H, depth=depth, coupled=coupled).double()
    with torch.no_grad():  # non-trivial biases everywhere (the default init sets the transform biases equal)
        cell.bias.normal_()
    x = torch.randn(B, T, I, dtype=torch.float64)
    s0 = torch.randn(B, H, dtype=torch.float64)
    out = rnnzoo.run(cell, x, RHNState(s0), use_fused=use_fused).output
    torch.testing.assert_close(out, _naive(cell, x, s0))


def test_input_enters_only_the_first_micro_layer():
    """With L = 2 and the second micro-layer's weights zeroed, the second layer's pre-activation is its bias
    alone: changing x changes s only through layer 1 (the bug elsewhere feeds x to every micro-layer)."""
    torch.manual_seed(0)
    cell = RHNCell(I, H, depth=2).double()
    with torch.no_grad():
        cell.weight_hh[2 * H:].zero_()  # R of micro-layer 2
        cell.bias[2 * H:].copy_(torch.tensor([0.5] * H + [-1.0] * H, dtype=torch.float64))
    x = torch.randn(B, 1, I, dtype=torch.float64)
    out = rnnzoo.run(cell, x).output[:, 0]
    # micro-layer 2 is then the fixed map s -> lerp(s, tanh(0.5), sigmoid(-1)): invert it to get layer 1's output
    tg, h = sig(torch.tensor(-1.0, dtype=torch.float64)), torch.tanh(torch.tensor(0.5, dtype=torch.float64))
    layer1 = (out - h * tg) / (1 - tg)
    W = cell.weight_ih.detach().chunk(2, 0)
    b = cell.bias.detach()[:2 * H].chunk(2, 0)
    expect = torch.tanh(x[:, 0] @ W[0].T + b[0]) * sig(x[:, 0] @ W[1].T + b[1])  # s_0 = 0
    torch.testing.assert_close(layer1, expect)


@pytest.mark.parametrize("coupled", [True, False])
def test_fused_equals_step_loop_with_holes_and_gradients(coupled):
    torch.manual_seed(1)
    cell = RHNCell(I, H, depth=3, coupled=coupled).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[1, 1, 0, 1, 1], [1, 0, 0, 1, 0], [0, 1, 1, 1, 1]], dtype=torch.bool)
    s0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    leaves = [x, s0, *cell.parameters()]
    results = []
    for use_fused in (True, False):
        out = rnnzoo.run(cell, x, RHNState(s0), mask=mask, use_fused=use_fused)
        w = torch.randn(out.output.shape, dtype=torch.float64, generator=torch.Generator().manual_seed(2))
        loss = (out.output * w).sum() + out.state.s.pow(2).sum()
        results.append((out.output, out.state.s, torch.autograd.grad(loss, leaves)))
    (o1, s1, g1), (o2, s2, g2) = results
    torch.testing.assert_close(o1, o2)
    torch.testing.assert_close(s1, s2)
    assert (o1[~mask] == 0).all()
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)


def test_transform_bias_initialisation():
    cell = RHNCell(I, H, depth=2, coupled=False, transform_bias=-3.0)
    b = cell.bias.detach().view(2, 3, H)
    assert (b[:, 1] == -3.0).all() and (b[:, 2] == 3.0).all()
    assert not (b[:, 0] == -3.0).all()


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="depth"):
        RHNCell(I, H, depth=0)
    with pytest.raises(TypeError, match="coupled"):
        RHNCell(I, H, coupled="yes")
    with pytest.raises(TypeError, match="transform_bias"):
        RHNCell(I, H, transform_bias=float("nan"))


def test_registry_entry():
    info = rnnzoo.model_info("rhn")
    assert info.recurrence == rnnzoo.Recurrence.MATRIX and info.gated
    assert info.paper.arxiv == "1607.03474"
