"""Layers built from the runner, for any cell: :class:`Recurrent`, :class:`Bidirectional`, :class:`Stacked`.

Every layer has ``forward(x, state=None, *, lengths=None, mask=None, context=None) -> (output,
final_state)`` and ``run(...) -> RunOutput`` (which can also return every step's state and take a
step hook). Layers are thin compositions of :func:`rnnzoo.core.runner.run`: none has a time loop of
its own. What a layer is, is the :class:`Layer` protocol (as flax's ``RNNBase``), not a closed list
of classes: anything with those members stacks.

A stack of *cells* is itself a cell (:class:`rnnzoo.core.deep.DeepCell`) and can be stepped one token
at a time; :class:`Bidirectional` stays a layer: its backward direction needs the future.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, NoReturn, Protocol, runtime_checkable

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnzoo.core.cell import Cell, From
from rnnzoo.core.deep import DeepCell, StackedState
from rnnzoo.core.runner import RunOutput, StepHook, lengths_to_mask, run, valid_steps
from rnnzoo.core.torchscript import refuse_script, refuse_trace
from rnnzoo.core.tree import tree_leaves

Merge = str | Callable[[Tensor, Tensor], Tensor]
_MERGES = ("concat", "sum", "mean")


@runtime_checkable
class Layer(Protocol):
    """What :class:`Stacked` composes: a module that runs a whole sequence.

    ``causal``: whether outputs at step t depend only on steps <= t (not for a backward or
    bidirectional layer): truncated BPTT, streaming and the gradient diagnostics need it.
    :func:`as_layer` accepts a module with this protocol's methods (``run``, ``initial_state``); it does
    not read the sizes at that point, since a layer may compute them lazily (a callable merge).
    """

    input_size: int
    output_size: int
    feature_dims: int
    batch_first: bool
    causal: bool

    def initial_state(self, batch_size: int, **kwargs: Any) -> Any: ...

    def run(self, x: Any, state: Any = None, **kwargs: Any) -> RunOutput: ...


class BidirectionalState(NamedTuple):
    """Final (or per-step) states of both directions."""

    forward: Any
    backward: Any


def _unpack(x: Any, lengths: Any, mask: Any, batch_first: bool) -> tuple[Any, Any, bool]:
    if isinstance(x, PackedSequence):
        if lengths is not None or mask is not None:
            raise ValueError("lengths/mask: a PackedSequence carries its own lengths; pass neither")
        padded, lens = pad_packed_sequence(x, batch_first=batch_first)
        return padded, lens, True
    return x, lengths, False


def _refuse_tracing(module: nn.Module, args: Any) -> None:
    """A forward pre-hook: under ``torch.jit.trace`` raise the clear error before ``forward`` binds its
    arguments (the legacy ONNX exporter passes keyword-only arguments positionally: a TypeError)."""
    if torch.jit.is_tracing():
        refuse_trace()


class _SequenceLayer(nn.Module):
    """``forward`` for every layer: ``run`` and keep ``(output, state)``."""

    def __init__(self) -> None:
        super().__init__()
        self.register_forward_pre_hook(_refuse_tracing)

    def forward(self, x: Any, state: Any = None, *, lengths: Any = None, mask: Tensor | None = None,
                context: Any = None) -> tuple[Any, Any]:
        out = self.run(x, state, lengths=lengths, mask=mask, context=context)
        return out.output, out.state

    def step(self, x_t: Any, state: Any = None, *, context: Any = None, prepared: Any = None) -> tuple[Any, Any]:
        """Streaming inference: one token, the state carried by the caller (``None``: zeros).

        ``x_t`` ``(B, *F)`` (or ``(*F)`` unbatched) -> ``(y_t (B, *O), state)``, the state the same
        structure ``layer(x)`` returns, so a prefix read as a sequence goes on token by token and a
        chunk boundary may fall anywhere. Only for causal layers (a reversed or bidirectional layer
        needs the future and raises). Dropout follows ``train()``/``eval()``; per-run randomness
        (variational dropout masks) is drawn per call unless ``prepared=layer.step_cell.prepare(...)``
        is made once and passed at every step.
        """
        return self.step_cell(x_t, state, context=context, prepared=prepared)

    @property
    def step_cell(self) -> Cell:
        """This layer as one cell stepping a token through it (what :meth:`step` calls)."""
        raise ValueError(f"{type(self).__name__}: this layer cannot be stepped one token at a time")

    def __prepare_scriptable__(self) -> NoReturn:
        """``torch.jit.script`` calls this first: refuse with the supported export routes
        (:mod:`rnnzoo.core.torchscript`) instead of TorchScript's annotation error."""
        refuse_script(self)

    def __dir__(self) -> list[str]:
        """Without the step-wise views (``step_cell``, ``cell``) a layer does not have: tools that probe
        every name with ``hasattr`` (``torch.jit.trace``, before our refusal) would get the property's
        ValueError instead of a missing attribute."""
        def present(name: str) -> bool:
            if name not in ("step_cell", "cell"):
                return True
            try:
                getattr(self, name)
            except ValueError:
                return False
            return True

        return [name for name in super().__dir__() if present(name)]


