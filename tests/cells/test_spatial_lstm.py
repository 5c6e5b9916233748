"""Spatial LSTM / RIDE (Theis & Bethge 2015, arXiv:1506.03478) against a per-pixel float64 loop typed from the paper,
its causality (the density at a pixel never reads a later pixel), and what it shares with MD-LSTM."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells.mdlstm import MDLSTMCell
from rnnzoo.cells.spatial_lstm import SpatialLSTM, SpatialLSTMCell, causal_neighbourhood
from rnnzoo.core.order import GridInput, Wavefront
from rnnzoo.core.runner import run

D = torch.float64


def sig(v: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + torch.exp(-v))


def naive_density(model: SpatialLSTM, grid: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """One image ``(H, W, C)`` pixel by pixel: neighbourhood, the stacked spatial LSTMs
    (c = g i + c_{i,j-1} f_c + c_{i-1,j} f_r, h = tanh(c o)), then the mixture's log density."""
    rows, cols = size
    k, C, Hd, K = model.radius, model.input_size, model.hidden_size, model.components

    def pixel(i: int, j: int) -> torch.Tensor:
        inside = 0 <= i < rows and 0 <= j < cols
        return grid[i, j] if inside else torch.zeros(C, dtype=D)

    feats = {}
    for i in range(rows):
        for j in range(cols):
            nb = [pixel(i - a, j + b) for a in range(k, 0, -1) for b in range(-k, k + 1)]
            nb += [pixel(i, j - b) for b in range(k, 0, -1)]
            feats[(i, j)] = torch.cat(nb)
    zero = torch.zeros(Hd, dtype=D)
    for cell in model.layers:
        W, U, bias = cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias.detach()
        h, c = {}, {}
        for i in range(rows):
            for j in range(cols):
                h_up, c_up = (h[(i - 1, j)], c[(i - 1, j)]) if i > 0 else (zero, zero)
                h_left, c_left = (h[(i, j - 1)], c[(i, j - 1)]) if j > 0 else (zero, zero)
                pre = W @ feats[(i, j)] + bias + U @ torch.cat([h_up, h_left])
                gi, f_r, f_c, g, o = pre.split(Hd)
                c[(i, j)] = torch.tanh(g) * sig(gi) + c_left * sig(f_c) + c_up * sig(f_r)
                h[(i, j)] = torch.tanh(c[(i, j)] * sig(o))
        feats = h
    out = torch.zeros(grid.shape[0], grid.shape[1], dtype=D)
    Wm, bm = model.mixture.weight.detach(), model.mixture.bias.detach()
    for (i, j), hv in feats.items():
        p = Wm @ hv + bm
        logits, mu, log_s = p[:K], p[K:K + K * C].view(K, C), p[K + K * C:].view(K, C)
        log_pi = logits - torch.log(torch.exp(logits).sum())
        terms = []
        for m in range(K):
            t = log_pi[m]
            for ch in range(C):
                s = torch.exp(log_s[m, ch])
                t = t - 0.5 * ((grid[i, j, ch] - mu[m, ch]) / s) ** 2 - torch.log(s) - 0.5 * math.log(2 * math.pi)
            terms.append(t)
        out[i, j] = torch.log(torch.exp(torch.stack(terms)).sum())
    return out


@pytest.mark.parametrize("radius", [1, 2])
def test_density_equals_the_per_pixel_loop_with_variable_sizes(radius: int) -> None:
    torch.manual_seed(0)
    model = SpatialLSTM(input_size=2, hidden_size=3, num_layers=2, radius=radius, components=2).to(D)
    g = torch.Generator().manual_seed(0)
    sizes = torch.tensor([[4, 5], [2, 3], [3, 1]])
    grid = torch.randn(3, 4, 5, 2, generator=g, dtype=D)
    out = model(GridInput(grid, sizes)).log_density
    for b in range(3):
        size = (int(sizes[b, 0]), int(sizes[b, 1]))
        torch.testing.assert_close(out[b], naive_density(model, grid[b], size), rtol=1e-10, atol=1e-10)


