"""N-dimensional wavefront scans: the order of multi-dimensional, spatial and grid recurrences.

A grid recurrence (MD-LSTM, 001 section 4.4; Grid LSTM, 001 section 4.5) computes the state of cell
``i = (i_1, ..., i_N)`` from its input and the states of its N predecessors ``i - e_k`` (zeros at the boundary).
Every cell of an anti-diagonal front ``i_1 + ... + i_N = d`` depends only on the front ``d - 1``, so the whole front
is one batched call: a scan of an ``S_1 x ... x S_N`` grid costs ``sum(S) - N + 1`` steps, not ``prod(S)``.

:class:`Wavefront` turns the grid into such a run for :func:`rnnzoo.core.runner.run`. A front is indexed by the
first N - 1 coordinates (the last one is ``d - sum``), so it has ``M = S_1 * ... * S_{N-1}`` slots, some outside the
grid at a given d: the predecessor along axis k < N is the previous front shifted by one along k, the predecessor
along the last axis is the previous front itself. Slots outside the grid (or outside an example's ``sizes``) keep
their state (zeros until they start), so every predecessor a valid cell reads is either a computed cell or the zero
boundary. The padded front computes ``M`` slots per step (about twice the cells of a 2-D square grid): the price of
one dense call per front. Computing only each front's live slots (gathered, then written back) was measured and not
kept: on one CPU thread, batch 32 x 32 units, the 2-D MD-LSTM's forward + backward went from 1.62 to 1.37 s at
56 x 56 and did not change at 14 and 28 (nor the spatial LSTM's at 56): the gathers and writes cost about what the
cell saves, and in 3-D the smaller products round differently (outputs within 1 ulp, not bitwise equal).

Directions: ``flip[k]`` scans axis k from each example's last valid index backwards (the example's cells are
reflected within its size before the scan and the outputs reflected back), so the ``2^N`` directions an MD-LSTM
combines (:func:`directions`) are ``2^N`` runs of this order.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnzoo.core.cell import Cell, bind
from rnnzoo.core.order.base import Flat, Order
from rnnzoo.core.spec import TensorSpec, check_state, map_spec
from rnnzoo.core.tree import tree_leaves, tree_map


def directions(ndim: int) -> list[tuple[bool, ...]]:
    """The ``2^ndim`` scan directions as ``flip`` tuples, ``(False,) * ndim`` (from the origin) first."""
    if isinstance(ndim, bool) or not isinstance(ndim, int) or ndim < 1:
        raise ValueError(f"ndim: expected a positive int, got {ndim!r}")
    return [tuple(bits) for bits in itertools.product((False, True), repeat=ndim)]


class GridCell(Cell):
    """A cell of an N-dimensional grid recurrence (run with ``order=Wavefront(...)``).

    ``ndim`` = N. ``state_spec(batch)`` / ``initial_state`` describe ONE grid position's state. ``project(x)`` maps
    ``(..., F) -> (..., P)``. ``step(u_t, prev) -> (y_t, new_state)``: ``u_t`` ``(M, *P)`` for M positions at once,
    ``prev`` a tuple of N states, ``prev[k]`` the state of each position's predecessor along axis k (leaves
    ``(M, ...)``, zeros at the boundary). ``forward(x_t, prev)`` is one such step by hand (``prev`` None: all zeros).
    """

    ndim: int = 2

    def forward(self, x_t: Any, state: Any = None, *, context: Any = None, prepared: Any = None) -> tuple[Any, Any]:
        """One grid step: ``x_t`` ``(M, F)``, ``state`` a tuple of ``ndim`` predecessor states (None: zeros)."""
        self.check_input(x_t, "x_t", batched_rank=self.feature_dims + 1)
        batch = x_t.shape[0]
        spec = self.state_spec(batch, input_shape=tuple(x_t.shape[1:]))
        if state is None:
            zero = self.initial_state(batch, device=x_t.device, dtype=x_t.dtype, input_shape=tuple(x_t.shape[1:]))
            state = (zero,) * self.ndim
        if not isinstance(state, tuple) or len(state) != self.ndim:
            raise ValueError(f"state: expected a tuple of {self.ndim} predecessor states (one per grid axis), got "
                             f"{type(state).__name__}" + (f" of {len(state)}" if isinstance(state, tuple) else ""))
        for k, s in enumerate(state):
            check_state(f"state[{k}]", s, spec, device=x_t.device, dtype=x_t.dtype)
        if prepared is None:
            prepared = self.prepare(context, batch, device=x_t.device, dtype=x_t.dtype)
        u = bind(self.project, 1, prepared)(x_t)
        return bind(self.step, 2, prepared, strict=True)(u, state)


class GridInput(NamedTuple):
    """The input of a grid model (``InputKind.GRID``): ``grid`` ``(B, S_1, ..., S_N, F)`` channels last, ``sizes``
    int64 ``(B, N)`` each example's valid extent per axis (None: every example fills the grid)."""

    grid: Tensor
    sizes: Tensor | None = None


