r"""Multi-dimensional LSTM (Graves, Fernandez & Schmidhuber 2007, arXiv:0705.2011; 001 section 4.4, eq (26)).

**The cell** (:class:`MDLSTMCell`, a :class:`~rnnzoo.core.order.GridCell`): position ``p = (p_1, ..., p_N)`` of an
N-dimensional grid reads its input ``x_p`` and the states ``(h_d, c_d) = state(p - e_d)`` of its N predecessors (one
per axis, zeros at the boundary). With ``hcat = [h_1; ...; h_N]`` (N*H)::

    [i, f_1, ..., f_N, g, o]_pre = W x_p + b + U hcat          # W = weight_ih ((3+N)H, I), U = weight_hh ((3+N)H, N*H)
    i   = sigmoid(i_pre)                                       # input gate          (001 eq (16))
    f_d = sigmoid(f_d_pre)                                     # one forget gate per dimension d (001 eq (17))
    g   = tanh(g_pre)                                          # cell input
    c   = i * g + sum_d f_d * c_d                              # Graves et al. section 3.2; 001 eq (26)
    o   = sigmoid(o_pre)                                       # output gate         (001 eq (19))
    h   = o * tanh(c)                                          # 001 eq (20)

For N = 1 this is the forget-gate LSTM with torch's gate order (i, f, g, o) (the tests hold it equal to
``torch.nn.LSTMCell``). The grid is scanned by :class:`~rnnzoo.core.order.Wavefront`: all cells of one anti-diagonal
front in one batched step, ``sum(S) - N + 1`` steps for an ``S_1 x ... x S_N`` grid.

**Cell-state growth and the stabilised cell** (Leifert, Strauss, Gruening, Wustlich & Labahn 2016, "Cells in
multidimensional recurrent neural networks", JMLR 17(97)). With N forget gates summed, ``c`` is not bounded by the
1-D argument: with all gates open ``c_p = 1 + sum_d c_{p-e_d}`` grows like the number of monotone paths to ``p``
(binomially, ``C(i + j, i)`` in 2-D) instead of linearly; the tests show it. Leifert et al. bound it by replacing the
N forget gates by ONE forget gate times a convex combination of the predecessors' states (their "stable cell";
their LeakyLP cell builds on it), ``cell="stable"``::

    [i, f, lambda_1, ..., lambda_N, g, o]_pre = W x_p + b + U hcat
    lam = softmax_d(lambda_d_pre)                              # per unit, sum_d lam_d = 1
    c   = i * g + f * sum_d lam_d * c_d                        # |c| <= 1 + max_d |c_d|: linear growth at most

**The model** (:class:`MDLSTM`, registry ``mdlstm``): as in Graves et al. section 3.1, the grid is scanned in all
``2^N`` directions (:func:`~rnnzoo.core.order.directions`), each by its own cell ("hidden layer"), and all of them
feed the output layer: per position ``y_p = V [h^(1)_p; ...; h^(2^N)_p] + b_V`` (the sum of each direction's
weighted contribution, as the paper's output layer receives them). The directions of a layer are scanned in ONE
wavefront run (:class:`DirectionBank`: each direction's input reflected to start at the origin, the D cells stepped
together with their own weights; equal to one run per direction, :func:`scan_directions`, in the tests).
``num_layers > 1`` stacks such layers, each
reading the concatenated directions of the one below. The image's class scores are the mean of ``y_p`` over the
example's valid positions.

**Baseline** (registry ``row_lstm``, :class:`RowLSTM`): an LSTM reading the grid row by row (``(B, S_1, S_2 * F)``,
each row one step of ``S_2 * F`` features), classifying from its last valid row: the row-by-row reading the paper's
MNIST experiment compares against (a 2-D grid only).

Inputs: :class:`GridInput` ``grid`` ``(B, S_1, ..., S_N, F)`` float (channels last) and ``sizes`` int64 ``(B, N)``
(each example's valid extent; positions outside are ignored). Output: logits ``(B, C)``.

Deviations: Graves et al.'s MDLSTM has peephole connections (from ``c_d`` to the input and forget gates and from
``c`` to the output gate); this cell has none (as torch's LSTM). 001 eq (26) writes one input gate and cell input per
dimension, ``sum_j f_j * m_j + i_j * g_j``; Graves et al. and this cell have one of each. The MNIST model of the
paper is a hierarchy of MDLSTM layers with subsampling (tanh feed-forward) layers between them and a per-image
output; here layers are stacked without subsampling and the output is averaged over positions. The stable cell's
equations are written from the secondary literature (RESEARCH.md; the JMLR text was not at hand): Leifert et al.'s
LeakyLP cell adds a second, low-pass-filtered state that is not implemented.

>>> import torch, rnnzoo
>>> model = rnnzoo.create("mdlstm", input_size=1, hidden_size=4, num_classes=10)
>>> x = model.example_input(2, generator=torch.Generator().manual_seed(0))
>>> model(x).shape
torch.Size([2, 10])
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.cells.lstm import LSTMCell, LSTMState
from rnnzoo.core.checks import positive_int
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.order import GridCell, GridInput, Wavefront, directions, grid_mask, grid_work, reflect
from rnnzoo.core.registry import FastPath, InputKind, ModelKind, Paper, register
from rnnzoo.core.runner import run
from rnnzoo.core.spec import TensorSpec

__all__ = ["CELL_KINDS", "DirectionBank", "GridInput", "MDLSTM", "MDLSTMCell", "RowLSTM", "check_grid", "grid_mask",
           "random_grid", "reflect"]

CELL_KINDS = ("lstm", "stable")


def check_grid(x: Any, ndim: int, channels: int) -> GridInput:
    """Raise (naming the field, what was expected and what came) unless ``x`` is a valid :class:`GridInput`; returns it
    with ``sizes`` filled in (None: every example fills the grid)."""
    if not isinstance(x, GridInput):
        raise TypeError(f"x: expected a GridInput(grid, sizes), got {type(x).__name__}")
    grid, sizes = x
    if not isinstance(grid, Tensor) or not grid.is_floating_point():
        raise TypeError(f"grid: expected a float tensor (B, S_1..S_{ndim}, {channels}), got "
                        f"{getattr(grid, 'dtype', type(grid).__name__)}")
    if grid.dim() != ndim + 2 or grid.shape[-1] != channels:
        raise ValueError(f"grid: expected shape (B, {', '.join(f'S_{k + 1}' for k in range(ndim))}, {channels}) "
                         f"(channels last), got {tuple(grid.shape)}")
    if sizes is None:
        sizes = torch.tensor(grid.shape[1:-1], device=grid.device).expand(grid.shape[0], -1)
        x = GridInput(grid, sizes)
    if not isinstance(sizes, Tensor) or sizes.dtype != torch.long:
        raise TypeError(f"sizes: expected an int64 tensor (B, {ndim}), got "
                        f"{getattr(sizes, 'dtype', type(sizes).__name__)}")
    if tuple(sizes.shape) != (grid.shape[0], ndim):
        raise ValueError(f"sizes: expected shape {(grid.shape[0], ndim)}, got {tuple(sizes.shape)}")
    high = torch.tensor(grid.shape[1:-1], device=sizes.device)
    if bool((sizes < 1).any()) or bool((sizes > high).any()):
        raise ValueError(f"sizes: expected 1 <= sizes[:, k] <= {list(grid.shape[1:-1])}, got "
                         f"{sizes.tolist() if sizes.numel() <= 16 else 'values outside'}")
    return x


# cpu: example data drawn from a seeded CPU generator (the same draw on every device)
def random_grid(batch_size: int, shape: tuple[int, ...], channels: int, device: torch.device, dtype: torch.dtype,
                generator: torch.Generator | None) -> GridInput:
    """A random :class:`GridInput`: sizes uniform in ``[1, S_k]`` with example 0 full, zeros outside the sizes."""
    sizes = torch.stack([torch.randint(1, s + 1, (batch_size,), generator=generator) for s in shape], -1)
    sizes[0] = torch.tensor(shape)
    grid = torch.randn(batch_size, *shape, channels, generator=generator).to(dtype)  # the same draw in any dtype
    grid = grid * grid_mask(sizes, shape).unsqueeze(-1)
    return GridInput(grid.to(device), sizes.to(device))


class MDLSTMCell(GridCell):
    """One position of an N-dimensional LSTM (equations in the module docstring).

    Args: input_size: I. hidden_size: H. ndim: N (the grid's dimensions). cell: ``"lstm"`` (one forget gate per
    dimension, Graves et al.) or ``"stable"`` (one forget gate times a convex combination, Leifert et al.).
    forget_bias: if given, initialise the forget gates' bias to it. Parameters: ``weight_ih`` ``(G*H, I)``,
    ``weight_hh`` ``(G*H, N*H)``, ``bias`` ``(G*H,)`` with G = 3 + N (lstm) or 4 + N (stable), blocks in the order
    (i, f_1..f_N, g, o) or (i, f, lambda_1..lambda_N, g, o); U(-1/sqrt(H), 1/sqrt(H)) as torch's LSTM.

    Shapes: ``project``: ``(..., I) -> (..., G*H)``; ``step(u (M, G*H), prev)`` with ``prev`` a tuple of N
    :class:`~rnnzoo.cells.lstm.LSTMState` ``(h (M, H), c (M, H))``; returns ``(h (M, H), LSTMState)``.
    """

    def __init__(self, input_size: int, hidden_size: int, *, ndim: int = 2, cell: str = "lstm",
                 forget_bias: float | None = None) -> None:
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        positive_int("ndim", ndim)
        if cell not in CELL_KINDS:
            raise ValueError(f"cell: expected one of {CELL_KINDS}, got {cell!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.ndim, self.cell = ndim, cell
        self.n_forget = ndim if cell == "lstm" else 1 + ndim  # f_1..f_N, or f and lambda_1..lambda_N
        gates = (3 + self.n_forget) * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(gates, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates, ndim * hidden_size))
        self.bias = nn.Parameter(torch.empty(gates))
        self.reset_parameters()
        if forget_bias is not None:
            with torch.no_grad():
                n_f = ndim if cell == "lstm" else 1
                self.bias[hidden_size:(1 + n_f) * hidden_size] = float(forget_bias)

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.weight_ih, self.weight_hh, self.bias):
            nn.init.uniform_(p, -bound, bound)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> LSTMState:
        spec = TensorSpec((batch_size, self.hidden_size))
        return LSTMState(spec, spec)

    def project(self, x: Tensor) -> Tensor:
        return torch.nn.functional.linear(x, self.weight_ih, self.bias)  # W x_p + b, every position at once

    def pre_activations(self, u_t: Tensor, prev: tuple[LSTMState, ...]) -> Tensor:
        """``W x_p + b + U [h_1; ...; h_N]`` ``(M, G*H)``: the gates' pre-activations."""
        if not isinstance(prev, tuple) or len(prev) != self.ndim:
            raise ValueError(f"prev: expected a tuple of {self.ndim} predecessor states (one per axis), got "
                             f"{type(prev).__name__}" + (f" of {len(prev)}" if isinstance(prev, tuple) else ""))
        hcat = torch.cat([p.h for p in prev], -1)
        return u_t + torch.nn.functional.linear(hcat, self.weight_hh)

    def memory(self, pre: Tensor, prev: tuple[LSTMState, ...]) -> tuple[Tensor, Tensor]:
        """``(c, o_pre)``: the new cell state from the pre-activations and the predecessors' ``c_d``."""
        H, N = self.hidden_size, self.ndim
        blocks = pre.split(H, -1)
        i = torch.sigmoid(blocks[0])
        g = torch.tanh(blocks[-2])
        self.report("i", i, "sigmoid")
        c_prev = torch.stack([p.c for p in prev], -2)  # (M, N, H)
        if self.cell == "lstm":
            f = torch.sigmoid(torch.stack(blocks[1:1 + N], -2))  # f_d (M, N, H)
            self.report("f", f, "sigmoid")
            c = i * g + (f * c_prev).sum(-2)
        else:
            f = torch.sigmoid(blocks[1])
            lam = torch.softmax(torch.stack(blocks[2:2 + N], -2), dim=-2)  # convex weights over the N dimensions
            self.report("f", f, "sigmoid")
            c = i * g + f * (lam * c_prev).sum(-2)
        return c, blocks[-1]

    def hidden(self, o_pre: Tensor, c: Tensor) -> Tensor:
        """``h = o * tanh(c)`` (001 eq (20))."""
        o = torch.sigmoid(o_pre)
        self.report("o", o, "sigmoid")
        return o * torch.tanh(c)

    def step(self, u_t: Tensor, prev: tuple[LSTMState, ...]) -> tuple[Tensor, LSTMState]:
        pre = self.pre_activations(u_t, prev)
        c, o_pre = self.memory(pre, prev)
        h = self.hidden(o_pre, c)
        return h, LSTMState(h, c)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, hidden_size={self.hidden_size}, ndim={self.ndim}, cell={self.cell!r}"