def test_the_density_at_a_pixel_reads_only_earlier_pixels() -> None:
    torch.manual_seed(1)
    model = SpatialLSTM(input_size=1, hidden_size=3, radius=2).to(D)
    grid = torch.randn(1, 5, 6, 1, dtype=D, requires_grad=True)
    x = GridInput(grid, torch.tensor([[5, 6]]))
    for i, j in [(0, 0), (2, 3), (4, 5), (3, 0)]:
        (grad,) = torch.autograd.grad(model(x).log_density[0, i, j], grid)
        flat = grad[0, :, :, 0].flatten()
        here = i * 6 + j
        assert bool((flat[here + 1:] == 0).all()), f"log p(x_{i}{j}) reads a later pixel"
        assert float(flat[here].abs()) > 0  # its own value (the density's argument)
        (gh,) = torch.autograd.grad(model.hidden_states(x)[0, i, j].sum(), grid)
        assert bool((gh[0, :, :, 0].flatten()[here:] == 0).all()), "h_ij reads x_ij or later"
        if here > 0:
            assert float(gh.abs().sum()) > 0


def test_shares_the_md_lstm_gates_and_differs_in_h() -> None:
    torch.manual_seed(2)
    md, sp = MDLSTMCell(3, 4).to(D), SpatialLSTMCell(3, 4).to(D)
    sp.load_state_dict(md.state_dict())
    x = torch.randn(2, 3, 3, 3, dtype=D)
    a = run(md, x, order=Wavefront(), return_states=True).states
    b = run(sp, x, order=Wavefront(), return_states=True).states
    # the first cell has zero predecessors: the same c; h = tanh(o c) against o tanh(c)
    torch.testing.assert_close(a.c[:, 0, 0], b.c[:, 0, 0])
    o = torch.sigmoid(md.project(x[:, 0, 0])[:, -4:])
    torch.testing.assert_close(b.h[:, 0, 0], torch.tanh(o * b.c[:, 0, 0]))
    torch.testing.assert_close(a.h[:, 0, 0], o * torch.tanh(a.c[:, 0, 0]))


def test_neighbourhood_excludes_the_pixel_and_later_ones() -> None:
    grid = torch.arange(1.0, 13.0).view(1, 3, 4, 1)  # pixel (i, j) holds 4 i + j + 1
    nb = causal_neighbourhood(grid, 1)[0, 1, 1]  # (0, 0), (0, 1), (0, 2) above, (1, 0) left
    assert nb.tolist() == [1.0, 2.0, 3.0, 5.0]
    assert causal_neighbourhood(grid, 1)[0, 0, 0].tolist() == [0.0, 0.0, 0.0, 0.0]


def test_nll_bits_and_learning_lowers_it() -> None:
    torch.manual_seed(3)
    model = SpatialLSTM(input_size=1, hidden_size=4, num_layers=1, grid_shape=(4, 4))
    x = model.example_input(2, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(model.parameters(), 3e-2)
    first = model.nll_bits(x).mean().detach()
    for _ in range(3):
        loss = model.nll_bits(x).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(model.nll_bits(x).mean().detach()) < float(first)


def test_bad_input() -> None:
    model = rnnzoo.create("spatial_lstm", input_size=1, hidden_size=2)
    x = model.example_input(2)
    with pytest.raises(ValueError, match="grid: expected shape"):
        model(GridInput(x.grid.unsqueeze(1), x.sizes))
    with pytest.raises(ValueError, match="radius"):
        SpatialLSTM(input_size=1, hidden_size=2, radius=0)
    with pytest.raises(ValueError, match="grid_shape"):
        SpatialLSTM(input_size=1, hidden_size=2, grid_shape=(3, 3, 3))