class FrontInput(NamedTuple):
    """One run step of a wavefront: the inputs ``x`` ``(B, *front, F)`` of a front's slots and ``valid``
    ``(B, *front)`` (True where the slot is a cell of the example's grid at this front)."""

    x: Tensor
    valid: Tensor


def _as_sizes(sizes: Any, batch: int, shape: tuple[int, ...], device: torch.device) -> Tensor | None:
    if sizes is None:
        return None
    if not isinstance(sizes, Tensor) or sizes.is_floating_point() or sizes.dtype == torch.bool:
        got = sizes.dtype if isinstance(sizes, Tensor) else type(sizes).__name__
        raise TypeError(f"sizes: expected an int64 tensor (B, N) of each example's extent per axis, got {got}")
    if tuple(sizes.shape) != (batch, len(shape)):
        raise ValueError(f"sizes: expected shape {(batch, len(shape))} (B, N), got {tuple(sizes.shape)}")
    sizes = sizes.to(device, torch.int64)
    high = torch.tensor(shape, device=device)
    if bool((sizes < 1).any()) or bool((sizes > high).any()):
        raise ValueError(f"sizes: expected 1 <= sizes[:, k] <= {list(shape)} (the grid's axes), got "
                         f"min {sizes.min(0).values.tolist()} max {sizes.max(0).values.tolist()}")
    return sizes


def reflect(x: Tensor, sizes: Tensor | None, flip: Sequence[bool]) -> Tensor:
    """A batch-first grid ``(B, *S, ...)`` reflected along the flipped axes within each example's ``sizes`` ``(B, N)``
    (None: the whole axes); positions outside the sizes stay where they are, so it is an involution."""
    for k, f in enumerate(flip):
        if not f:
            continue
        axis = 1 + k
        n = x.shape[axis]
        if sizes is None:
            x = x.flip(axis)
            continue
        i = torch.arange(n, device=x.device).unsqueeze(0)
        s = sizes[:, k:k + 1].to(x.device)
        idx = torch.where(i < s, s - 1 - i, i)  # (B, n): padding stays where it is
        view = [x.shape[0]] + [1] * (x.dim() - 1)
        view[axis] = n
        x = x.gather(axis, idx.view(view).expand_as(x))
    return x


class _Front(Cell):
    """The run's cell: the state is a whole front of a grid cell's states (leaves ``(B, *front, ...)``)."""

    def __init__(self, grid: GridCell, front: tuple[int, ...]) -> None:
        super().__init__()
        self.grid = grid
        self.front = front
        self.slots = math.prod(front)
        self.input_size, self.output_size = grid.input_size, grid.output_size

    def check_input(self, x: Any, name: str = "x", *, batched_rank: int | None = None) -> None:
        if not isinstance(x, FrontInput):
            raise TypeError(f"{name}: a wavefront's steps are FrontInput pairs, got {type(x).__name__}")

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> Any:
        one = self.grid.state_spec(batch_size)
        return map_spec(lambda s: TensorSpec((batch_size, *self.front, *s.shape[1:]), s.dtype), one)

    def prepare(self, context: Any, batch_size: int, *, device: Any = None, dtype: Any = None,
                input_shape: Any = None) -> Any:
        return self.grid.prepare(context, batch_size * self.slots, device=device, dtype=dtype)

    @property
    def takes_context(self) -> bool:
        return self.grid.takes_context

    def project(self, x: FrontInput, prepared: Any = None) -> Any:
        return bind(self.grid.project, 1, prepared)(x.x), x.valid

    def _flat(self, t: Tensor) -> Tensor:
        return t.reshape(t.shape[0] * self.slots, *t.shape[1 + len(self.front):])

    def _unflat(self, t: Tensor, batch: int) -> Tensor:
        return t.reshape(batch, *self.front, *t.shape[1:])

    def step(self, u_t: Any, state: Any, prepared: Any = None) -> tuple[Any, Any]:
        u, valid = u_t
        batch = valid.shape[0]
        prev = []
        for k in range(len(self.front)):  # predecessor along axis k < N-1: the previous front shifted by one along k
            axis = 1 + k

            def shift(t: Tensor, axis: int = axis) -> Tensor:
                pad = torch.zeros_like(t.narrow(axis, 0, 1))
                return torch.cat([pad, t.narrow(axis, 0, t.shape[axis] - 1)], axis)

            prev.append(tree_map(lambda t, shift=shift: self._flat(shift(t)), state))
        prev.append(tree_map(self._flat, state))  # along the last axis: the same slot of the previous front
        y, new = bind(self.grid.step, 2, prepared, strict=True)(self._flat(u), tuple(prev))
        y = tree_map(lambda t: self._unflat(t, batch), y)
        new = tree_map(lambda t: self._unflat(t, batch), new)

        def keep(a: Tensor, b: Tensor) -> Tensor:
            return torch.where(valid.view(*valid.shape, *([1] * (a.dim() - valid.dim()))), a, b)

        new = tree_map(keep, new, state)
        y = tree_map(lambda t: keep(t, torch.zeros((), dtype=t.dtype, device=t.device)), y)
        return y, new

    def output(self, state: Any, prepared: Any = None) -> Any:
        batch = tree_leaves(state)[0].shape[0]
        y = bind(self.grid.output, 1, prepared)(tree_map(self._flat, state))
        return tree_map(lambda t: self._unflat(t, batch), y)


