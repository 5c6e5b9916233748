"""The base of wrapper cells: a cell around a cell that forwards everything it does not change.

Wrappers are cells (haiku's ``ResetCore``, flax's wrapped cells), so a regulariser, a normalisation
or an attention mechanism written once works for every registered cell and for users' own cells,
inside any layer, stack or direction, with the runner's lengths, masks, streaming and TBPTT.

A wrapper's ``prepared`` value is, unless it says otherwise, its inner cell's; one that draws its own
(dropout masks, a dropped weight) returns a :class:`Drawn` pair and hands the inner cell its part.

Parameter names a wrapper reports (``recurrent_weights()``, the ``parameter`` of its
``recurrent_blocks()``) are relative to the wrapper (``"inner.weight_hh"``), so wrappers nest:
``WeightDrop(LayerNorm(LSTMCell(...)))`` finds ``inner.weight_hh`` on its inner cell.
"""

from __future__ import annotations

import dataclasses
from typing import Any, NamedTuple

import torch

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Cell, From, Steps, bind


class Drawn(NamedTuple):
    """What a wrapper's ``prepare`` returns when it draws something once per run: ``value`` (masks, a
    dropped weight; None when nothing is drawn, e.g. in eval mode) and ``inner``, the inner cell's own
    prepared value, handed on to it."""

    value: Any
    inner: Any


class Wrapper(Cell):
    """A cell around ``inner`` that computes exactly what ``inner`` does until a subclass changes a method.

    The sizes, the state, the fast path, the recurrent blocks and the initialisation schemes are the
    inner cell's; ``torch_equivalent`` is None (a wrapped cell is not a torch.nn module).
    """

    input_size = From(lambda m: m.inner)
    output_size = From(lambda m: m.inner)
    feature_dims = From(lambda m: m.inner)
    causal = From(lambda m: m.inner)
    lookahead = From(lambda m: m.inner)
    fused_kind = From(lambda m: m.inner)
    fused_traceable = From(lambda m: m.inner)
    fused_exportable = From(lambda m: m.inner)
    fused_state_masks = From(lambda m: m.inner)
    takes_context = From(lambda m: m.inner)

    def __init__(self, inner: Cell) -> None:
        super().__init__()
        if not isinstance(inner, Cell):
            raise TypeError(f"inner: expected an rnnzoo Cell, got {type(inner).__name__}")
        self.inner = inner

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> Any:
        return self.inner.state_spec(batch_size, input_shape=input_shape)

    def initial_state(self, batch_size: int, *, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None, input_shape: Any = None) -> Any:
        return self.inner.initial_state(batch_size, device=device, dtype=dtype, input_shape=input_shape)

    def prepare(self, context: Any, batch_size: int, *, device: torch.device | str | None = None,
                dtype: torch.dtype | None = None, input_shape: Any = None) -> Any:
        return self.inner.prepare(context, batch_size, device=device, dtype=dtype, input_shape=input_shape)

    def project(self, x: Any, prepared: Any) -> Any:
        return bind(self.inner.project, 1, prepared)(x)

    def step(self, u_t: Any, state: Any, prepared: Any) -> tuple[Any, Any]:
        return bind(self.inner.step, 2, prepared, strict=True)(u_t, state)

    def output(self, state: Any, prepared: Any) -> Any:
        return bind(self.inner.output, 1, prepared)(state)

    def fused(self, steps: Steps, state: Any) -> tuple[Any, Any] | None:
        return self.inner.fused(steps.replace(cell=self.inner), state)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """The inner cell's blocks, their ``parameter`` names prefixed with ``inner.``."""
        return [b if b.parameter is None else dataclasses.replace(b, parameter=f"inner.{b.parameter}")
                for b in self.inner.recurrent_blocks()]

    def recurrent_weights(self) -> list[str]:
        """The inner cell's recurrent weights, named relative to this wrapper (``inner.weight_hh``)."""
        return [f"inner.{name}" for name in self.inner.recurrent_weights()]

    def initialize(self, scheme: str, value: float | None = None, *,
                   generator: torch.Generator | None = None) -> bool:
        return self.inner.initialize(scheme, value, generator=generator)

    def check_input(self, x: Any, name: str = "x", *, batched_rank: int | None = None) -> None:
        self.inner.check_input(x, name, batched_rank=batched_rank)

    def default_dtype(self) -> torch.dtype:
        return self.inner.default_dtype()
