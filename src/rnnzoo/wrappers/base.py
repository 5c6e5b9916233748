"""The base of wrapper cells: a cell around a cell that forwards everything it does not change.

Wrappers are cells (haiku's ``ResetCore``, flax's wrapped cells), so a regulariser, a normalisation
or an attention mechanism written once works for every registered cell and for users' own cells,
inside any layer, stack or direction, with the runner's lengths, masks, streaming and TBPTT.

A wrapper's ``prepared`` value is, unless it says otherwise, its inner cell's; one that draws its own
(dropout masks, a dropped weight) returns a pair and hands the inner cell its part.
"""

from __future__ import annotations

from typing import Any

import torch

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Cell, From, Steps, bind


class Wrapper(Cell):
    """A cell around ``inner`` that computes exactly what ``inner`` does until a subclass changes a method.

    The sizes, the state, the fast path, the recurrent blocks and the initialisation schemes are the
    inner cell's; ``torch_equivalent`` is None (a wrapped cell is not a torch.nn module).
    """

    input_size = From(lambda m: m.inner)
    output_size = From(lambda m: m.inner)
    feature_dims = From(lambda m: m.inner)
    causal = From(lambda m: m.inner)
    fused_kind = From(lambda m: m.inner)
    fused_traceable = From(lambda m: m.inner)

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
        return self.inner.recurrent_blocks()

    def recurrent_weights(self) -> list[str]:
        return self.inner.recurrent_weights()

    def initialize(self, scheme: str, value: float | None = None, *,
                   generator: torch.Generator | None = None) -> bool:
        return self.inner.initialize(scheme, value, generator=generator)

    def check_input(self, x: Any, name: str = "x", *, batched_rank: int | None = None) -> None:
        self.inner.check_input(x, name, batched_rank=batched_rank)

    def default_dtype(self) -> torch.dtype:
        return self.inner.default_dtype()