def scan_directions(cells: nn.ModuleList, grid: Tensor, sizes: Tensor, flips: list[tuple[bool, ...]]) -> Tensor:
    """Each cell run over ``grid`` ``(B, *S, F)`` in its direction, one run per direction (the reference twin of
    :class:`DirectionBank`); their outputs concatenated ``(B, *S, D*H)``."""
    return torch.cat([run(cell, grid, order=Wavefront(flip, sizes)).output for cell, flip in zip(cells, flips,
                                                                                              strict=True)], -1)


class DirectionBank(GridCell):
    """D cells of one layer stepped together: ONE wavefront run for all of a layer's directions.

    Each direction's input is reflected (:func:`reflect`) so that its scan starts at the origin, the D inputs are
    concatenated along the channels, and one step computes the D cells' gates with their own weights (a batched
    product over the direction axis) and :meth:`MDLSTMCell.memory` / :meth:`MDLSTMCell.hidden` on ``(M, D, ...)``.
    The cells are the parameters (``bank.cells[d]`` is direction d's :class:`MDLSTMCell`); :func:`scan_directions`
    (one run per direction) is the reference the tests hold it equal to.

    Shapes: input ``(..., D*I)``; ``project`` ``(..., D*G*H)``; state ``LSTMState(h (M, D*H), c (M, D*H))``.
    """

    def __init__(self, cells: nn.ModuleList) -> None:
        super().__init__()
        self.cells = cells
        first = cells[0]
        self.ndim, self.hidden_size, self.directions = first.ndim, first.hidden_size, len(cells)
        self.input_size = first.input_size * self.directions
        self.output_size = first.hidden_size * self.directions

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> LSTMState:
        spec = TensorSpec((batch_size, self.output_size))
        return LSTMState(spec, spec)

    def project(self, x: Tensor) -> Tensor:
        w = torch.stack([c.weight_ih for c in self.cells])  # (D, G*H, I)
        b = torch.stack([c.bias for c in self.cells])  # (D, G*H)
        u = torch.einsum("...di,dgi->...dg", x.unflatten(-1, (self.directions, -1)), w) + b
        return u.flatten(-2)

    def step(self, u_t: Tensor, prev: tuple[LSTMState, ...]) -> tuple[Tensor, LSTMState]:
        D, H = self.directions, self.hidden_size
        split = tuple(LSTMState(p.h.unflatten(-1, (D, H)), p.c.unflatten(-1, (D, H))) for p in prev)
        hcat = torch.cat([p.h for p in split], -1)  # (M, D, N*H)
        w = torch.stack([c.weight_hh for c in self.cells])  # (D, G*H, N*H)
        pre = u_t.unflatten(-1, (D, -1)) + torch.einsum("mdk,dgk->mdg", hcat, w)
        cell = self.cells[0]  # the pointwise part is the same for every direction
        c, o_pre = cell.memory(pre, split)
        h = cell.hidden(o_pre, c).flatten(-2)
        return h, LSTMState(h, c.flatten(-2))


