"""lg_lstm (Liang et al. 2016, arXiv:1511.04510) against a per-pixel Python loop typed from the equations (float64)."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.core.order import GridInput

# the neighbour feeding spatial dimension n = 1..8, (row offset, column offset), in the module's order:
# up-left, up, up-right, left, right, down-left, down, down-right
OFFSETS = [(-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1)]


def sigmoid(v: torch.Tensor) -> torch.Tensor:
    return 1.0 / (1.0 + torch.exp(-v))


def naive(model, image: torch.Tensor, sizes: torch.Tensor) -> torch.Tensor:
    """One pixel, one dimension, one layer at a time: H = [x; nb_1..nb_8; h_depth; g], nine LSTMs."""
    cell = model.cell
    B, Y, X, _ = image.shape
    d, G, L = cell.output_size, cell.global_grid, model.layers
    out = torch.zeros(B, Y, X, model.num_classes, dtype=torch.float64)
    for b in range(B):
        rows, cols = int(sizes[b, 0]), int(sizes[b, 1])
        h = [[[torch.zeros(d, dtype=torch.float64) for _ in range(9)] for _ in range(cols)] for _ in range(rows)]
        c = [[[torch.zeros(d, dtype=torch.float64) for _ in range(9)] for _ in range(cols)] for _ in range(rows)]
        for layer in range(L):
            k = 0 if cell.tie_layers else layer
            W, bias = cell.weight[k], cell.bias[k]  # (in, 9, 4, d), (9, 4, d)
            g: list[torch.Tensor] = []
            if cell.global_feature:
                for a in range(G):
                    for e in range(G):
                        r0, r1 = (a * rows) // G, math.ceil((a + 1) * rows / G)
                        c0, c1 = (e * cols) // G, math.ceil((e + 1) * cols / G)
                        best = None
                        for i in range(r0, r1):
                            for j in range(c0, c1):
                                v = h[i][j][8]
                                best = v.clone() if best is None else torch.maximum(best, v)
                        g.append(best)
            new_h = [[[None] * 9 for _ in range(cols)] for _ in range(rows)]
            new_c = [[[None] * 9 for _ in range(cols)] for _ in range(rows)]
            for i in range(rows):
                for j in range(cols):
                    nb = []
                    for n, (di, dj) in enumerate(OFFSETS):
                        ii, jj = i + di, j + dj
                        inside = 0 <= ii < rows and 0 <= jj < cols
                        nb.append(h[ii][jj][n] if inside else torch.zeros(d, dtype=torch.float64))
                    H = torch.cat([image[b, i, j], *nb, h[i][j][8], *g])
                    for n in range(9):
                        gi = sigmoid(H @ W[:, n, 0] + bias[n, 0])
                        gf = sigmoid(H @ W[:, n, 1] + bias[n, 1])
                        go = sigmoid(H @ W[:, n, 2] + bias[n, 2])
                        gu = torch.tanh(H @ W[:, n, 3] + bias[n, 3])
                        new_c[i][j][n] = gf * c[i][j][n] + gi * gu
                        new_h[i][j][n] = go * torch.tanh(new_c[i][j][n])
            h, c = new_h, new_c
        for i in range(rows):
            for j in range(cols):
                out[b, i, j] = model.classifier.weight @ h[i][j][8] + model.classifier.bias
    return out


def build(**options) -> torch.nn.Module:
    torch.manual_seed(0)
    base = {"input_size": 2, "num_classes": 3, "hidden_size": 3, "layers": 3, "global_grid": 2}
    return rnnzoo.create("lg_lstm", **{**base, **options}).double().eval()


def data(batch: int = 2, shape: tuple[int, int] = (4, 5), seed: int = 0) -> GridInput:
    g = torch.Generator().manual_seed(seed)
    image = torch.randn(batch, *shape, 2, generator=g, dtype=torch.float64)
    sizes = torch.tensor([list(shape)] + [[3, 2]] * (batch - 1), dtype=torch.long)
    return GridInput(image, sizes)


@pytest.mark.parametrize("options", [{}, {"global_feature": False}, {"tie_layers": True, "global_grid": 1},
                                     {"global_grid": 3, "layers": 2}])
def test_matches_the_per_pixel_loop(options) -> None:
    model = build(**options)
    x = data()
    with torch.no_grad():
        torch.testing.assert_close(model(x), naive(model, x.grid, x.sizes), rtol=1e-10, atol=1e-12)


def test_outputs_are_zero_and_padding_is_ignored_outside_the_sizes() -> None:
    model = build()
    x = data(seed=1)
    noisy = x.grid.clone()
    noisy[1, 3:] = 100.0
    noisy[1, :, 2:] = -100.0
    with torch.no_grad():
        a, b = model(x), model(GridInput(noisy, x.sizes))
    torch.testing.assert_close(a, b, rtol=0, atol=0)
    assert bool((a[1, 3:] == 0).all()) and bool((a[1, :, 2:] == 0).all())


def test_a_padded_example_equals_its_crop() -> None:
    model = build()
    x = data(seed=2)
    with torch.no_grad():
        padded = model(x)[1, :3, :2]
        crop = model(GridInput(x.grid[1:, :3, :2].contiguous(), None))[0]
    torch.testing.assert_close(padded, crop, rtol=1e-12, atol=1e-12)


def _changed(model, layers_pixel=(0, 0)) -> torch.Tensor:
    x = data(batch=1, shape=(6, 6), seed=3)
    bumped = x.grid.clone()
    bumped[0, layers_pixel[0], layers_pixel[1]] += 1.0
    with torch.no_grad():
        return (model(x) - model(GridInput(bumped, x.sizes))).abs().amax(-1)[0] > 1e-12


def test_the_local_path_reaches_layers_minus_one_pixels() -> None:
    # without the global term, L layers see a (2L - 1) x (2L - 1) window through the neighbours' hidden cells
    changed = _changed(build(global_feature=False, layers=3))
    i, j = torch.meshgrid(torch.arange(6), torch.arange(6), indexing="ij")
    assert torch.equal(changed, torch.maximum(i, j) <= 2)


def test_the_global_path_reaches_the_whole_image_from_layer_two() -> None:
    # a blank image but one pixel: after layer 1 every other pixel has the same depth hidden cells v0, that pixel v1;
    # the max-pooled global term changes wherever v1 > v0 in some unit, and layer 2 reads it at every pixel
    def changed(model, bump: float) -> torch.Tensor:
        blank = GridInput(torch.zeros(1, 6, 6, 2, dtype=torch.float64), None)
        marked = blank.grid.clone()
        marked[0, 0, 0] = bump
        with torch.no_grad():
            return (model(blank) - model(GridInput(marked, None))).abs().amax(-1)[0] > 1e-12

    with_global = build(layers=2, global_grid=1)
    assert any(bool(changed(with_global, bump).all()) for bump in (3.0, -3.0))
    local = build(layers=2, global_feature=False)
    assert not any(bool(changed(local, bump)[2:, 2:].any()) for bump in (3.0, -3.0))


def test_the_direction_weights_are_distinct() -> None:
    # a mirrored image does not give mirrored scores: left and right neighbours enter through different weights
    model = build(global_grid=1, layers=2)
    x = data(batch=1, shape=(4, 4), seed=4)
    with torch.no_grad():
        mirrored = model(GridInput(x.grid.flip(2), x.sizes)).flip(2)
        assert not torch.allclose(model(x), mirrored, atol=1e-6)
    assert model.cell.weight.shape[2] == 9  # one weight set per spatial dimension and depth


def test_gradients_match_the_loop_in_float64() -> None:
    model = build(layers=2)
    x = data(seed=5)
    model(x).square().sum().backward()
    fast = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    naive(model, x.grid, x.sizes).square().sum().backward()
    for a, b in zip(fast, [p.grad for p in model.parameters()], strict=True):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize(("x", "match"), [
    (torch.zeros(2, 4, 5, 2), "GridInput"),
    (GridInput(torch.zeros(2, 4, 5, 3, dtype=torch.float64), None), "2 channels"),
    (GridInput(torch.zeros(2, 4, 5, 2, dtype=torch.long), None), "floating"),
    (GridInput(torch.zeros(2, 4, 5, 2, dtype=torch.float64), torch.ones(2, 2)), "int64"),
    (GridInput(torch.zeros(2, 4, 5, 2, dtype=torch.float64), torch.ones(3, 2, dtype=torch.long)), r"\(2, 2\)"),
    (GridInput(torch.zeros(2, 4, 5, 2, dtype=torch.float64), torch.tensor([[4, 5], [5, 5]])), "rows in"),
    (GridInput(torch.zeros(2, 4, 5, 2, dtype=torch.float64), torch.tensor([[4, 5], [1, 0]])), "columns in"),
])
def test_bad_input_names_the_argument(x, match) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        build()(x)


@pytest.mark.parametrize(("options", "match"), [({"layers": 0}, "layers"), ({"global_grid": 0}, "global_grid"),
                                                ({"global_feature": 1}, "global_feature")])
def test_bad_options_name_the_option(options, match) -> None:
    with pytest.raises((TypeError, ValueError), match=match):
        build(**options)
