"""FSMN against a naive implementation typed from the paper's equations (float64, Python loops over time and
taps), its convolution fast path against the step loop, streaming, and the look-ahead refusals."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.fsmn import FSMNCell

B, T, I, H = 3, 9, 3, 4
ACT = {"relu": lambda v: torch.clamp(v, min=0), "sigmoid": lambda v: 1.0 / (1.0 + torch.exp(-v)), "tanh": torch.tanh}


def _naive(cell: FSMNCell, x: torch.Tensor) -> torch.Tensor:
    """y_t = f(W x_t + W~ (sum_{i=0}^{N1} a_i * x_{t-i} + sum_{j=1}^{N2} c_j * x_{t+j}) + b), inputs outside
    [0, T) zero: the paper's memory block over a whole sequence (its look-ahead reads the future directly)."""
    n1, n2 = cell.lookback, cell.lookahead
    back = cell.memory_back  # row N1 - i holds a_i
    ahead = cell.memory_ahead  # row j - 1 holds c_j
    steps = x.shape[1]
    outs = []
    for t in range(steps):
        mem = torch.zeros(x.shape[0], x.shape[2], dtype=x.dtype)
        for i in range(n1 + 1):
            if t - i >= 0:
                mem = mem + back[n1 - i] * x[:, t - i]
        for j in range(1, n2 + 1):
            if t + j < steps:
                mem = mem + ahead[j - 1] * x[:, t + j]
        pre = x[:, t] @ cell.weight_ih.T + mem @ cell.weight_mh.T + cell.bias
        outs.append(ACT[cell.activation](pre))
    return torch.stack(outs, 1)


def _cell(**kw) -> FSMNCell:
    torch.manual_seed(0)
    return FSMNCell(I, H, **kw).double()


@pytest.mark.parametrize("memory", ["vector", "scalar"])
@pytest.mark.parametrize("lookback,lookahead", [(0, 0), (1, 0), (4, 0), (3, 2), (0, 1), (2, 12)])
@pytest.mark.parametrize("use_fused", [True, False])
def test_equals_the_papers_memory_block(memory, lookback, lookahead, use_fused):
    cell = _cell(memory=memory, lookback=lookback, lookahead=lookahead, activation="tanh")
    x = torch.randn(B, T, I, dtype=torch.float64)
    out = rnnzoo.run(cell, x, use_fused=use_fused).output
    torch.testing.assert_close(out, _naive(cell, x))


@pytest.mark.parametrize("lookahead", [0, 2])
def test_lengths_equal_truncated_runs(lookahead):
    """Per-sequence look-ahead: the input past each length is not read (the runner zeroes it)."""
    cell = _cell(lookback=3, lookahead=lookahead)
    x = torch.randn(B, T, I, dtype=torch.float64)
    lengths = [9, 4, 6]
    for use_fused in (True, False):
        out = rnnzoo.run(cell, x, lengths=lengths, use_fused=use_fused).output
        for b, n in enumerate(lengths):
            torch.testing.assert_close(out[b, :n], _naive(cell, x[b:b + 1, :n])[0])
            assert (out[b, n:] == 0).all()


def test_scalar_memory_has_one_coefficient_per_tap():
    cell = FSMNCell(I, H, memory="scalar", lookback=5, lookahead=2)
    assert cell.memory_back.shape == (6, 1) and cell.memory_ahead.shape == (2, 1)
    assert FSMNCell(I, H, lookback=5).memory_back.shape == (6, I)


