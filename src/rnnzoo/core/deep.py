"""A stack of cells that is itself a cell: :class:`DeepCell` (haiku's ``DeepRNN``).

Because it is a cell, a stacked model steps one token at a time (a decoder over a 2-layer LSTM, an
attention or pointer network's decoder), wraps like any cell (regularisers, attention) and runs
through the one runner. Its fast path runs the whole sequence layer by layer, each cell through its
own fast path, so a DeepCell run is as fast as the layer-wise :class:`~rnnzoo.core.layers.Stacked`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

from torch import Tensor, nn

from rnnzoo.core.cell import Cell, Steps, bind, cached_spec
from rnnzoo.core.runner import run_steps
from rnnzoo.core.spec import is_spec
from rnnzoo.core.tree import tree_leaves, tree_map


class StackedState(NamedTuple):
    """One state per layer of a :class:`~rnnzoo.core.layers.Stacked` (or per cell of a
    :class:`DeepCell`), bottom first."""

    layers: tuple


def _size_after(fn: Any, size: int) -> int:
    """The feature size after a callable between cells: its ``out_features``/``output_size`` if it
    declares one (``nn.Linear``), else unchanged (dropout, activations, normalisation)."""
    for attr in ("out_features", "output_size"):
        value = getattr(fn, attr, None)
        if isinstance(value, int):
            return value
    return size


class DeepCell(Cell):
    """Cells (and plain callables between them) applied one after another within each step.

    Args:
        layers: cells and callables, bottom first; a callable (``nn.Dropout``, ``nn.Linear``,
            ``torch.tanh``, a lambda) maps the output of the cell below before the next cell reads it.
            Callables before the first cell map the input. A callable that changes the feature size
            must declare it (``out_features`` or ``output_size``, as ``nn.Linear`` does).
        residual: add each cell's input to its output, from the second cell on (sizes must match).

    State: :class:`~rnnzoo.core.layers.StackedState` with one state per cell, bottom first, the
    same structure a unidirectional ``rnnzoo.create(...)`` model returns, so
    ``model(x)`` and ``model.cell`` share states: encode with one, continue step by step with the other.

    Shapes: x_t ``(B, *F)`` -> y_t ``(B, *O)``, ``O[0]`` the last cell's output size (after any
    trailing callable).

    >>> import torch, rnnzoo
    >>> deep = rnnzoo.DeepCell([rnnzoo.LSTMCell(3, 8), torch.nn.Dropout(0.1), rnnzoo.GRUCell(8, 8)])
    >>> y, state = deep(torch.randn(2, 3))              # one step
    >>> [type(s).__name__ for s in state.layers]
    ['LSTMState', 'GRUState']
    """

    fused_kind = "composite"
    fused_traceable = True
    fused_exportable = True  # layer by layer, each cell through the runner's core (and its export policy)

    def __init__(self, layers: Sequence[Cell | Callable[[Tensor], Tensor]], *, residual: bool = False) -> None:
        super().__init__()
        items = list(layers)
        cells = [m for m in items if isinstance(m, Cell)]
        if not cells:
            raise ValueError("layers: expected at least one Cell among the layers, got none")
        for i, m in enumerate(items):
            if not isinstance(m, Cell) and not callable(m):
                raise TypeError(f"layers[{i}]: expected a Cell or a callable, got {type(m).__name__}")
        self.layers = nn.ModuleList([m for m in items if isinstance(m, nn.Module)])
        self._items = items  # the order, plain callables included
        self.residual = bool(residual)
        self.feature_dims = cells[0].feature_dims
        size = None
        seen_cell = False
        for i, m in enumerate(items):
            if isinstance(m, Cell):
                if size is not None and m.input_size != size:
                    raise ValueError(f"layers[{i}]: expected input_size {size} (the output below), got {m.input_size}")
                if residual and seen_cell and m.input_size != m.output_size:
                    raise ValueError(f"residual: layers[{i}] maps {m.input_size} -> {m.output_size} features; "
                                     "a residual connection needs equal sizes")
                size, seen_cell = m.output_size, True
            elif seen_cell:
                size = _size_after(m, size)
        first = items[0]
        self.input_size = cells[0].input_size if isinstance(first, Cell) else getattr(
            first, "in_features", getattr(first, "input_size", cells[0].input_size))
        self.output_size = size
        self.cells = cells
        n_lead = next(i for i, m in enumerate(items) if isinstance(m, Cell))
        self._leading, self._body = items[:n_lead], items[n_lead:]

    @property
    def causal(self) -> bool:  # type: ignore[override]
        return all(c.causal for c in self.cells)

    # ------------------------------------------------------------------ state and context

    def _walk(self, input_shape: Any, per_cell: Callable[[Cell, Any], Any]) -> list[Any]:
        """Call ``per_cell(cell, its input_shape)`` bottom up; a later cell's input shape is the output
        shape of the cell below, read off the first tensor of its state spec (channels, then space)."""
        out = []
        for cell in self.cells:
            result = per_cell(cell, input_shape)
            out.append(result)
            spec = cached_spec(cell, 1, input_shape)
            first = tree_leaves(spec, is_leaf=is_spec)[0]
            input_shape = (cell.output_size, *first.shape[2:])
        return out

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> StackedState:
        return StackedState(tuple(self._walk(input_shape, lambda c, s: c.state_spec(batch_size, input_shape=s))))

    def initial_state(self, batch_size: int, *, device: Any = None, dtype: Any = None,
                      input_shape: Any = None) -> StackedState:
        return StackedState(tuple(self._walk(input_shape, lambda c, s: c.initial_state(
            batch_size, device=device, dtype=dtype, input_shape=s))))

    @property
    def takes_context(self) -> bool:  # type: ignore[override]
        return any(c.takes_context for c in self.cells)

    def prepare(self, context: Any, batch_size: int, *, device: Any = None, dtype: Any = None,
                input_shape: Any = None) -> tuple[Any, ...]:
        """Every cell's prepared value; the ``context`` goes to the cells that take one (an attention
        cell over an LSTM: the LSTM prepares without it), the others prepare with None."""
        return tuple(self._walk(input_shape, lambda c, s: c.prepare(context if c.takes_context else None, batch_size,
                                                                     device=device, dtype=dtype, input_shape=s)))

    # ------------------------------------------------------------------ one step

    def project(self, x: Any, prepared: tuple[Any, ...]) -> Any:
        """The callables before the first cell, then the first cell's projection (all steps at once)."""
        for fn in self._leading:
            x = fn(x)
        return bind(self.cells[0].project, 1, prepared[0])(x)

    def _fold(self, y: Any, apply: Callable[[int, Cell, Any], tuple[Any, Any]]) -> tuple[Any, list[Any]]:
        """The composition every path shares: callables map ``y``; cell ``k`` maps it by
        ``apply(k, cell, y) -> (out, extra)``, plus ``y`` itself with ``residual`` from the second cell on."""
        extras: list[Any] = []
        k = 0
        for m in self._body:
            if not isinstance(m, Cell):
                y = m(y)
                continue
            out, extra = apply(k, m, y)
            y = out + y if self.residual and k > 0 else out
            extras.append(extra)
            k += 1
        return y, extras

    def step(self, u_t: Any, state: StackedState, prepared: tuple[Any, ...]) -> tuple[Any, StackedState]:
        def one(k: int, cell: Cell, y: Any) -> tuple[Any, Any]:
            u = u_t if k == 0 else bind(cell.project, 1, prepared[k])(y)
            return bind(cell.step, 2, prepared[k], strict=True)(u, state.layers[k])

        y, states = self._fold(None, one)
        return y, StackedState(tuple(states))

    def output(self, state: StackedState, prepared: tuple[Any, ...]) -> Any:
        """The output as a function of the state: each cell's output, composed as ``step`` composes them."""
        return self._fold(None, lambda k, cell, y: (bind(cell.output, 1, prepared[k])(state.layers[k]), None))[0]

    # ------------------------------------------------------------------ whole sequence

    def fused(self, steps: Steps, state: StackedState) -> tuple[Any, StackedState]:
        """Layer by layer over the whole sequence, each cell through the runner's core (its own fast
        path where it has one); outputs zero at masked steps, as the step loop gives them."""
        h = steps.x
        for fn in self._leading:
            h = fn(h)

        def layer(k: int, cell: Cell, h: Any) -> tuple[Any, Any]:
            sub = Steps(cell, h, steps.mask, steps.lengths, steps.prepared[k], steps.steps, steps.batch)
            out, final, _ = run_steps(sub, state.layers[k])
            return out, final

        h, finals = self._fold(h, layer)
        if steps.mask is not None and (self.residual or not isinstance(self._items[-1], Cell)):
            m = steps.mask
            h = tree_map(lambda t: t * m.view(*m.shape, *([1] * (t.dim() - 2))).to(t.dtype), h)
        return h, StackedState(tuple(finals))

    # ------------------------------------------------------------------ what the others ask

    def recurrent_blocks(self) -> list[Any]:
        return [b for c in self.cells for b in c.recurrent_blocks()]

    def recurrent_weights(self) -> list[str]:
        """Every cell's recurrent weights, named relative to this stack (``layers.0.weight_hh``)."""
        return [f"layers.{i}.{name}" for i, m in enumerate(self.layers) if isinstance(m, Cell)
                for name in m.recurrent_weights()]

    def initialize(self, scheme: str, value: float | None = None, *, generator: Any = None) -> bool:
        return any([c.initialize(scheme, value, generator=generator) for c in self.cells])

    def check_input(self, x: Any, name: str = "x", *, batched_rank: int | None = None) -> None:
        if self._leading:  # the first callables decide what they take
            return
        self.cells[0].check_input(x, name, batched_rank=batched_rank)

    def extra_repr(self) -> str:
        return f"residual={self.residual}"
