"""MD-LSTM (Graves, Fernandez & Schmidhuber 2007, arXiv:0705.2011) against a per-pixel float64 loop typed from the
paper, the 1-D case against torch's LSTM, the stable cell, the cell-state growth, and bad input."""

from __future__ import annotations

import itertools

import pytest
import torch

import rnnzoo
from rnnzoo.cells.lstm import LSTMState
from rnnzoo.cells.mdlstm import MDLSTM, MDLSTMCell, RowLSTM
from rnnzoo.core.order import GridInput, Wavefront, directions, grid_mask
from rnnzoo.core.runner import run

D = torch.float64


def sig(v: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + torch.exp(-v))


def naive_scan(cell: MDLSTMCell, x: torch.Tensor, size: tuple[int, ...], flip: tuple[bool, ...]
               ) -> dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]]:
    """One example ``x`` ``(*S, I)``: a dict position -> (h, c), one position at a time in scan order.

    Graves et al. section 3.2: the gates read x_p and every predecessor's h; c = i g + sum_d f_d c_d; h = o tanh(c).
    Leifert et al.'s stable cell: c = i g + f sum_d lam_d c_d, lam = softmax over d.
    """
    H, N = cell.hidden_size, cell.ndim
    W, U, b = cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias.detach()
    zero = torch.zeros(H, dtype=D)
    out: dict[tuple[int, ...], tuple[torch.Tensor, torch.Tensor]] = {}
    # visiting in scan coordinates q (q_k = p_k, or size_k - 1 - p_k when flipped) lexicographically puts every
    # predecessor (q - e_d) before its successor
    for q in itertools.product(*[range(s) for s in size]):
        p = tuple(size[k] - 1 - q[k] if flip[k] else q[k] for k in range(N))
        preds = []
        for d in range(N):
            if q[d] == 0:
                preds.append((zero, zero))
            else:
                pd = list(p)
                pd[d] += 1 if flip[d] else -1
                preds.append(out[tuple(pd)])

        def gate(block: int, p: tuple[int, ...] = p, preds: list = preds) -> torch.Tensor:
            rows = slice(block * H, (block + 1) * H)
            total = W[rows] @ x[p] + b[rows]
            for d in range(N):
                total = total + U[rows, d * H:(d + 1) * H] @ preds[d][0]
            return total

        i = sig(gate(0))
        if cell.cell == "lstm":
            c = i * torch.tanh(gate(1 + N))
            for d in range(N):
                c = c + sig(gate(1 + d)) * preds[d][1]
            o = sig(gate(2 + N))
        else:
            logits = torch.stack([gate(2 + d) for d in range(N)])
            lam = torch.exp(logits) / torch.exp(logits).sum(0)
            c = i * torch.tanh(gate(2 + N)) + sig(gate(1)) * sum(lam[d] * preds[d][1] for d in range(N))
            o = sig(gate(3 + N))
        out[p] = (o * torch.tanh(c), c)
    return out


def naive_model(model: MDLSTM, x: GridInput) -> torch.Tensor:
    """The classifier of one layer by the per-pixel loop: every direction feeds V, mean over valid positions."""
    assert len(model.layers) == 1
    logits = []
    for b in range(x.grid.shape[0]):
        size = tuple(int(s) for s in x.sizes[b])
        scans = [naive_scan(cell, x.grid[b], size, flip) for cell, flip in zip(model.layers[0], model.flips,
                                                                                 strict=True)]
        ys = [model.output_layer.weight.detach() @ torch.cat([s[p][0] for s in scans]) + model.output_layer.bias
              for p in itertools.product(*[range(s) for s in size])]
        logits.append(torch.stack(ys).mean(0))
    return torch.stack(logits)


def grid_input(shape: tuple[int, ...], sizes: list[list[int]], channels: int, seed: int = 0) -> GridInput:
    g = torch.Generator().manual_seed(seed)
    sizes_t = torch.tensor(sizes)
    grid = torch.randn(len(sizes), *shape, channels, generator=g, dtype=D)
    return GridInput(grid, sizes_t)


