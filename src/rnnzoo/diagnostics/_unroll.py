"""Unrolling a model layer by layer, for the diagnostics.

Every diagnostic needs more than ``model(x)`` returns: each layer's input sequence, its initial state
and every step's state (for the Jacobians of 001 eq (11) and the gate activations), and, for the
gradient probes, outputs that *carry* the probe added to the state by a step hook.

The runner's ``step_hook`` changes the state after a step but not that step's output, which the
cell computed before the hook ran. A probe ``p_k`` added to ``h_k`` therefore reaches the next step
of its own layer but neither the loss at step ``k`` nor the layer above at step ``k``. So
:func:`unroll` runs a model one layer at a time with :func:`rnnzoo.core.runner.run`, rebuilds a
hooked layer's output from its returned (post-hook) states with :func:`state_output`, and feeds that
to the layer above, composing layers exactly as :class:`rnnzoo.core.layers.Stacked` does (residual
connections, dropout between layers). With it ``d L_t / d p_k`` is the full ``d L_t / d h_k``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.cells.convlstm import ConvLSTMCell
from rnnzoo.cells.elman import ElmanCell
from rnnzoo.cells.gru import GRUCell
from rnnzoo.cells.lstm import LSTMCell
from rnnzoo.cells.scrn import SCRNCell
from rnnzoo.core.cell import Cell
from rnnzoo.core.layers import Bidirectional, Recurrent, Stacked
from rnnzoo.core.runner import StepHook, lengths_to_mask, run
from rnnzoo.core.tree import tree_leaves, tree_map

StateOutput = Callable[[Cell, Any], Tensor]
_STATE_OUTPUT: dict[type, StateOutput] = {}


def register_state_output(cls: type) -> Callable[[StateOutput], StateOutput]:
    """Register ``fn(cell, states) -> outputs`` for a cell class: the cell's per-step output as a
    function of its per-step states (batch-first, ``(B, T, ...)`` leaves -> ``(B, T, *O)``)."""

    def deco(fn: StateOutput) -> StateOutput:
        _STATE_OUTPUT[cls] = fn
        return fn

    return deco


def _h(cell: Cell, states: Any) -> Tensor:
    return states.h


for _cls in (ElmanCell, GRUCell, LSTMCell, ConvLSTMCell):
    register_state_output(_cls)(_h)


@register_state_output(SCRNCell)
def _scrn_output(cell: Cell, states: Any) -> Tensor:
    return torch.cat([states.h, states.s], dim=-1)  # SCRN's y_t = [h_t, s_t]


def state_output(cell: Cell, states: Any) -> Tensor:
    """The outputs ``(B, T, *O)`` a cell emitted, rebuilt from its states ``(B, T, ...)``.

    Looks up the cell's class (and its bases) in the registry; raises for an unregistered cell.
    """
    for cls in type(cell).__mro__:
        if cls in _STATE_OUTPUT:
            return _STATE_OUTPUT[cls](cell, states)
    raise NotImplementedError(
        f"cell: no state_output registered for {type(cell).__name__}; register one with "
        "rnnzoo.diagnostics.register_state_output(cls)(fn) giving the output as a function of the state"
    )


def recurrent_layers(model: nn.Module) -> list[Recurrent]:
    """The unidirectional layers of ``model`` (a ``create`` model, a Stacked, a Recurrent or a Cell).

    Raises for bidirectional or reversed layers: the diagnostics follow gradients backwards in time
    from a loss at step t to the steps k <= t before it (001 eq (10)), which needs a causal layer.
    """
    if isinstance(model, Cell):
        layers: list[Any] = [Recurrent(model)]
    elif isinstance(model, Recurrent):
        layers = [model]
    elif isinstance(model, Stacked):
        layers = list(model.layers)
    else:
        raise TypeError(f"model: expected an rnnzoo model, layer or cell, got {type(model).__name__}")
    for i, layer in enumerate(layers):
        if isinstance(layer, Bidirectional) or (isinstance(layer, Recurrent) and layer.reverse):
            raise ValueError(
                f"model: layer {i} runs backwards in time; the gradient and Jacobian diagnostics "
                "need unidirectional (causal) layers"
            )
        if not isinstance(layer, Recurrent):
            raise TypeError(f"model: layer {i} is a {type(layer).__name__}; expected a Recurrent layer")
    return layers


@dataclass
class LayerRun:
    """One layer's part of an unrolled run (all batch-first).

    inputs: ``(B, T, *F)`` the layer's input sequence; initial_state: its initial state (leaves
    ``(B, ...)``); states: every step's state (leaves ``(B, T, ...)``, after the step hook);
    output: ``(B, T, *O)`` what the layer passes on (carrying the probes of a hooked layer).
    """

    index: int
    cell: Cell
    inputs: Tensor
    initial_state: Any
    states: Any
    output: Tensor


def valid_mask(x: Tensor, lengths: Tensor | None) -> Tensor:
    """``(B, T)`` boolean, True on valid steps."""
    batch, steps = x.shape[:2]
    if lengths is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=x.device)
    return lengths_to_mask(torch.as_tensor(lengths, device=x.device), steps)


def unroll(model: nn.Module, x: Tensor, *, lengths: Tensor | None = None,
           hooks: dict[int, StepHook] | None = None) -> tuple[Tensor, list[LayerRun]]:
    """Run ``model`` on batch-first ``x`` ``(B, T, *F)`` one layer at a time.

    hooks: ``{layer_index: step_hook}``; a hooked layer's output is rebuilt from its post-hook states.
    Returns the top layer's output ``(B, T, *O)`` (zero past each length) and one :class:`LayerRun`
    per layer. Equals ``model(x, lengths=lengths)[0]`` when the hooks change nothing.
    """
    layers = recurrent_layers(model)
    hooks = hooks or {}
    residual = bool(getattr(model, "residual", False))
    dropout = float(getattr(model, "dropout", 0.0))
    mask = valid_mask(x, lengths)
    runs: list[LayerRun] = []
    h = x
    n = len(layers)
    for i, layer in enumerate(layers):
        cell = layer.cell
        init = cell.initial_state(h.shape[0], device=h.device, dtype=h.dtype, input_shape=tuple(h.shape[2:]))
        out = run(cell, h, init, lengths=lengths, batch_first=True, return_states=True,
                  step_hook=hooks.get(i))
        if i in hooks:
            y = state_output(cell, out.states)
            m = mask.view(*mask.shape, *([1] * (y.dim() - 2))).to(y.dtype)
            y = y * m
            if not torch.allclose(y.detach(), out.output.detach(), rtol=1e-5, atol=1e-6, equal_nan=True):
                raise RuntimeError(
                    f"state_output: for {type(cell).__name__} the output rebuilt from the states differs "
                    "from the cell's output; register the right function with register_state_output"
                )
        else:
            y = out.output
        runs.append(LayerRun(i, cell, h, init, out.states, y))
        if residual and i > 0:
            y = y + h
        if dropout and i < n - 1:
            y = nn.functional.dropout(y, dropout, model.training)
        h = y
    return h, runs


def flatten_state(state: Any) -> Tensor:
    """A state's leaves ``(N, ...)`` flattened and concatenated: ``(N, D)``."""
    return torch.cat([leaf.reshape(leaf.shape[0], -1) for leaf in tree_leaves(state)], dim=1)


def unflatten_state(flat: Tensor, like: Any) -> Any:
    """Inverse of :func:`flatten_state`: ``(N, D)`` -> a state shaped like ``like`` (leading axis N)."""
    leaves = tree_leaves(like)
    sizes = [math.prod(leaf.shape[1:]) for leaf in leaves]
    pieces = iter(flat.split(sizes, dim=1))
    return tree_map(lambda leaf: next(pieces).reshape(flat.shape[0], *leaf.shape[1:]), like)


def state_fields(state: Any) -> tuple[str, ...]:
    """Field names of a flat NamedTuple state, e.g. ``("h", "c")``."""
    fields = getattr(state, "_fields", None)
    if fields is None or any(not isinstance(v, Tensor) for v in state):
        raise TypeError(f"state: expected a NamedTuple of tensors, got {type(state).__name__}")
    return tuple(fields)


def time_slice(states: Any, index: int) -> Any:
    """Step ``index`` of per-step states (leaves ``(B, T, ...)`` -> ``(B, ...)``)."""
    return tree_map(lambda s: s[:, index], states)