def _coordinates(shape: tuple[int, ...], device: torch.device) -> Tensor:
    """``(prod(shape), len(shape))`` int64: every cell's coordinates in row-major order (one row for ``shape=()``)."""
    if not shape:
        return torch.zeros(1, 0, dtype=torch.long, device=device)
    grids = torch.meshgrid(*[torch.arange(s, device=device) for s in shape], indexing="ij")
    return torch.stack(grids, -1).reshape(-1, len(shape))


def grid_mask(sizes: Tensor, shape: Sequence[int]) -> Tensor:
    """``(B, *shape)`` bool: True at the cells inside each example's ``sizes`` ``(B, N)``."""
    shape = tuple(shape)
    inside = (_coordinates(shape, sizes.device).unsqueeze(0) < sizes.unsqueeze(1)).all(-1)
    return inside.view(sizes.shape[0], *shape)


def grid_work(grid: Tensor, sizes: Tensor | None) -> dict[str, int]:
    """What one wavefront scan of ``grid`` ``(B, S_1, ..., S_N, F)`` processes: ``cells`` (inside each example's
    ``sizes``; None: all) and ``steps`` (the fronts, ``sum(S) - N + 1``): a grid model's ``work``."""
    shape = tuple(grid.shape[1:-1])
    cells = int(sizes.prod(-1).sum()) if sizes is not None else grid.shape[0] * math.prod(shape)
    return {"cells": cells, "steps": sum(shape) - len(shape) + 1}


class _GridPlan(NamedTuple):
    shape: tuple[int, ...]
    sizes: Tensor | None
    flip: tuple[bool, ...]
    inverse: Tensor  # (prod S,) index of each grid cell into the run's (T * M) slots
    steps: int


