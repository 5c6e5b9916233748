"""Layers built from the runner, for any cell: :class:`Recurrent`, :class:`Bidirectional`, :class:`Stacked`.

Every layer has ``forward(x, state=None, *, lengths=None, mask=None) -> (output, final_state)``
and ``run(...) -> RunOutput`` (which can also return every step's state and take a step hook).
Layers are thin compositions of :func:`rnnzoo.core.runner.run`: none has a time loop of its own.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnzoo.core.cell import Cell
from rnnzoo.core.runner import RunOutput, StepHook, run
from rnnzoo.core.tree import tree_leaves

Merge = str | Callable[[Tensor, Tensor], Tensor]
_MERGES = ("concat", "sum", "mean")


class BidirectionalState(NamedTuple):
    """Final (or per-step) states of both directions."""

    forward: Any
    backward: Any


class StackedState(NamedTuple):
    """One state per layer, bottom first."""

    layers: tuple


def _unpack(x: Any, lengths: Any, mask: Any, batch_first: bool) -> tuple[Any, Any, bool]:
    if isinstance(x, PackedSequence):
        if lengths is not None or mask is not None:
            raise ValueError("lengths/mask: a PackedSequence carries its own lengths; pass neither")
        padded, lens = pad_packed_sequence(x, batch_first=batch_first)
        return padded, lens, True
    return x, lengths, False


class Recurrent(nn.Module):
    """Run one cell over a sequence (a layer in the torch.nn / Keras ``RNN(cell)`` sense).

    Args:
        cell: any :class:`~rnnzoo.core.cell.Cell`.
        reverse: process the sequence from its last valid step to its first.
        batch_first: input ``(B, T, *F)`` (True) or ``(T, B, *F)``.

    Shapes: ``x`` ``(B, T, *F)`` -> output ``(B, T, *O)`` with ``O[0] = cell.output_size``.
    """

    def __init__(self, cell: Cell, *, reverse: bool = False, batch_first: bool = True) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise TypeError(f"cell: expected an rnnzoo Cell, got {type(cell).__name__}")
        self.cell = cell
        self.reverse = bool(reverse)
        self.batch_first = bool(batch_first)

    @property
    def input_size(self) -> int:
        return self.cell.input_size

    @property
    def output_size(self) -> int:
        return self.cell.output_size

    @property
    def feature_dims(self) -> int:
        return self.cell.feature_dims

    def initial_state(self, batch_size: int, **kwargs: Any) -> Any:
        return self.cell.initial_state(batch_size, **kwargs)

    def run(
        self,
        x: Tensor | PackedSequence,
        state: Any = None,
        *,
        lengths: Tensor | Sequence[int] | None = None,
        mask: Tensor | None = None,
        return_states: bool = False,
        step_hook: StepHook | None = None,
        use_fused: bool = True,
    ) -> RunOutput:
        return run(self.cell, x, state, lengths=lengths, mask=mask, reverse=self.reverse,
                   batch_first=self.batch_first, return_states=return_states, step_hook=step_hook,
                   use_fused=use_fused)

    def forward(self, x: Tensor | PackedSequence, state: Any = None, *, lengths: Any = None,
                mask: Tensor | None = None) -> tuple[Any, Any]:
        out = self.run(x, state, lengths=lengths, mask=mask)
        return out.output, out.state

    def extra_repr(self) -> str:
        return f"reverse={self.reverse}, batch_first={self.batch_first}"


def _as_layer(obj: Any, *, reverse: bool = False, batch_first: bool = True) -> nn.Module:
    if isinstance(obj, Cell):
        return Recurrent(obj, reverse=reverse, batch_first=batch_first)
    if isinstance(obj, (Recurrent, Bidirectional, Stacked)):
        return obj
    raise TypeError(f"expected an rnnzoo Cell or layer, got {type(obj).__name__}")


def _reset(module: nn.Module) -> None:
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()


class Bidirectional(nn.Module):
    """Two runs of a sequence, one forward and one backward in time, merged per step (001 eqs (23)-(25)).

    Args:
        forward: the forward-direction cell.
        backward: the backward-direction cell; default a copy of ``forward`` with fresh parameters.
        merge: ``"concat"`` (along the first feature axis), ``"sum"``, ``"mean"`` or a callable
            ``merge(h_forward, h_backward) -> Tensor``.
        merge_size: the output size of a callable merge (needed only to stack a layer on top).
        batch_first: input layout.

    The final state is a :class:`BidirectionalState` ``(forward=..., backward=...)``; the backward
    direction's final state is its state after the *first* valid step, as in torch.nn.LSTM.
    An initial state is accepted (e.g. from an encoder), but feeding a long sequence in chunks while
    carrying the state is only meaningful for the forward direction: the backward direction of a
    chunk cannot see the chunks after it, so chunked bidirectional runs differ from one whole run.
    """

    def __init__(self, forward: Cell, backward: Cell | None = None, *, merge: Merge = "concat",
                 merge_size: int | None = None, batch_first: bool = True) -> None:
        super().__init__()
        if not isinstance(forward, Cell):
            raise TypeError(f"forward: expected an rnnzoo Cell, got {type(forward).__name__}")
        if backward is None:
            backward = copy.deepcopy(forward)
            _reset(backward)
        if not isinstance(backward, Cell):
            raise TypeError(f"backward: expected an rnnzoo Cell, got {type(backward).__name__}")
        if (backward.input_size, backward.feature_dims) != (forward.input_size, forward.feature_dims):
            raise ValueError(
                f"backward: expected input_size={forward.input_size} with {forward.feature_dims} feature "
                f"axes like forward, got input_size={backward.input_size} with {backward.feature_dims}"
            )
        if not callable(merge) and merge not in _MERGES:
            raise ValueError(f"merge: expected one of {_MERGES} or a callable, got {merge!r}")
        if merge in ("sum", "mean") and backward.output_size != forward.output_size:
            raise ValueError(
                f"merge: {merge!r} needs equal output sizes, got {forward.output_size} and {backward.output_size}"
            )
        self.forward_layer = Recurrent(forward, batch_first=batch_first)
        self.backward_layer = Recurrent(backward, reverse=True, batch_first=batch_first)
        self.merge = merge
        self.merge_size = merge_size
        self.batch_first = bool(batch_first)

    @property
    def input_size(self) -> int:
        return self.forward_layer.input_size

    @property
    def output_size(self) -> int:
        if self.merge == "concat":
            return self.forward_layer.output_size + self.backward_layer.output_size
        if callable(self.merge):
            if self.merge_size is None:
                raise ValueError("merge_size: the output size of a callable merge is unknown; pass merge_size=")
            return self.merge_size
        return self.forward_layer.output_size

    @property
    def feature_dims(self) -> int:
        return self.forward_layer.feature_dims

    def initial_state(self, batch_size: int, **kwargs: Any) -> BidirectionalState:
        return BidirectionalState(self.forward_layer.initial_state(batch_size, **kwargs),
                                  self.backward_layer.initial_state(batch_size, **kwargs))

    def _merge(self, f: Tensor, b: Tensor) -> Tensor:
        if self.merge == "concat":
            return torch.cat([f, b], dim=f.dim() - self.feature_dims)
        if self.merge == "sum":
            return f + b
        if self.merge == "mean":
            return (f + b) * 0.5
        return self.merge(f, b)

    def run(self, x: Tensor | PackedSequence, state: Any = None, *, lengths: Any = None,
            mask: Tensor | None = None, return_states: bool = False, step_hook: StepHook | None = None,
            use_fused: bool = True) -> RunOutput:
        x, lengths, packed = _unpack(x, lengths, mask, self.batch_first)
        if state is None:
            sf = sb = None
        else:
            if not isinstance(state, BidirectionalState):
                raise TypeError(
                    f"state: expected a BidirectionalState(forward, backward), got {type(state).__name__}"
                )
            sf, sb = state
        kw = dict(lengths=lengths, mask=mask, return_states=return_states, step_hook=step_hook,
                  use_fused=use_fused)
        f = self.forward_layer.run(x, sf, **kw)
        b = self.backward_layer.run(x, sb, **kw)
        out = self._merge(f.output, b.output)
        if packed:
            out = pack_padded_sequence(out, lengths, batch_first=self.batch_first, enforce_sorted=False)
        states = BidirectionalState(f.states, b.states) if return_states else None
        return RunOutput(out, BidirectionalState(f.state, b.state), states)

    def forward(self, x: Tensor | PackedSequence, state: Any = None, *, lengths: Any = None,
                mask: Tensor | None = None) -> tuple[Any, Any]:
        out = self.run(x, state, lengths=lengths, mask=mask)
        return out.output, out.state

    def extra_repr(self) -> str:
        return f"merge={self.merge!r}"


class Stacked(nn.Module):
    """Layers applied one after another (001 eq (21)): layer l reads layer l-1's output sequence.

    Args:
        layers: cells (each wrapped in :class:`Recurrent`) or layers.
        dropout: dropout probability on every layer's output except the last (as torch.nn.LSTM).
        residual: add each layer's input to its output, for layers 2..L (their input and output
            sizes must match).

    The state is a :class:`StackedState` holding one state per layer. ``run``'s ``step_hook`` is
    one hook for every layer or a sequence of hooks, one per layer.
    """

    def __init__(self, layers: Sequence[Any], *, dropout: float = 0.0, residual: bool = False) -> None:
        super().__init__()
        if len(layers) == 0:
            raise ValueError("layers: expected at least one layer, got 0")
        if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        mods = [_as_layer(layer) for layer in layers]
        for i in range(1, len(mods)):
            if mods[i].input_size != mods[i - 1].output_size:
                raise ValueError(
                    f"layers[{i}]: expected input_size {mods[i - 1].output_size} (layer {i - 1}'s output), "
                    f"got {mods[i].input_size}"
                )
            if residual and mods[i].input_size != mods[i].output_size:
                raise ValueError(
                    f"residual: layer {i} maps {mods[i].input_size} -> {mods[i].output_size} features; "
                    "a residual connection needs equal sizes"
                )
        first = mods[0].batch_first
        if any(m.batch_first != first for m in mods):
            raise ValueError("layers: expected every layer to have the same batch_first")
        self.layers = nn.ModuleList(mods)
        self.dropout = float(dropout)
        self.residual = bool(residual)
        self.batch_first = first

    @property
    def input_size(self) -> int:
        return self.layers[0].input_size

    @property
    def output_size(self) -> int:
        return self.layers[-1].output_size

    @property
    def feature_dims(self) -> int:
        return self.layers[0].feature_dims

    def initial_state(self, batch_size: int, **kwargs: Any) -> StackedState:
        """Zero states of every layer. ``input_shape`` is the first layer's trailing input shape; each
        later layer's is the shape of the output of the layer below (read off that layer's state,
        whose first tensor has the output's trailing shape after the channel axis)."""
        states = []
        for layer in self.layers:
            state = layer.initial_state(batch_size, **kwargs)
            states.append(state)
            first = tree_leaves(state)[0]
            kwargs["input_shape"] = (layer.output_size, *first.shape[2:])
        return StackedState(tuple(states))

    def run(self, x: Tensor | PackedSequence, state: Any = None, *, lengths: Any = None,
            mask: Tensor | None = None, return_states: bool = False,
            step_hook: StepHook | Sequence[StepHook | None] | None = None,
            use_fused: bool = True) -> RunOutput:
        x, lengths, packed = _unpack(x, lengths, mask, self.batch_first)
        n = len(self.layers)
        if isinstance(step_hook, Sequence) and len(step_hook) != n:
            raise ValueError(f"step_hook: expected one hook per layer ({n}), got {len(step_hook)}")
        if state is None:
            per_layer: Sequence[Any] = [None] * n
        else:
            if not isinstance(state, StackedState):
                raise TypeError(f"state: expected a StackedState with {n} layer states, got {type(state).__name__}")
            if len(state.layers) != n:
                raise ValueError(f"state: expected {n} layer states, got {len(state.layers)}")
            per_layer = state.layers
        finals, all_states = [], []
        h = x
        for i, layer in enumerate(self.layers):
            hook = step_hook[i] if isinstance(step_hook, Sequence) else step_hook
            out = layer.run(h, per_layer[i], lengths=lengths, mask=mask, return_states=return_states,
                            step_hook=hook, use_fused=use_fused)
            y = out.output
            if self.residual and i > 0:
                y = y + h
            if self.dropout and i < n - 1:
                y = nn.functional.dropout(y, self.dropout, self.training)
            h = y
            finals.append(out.state)
            all_states.append(out.states)
        if packed:
            h = pack_padded_sequence(h, lengths, batch_first=self.batch_first, enforce_sorted=False)
        states = StackedState(tuple(all_states)) if return_states else None
        return RunOutput(h, StackedState(tuple(finals)), states)

    def forward(self, x: Tensor | PackedSequence, state: Any = None, *, lengths: Any = None,
                mask: Tensor | None = None) -> tuple[Any, Any]:
        out = self.run(x, state, lengths=lengths, mask=mask)
        return out.output, out.state

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}, residual={self.residual}"


__all__ = ["Bidirectional", "BidirectionalState", "Recurrent", "Stacked", "StackedState"]