class Recurrent(_SequenceLayer):
    """Run one cell over a sequence (a layer in the torch.nn / Keras ``RNN(cell)`` sense).

    Args:
        cell: any :class:`~rnnzoo.core.cell.Cell`.
        reverse: process the sequence from its last valid step to its first.
        batch_first: input ``(B, T, *F)`` (True) or ``(T, B, *F)``.

    Shapes: ``x`` ``(B, T, *F)`` -> output ``(B, T, *O)`` with ``O[0] = cell.output_size``.
    """

    input_size = From(lambda m: m.cell)
    output_size = From(lambda m: m.cell)
    feature_dims = From(lambda m: m.cell)

    def __init__(self, cell: Cell, *, reverse: bool = False, batch_first: bool = True) -> None:
        super().__init__()
        if not isinstance(cell, Cell):
            raise TypeError(f"cell: expected an rnnzoo Cell, got {type(cell).__name__}")
        self.cell = cell
        self.reverse = bool(reverse)
        self.batch_first = bool(batch_first)

    @property
    def causal(self) -> bool:
        return self.cell.causal and not self.reverse

    def initial_state(self, batch_size: int, **kwargs: Any) -> Any:
        return self.cell.initial_state(batch_size, **kwargs)

    @property
    def step_cell(self) -> Cell:
        if self.reverse:
            raise ValueError("step: a reversed layer needs the future and cannot be stepped one token at a time")
        return self.cell

    def run(self, x: Any, state: Any = None, *, lengths: Tensor | Sequence[int] | None = None,
            mask: Tensor | None = None, return_states: bool = False, step_hook: StepHook | None = None,
            use_fused: bool = True, context: Any = None, randomness: str = "per_sequence") -> RunOutput:
        return run(self.cell, x, state, lengths=lengths, mask=mask, reverse=self.reverse,
                   batch_first=self.batch_first, return_states=return_states, step_hook=step_hook,
                   use_fused=use_fused, context=context, randomness=randomness)

    def extra_repr(self) -> str:
        return f"reverse={self.reverse}, batch_first={self.batch_first}"


def as_layer(obj: Any, *, reverse: bool = False, batch_first: bool = True) -> Layer:
    """A cell wrapped in :class:`Recurrent`; anything that is a :class:`Layer` as it is."""
    if isinstance(obj, Cell):
        return Recurrent(obj, reverse=reverse, batch_first=batch_first)
    if isinstance(obj, nn.Module) and all(callable(getattr(obj, m, None)) for m in ("run", "initial_state")):
        return obj  # the Layer protocol's methods (its sizes may be properties that raise until set)
    raise TypeError(f"expected an rnnzoo Cell or a layer (the rnnzoo.core.layers.Layer protocol), "
                    f"got {type(obj).__name__}")


def _reset(module: nn.Module) -> None:
    for m in module.modules():
        if m is not module and hasattr(m, "reset_parameters"):
            m.reset_parameters()
    if hasattr(module, "reset_parameters"):
        module.reset_parameters()


