"""The memory-controller LSTM against a naive implementation typed from Ben-Ari & Shwartz-Ziv (2017) (the equations
of the cell's docstring: float64, a per-step loop over each sequence with its own named weights), on both paths."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.memory_controller_lstm import MemoryControllerLSTMCell, MemoryControllerLSTMState

B, T, I, H = 3, 6, 4, 5


def _naive(cell, x, v0, c0, mask):
    """Gates read the control vector v, never h; h = o tanh(c) is the output, v = m tanh(c) recurs."""
    W = {k: w for k, w in zip("fiomn", cell.weight_ih.detach().split(H), strict=True)}
    U = {k: w for k, w in zip("fiomn", cell.weight_hh.detach().split(H), strict=True)}
    b = {k: w for k, w in zip("fiomn", cell.bias.detach().split(H), strict=True)}
    out = torch.zeros(B, T, H, dtype=torch.float64)
    hT, vT, cT = torch.zeros(B, H, dtype=torch.float64), v0.clone(), c0.clone()
    for s in range(B):
        v, c, h = v0[s].clone(), c0[s].clone(), torch.zeros(H, dtype=torch.float64)
        for t in range(T):
            if not mask[s, t]:
                continue
            pre = {k: W[k] @ x[s, t] + U[k] @ v + b[k] for k in "fiomn"}
            f, i, o, m = (torch.sigmoid(pre[k]) for k in "fiom")
            n = torch.tanh(pre["n"])
            c = f * c + i * n
            h, v = o * torch.tanh(c), m * torch.tanh(c)
            out[s, t] = h
        hT[s], vT[s], cT[s] = h, v, c
    return out, hT, vT, cT


@pytest.mark.parametrize("use_fused", [False, True])
def test_equals_naive(use_fused):
    torch.manual_seed(0)
    cell = MemoryControllerLSTMCell(I, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(3.0)  # every nonlinearity sees both signs
    x = torch.randn(B, T, I, dtype=torch.float64)
    v0, c0 = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    want, h, v, c = _naive(cell, x, v0, c0, mask)
    state = MemoryControllerLSTMState(torch.zeros(B, H, dtype=torch.float64), v0, c0)
    res = rnnzoo.run(cell, x, state, mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.v, v, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.c, c, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h[[0, 2]], h[[0, 2]], rtol=0, atol=1e-12)


def test_the_output_does_not_recur():
    """Changing the initial h changes nothing: only v and c are read by the next step (the paper's decoupling)."""
    torch.manual_seed(1)
    cell = MemoryControllerLSTMCell(I, H).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    v0, c0 = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    a = rnnzoo.run(cell, x, MemoryControllerLSTMState(torch.zeros(B, H, dtype=torch.float64), v0, c0)).output
    b = rnnzoo.run(cell, x, MemoryControllerLSTMState(torch.randn(B, H, dtype=torch.float64), v0, c0)).output
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    c = rnnzoo.run(cell, x, MemoryControllerLSTMState(torch.zeros(B, H, dtype=torch.float64), v0 + 1, c0)).output
    assert (a - c).abs().max() > 1e-3


def test_bad_sizes_are_refused_by_name():
    with pytest.raises(ValueError, match="hidden_size"):
        MemoryControllerLSTMCell(I, 0)