class Wavefront(Order):
    """Scan an N-dimensional grid by anti-diagonal fronts (module docstring).

    Args:
        flip: N bools, the scan direction per axis (True: from the last valid index backwards); None: all False.
        sizes: int64 ``(B, N)``, each example's extent per axis (its cells are ``[0, sizes[b, k])``); None: full.

    ``run(cell, x, order=Wavefront(...))`` with a :class:`GridCell` ``cell`` and ``x`` ``(B, S_1, ..., S_N, F)``
    returns ``RunOutput(output (B, *S, O) (zero outside each example's sizes), state (the state of each example's
    last visited cell), states ((B, *S, ...) per-cell states, zero outside the sizes, with return_states=True))``.
    """

    def __init__(self, flip: Sequence[bool] | None = None, sizes: Tensor | None = None) -> None:
        if flip is not None and (isinstance(flip, (str, bytes)) or not all(isinstance(f, bool) for f in flip)):
            raise TypeError(f"flip: expected a sequence of bools (one per grid axis), got {flip!r}")
        self.flip = tuple(flip) if flip is not None else None
        self.sizes = sizes

    def __repr__(self) -> str:
        return f"Wavefront(flip={self.flip})"

    def flatten(self, cell: Any, x: Any, state: Any, *, lengths: Any, mask: Any, batch_first: bool) -> Flat:
        if not isinstance(cell, GridCell):
            raise TypeError(f"cell: a Wavefront order runs a GridCell, got {type(cell).__name__}")
        n = cell.ndim
        if not isinstance(x, Tensor) or x.dim() != n + 2:
            got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected a grid (B, {', '.join(f'S{k + 1}' for k in range(n))}, F) of rank {n + 2} "
                             f"for a {n}-D grid cell, got {got}")
        if lengths is not None or mask is not None:
            raise ValueError("lengths/mask: a grid's valid cells are given by Wavefront(sizes=...), not lengths/mask")
        if not batch_first:
            raise ValueError("batch_first: grids are batch first (B, *S, F); pass batch_first=True")
        if state is not None:
            raise ValueError("state: a grid run starts from the zero boundary; pass state=None")
        flip = self.flip if self.flip is not None else (False,) * n
        if len(flip) != n:
            raise ValueError(f"flip: expected {n} bools (one per grid axis), got {len(flip)}")
        batch, shape = x.shape[0], tuple(x.shape[1:n + 1])
        if batch == 0 or 0 in shape:
            raise ValueError(f"x: expected a non-empty batch of non-empty grids, got shape {tuple(x.shape)}")
        cell.check_input(x[(0,) * (n + 1)].unsqueeze(0), "x")
        sizes = _as_sizes(self.sizes, batch, shape, x.device)
        x = reflect(x, sizes, flip)
        front = shape[:-1]
        steps = sum(shape) - n + 1
        # coordinates of every (step d, slot) pair; the last coordinate is d - (sum of the slot's coordinates)
        dev = x.device
        lead = _coordinates(front, dev)  # (M, N - 1)
        d = torch.arange(steps, device=dev)
        last = d.view(-1, 1) - lead.sum(-1).view(1, -1)  # (T, M)
        inside = (last >= 0) & (last < shape[-1])
        coords = torch.cat([lead.unsqueeze(0).expand(steps, -1, -1), last.clamp(0, shape[-1] - 1).unsqueeze(-1)], -1)
        strides = torch.tensor([math.prod(shape[k + 1:]) for k in range(n)], device=dev)
        flat_index = (coords * strides).sum(-1)  # (T, M) into the grid's prod(S) cells
        cells = x.reshape(batch, -1, x.shape[-1])
        xs = cells[:, flat_index.reshape(-1)].reshape(batch, steps, *front, x.shape[-1])
        valid = inside.unsqueeze(0).expand(batch, -1, -1)
        if sizes is not None:
            valid = valid & (coords.unsqueeze(0) < sizes.view(batch, 1, 1, n)).all(-1)
        valid = valid.reshape(batch, steps, *front)
        inverse = torch.empty(math.prod(shape), dtype=torch.long, device=dev)
        slot = torch.arange(steps * max(1, math.prod(front)), device=dev).view(steps, -1)
        inverse[flat_index[inside]] = slot[inside]
        adapter = _Front(cell, front)
        return Flat(adapter, FrontInput(xs, valid), None, _GridPlan(shape, sizes, flip, inverse, steps))

    def restore(self, flat: Flat, output: Any, state: Any, states: Any) -> tuple[Any, Any, Any]:
        plan: _GridPlan = flat.info
        batch = flat.x.valid.shape[0]
        n = len(plan.shape)

        def to_grid(t: Tensor) -> Tensor:  # (B, T, *front, ...) -> (B, *S, ...), zero outside the sizes
            rest = t.shape[2 + n - 1:]
            g = t.reshape(batch, -1, *rest)[:, plan.inverse].reshape(batch, *plan.shape, *rest)
            g = reflect(g, plan.sizes, plan.flip)
            if plan.sizes is not None:
                m = grid_mask(plan.sizes, plan.shape).view(batch, *plan.shape, *([1] * len(rest)))
                g = torch.where(m, g, torch.zeros((), dtype=g.dtype, device=g.device))
            return g

        out = tree_map(to_grid, output)
        grid_states = tree_map(to_grid, states) if states is not None else None
        # the last visited cell of example b sits in the front slot (sizes[b, :N-1] - 1) of the final front
        if n == 1:
            final = tree_map(lambda t: t, state)
        else:
            last = (plan.sizes[:, :-1] - 1) if plan.sizes is not None else \
                torch.tensor([s - 1 for s in plan.shape[:-1]], device=plan.inverse.device).expand(batch, -1)
            strides = torch.tensor([math.prod(plan.shape[k + 1:n - 1]) for k in range(n - 1)], device=last.device)
            slot = (last * strides).sum(-1)  # (B,)

            def pick(t: Tensor) -> Tensor:
                f = t.reshape(batch, -1, *t.shape[n:])
                return f[torch.arange(batch, device=t.device), slot]

            final = tree_map(pick, state)
        return out, final, grid_states