class Bidirectional(_SequenceLayer):
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
    A bidirectional layer is therefore a layer, not a cell: it cannot be stepped (``causal`` is False).
    """

    causal = False
    input_size = From(lambda m: m.forward_layer)
    feature_dims = From(lambda m: m.forward_layer)

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
        for arg, cell in (("forward", forward), ("backward", backward)):
            if cell.lookahead:
                raise ValueError(f"{arg}: {type(cell).__name__} has lookahead={cell.lookahead}: it already reads "
                                 "the future, and a backward run of it is not supported; use it in one direction")
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
    def output_size(self) -> int:
        if self.merge == "concat":
            return self.forward_layer.output_size + self.backward_layer.output_size
        if callable(self.merge):
            if self.merge_size is None:
                raise ValueError("merge_size: the output size of a callable merge is unknown; pass merge_size=")
            return self.merge_size
        return self.forward_layer.output_size

    @property
    def step_cell(self) -> Cell:
        raise ValueError("step: a bidirectional layer's backward direction needs the future; it cannot be "
                         "stepped one token at a time (stream a unidirectional model)")

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

    def run(self, x: Any, state: Any = None, *, lengths: Any = None, mask: Tensor | None = None,
            return_states: bool = False, step_hook: StepHook | None = None, use_fused: bool = True,
            context: Any = None, randomness: str = "per_sequence") -> RunOutput:
        x, lengths, packed = _unpack(x, lengths, mask, self.batch_first)
        if state is None:
            sf = sb = None
        else:
            if not isinstance(state, BidirectionalState):
                raise TypeError(f"state: expected a BidirectionalState(forward, backward), got {type(state).__name__}")
            sf, sb = state
        kw = dict(lengths=lengths, mask=mask, return_states=return_states, step_hook=step_hook,
                  use_fused=use_fused, context=context, randomness=randomness)
        f = self.forward_layer.run(x, sf, **kw)
        b = self.backward_layer.run(x, sb, **kw)
        out = self._merge(f.output, b.output)
        if packed:
            out = pack_padded_sequence(out, lengths, batch_first=self.batch_first, enforce_sorted=False)
        states = BidirectionalState(f.states, b.states) if return_states else None
        return RunOutput(out, BidirectionalState(f.state, b.state), states)

    def extra_repr(self) -> str:
        return f"merge={self.merge!r}"


@dataclass
class LayerRun:
    """One layer's part of a :meth:`Stacked.iter_layers` run.

    inputs: the layer's input sequence (what the layer below passed on); run: the layer's
    :class:`RunOutput` (``run.states`` with ``return_states=True``); output: what this layer passes
    on to the next (after the residual connection and the dropout between layers).
    """

    index: int
    layer: Layer
    inputs: Tensor
    run: RunOutput
    output: Tensor


class Stacked(_SequenceLayer):
    """Layers applied one after another (001 eq (21)): layer l reads layer l-1's output sequence.

    Args:
        layers: cells (each wrapped in :class:`Recurrent`) or layers (the :class:`Layer` protocol).
        dropout: dropout probability on every layer's output except the last (as torch.nn.LSTM).
        residual: add each layer's input to its output, for layers 2..L (their input and output
            sizes must match).

    The state is a :class:`StackedState` holding one state per layer. ``run``'s ``step_hook`` is
    one hook for every layer or a sequence of hooks, one per layer.
    """

    input_size = From(lambda m: m.layers[0])
    feature_dims = From(lambda m: m.layers[0])
    output_size = From(lambda m: m.layers[-1])

    def __init__(self, layers: Sequence[Any], *, dropout: float = 0.0, residual: bool = False) -> None:
        super().__init__()
        if len(layers) == 0:
            raise ValueError("layers: expected at least one layer, got 0")
        if not isinstance(dropout, (int, float)) or not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        mods = [as_layer(layer) for layer in layers]
        for i in range(1, len(mods)):
            if mods[i].input_size != mods[i - 1].output_size:
                raise ValueError(f"layers[{i}]: expected input_size {mods[i - 1].output_size} (layer {i - 1}'s "
                                 f"output), got {mods[i].input_size}")
            if residual and mods[i].input_size != mods[i].output_size:
                raise ValueError(f"residual: layer {i} maps {mods[i].input_size} -> {mods[i].output_size} features; "
                                 "a residual connection needs equal sizes")
        first = mods[0].batch_first
        if any(m.batch_first != first for m in mods):
            raise ValueError("layers: expected every layer to have the same batch_first")
        self.layers = nn.ModuleList(mods)
        self.dropout = float(dropout)
        self.residual = bool(residual)
        self.batch_first = first
        object.__setattr__(self, "_step_cell", None)  # built on first use; not a submodule (no duplicate keys)

    @property
    def cell(self) -> Cell:
        """The stack as one cell that steps every layer per token: ``y_t, state = model.cell(x_t, state)``
        (a :class:`~rnnzoo.core.deep.DeepCell`).

        Shares the parameters and the state structure of ``model(x)``; dropout between layers follows
        the model's train/eval mode. Only for stacks of unidirectional :class:`Recurrent` layers
        (a bidirectional layer's backward direction needs the future): others raise.
        """
        if self._step_cell is None:
            items: list[Any] = []
            for i, layer in enumerate(self.layers):
                if not isinstance(layer, Recurrent) or layer.reverse:
                    what = ("bidirectional" if isinstance(layer, Bidirectional) else
                            "reversed" if isinstance(layer, Recurrent) else f"a {type(layer).__name__}")
                    raise ValueError(f"model: layer {i} is {what}: it needs the future or is not a cell, and "
                                     "cannot be stepped one token at a time")
                if i > 0 and self.dropout:
                    items.append(nn.Dropout(self.dropout))
                items.append(layer.cell)
            cell = DeepCell(items, residual=self.residual)
            cell.train(self.training)
            object.__setattr__(self, "_step_cell", cell)
        return self._step_cell

    @property
    def step_cell(self) -> Cell:
        return self.cell

    def train(self, mode: bool = True) -> Stacked:
        super().train(mode)
        if self._step_cell is not None:
            self._step_cell.train(mode)
        return self

    @property
    def causal(self) -> bool:
        return all(layer.causal for layer in self.layers)

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

    def connect(self, index: int, y: Tensor, inputs: Tensor) -> Tensor:
        """What layer ``index`` passes on: its output ``y``, plus its ``inputs`` with ``residual`` (from
        the second layer on), with dropout applied except after the last layer."""
        if self.residual and index > 0:
            y = y + inputs
        if self.dropout and index < len(self.layers) - 1:
            y = nn.functional.dropout(y, self.dropout, self.training)
        return y

    def iter_layers(self, x: Tensor, state: Any = None, *, lengths: Any = None, mask: Tensor | None = None,
                    return_states: bool = False, step_hook: StepHook | Sequence[StepHook | None] | None = None,
                    use_fused: bool = True, context: Any = None,
                    randomness: str = "per_sequence") -> Iterator[LayerRun]:
        """Run the layers one after another on padded ``x``, yielding each layer's :class:`LayerRun`
        (the diagnostics read a layer's inputs and states from it). ``run`` consumes this."""
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
        h = x
        for i, layer in enumerate(self.layers):
            hook = step_hook[i] if isinstance(step_hook, Sequence) else step_hook
            out = layer.run(h, per_layer[i], lengths=lengths, mask=mask, return_states=return_states,
                            step_hook=hook, use_fused=use_fused, context=context, randomness=randomness)
            y = self.connect(i, out.output, h)
            yield LayerRun(i, layer, h, out, y)
            h = y

    def run(self, x: Any, state: Any = None, *, lengths: Any = None, mask: Tensor | None = None,
            return_states: bool = False, step_hook: StepHook | Sequence[StepHook | None] | None = None,
            use_fused: bool = True, context: Any = None, randomness: str = "per_sequence") -> RunOutput:
        x, lengths, packed = _unpack(x, lengths, mask, self.batch_first)
        runs = list(self.iter_layers(x, state, lengths=lengths, mask=mask, return_states=return_states,
                                     step_hook=step_hook, use_fused=use_fused, context=context,
                                     randomness=randomness))
        h = runs[-1].output
        if self.residual and len(runs) > 1 and (lengths is not None or mask is not None):
            h = _zero_padding(h, lengths, mask, self.batch_first, self.feature_dims)
        if packed:
            h = pack_padded_sequence(h, lengths, batch_first=self.batch_first, enforce_sorted=False)
        states = StackedState(tuple(r.run.states for r in runs)) if return_states else None
        return RunOutput(h, StackedState(tuple(r.run.state for r in runs)), states)

    def extra_repr(self) -> str:
        return f"dropout={self.dropout}, residual={self.residual}"


def _zero_padding(h: Tensor, lengths: Any, mask: Tensor | None, batch_first: bool, feature_dims: int) -> Tensor:
    """Zero the masked steps of a padded output (a residual connection carries the input there)."""
    batch, steps = (h.shape[0], h.shape[1]) if batch_first else (h.shape[1], h.shape[0])
    mask_t, _ = valid_steps(lengths, mask, batch, steps, batch_first=batch_first, device=h.device)
    if mask_t is None:
        return h
    m = mask_t.t() if batch_first else mask_t
    return h * m.view(*m.shape, *([1] * (h.dim() - 2))).to(h.dtype)


__all__ = ["Bidirectional", "BidirectionalState", "From", "Layer", "LayerRun", "Recurrent", "Stacked",
           "StackedState", "as_layer", "lengths_to_mask"]
