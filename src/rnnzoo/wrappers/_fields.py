"""What the wrappers share about a cell's state: its named fields, masks drawn for them, and a probe.

A *field* is a field of a NamedTuple state (``"h"``, ``"c"`` of an ``LSTMState``); a state that is one
tensor (or a plain tuple, list or dict) is one field, named None here: the whole state.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor

from rnnzoo.core.cell import Cell
from rnnzoo.core.spec import TensorSpec, is_spec
from rnnzoo.core.tree import is_namedtuple, tree_leaves, tree_map

Field = str | None


def probe_spec(cell: Cell, input_shape: Any = None) -> Any | None:
    """The state spec of a batch of one, or None when ``cell`` cannot size its state here.

    Spatial cells size their state from the input; without ``input_shape`` a square input of 16
    pixels a side is tried (what the fields and their channel counts are does not depend on it)."""
    shapes = [input_shape]
    if input_shape is None and cell.feature_dims > 1:
        shapes.append((cell.input_size, *([16] * (cell.feature_dims - 1))))
    for shape in shapes:
        try:
            return cell.state_spec(1, input_shape=shape)
        except (ValueError, TypeError, NotImplementedError):
            continue
    return None


def field_names(spec: Any) -> tuple[str, ...] | None:
    """The fields of a NamedTuple state (spec); None for any other state."""
    return tuple(spec._fields) if is_namedtuple(spec) else None


def default_field(spec: Any) -> Field:
    """``"h"`` if the state has such a field, else its first field (None: the whole state)."""
    names = field_names(spec)
    if names is None:
        return None
    return "h" if "h" in names else names[0]


def resolve_fields(arg: str, fields: str | Sequence[str] | None, spec: Any, owner: str) -> tuple[Field, ...]:
    """Validate the fields named by argument ``arg`` against a state ``spec`` of ``owner`` (a cell's
    name); None means :func:`default_field`."""
    if fields is None:
        return (default_field(spec),)
    wanted = [fields] if isinstance(fields, str) else list(fields)
    if not wanted or not all(isinstance(f, str) for f in wanted):
        raise TypeError(f"{arg}: expected a field name or a sequence of field names, got {fields!r}")
    names = field_names(spec)
    if names is None:
        raise ValueError(f"{arg}: {owner}'s state is a {type(spec).__name__}, not a NamedTuple with named fields; "
                         f"leave {arg}=None to act on the whole state, got {fields!r}")
    for f in wanted:
        if f not in names:
            raise ValueError(f"{arg}: {owner}'s state has the fields {', '.join(names)}; got {f!r}")
    return tuple(dict.fromkeys(wanted))


def get_field(state: Any, field: Field) -> Any:
    return state if field is None else getattr(state, field)


def put_field(state: Any, field: Field, value: Any) -> Any:
    return value if field is None else state._replace(**{field: value})


def is_floating(spec: TensorSpec) -> bool:
    """Whether a state tensor is floating (an open dtype is the run's floating dtype)."""
    return spec.dtype is None or spec.dtype.is_floating_point


def bernoulli_mask(shape: Sequence[int], keep: float, *, device: Any, dtype: torch.dtype) -> Tensor:
    """Inverted-dropout mask: ``1 / keep`` with probability ``keep``, else 0 (so its mean is 1)."""
    return torch.empty(tuple(shape), device=device, dtype=dtype).bernoulli_(keep).div_(keep)


def masks_for(spec: Any, keep: float, *, device: Any, dtype: torch.dtype) -> Any:
    """A mask per floating tensor of a state (sub)tree's ``spec`` (None for the others)."""
    return tree_map(lambda s: bernoulli_mask(s.shape, keep, device=device, dtype=dtype) if is_floating(s) else None,
                    spec, is_leaf=is_spec)


def apply_masks(tree: Any, masks: Any) -> Any:
    """``tree`` times ``masks`` leaf by leaf (leaves whose mask is None, or that are not floating, kept)."""
    return tree_map(lambda t, m: t if m is None or not t.is_floating_point() else t * m, tree, masks)


def is_shape(obj: Any) -> bool:
    """A trailing shape (a tuple of ints): a leaf of a structured input's ``input_shape``."""
    return isinstance(obj, tuple) and all(isinstance(i, int) and not isinstance(i, bool) for i in obj)


def output_shape(cell: Cell, spec: Any) -> tuple[int, ...]:
    """A step output's shape ``(B, output_size, *spatial)``: the spatial axes are the first state
    tensor's (the convention :class:`~rnnzoo.core.layers.Stacked` sizes its layers by)."""
    first = tree_leaves(spec, is_leaf=is_spec)[0]
    return (first.shape[0], cell.output_size, *first.shape[2:])
