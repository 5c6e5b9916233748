"""Small helpers over pytrees of tensors: states, structured inputs and contexts.

A pytree here is a tensor, ``None``, or a tuple, NamedTuple, list or dict of pytrees (the containers
haiku's ``dynamic_unroll`` and flax's ``RNN`` accept). A recurrent state is such a tree (an LSTM's
``LSTMState(h, c)``, a stacked model's per-layer states, an NTM's memory and weightings); so is a
structured step input (a stack LSTM's ``(token, action)`` pair) and a per-run context (encoder outputs
and their mask). These helpers map a function over every tensor leaf while keeping the container
types, so the runner treats all of them alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

IsLeaf = Callable[[Any], bool]


def is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def _unsupported(tree: Any, what: str) -> TypeError:
    return TypeError(f"{what}: expected a tensor or a tuple/NamedTuple/list/dict of tensors, "
                     f"got {type(tree).__name__}")


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any, is_leaf: IsLeaf | None = None,
             what: str = "state") -> Any:
    """Apply ``fn`` to every leaf of ``tree`` (and the matching leaves of ``rest``).

    Leaves are tensors (or whatever ``is_leaf`` accepts). ``None`` stays ``None``. NamedTuple,
    tuple, list and dict containers keep their type (dicts their keys; ``rest`` must match them).
    """
    if (is_leaf is not None and is_leaf(tree)) or isinstance(tree, Tensor):
        return fn(tree, *rest)
    if tree is None:
        return None
    if is_namedtuple(tree):
        return type(tree)(*(tree_map(fn, *items, is_leaf=is_leaf, what=what)
                            for items in zip(tree, *rest, strict=True)))
    if isinstance(tree, (tuple, list)):
        return type(tree)(tree_map(fn, *items, is_leaf=is_leaf, what=what) for items in zip(tree, *rest, strict=True))
    if isinstance(tree, dict):
        for other in rest:
            if not isinstance(other, dict) or other.keys() != tree.keys():
                raise ValueError(f"{what}: expected a dict with keys {sorted(tree)}, got "
                                 f"{sorted(other) if isinstance(other, dict) else type(other).__name__}")
        return {k: tree_map(fn, v, *(o[k] for o in rest), is_leaf=is_leaf, what=what) for k, v in tree.items()}
    raise _unsupported(tree, what)


def tree_leaves(tree: Any, *, is_leaf: IsLeaf | None = None, what: str = "state") -> list[Any]:
    """All leaves of a pytree, in order (dicts in insertion order)."""
    if (is_leaf is not None and is_leaf(tree)) or isinstance(tree, Tensor):
        return [tree]
    if tree is None:
        return []
    if isinstance(tree, (tuple, list)):
        out: list[Any] = []
        for item in tree:
            out.extend(tree_leaves(item, is_leaf=is_leaf, what=what))
        return out
    if isinstance(tree, dict):
        out = []
        for item in tree.values():
            out.extend(tree_leaves(item, is_leaf=is_leaf, what=what))
        return out
    raise _unsupported(tree, what)


def tree_where(cond: Tensor, new: Any, old: Any) -> Any:
    """Per batch element, take ``new`` where ``cond`` (shape (B,)) is True, else ``old``."""

    def pick(a: Tensor, b: Tensor) -> Tensor:
        return torch.where(cond.view(-1, *([1] * (a.dim() - 1))), a, b)

    return tree_map(pick, new, old)


def tree_stack(trees: list[Any], dim: int) -> Any:
    """Stack a list of pytrees (one per time step) into one whose leaves gain an axis at ``dim``."""
    return tree_map(lambda *xs: torch.stack(xs, dim), trees[0], *trees[1:])


def tree_detach(tree: Any) -> Any:
    """Every tensor of a pytree detached (truncated BPTT between chunks); None stays None."""
    return tree_map(lambda t: t.detach(), tree)


def autocast_enabled(device_type: str) -> bool:
    """True inside ``torch.autocast`` for ``device_type``, where mixed dtypes are expected."""
    try:
        return torch.is_autocast_enabled(device_type)
    except RuntimeError:  # a device type without autocast (meta): never inside it
        return False
