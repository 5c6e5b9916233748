"""How the diagnostics see a model: its layers and cells, and states as flat vectors.

The diagnostics run models through the runner like everyone else (``Stacked.run`` with a step hook
on one layer, ``Stacked.iter_layers`` for a layer's inputs and states, a probe recording for the
gates); this module only walks a model's structure, which every rnnzoo model, layer or cell shares.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.core.cell import Cell
from rnnzoo.core.layers import Recurrent, Stacked
from rnnzoo.core.runner import lengths_to_mask
from rnnzoo.core.tree import tree_leaves, tree_map


def as_stack(model: nn.Module) -> Stacked:
    """``model`` as a :class:`~rnnzoo.core.layers.Stacked` (a cell or a single layer becomes a stack of one)."""
    if isinstance(model, Stacked):
        return model
    if isinstance(model, Cell):
        return Stacked([Recurrent(model)])
    if hasattr(model, "run") and hasattr(model, "causal"):
        return Stacked([model])
    raise TypeError(f"model: expected an rnnzoo model, layer or cell, got {type(model).__name__}")


def causal_stack(model: nn.Module) -> Stacked:
    """:func:`as_stack`, refusing layers that run backwards in time: the gradient and Jacobian
    diagnostics follow gradients from a loss at step t to the steps k <= t before it (001 eq (10))."""
    stack = as_stack(model)
    for i, layer in enumerate(stack.layers):
        if not layer.causal:
            raise ValueError(f"model: layer {i} runs backwards in time; the gradient and Jacobian diagnostics "
                             "need unidirectional (causal) layers")
    return stack


@contextlib.contextmanager
def eval_mode(module: nn.Module) -> Iterator[nn.Module]:
    """``module`` in eval mode for the block (dropout, zoneout and weight drop off), its mode restored after."""
    was = module.training
    module.eval()
    try:
        yield module
    finally:
        module.train(was)


def model_cells(model: nn.Module) -> list[tuple[int, str, Cell]]:
    """``(layer, direction prefix, cell)`` for every cell of ``model`` (an rnnzoo model, layer or cell)."""
    out = []
    for i, layer in enumerate(as_stack(model).layers):
        if hasattr(layer, "forward_layer"):
            out += [(i, "forward.", layer.forward_layer.cell), (i, "backward.", layer.backward_layer.cell)]
        elif isinstance(getattr(layer, "cell", None), Cell):
            out.append((i, "", layer.cell))
    return out


def batch_first_run(stack: Stacked, x: Tensor, **kwargs: Any) -> Any:
    """``stack.run`` on batch-first ``x`` whatever the stack's layout; the output comes back batch-first."""
    if stack.batch_first:
        return stack.run(x, **kwargs)
    out = stack.run(x.transpose(0, 1), **kwargs)
    return out._replace(output=out.output.transpose(0, 1))


def valid_mask(x: Tensor, lengths: Tensor | None) -> Tensor:
    """``(B, T)`` boolean, True on valid steps."""
    batch, steps = x.shape[:2]
    if lengths is None:
        return torch.ones(batch, steps, dtype=torch.bool, device=x.device)
    return lengths_to_mask(torch.as_tensor(lengths, device=x.device), steps)


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