def scan_bank(bank: DirectionBank, grid: Tensor, sizes: Tensor, flips: list[tuple[bool, ...]]) -> Tensor:
    """All directions in one run of ``bank``: ``(B, *S, F) -> (B, *S, D*H)``, equal to :func:`scan_directions`."""
    x = torch.cat([reflect(grid, sizes, f) for f in flips], -1)
    out = run(bank, x, order=Wavefront(None, sizes)).output.unflatten(-1, (len(flips), -1))
    return torch.cat([reflect(out[..., d, :], sizes, f) for d, f in enumerate(flips)], -1)


class MDLSTM(StructuredModel):
    """The MD-LSTM classifier (Graves et al. 2007, arXiv:0705.2011); equations in the module docstring.

    Args (keyword-only): input_size: F, the channels. hidden_size: H per direction. num_classes: C. ndim: N (2).
    num_directions: how many of the ``2^N`` directions (in :func:`~rnnzoo.core.order.directions` order; default
    all; 1 = the causal scan from the origin). num_layers: stacked layers. cell: ``"lstm"`` or ``"stable"``.
    forget_bias: initial forget-gate bias (None: uniform as the rest). grid_shape: the grid of
    :meth:`example_input` (default 5 x 4 x ... ).
    """

    def __init__(self, *, input_size: int, hidden_size: int, num_classes: int, ndim: int = 2,
                 num_directions: int | None = None, num_layers: int = 1, cell: str = "lstm",
                 forget_bias: float | None = None, grid_shape: tuple[int, ...] | None = None) -> None:
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        positive_int("num_classes", num_classes)
        positive_int("ndim", ndim)
        positive_int("num_layers", num_layers)
        all_flips = directions(ndim)
        num_directions = len(all_flips) if num_directions is None else positive_int("num_directions", num_directions)
        if num_directions > len(all_flips):
            raise ValueError(f"num_directions: a {ndim}-D grid has {len(all_flips)} directions, got {num_directions}")
        self.flips = all_flips[:num_directions]
        self.input_size, self.hidden_size, self.num_classes, self.ndim = input_size, hidden_size, num_classes, ndim
        self.grid_shape = tuple(grid_shape) if grid_shape is not None else tuple(5 - k % 2 for k in range(ndim))
        if len(self.grid_shape) != ndim:
            raise ValueError(f"grid_shape: expected {ndim} sizes, got {self.grid_shape}")
        self.layers = nn.ModuleList()
        size = input_size
        for _ in range(num_layers):
            self.layers.append(nn.ModuleList(MDLSTMCell(size, hidden_size, ndim=ndim, cell=cell,
                                                        forget_bias=forget_bias) for _ in self.flips))
            size = hidden_size * len(self.flips)
        self.output_layer = nn.Linear(size, num_classes)  # V: every direction feeds the output layer

    def features(self, x: GridInput, *, one_run: bool = True) -> Tensor:
        """``(B, *S, D*H)``: the last layer's directions concatenated, zero outside each example's sizes.

        ``one_run``: all directions of a layer in one wavefront run (:class:`DirectionBank`); False: one run per
        direction (:func:`scan_directions`, the reference)."""
        grid, sizes = check_grid(x, self.ndim, self.input_size)
        mask = grid_mask(sizes, tuple(grid.shape[1:-1])).unsqueeze(-1)
        h = grid * mask
        for cells in self.layers:
            if one_run:
                h = scan_bank(DirectionBank(cells), h, sizes, self.flips)
            else:
                h = scan_directions(cells, h, sizes, self.flips)
        return h

    def forward(self, x: GridInput) -> Tensor:
        grid, sizes = check_grid(x, self.ndim, self.input_size)
        h = self.features(x)
        mask = grid_mask(sizes, tuple(grid.shape[1:-1])).unsqueeze(-1).to(h.dtype)
        y = self.output_layer(h) * mask  # y_p per position
        count = mask.flatten(1).sum(-1, keepdim=True)
        return y.flatten(1, -2).sum(1) / count  # the mean over the valid positions (B, C)

    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> GridInput:
        return random_grid(batch_size, self.grid_shape, self.input_size, self.device, self.dtype, generator)

    def work(self, x: GridInput) -> dict[str, int]:
        """Cells scanned (every direction of every layer) and runner steps (one wavefront run per layer)."""
        w = grid_work(*check_grid(x, self.ndim, self.input_size))
        return {"cells": w["cells"] * len(self.flips) * len(self.layers), "steps": w["steps"] * len(self.layers)}