@pytest.mark.parametrize("cell", ["lstm", "stable"])
def test_2d_model_equals_the_per_pixel_loop_in_all_four_directions_with_variable_sizes(cell: str) -> None:
    torch.manual_seed(0)
    model = MDLSTM(input_size=2, hidden_size=3, num_classes=4, cell=cell).to(D)
    assert len(model.flips) == 4
    x = grid_input((3, 4), [[3, 4], [2, 3], [3, 1], [1, 4]], 2)
    torch.testing.assert_close(model(x), naive_model(model, x), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("flip", directions(2))
def test_each_direction_per_position_equals_the_loop(flip: tuple[bool, bool]) -> None:
    torch.manual_seed(1)
    cell = MDLSTMCell(2, 3).to(D)
    x = grid_input((3, 4), [[3, 4], [2, 3]], 2, seed=1)
    out = run(cell, x.grid, order=Wavefront(flip, x.sizes), return_states=True)
    for b in range(2):
        size = tuple(int(s) for s in x.sizes[b])
        ref = naive_scan(cell, x.grid[b], size, flip)
        for p in itertools.product(range(3), range(4)):
            if p in ref:
                torch.testing.assert_close(out.output[(b, *p)], ref[p][0], rtol=1e-10, atol=1e-10)
                torch.testing.assert_close(out.states.c[(b, *p)], ref[p][1], rtol=1e-10, atol=1e-10)
            else:
                assert bool((out.output[(b, *p)] == 0).all()), "outputs outside an example's sizes must be zero"


def test_3d_cell_equals_the_loop() -> None:
    torch.manual_seed(2)
    cell = MDLSTMCell(1, 2, ndim=3).to(D)
    x = grid_input((3, 2, 3), [[3, 2, 3], [2, 1, 2]], 1, seed=2)
    for flip in [(False, False, False), (True, False, True)]:
        out = run(cell, x.grid, order=Wavefront(flip, x.sizes)).output
        for b in range(2):
            size = tuple(int(s) for s in x.sizes[b])
            for p, (h, _) in naive_scan(cell, x.grid[b], size, flip).items():
                torch.testing.assert_close(out[(b, *p)], h, rtol=1e-10, atol=1e-10)


def test_1d_is_torch_lstm() -> None:
    torch.manual_seed(3)
    cell = MDLSTMCell(3, 4, ndim=1).to(D)
    ref = torch.nn.LSTMCell(3, 4).to(D)
    with torch.no_grad():
        ref.weight_ih.copy_(cell.weight_ih)
        ref.weight_hh.copy_(cell.weight_hh)
        ref.bias_ih.copy_(cell.bias)
        ref.bias_hh.zero_()
    x = torch.randn(2, 6, 3, dtype=D)
    out = run(cell, x, order=Wavefront()).output
    h = c = torch.zeros(2, 4, dtype=D)
    for t in range(6):
        h, c = ref(x[:, t], (h, c))
        torch.testing.assert_close(out[:, t], h, rtol=1e-12, atol=1e-12)


def test_stepping_by_hand_equals_the_run() -> None:
    torch.manual_seed(4)
    cell = MDLSTMCell(2, 3).to(D)
    x = torch.randn(1, 2, 2, 2, dtype=D)
    out = run(cell, x, order=Wavefront(), return_states=True)
    zero = LSTMState(torch.zeros(1, 3, dtype=D), torch.zeros(1, 3, dtype=D))
    s = {}
    for p in [(0, 0), (0, 1), (1, 0), (1, 1)]:
        prev = tuple(s.get((p[0] - 1, p[1]), zero) if d == 0 else s.get((p[0], p[1] - 1), zero) for d in range(2))
        _, s[p] = cell(x[(0, *p)].unsqueeze(0), prev)
        torch.testing.assert_close(out.output[(0, *p)], s[p].h[0], rtol=0, atol=1e-14)


def test_cell_state_grows_with_summed_forget_gates_and_not_with_the_stable_cell() -> None:
    """Gates driven open (i, f, o -> 1, g -> 1): c grows like the number of monotone paths, C(i+j, i), with one forget
    gate per dimension (Leifert et al. 2016), and at most linearly (|c| <= i + j + 1) with the stable cell."""
    n = 8
    for kind in ("lstm", "stable"):
        cell = MDLSTMCell(1, 1, cell=kind).to(D)
        with torch.no_grad():
            cell.weight_ih.zero_()
            cell.weight_hh.zero_()
            cell.bias.fill_(50.0)  # every gate saturated open, the cell input tanh(50) = 1
        states = run(cell, torch.zeros(1, n, n, 1, dtype=D), order=Wavefront(), return_states=True).states
        c = states.c[0, :, :, 0].detach()
        expected = torch.zeros(n + 1, n + 1, dtype=D)  # the recursion by hand, boundary row/column 0 = zeros
        for i in range(1, n + 1):
            for j in range(1, n + 1):
                up, left = expected[i - 1, j], expected[i, j - 1]
                expected[i, j] = 1 + (up + left if kind == "lstm" else 0.5 * (up + left))
        torch.testing.assert_close(c, expected[1:, 1:], rtol=1e-9, atol=1e-9)
        if kind == "lstm":
            assert float(c[n - 1, n - 1]) > 1000  # 12,869 at n = 8: binomial growth
        else:
            assert float(c.max()) <= 2 * (n - 1) + 1  # linear at most


def test_forget_bias_sets_the_forget_gates() -> None:
    cell = MDLSTMCell(2, 3, ndim=2, forget_bias=1.0)
    assert bool((cell.bias[3:9] == 1.0).all()) and not bool((cell.bias[:3] == 1.0).all())


def test_row_lstm_reads_rows_as_steps() -> None:
    torch.manual_seed(5)
    model = RowLSTM(input_size=1, hidden_size=3, num_classes=2, grid_shape=(3, 4)).to(D)
    x = grid_input((3, 4), [[3, 4], [2, 2]], 1, seed=5)
    logits = model(x)
    for b in range(2):
        rows, cols = (int(s) for s in x.sizes[b])
        g = x.grid[b].clone()
        g[:, cols:] = 0
        state = model.lstm.initial_state(1, dtype=D)
        for r in range(rows):
            _, state = model.lstm(g[r].reshape(1, -1), state)
        torch.testing.assert_close(logits[b], model.output_layer(state.h)[0], rtol=1e-12, atol=1e-12)


def test_grid_mask() -> None:
    m = grid_mask(torch.tensor([[2, 3]]), (3, 4))
    assert m.sum() == 6 and bool(m[0, 1, 2]) and not bool(m[0, 2, 0]) and not bool(m[0, 0, 3])


def test_bad_input_names_the_argument() -> None:
    model = rnnzoo.create("mdlstm", input_size=1, hidden_size=2, num_classes=3)
    good = model.example_input(2)
    with pytest.raises(TypeError, match="GridInput"):
        model(good.grid)
    with pytest.raises(ValueError, match="grid: expected shape"):
        model(GridInput(good.grid[..., :0], good.sizes))
    with pytest.raises(TypeError, match="sizes: expected an int64"):
        model(GridInput(good.grid, good.sizes.float()))
    with pytest.raises(ValueError, match="sizes: expected 1 <="):
        model(GridInput(good.grid, good.sizes * 0))
    with pytest.raises(ValueError, match="cell: expected one of"):
        MDLSTMCell(1, 2, cell="leaky")
    with pytest.raises(ValueError, match="num_directions"):
        MDLSTM(input_size=1, hidden_size=2, num_classes=3, num_directions=5)
    with pytest.raises(ValueError, match="prev: expected a tuple of 2"):
        MDLSTMCell(1, 2).step(torch.zeros(1, 10), (LSTMState(torch.zeros(1, 2), torch.zeros(1, 2)),))


def test_two_layers_and_one_direction_run_and_train() -> None:
    torch.manual_seed(6)
    model = MDLSTM(input_size=1, hidden_size=2, num_classes=3, num_layers=2, num_directions=1)
    x = model.example_input(3, generator=torch.Generator().manual_seed(0))
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize("ndim, cell", [(2, "lstm"), (2, "stable"), (3, "lstm")])
def test_all_directions_in_one_run_equal_one_run_per_direction(ndim: int, cell: str) -> None:
    torch.manual_seed(7)
    model = MDLSTM(input_size=2, hidden_size=3, num_classes=4, ndim=ndim, num_layers=2, cell=cell).to(D)
    shape = (4, 3, 3)[:ndim]
    x = grid_input(shape, [list(shape), [2, 1, 3][:ndim], [3, 2, 1][:ndim]], 2, seed=7)
    torch.testing.assert_close(model.features(x), model.features(x, one_run=False), rtol=1e-12, atol=1e-12)
    (g1,) = torch.autograd.grad(model.features(x).sum(), model.layers[0][-1].weight_hh)
    (g2,) = torch.autograd.grad(model.features(x, one_run=False).sum(), model.layers[0][-1].weight_hh)
    torch.testing.assert_close(g1, g2, rtol=1e-10, atol=1e-12)


def test_sizes_none_means_every_example_fills_the_grid() -> None:
    model = MDLSTM(input_size=2, hidden_size=3, num_classes=4).double()
    grid = torch.randn(3, 4, 5, 2, dtype=torch.float64)
    full = torch.tensor([[4, 5]] * 3)
    torch.testing.assert_close(model(GridInput(grid)), model(GridInput(grid, full)), rtol=0, atol=0)
    row = RowLSTM(input_size=2, hidden_size=3, num_classes=4, grid_shape=(4, 5)).double()
    torch.testing.assert_close(row(GridInput(grid)), row(GridInput(grid, full)), rtol=0, atol=0)
