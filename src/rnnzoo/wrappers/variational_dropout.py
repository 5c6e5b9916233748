"""Variational dropout: one dropout mask per sequence on the inputs, the outputs and the recurrent state."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnzoo.core.cell import Cell, Steps, bind
from rnnzoo.core.checks import probability
from rnnzoo.core.tree import tree_map
from rnnzoo.wrappers._fields import (
    Field,
    apply_masks,
    bernoulli_mask,
    get_field,
    is_shape,
    masks_for,
    output_shape,
    probe_spec,
    put_field,
    resolve_fields,
)
from rnnzoo.wrappers.base import Drawn, Wrapper


class DropoutMasks(NamedTuple):
    """The masks of one run, each ``(B, ...)`` with values 0 and ``1 / (1 - p)``: ``input`` (a pytree
    like the step input, or None), ``state`` (field -> masks of that field), ``output`` (or None)."""

    input: Any
    state: dict[Field, Any]
    output: Tensor | None


class VariationalDropout(Wrapper):
    r"""Dropout with the same mask at every step of a sequence (Gal & Ghahramani 2016, "A theoretically
    grounded application of dropout in recurrent neural networks", arXiv:1512.05287)::

        m_x, m_s, m_y ~ Bernoulli(1 - p) / (1 - p)     # drawn in prepare: once per sequence, per batch element
        u_t = inner.project(x_t * m_x)                  # input dropout           (input=p)
        y_t, s_t = inner.step(u_t, s_{t-1} * m_s)       # state dropout on `state_fields` (state=p)
        y_t = y_t * m_y                                 # output dropout          (output=p)

    ``s_t`` (what is carried to the next step) is the inner cell's new state, unmasked; ``m_s`` multiplies
    the chosen fields of the previous state as they enter the step. For an LSTM with the default field
    ``"h"`` this is Gal & Ghahramani's variational LSTM: the gates read ``x_t * m_x`` and ``h_{t-1} * m_s``,
    the memory ``c`` is not dropped. ``output(state)`` is ``inner.output(state) * m_y``.

    Args:
        cell: any :class:`~rnnzoo.core.cell.Cell`.
        input: dropout probability of the input features (every floating tensor of a structured input).
        output: dropout probability of the step's output.
        state: dropout probability of the recurrent state fields ``state_fields``.
        state_fields: a field name or names of the inner cell's NamedTuple state; default ``"h"`` if the
            state has it, else its first field (a state that is one tensor is masked whole).

    Shapes: as the inner cell; masks are ``(B, *F)`` for an input ``(B, *F)`` (broadcast over the time
    axis of a whole-sequence projection), ``(B, output_size, *spatial)`` for the output and the
    state field's shape for the state.

    Training mode draws the masks; eval mode is the identity (nothing is drawn). Each run draws its own
    masks: a sequence fed in chunks (truncated BPTT, streaming) gets new masks per chunk. Under
    ``run(..., randomness="per_step")`` the runner calls ``prepare`` before every step, so the masks
    differ between steps: with ``state=0`` that is the standard dropout of Zaremba, Sutskever & Vinyals
    2014 (arXiv:1409.2329) on the non-recurrent connections.

    Fast path: without state dropout (``state=0`` or eval mode) the inner cell's fast path runs on the
    masked input and its outputs are masked (torch's fused LSTM kernel included). With state dropout
    the mask acts inside the recurrence: a cell whose fast path takes state masks (``fused_state_masks``,
    the LSTM family's rnnzoo recurrence) gets them in ``Steps.state_masks``; for any other cell ``fused``
    returns None and the runner's step loop runs (``fused_kind`` is then None).

    Deviations: Gal & Ghahramani's untied form draws a separate mask for each gate's copy of ``x_t`` and
    ``h_{t-1}``; this is their tied form (one mask per input and per state, shared by the gates), the form
    of cuDNN-style fused cells. For a GRU (and any cell whose output carries the previous ``h``) the
    masked ``h_{t-1}`` also reaches the carried term ``z * h_{t-1}``, so dropped units lose their memory
    for that step; Semeniuta, Severyn & Barth 2016 (arXiv:1603.05118) drop the candidate instead for that
    reason. Their embedding (word) dropout is not part of this wrapper. Eval mode uses the weight-scaling
    approximation (no masks), not Monte Carlo averaging; keep the wrapper in training mode to sample.

    >>> import torch, rnnzoo
    >>> cell = rnnzoo.VariationalDropout(rnnzoo.LSTMCell(3, 8), input=0.25, state=0.25)
    >>> out = rnnzoo.run(cell, torch.randn(2, 5, 3))
    >>> tuple(out.output.shape)
    (2, 5, 8)
    """

    def __init__(self, cell: Cell, *, input: float = 0.0, output: float = 0.0, state: float = 0.0,
                 state_fields: str | Sequence[str] | None = None) -> None:
        super().__init__(cell)
        self.p_input = probability("input", input)
        self.p_output = probability("output", output)
        self.p_state = probability("state", state)
        self.state_fields = state_fields
        spec = probe_spec(cell)
        if spec is not None:  # check the names now; a cell that cannot size its state is checked per run
            resolve_fields("state_fields", state_fields, spec, type(cell).__name__)

    @property
    def fused_kind(self) -> str | None:  # type: ignore[override]
        """The inner cell's fast path; while state dropout is active, ``"rnnzoo"`` if the inner fast path
        applies the state masks itself (``fused_state_masks``: the LSTM family), else None (the step loop)."""
        if not (self.training and self.p_state > 0):
            return self.inner.fused_kind
        return "rnnzoo" if self._masks_fused(self._fields()) else None

    def _fields(self) -> list[Any] | None:
        spec = probe_spec(self.inner)
        return None if spec is None else list(resolve_fields("state_fields", self.state_fields, spec,
                                                              type(self.inner).__name__))

    def _masks_fused(self, fields: Any) -> bool:
        return (fields is not None and self.inner.fused_kind is not None
                and all(isinstance(f, str) for f in fields) and set(fields) <= set(self.inner.fused_state_masks))

    # ------------------------------------------------------------------ masks, once per run

    def prepare(self, context: Any, batch_size: int, *, device: torch.device | str | None = None,
                dtype: torch.dtype | None = None, input_shape: Any = None) -> Drawn:
        """The inner cell's prepared value and, in training mode, this run's masks (drawn in the order
        input, state, output)."""
        inner = self.inner.prepare(context, batch_size, device=device, dtype=dtype, input_shape=input_shape)
        if not self.training or not (self.p_input or self.p_output or self.p_state):
            return Drawn(None, inner)
        dtype = dtype or self.default_dtype()
        masks_in = None
        if self.p_input and input_shape is not None:
            keep = 1.0 - self.p_input
            masks_in = tree_map(lambda s: bernoulli_mask((batch_size, *s), keep, device=device, dtype=dtype),
                                input_shape, is_leaf=is_shape, what="input_shape")
        spec = self.inner.state_spec(batch_size, input_shape=input_shape)
        masks_state: dict[Field, Any] = {}
        if self.p_state:
            for field in resolve_fields("state_fields", self.state_fields, spec, type(self.inner).__name__):
                masks_state[field] = masks_for(get_field(spec, field), 1.0 - self.p_state, device=device, dtype=dtype)
        mask_out = None
        if self.p_output:
            mask_out = bernoulli_mask(output_shape(self.inner, spec), 1.0 - self.p_output, device=device, dtype=dtype)
        return Drawn(DropoutMasks(masks_in, masks_state, mask_out), inner)

    def _drop_output(self, y: Any, mask: Tensor) -> Tensor:
        if not isinstance(y, Tensor):
            raise TypeError(f"output: {type(self.inner).__name__}'s step output is a {type(y).__name__}; output "
                            "dropout needs a tensor output (use output=0 and drop after the layer)")
        if tuple(y.shape[-mask.dim():]) != tuple(mask.shape):
            raise ValueError(f"output: expected {type(self.inner).__name__}'s output to end in shape "
                             f"{tuple(mask.shape)} (B, output_size, *spatial), got {tuple(y.shape)}")
        return y * mask

    # ------------------------------------------------------------------ one step

    def project(self, x: Any, prepared: Drawn) -> Any:
        """``inner.project(x * m_x)``; ``x`` is one step ``(B, *F)`` or a whole sequence ``(T, B, *F)``."""
        masks = prepared.value
        if masks is not None and masks.input is not None:
            x = apply_masks(x, masks.input)
        return bind(self.inner.project, 1, prepared.inner)(x)

    def step(self, u_t: Any, state: Any, prepared: Drawn) -> tuple[Any, Any]:
        masks = prepared.value
        entering = state
        if masks is not None:
            for field, m in masks.state.items():
                entering = put_field(entering, field, apply_masks(get_field(entering, field), m))
        y, new = bind(self.inner.step, 2, prepared.inner, strict=True)(u_t, entering)
        if masks is not None and masks.output is not None:
            y = self._drop_output(y, masks.output)
        return y, new

    def output(self, state: Any, prepared: Drawn) -> Any:
        y = bind(self.inner.output, 1, prepared.inner)(state)
        masks = prepared.value
        if masks is not None and masks.output is not None:
            y = self._drop_output(y, masks.output)
        return y

    def fused(self, steps: Steps, state: Any) -> tuple[Any, Any] | None:
        """The inner fast path on ``x * m_x``, its outputs times ``m_y``; None with state dropout active."""
        drawn: Drawn = steps.prepared
        masks = drawn.value
        state_masks = None
        if masks is not None and masks.state:
            if not self._masks_fused(list(masks.state)):
                return None  # the state mask acts inside the recurrence, which this cell's fast path cannot: the loop
            state_masks = dict(masks.state)
        x = steps.x
        if masks is not None and masks.input is not None and x is not None:
            x = apply_masks(x, masks.input)
        result = self.inner.fused(steps.replace(cell=self.inner, x=x, prepared=drawn.inner, state_masks=state_masks),
                                  state)
        if result is None or masks is None or masks.output is None:
            return result
        return self._drop_output(result[0], masks.output), result[1]

    def extra_repr(self) -> str:
        fields = "" if self.state_fields is None else f", state_fields={self.state_fields!r}"
        return f"input={self.p_input}, output={self.p_output}, state={self.p_state}{fields}"
