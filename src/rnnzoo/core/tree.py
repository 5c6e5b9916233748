"""Small helpers over recurrent states.

A state is a NamedTuple of tensors, or a (named) tuple of such states for wrappers (bidirectional,
stacked). These helpers map a function over every tensor of such a nested structure while keeping the
NamedTuple types, so the runner treats an LSTM's ``(h, c)``, an NTM's memory and a stacked model's
per-layer states alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def tree_map(fn: Callable[..., Tensor | None], tree: Any, *rest: Any) -> Any:
    """Apply ``fn`` to every tensor leaf of ``tree`` (and the matching leaves of ``rest``).

    ``None`` leaves stay ``None``. NamedTuple and tuple/list containers keep their type.
    """
    if isinstance(tree, Tensor):
        return fn(tree, *rest)
    if tree is None:
        return None
    if _is_namedtuple(tree):
        return type(tree)(*(tree_map(fn, *items) for items in zip(tree, *rest, strict=True)))
    if isinstance(tree, (tuple, list)):
        return type(tree)(tree_map(fn, *items) for items in zip(tree, *rest, strict=True))
    raise TypeError(f"state: expected a tensor or a (named) tuple of tensors, got {type(tree).__name__}")


def tree_leaves(tree: Any) -> list[Tensor]:
    """All tensor leaves of a nested state, in order."""
    if isinstance(tree, Tensor):
        return [tree]
    if tree is None:
        return []
    if isinstance(tree, (tuple, list)):
        out: list[Tensor] = []
        for item in tree:
            out.extend(tree_leaves(item))
        return out
    raise TypeError(f"state: expected a tensor or a (named) tuple of tensors, got {type(tree).__name__}")


def tree_where(cond: Tensor, new: Any, old: Any) -> Any:
    """Per batch element, take ``new`` where ``cond`` (shape (B,)) is True, else ``old``."""

    def pick(a: Tensor, b: Tensor) -> Tensor:
        return torch.where(cond.view(-1, *([1] * (a.dim() - 1))), a, b)

    return tree_map(pick, new, old)


def tree_stack(states: list[Any], dim: int) -> Any:
    """Stack a list of states (one per time step) into one state whose leaves gain a time axis."""
    return tree_map(lambda *xs: torch.stack(xs, dim), states[0], *states[1:])


def autocast_enabled(device_type: str) -> bool:
    """True inside ``torch.autocast`` for ``device_type``, where mixed dtypes are expected."""
    return torch.is_autocast_enabled(device_type)


def check_state(name: str, given: Any, expected: Any) -> None:
    """Raise if ``given`` does not have the structure, dtype class and shapes of ``expected``.

    Nothing is broadcast: a state of shape (H,) for a batch of 4 is an error, not a copy.
    """
    if isinstance(expected, Tensor):
        if not isinstance(given, Tensor):
            raise TypeError(f"{name}: expected a tensor of shape {tuple(expected.shape)}, got {type(given).__name__}")
        if tuple(given.shape) != tuple(expected.shape):
            raise ValueError(
                f"{name}: expected shape {tuple(expected.shape)}, got {tuple(given.shape)}"
            )
        mixed_ok = autocast_enabled(expected.device.type) and given.is_floating_point()
        if (given.dtype != expected.dtype and not mixed_ok) or given.device != expected.device:
            raise TypeError(
                f"{name}: expected dtype {expected.dtype} on {expected.device} (the input's), "
                f"got dtype {given.dtype} on {given.device}"
            )
        return
    if _is_namedtuple(expected):
        if type(given) is not type(expected):
            raise TypeError(
                f"{name}: expected a {type(expected).__name__}{tuple(expected._fields)}, "
                f"got {type(given).__name__}"
                + (f"{tuple(given._fields)}" if _is_namedtuple(given) else "")
            )
        for field, g, e in zip(expected._fields, given, expected, strict=True):
            check_state(f"{name}.{field}", g, e)
        return
    if isinstance(expected, (tuple, list)):
        if not isinstance(given, (tuple, list)) or len(given) != len(expected):
            raise TypeError(
                f"{name}: expected a sequence of {len(expected)} states, got {type(given).__name__}"
                + (f" of length {len(given)}" if isinstance(given, (tuple, list)) else "")
            )
        for i, (g, e) in enumerate(zip(given, expected, strict=True)):
            check_state(f"{name}[{i}]", g, e)
        return
    if expected is None:
        return
    raise TypeError(f"{name}: unsupported state structure {type(expected).__name__}")
