"""The cell protocol: a cell knows one time step; the runner (:mod:`rnnzoo.core.runner`) owns time.

A cell is an :class:`torch.nn.Module` with

* ``input_size`` / ``output_size``: the size of the first feature axis of its input and output
  (features for vector cells, channels for spatial cells);
* ``feature_dims``: how many trailing feature axes a step's input has (1 for vectors ``(B, I)``,
  3 for images ``(B, C, H, W)``), so spatial cells run through the same runner;
* ``initial_state(batch_size, *, device=None, dtype=None, input_shape=None)``: a NamedTuple of
  tensors (e.g. ``LSTMState(h, c)``); ``input_shape`` is the trailing feature shape of the input,
  which spatial cells need to size their state and vector cells ignore;
* ``forward(x_t, state) -> (y_t, new_state)``: one step; the state is returned, never stored on
  ``self``.

For speed, a step is split in two: ``project(x)`` is whatever depends only on the input (the input
projections ``W x + b``) and is applied by the runner to all time steps at once, in one matrix
product; ``step(u_t, state)`` is the recurrence proper. ``forward(x_t, state)`` is
``step(project(x_t), state)``, so stepping a cell by hand and running it give the same numbers.

A cell may also offer ``fused(x, state, lengths)``: a whole-sequence fast path (e.g. torch's fused
LSTM kernel) that returns ``(outputs, final_state)`` or ``None`` when the configuration does not
allow it. The runner's step loop stays the reference; tests hold the two equal.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.tree import check_state, tree_map


class Cell(nn.Module):
    """Base class of every recurrent cell. Subclasses implement ``initial_state`` and ``step``
    (and optionally ``project`` and ``fused``)."""

    input_size: int
    output_size: int
    feature_dims: int = 1

    def initial_state(
        self,
        batch_size: int,
        *,
        device: torch.device | str | None = None,
        dtype: torch.dtype | None = None,
        input_shape: tuple[int, ...] | None = None,
    ) -> NamedTuple:
        raise NotImplementedError

    def project(self, x: Tensor) -> Tensor:
        """Input-only part of a step, applied to any number of leading axes at once.

        Shapes: ``(..., *F) -> (..., *P)``. The default is the identity.
        """
        return x

    def step(self, u_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        """The recurrence: ``u_t`` is ``project(x_t)`` with shape ``(B, *P)``."""
        raise NotImplementedError

    def fused(self, x: Tensor, state: Any, lengths: Tensor | None) -> tuple[Tensor, Any] | None:
        """Optional whole-sequence fast path on batch-first ``x`` of shape ``(B, T, *F)``.

        ``lengths`` (B,) int64 on CPU or ``None`` for full-length sequences; padding is at the end.
        Must return what the runner's step loop returns (outputs zero past each length, the state
        at each sequence's last valid step) or ``None`` if this configuration has no fast path.
        """
        return None

    def check_input(self, x: Tensor, name: str = "x", *, batched_rank: int | None = None) -> None:
        """Validate a step's or a sequence's trailing feature axes and dtype."""
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(
                f"{name}: expected a floating-point tensor (float32/float64), got dtype {x.dtype}"
            )
        if batched_rank is not None and x.dim() != batched_rank:
            raise ValueError(f"{name}: expected a tensor of rank {batched_rank}, got shape {tuple(x.shape)}")
        if x.dim() < self.feature_dims:
            raise ValueError(
                f"{name}: expected at least {self.feature_dims} feature axes, got shape {tuple(x.shape)}"
            )
        size = x.shape[x.dim() - self.feature_dims]
        if size != self.input_size:
            what = "features" if self.feature_dims == 1 else "channels"
            raise ValueError(
                f"{name}: expected {self.input_size} input {what} (axis {-self.feature_dims}), "
                f"got {size} in shape {tuple(x.shape)}"
            )

    def forward(self, x_t: Tensor, state: Any = None) -> tuple[Tensor, Any]:
        """One step. ``x_t``: ``(B, *F)``, or ``(*F)`` unbatched (as torch.nn.LSTMCell takes ``(I,)``,
        with a state without batch axis); ``state``: as from ``initial_state`` (None = zeros)."""
        if isinstance(x_t, Tensor) and x_t.dim() == self.feature_dims:
            batched_state = None if state is None else tree_map(lambda t: t.unsqueeze(0), state)
            if state is not None:
                one = self.initial_state(1, device=x_t.device, dtype=x_t.dtype, input_shape=tuple(x_t.shape))
                check_state("state", state, tree_map(lambda t: t.squeeze(0), one))
            y, new = self.forward(x_t.unsqueeze(0), batched_state)
            return y.squeeze(0), tree_map(lambda t: t.squeeze(0), new)
        self.check_input(x_t, "x_t", batched_rank=self.feature_dims + 1)
        batch = x_t.shape[0]
        expected = self.initial_state(
            batch, device=x_t.device, dtype=x_t.dtype, input_shape=tuple(x_t.shape[1:])
        )
        if state is None:
            state = expected
        else:
            check_state("state", state, expected)
        return self.step(self.project(x_t), state)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, output_size={self.output_size}"
