"""Grid LSTM (arXiv:1507.01526) against a naive per-block loop typed from the paper (float64, one example at a time).

The reference walks every block of the grid in lexicographic order (each block after its predecessors), builds
``H = [h_1; ...; h_N]`` from the predecessors' outgoing vectors (zeros at the boundary; the projected input ``I x``
as the depth dimension's hidden vector at the first block along depth only) and applies each dimension's LSTM
transform of section 3.1, the priority dimension last from ``H'``, with plain Python indexing: no runner, no
wavefront, no batching.
"""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells.grid_lstm import GridLSTM, GridLSTMCell
from rnnzoo.core.order import GridInput


@pytest.fixture(autouse=True)
def _float64():
    """The reference computes in float64 (restored after each test: other modules keep float32)."""
    before = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(before)


def sigmoid(v: torch.Tensor) -> torch.Tensor:
    return 1 / (1 + torch.exp(-v))


def naive_transform(kind: str, W: torch.Tensor, b: torch.Tensor, H: torch.Tensor, m: torch.Tensor, paper: bool
                    ) -> tuple[torch.Tensor, torch.Tensor]:
    """One dimension's transform of the concatenated hidden vector H (section 3.1; non-LSTM: alpha(V H))."""
    z = W @ H + b
    if kind != "lstm":
        act = {"tanh": torch.tanh, "relu": lambda t: torch.clamp(t, min=0), "identity": lambda t: t}[kind]
        return act(z), torch.zeros_like(m)
    n = m.shape[0]
    g_u, g_f, g_o, g_c = sigmoid(z[:n]), sigmoid(z[n:2 * n]), sigmoid(z[2 * n:3 * n]), torch.tanh(z[3 * n:])
    m_new = g_f * m + g_u * g_c
    h_new = torch.tanh(g_o * m_new) if paper else g_o * torch.tanh(m_new)
    return h_new, m_new


def naive_grid(cell: GridLSTMCell, x: torch.Tensor, depth: int) -> dict[tuple[int, ...], tuple[list, list]]:
    """Every block's outgoing (h'_d, m'_d) lists for ONE example ``x`` ``(*S, F)`` on the grid S x depth."""
    N, Hs, dax = cell.ndim, cell.hidden_size, cell.depth_axis
    extent = (*x.shape[:-1], depth)
    out: dict[tuple[int, ...], tuple[list, list]] = {}
    for pos in itertools.product(*(range(s) for s in extent)):  # lexicographic: predecessors come first
        h_in, m_in = [], []
        for k in range(N):
            if pos[k] == 0:
                h_k, m_k = torch.zeros(Hs), torch.zeros(Hs)
                if k == dax:  # the input, projected at the first block along depth only
                    h_k = cell.proj @ x[pos[:-1]]
            else:
                before = pos[:k] + (pos[k] - 1,) + pos[k + 1:]
                h_k, m_k = out[before][0][k], out[before][1][k]
            h_in.append(h_k)
            m_in.append(m_k)
        layer = 0 if cell.layers == 1 else pos[dax]
        H = torch.cat(h_in)
        h_out, m_out = [None] * N, [None] * N
        paper = cell.cell_output == "paper"
        for d in range(N):
            if d != cell.priority:
                h_out[d], m_out[d] = naive_transform(cell.transforms[d], cell.weight[d][layer], cell.bias[d][layer],
                                                     H, m_in[d], paper)
        if cell.priority is not None:
            p = cell.priority
            H_p = torch.cat([h_in[d] if d == p else h_out[d] for d in range(N)])
            h_out[p], m_out[p] = naive_transform(cell.transforms[p], cell.weight[p][layer], cell.bias[p][layer],
                                                 H_p, m_in[p], paper)
        out[pos] = (h_out, m_out)
    return out