class RowLSTM(StructuredModel):
    """Row-by-row LSTM baseline on 2-D grids: each row ``(S_2 * F)`` one step, classify from the last valid row.

    Args (keyword-only): input_size: F. hidden_size: H. num_classes: C. grid_shape: ``(S_1, S_2)``, the grids'
    shape (S_2 is fixed: a row is one input vector of ``S_2 * F`` features). Positions past an example's sizes are
    zeroed.
    """

    def __init__(self, *, input_size: int, hidden_size: int, num_classes: int, grid_shape: tuple[int, int]) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_classes", num_classes)):
            positive_int(name, v)
        if len(tuple(grid_shape)) != 2:
            raise ValueError(f"grid_shape: expected (S_1, S_2) of a 2-D grid, got {grid_shape!r}")
        self.grid_shape = tuple(positive_int("grid_shape", s) for s in grid_shape)
        width = self.grid_shape[1]
        self.input_size, self.width, self.num_classes = input_size, width, num_classes
        self.lstm = LSTMCell(width * input_size, hidden_size)
        self.output_layer = nn.Linear(hidden_size, num_classes)

    def forward(self, x: GridInput) -> Tensor:
        grid, sizes = check_grid(x, 2, self.input_size)
        if grid.shape[2] != self.width:
            raise ValueError(f"grid: expected rows of width {self.width} (axis 2), got shape {tuple(grid.shape)}")
        grid = grid * grid_mask(sizes, tuple(grid.shape[1:3])).unsqueeze(-1)
        rows = grid.reshape(grid.shape[0], grid.shape[1], -1)
        final = run(self.lstm, rows, lengths=sizes[:, 0].cpu()).state
        return self.output_layer(final.h)

    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> GridInput:
        return random_grid(batch_size, self.grid_shape, self.input_size, self.device, self.dtype, generator)

    def work(self, x: GridInput) -> dict[str, int]:
        """Cells read and runner steps (one per row)."""
        grid, sizes = check_grid(x, 2, self.input_size)
        return {"cells": grid_work(grid, sizes)["cells"], "steps": grid.shape[1]}


GRAVES = Paper("Graves, Fernandez & Schmidhuber", 2007, "Multi-dimensional recurrent neural networks", "0705.2011")
_COMMON = dict(kind=ModelKind.MODEL, input_kind=InputKind.GRID, causal=False, chunkable=False,
               bidirectional_ok=False, unbatched=False, gated=True, fast_path=FastPath.NONE)
register("mdlstm", paper=GRAVES, seed_equations="001 section 4.4, eq (26); Graves et al. section 3.2",
         description="Multi-dimensional LSTM: one forget gate per dimension, 2^N scan directions by wavefronts "
                     "(cell='stable': Leifert et al.'s convex combination)",
         test_options={"input_size": 2, "hidden_size": 3, "num_classes": 4}, **_COMMON)(MDLSTM)
register("row_lstm", paper=GRAVES, seed_equations="001 eqs (16)-(20) (the LSTM reading rows)",
         description="Baseline for grids: an LSTM reading a 2-D grid row by row (each row one step)",
         test_options={"input_size": 2, "hidden_size": 3, "num_classes": 4, "grid_shape": (5, 4)}, **_COMMON)(RowLSTM)