@pytest.mark.parametrize("memory", ["vector", "scalar"])
def test_fast_path_equals_step_loop_with_holes_and_initial_state(memory):
    """The convolution path equals the step loop for any mask (masked steps freeze the tap buffer) and any
    initial state, outputs, final state and gradients."""
    cell = _cell(memory=memory, lookback=3)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(B, T, I, dtype=torch.float64, generator=gen, requires_grad=True)
    mask = torch.rand(B, T, generator=gen) > 0.4
    mask[1] = False  # a sequence with no valid step keeps its initial state
    state0 = cell.initial_state(B, dtype=torch.float64)
    state0 = type(state0)(*(torch.randn(s.shape, dtype=torch.float64, generator=gen).requires_grad_() for s in state0))
    results = []
    for use_fused in (True, False):
        out = rnnzoo.run(cell, x, state0, mask=mask, use_fused=use_fused)
        loss = (out.output * torch.linspace(-1, 1, H, dtype=torch.float64)).sum() + out.state.taps.pow(2).sum()
        grads = torch.autograd.grad(loss, [x, state0.taps, *cell.parameters()])
        results.append((out.output, out.state, grads))
    (o1, s1, g1), (o2, s2, g2) = results
    torch.testing.assert_close(o1, o2)
    for a, b in zip(s1, s2, strict=True):
        torch.testing.assert_close(a, b)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b)
    torch.testing.assert_close(s1.taps[1], state0.taps[1].detach())


def test_gradcheck_fast_path():
    cell = _cell(lookback=2, lookahead=1, activation="tanh")
    x = torch.randn(2, 5, I, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: rnnzoo.run(cell, v, lengths=[5, 3]).output, (x,))


def test_causal_chunks_equal_one_run_and_stepping():
    cell = _cell(lookback=4)
    x = torch.randn(B, T, I, dtype=torch.float64)
    whole = rnnzoo.run(cell, x)
    first = rnnzoo.run(cell, x[:, :4])
    second = rnnzoo.run(cell, x[:, 4:], first.state)
    torch.testing.assert_close(torch.cat([first.output, second.output], 1), whole.output)
    state, ys = None, []
    for t in range(T):
        y, state = cell(x[:, t], state)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys, 1), whole.output)
    assert cell.causal and cell.lookahead == 0


def test_stepping_a_lookahead_cell_gives_the_delayed_outputs():
    """By hand, step t emits the output of position t - lookahead (documented); the run shifts them back."""
    cell = _cell(lookback=2, lookahead=3)
    x = torch.randn(B, T, I, dtype=torch.float64)
    state, ys = None, []
    for t in range(T):
        y, state = cell(x[:, t], state)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys[3:], 1), _naive_prefix(cell, x))
    assert not cell.causal and cell.lookahead == 3


def _naive_prefix(cell: FSMNCell, x: torch.Tensor) -> torch.Tensor:
    """Positions 0 .. T - 1 - N2 of the naive run: the ones whose whole look-ahead lies inside x."""
    return _naive(cell, x)[:, :x.shape[1] - cell.lookahead]


def test_lookahead_refusals_name_the_option():
    with pytest.raises(ValueError, match="bidirectional: 'fsmn' with lookahead=2"):
        rnnzoo.create("fsmn", I, H, lookahead=2, bidirectional=True)
    with pytest.raises(ValueError, match="forward: FSMNCell has lookahead=2"):
        rnnzoo.Bidirectional(FSMNCell(I, H, lookahead=2))
    rnnzoo.create("fsmn", I, H, bidirectional=True)  # the causal default runs backwards
    cell = FSMNCell(I, H, lookahead=2)
    x = torch.randn(B, T, I)
    with pytest.raises(ValueError, match="reverse: FSMNCell has lookahead=2"):
        rnnzoo.run(cell, x, reverse=True)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = False
    with pytest.raises(ValueError, match="mask: FSMNCell has lookahead=2.*holes"):
        rnnzoo.run(cell, x, mask=mask)
    model = rnnzoo.create("fsmn", I, H, lookahead=2)
    assert not model.causal


@pytest.mark.parametrize("bad", [{"lookback": -1}, {"lookahead": 1.5}, {"memory": "matrix"}, {"activation": "elu"}])
def test_bad_options_raise_naming_them(bad):
    with pytest.raises(ValueError, match=next(iter(bad))):
        FSMNCell(I, H, **bad)