def naive_model(model: GridLSTM, inp: GridInput) -> torch.Tensor:
    """The model's logits computed example by example on each example's own (cropped) grid."""
    cell, n, D = model.cell, model.data_dims, model.depth
    rows = []
    for b in range(inp.grid.shape[0]):
        sizes = [int(s) for s in inp.sizes[b]] if inp.sizes is not None else list(inp.grid.shape[1:-1])
        x = inp.grid[b][tuple(slice(0, s) for s in sizes)]
        blocks = naive_grid(cell, x, D)
        if model.output_kind == "last":
            rows.append(model.head(blocks[(*[s - 1 for s in sizes], D - 1)][0][n]))
        else:
            grid = torch.zeros(*inp.grid.shape[1:-1], model.head.out_features)
            for pos in itertools.product(*(range(s) for s in sizes)):
                grid[pos] = model.head(blocks[(*pos, D - 1)][0][n])
            rows.append(grid)
    return torch.stack(rows)


def model(**options) -> GridLSTM:
    torch.manual_seed(0)
    m = GridLSTM(**options).double()
    with torch.no_grad():  # larger weights than the default init, so every gate and priority path matters
        for p in m.parameters():
            p.mul_(3.0)
    return m


@pytest.mark.parametrize("tied", [True, False])
@pytest.mark.parametrize("cell_output", ["paper", "standard"])
def test_1d_deep_1lstm_equals_naive(tied: bool, cell_output: str) -> None:
    m = model(input_size=5, hidden_size=4, depth=4, tied=tied, cell_output=cell_output)
    x = m.example_input(3, generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(m(x), naive_model(m, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("options", [
    {"tied": True, "output": "last"},
    {"tied": False, "output": "grid", "priority": -1},
    {"tied": False, "output": "last", "priority": 0, "transforms": ("lstm", "tanh")},
])
def test_2d_grid_equals_naive(options: dict) -> None:
    m = model(input_size=3, hidden_size=3, data_dims=1, depth=3, **options)
    x = m.example_input(3, generator=torch.Generator().manual_seed(2))
    torch.testing.assert_close(m(x), naive_model(m, x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("output", ["last", "grid"])
def test_3d_grid_equals_naive(output: str) -> None:
    m = model(input_size=2, hidden_size=2, data_dims=2, depth=2, tied=False, priority=-1, output=output)
    x = m.example_input(2, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(m(x), naive_model(m, x), rtol=1e-12, atol=1e-12)


def test_priority_dimension_reads_the_others_outgoing_vectors() -> None:
    # the priority transform must see h'_d of the other dimensions: the same block without priority differs,
    # and the naive reference with priority agrees with the cell
    torch.manual_seed(0)
    cell = GridLSTMCell(2, 3, ndim=2, priority=1).double()
    plain = GridLSTMCell(2, 3, ndim=2).double()
    plain.load_state_dict(cell.state_dict())
    h = torch.randn(4, 2, 3)
    prev = cell.initial_state(4)._replace(h=h, m=torch.randn(4, 2, 3))
    u = cell.project(torch.randn(4, 2))
    _, with_p = cell.step(u, (prev, prev))
    _, without = plain.step(u, (prev, prev))
    torch.testing.assert_close(with_p.h[:, 0], without.h[:, 0])  # the first dimension is computed as before
    assert (with_p.h[:, 1] - without.h[:, 1]).abs().max() > 1e-3
    H_p = torch.cat([without.h[:, 0], prev.h[:, 1] + u], dim=-1)  # H' = [h'_1; h_2 + I x] (axis 1 is depth)
    z = H_p @ cell.weight[1][0].T + cell.bias[1][0]
    g_u, g_f, g_o, g_c = z.chunk(4, -1)
    m_new = sigmoid(g_f) * prev.m[:, 1] + sigmoid(g_u) * torch.tanh(g_c)
    torch.testing.assert_close(with_p.h[:, 1], torch.tanh(sigmoid(g_o) * m_new))


def test_tied_and_untied_parameter_counts() -> None:
    F, H, D = 7, 5, 6
    for n in (0, 1, 2):
        N = n + 1
        block = N * (4 * H * N * H + 4 * H)  # N LSTM transforms of H = [h_1..h_N] (N H inputs), with biases
        rest = H * F + (H * 2 + 2)  # I (no bias) and the 2-class head
        tied = GridLSTM(input_size=F, hidden_size=H, data_dims=n, depth=D, tied=True)
        untied = GridLSTM(input_size=F, hidden_size=H, data_dims=n, depth=D, tied=False)
        assert sum(p.numel() for p in tied.parameters()) == block + rest
        assert sum(p.numel() for p in untied.parameters()) == D * block + rest
    relu = GridLSTM(input_size=F, hidden_size=H, depth=D, tied=False, transforms=("relu",))
    assert sum(p.numel() for p in relu.parameters()) == D * (H * H + H) + H * F + H * 2 + 2


def test_a_non_lstm_1d_network_is_a_plain_mlp() -> None:
    m = model(input_size=4, hidden_size=3, depth=3, tied=False, transforms=("relu",))
    x = m.example_input(5, generator=torch.Generator().manual_seed(4))
    h = x.grid @ m.cell.proj.T
    for layer in range(3):
        h = torch.relu(h @ m.cell.weight[0][layer].T + m.cell.bias[0][layer])
    torch.testing.assert_close(m(x), m.head(h))


def test_the_input_enters_only_at_the_first_block() -> None:
    # the common mistake, feeding x to every block along depth, computes something else than the model (which
    # equals the naive reference, where x is the depth dimension's hidden vector at the first block only)
    m = model(input_size=4, hidden_size=3, depth=4)
    x = m.example_input(2, generator=torch.Generator().manual_seed(5))
    everywhere = rnnzoo.run(m.cell, x.grid.unsqueeze(1).expand(2, 4, 4).contiguous()).state.h[:, 0]
    torch.testing.assert_close(m(x), naive_model(m, x))
    assert (m(x) - m.head(everywhere)).abs().max() > 1e-3


def test_registry_entries() -> None:
    for name in ("grid_lstm", "grid_lstm_1d"):
        info = rnnzoo.model_info(name)
        assert info.kind is rnnzoo.ModelKind.MODEL and info.input_kind is rnnzoo.InputKind.GRID
        assert info.paper.arxiv == "1507.01526" and info.gated and not info.causal
    assert rnnzoo.create("grid_lstm_1d", input_size=3).data_dims == 0
    assert rnnzoo.create("grid_lstm", input_size=3).data_dims == 2


@pytest.mark.parametrize(("options", "match"), [
    ({"transforms": ("lstm", "gru")}, "transforms: expected 2 of"),
    ({"priority": 2}, "priority: expected an axis in"),
    ({"depth": 0}, "depth: expected an int >= 1"),
    ({"output": "mean"}, "output: expected 'last' or 'grid'"),
    ({"cell_output": "peephole"}, "cell_output: expected one of"),
])
def test_bad_options_raise_naming_them(options: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        GridLSTM(input_size=3, hidden_size=2, data_dims=1, **options)


def test_bad_inputs_raise_naming_them() -> None:
    m = GridLSTM(input_size=3, hidden_size=2, data_dims=1, depth=2)
    good = m.example_input(2, generator=torch.Generator().manual_seed(0))
    with pytest.raises(TypeError, match="x: expected a GridInput"):
        m(good.grid)
    with pytest.raises(ValueError, match=r"x.grid: expected shape \(B, S, F=3\)"):
        m(GridInput(torch.randn(2, 3, 4), good.sizes))
    with pytest.raises(ValueError, match=r"x.grid: expected shape"):
        m(GridInput(torch.randn(2, 3, 3, 3), None))
    with pytest.raises(ValueError, match=r"x.sizes: expected every size in \[1, S_k\]"):
        m(GridInput(good.grid, torch.tensor([[0], [1]])))
    with pytest.raises(ValueError, match=r"x.sizes: expected int64 of shape \(2, 1\)"):
        m(GridInput(good.grid, torch.tensor([1.0, 2.0])))
    with pytest.raises(TypeError, match="x.grid: expected a floating-point tensor"):
        m(GridInput(torch.ones(2, 3, 3, dtype=torch.long), None))
    one = GridLSTM(input_size=3, hidden_size=2)
    with pytest.raises(ValueError, match="x.sizes: a vector input"):
        one(GridInput(torch.randn(2, 3), torch.ones(2, 0, dtype=torch.long)))
    cell = GridLSTMCell(3, 2, ndim=2)
    with pytest.raises(ValueError, match="prev: expected the states of 2 predecessors"):
        cell.step(None, (cell.initial_state(1),))


def test_doc_example_sizes() -> None:
    assert math.isclose(sum(p.numel() for p in GridLSTMCell(3, 4, ndim=2).parameters()), 4 * 3 + 2 * (16 * 8 + 16))
