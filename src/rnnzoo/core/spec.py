"""State specifications: what a state looks like, without allocating it.

``Cell.state_spec(batch_size, input_shape=...)`` returns the state's structure with a
:class:`TensorSpec` (shape and, optionally, dtype) in place of every tensor. The runner validates a
given state against it and builds the zero state from it, so neither validation nor a user's
``initial_state`` allocates a memory matrix or draws a random mask on every call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from rnnzoo.core.tree import autocast_enabled, is_namedtuple, tree_map


@dataclass(frozen=True)
class TensorSpec:
    """One state tensor: its shape and dtype (None: the run's floating dtype, i.e. the input's)."""

    shape: tuple[int, ...]
    dtype: torch.dtype | None = None

    def zeros(self, *, device: torch.device | str | None, dtype: torch.dtype | None) -> Tensor:
        return torch.zeros(self.shape, device=device, dtype=self.dtype or dtype)


def is_spec(obj: Any) -> bool:
    return isinstance(obj, TensorSpec)


def spec_of(state: Any, *, keep_dtype: bool = False) -> Any:
    """The spec of an actual state (leaves become :class:`TensorSpec`); floating dtypes are left
    open (None) unless ``keep_dtype``, integer and boolean dtypes are kept."""

    def leaf(t: Tensor) -> TensorSpec:
        keep = keep_dtype or not t.is_floating_point()
        return TensorSpec(tuple(t.shape), t.dtype if keep else None)

    return tree_map(leaf, state)


def zeros_like_spec(spec: Any, *, device: torch.device | str | None = None,
                    dtype: torch.dtype | None = None) -> Any:
    """The zero state of ``spec`` on ``device``; open dtypes become ``dtype``."""
    return tree_map(lambda s: s.zeros(device=device, dtype=dtype), spec, is_leaf=is_spec)


def map_spec(fn: Any, spec: Any) -> Any:
    """``fn(TensorSpec) -> TensorSpec`` over every leaf of ``spec``."""
    return tree_map(fn, spec, is_leaf=is_spec)


def check_state(name: str, given: Any, spec: Any, *, device: torch.device | None,
                dtype: torch.dtype | None) -> None:
    """Raise if ``given`` does not have the structure, shapes, dtypes and device of ``spec``.

    ``dtype`` is the run's floating dtype for the spec's open dtypes (None: any floating dtype) and
    ``device`` the run's device (None: not checked). Nothing is broadcast: a state of shape (H,)
    for a batch of 4 is an error, not a copy.
    """
    if isinstance(spec, TensorSpec):
        if not isinstance(given, Tensor):
            raise TypeError(f"{name}: expected a tensor of shape {spec.shape}, got {type(given).__name__}")
        if tuple(given.shape) != spec.shape:
            raise ValueError(f"{name}: expected shape {spec.shape}, got {tuple(given.shape)}")
        want = spec.dtype or dtype
        mixed_ok = device is not None and autocast_enabled(torch.device(device).type) and given.is_floating_point()
        if spec.dtype is None and want is None:
            dtype_ok = given.is_floating_point()
        else:
            dtype_ok = given.dtype == want or (mixed_ok and spec.dtype is None)
        if not dtype_ok or (device is not None and given.device != torch.device(device)):
            where = f" on {device}" if device is not None else ""
            raise TypeError(f"{name}: expected dtype {want or 'floating'}{where} (the input's), "
                            f"got dtype {given.dtype} on {given.device}")
        return
    if is_namedtuple(spec):
        if type(given) is not type(spec):
            raise TypeError(
                f"{name}: expected a {type(spec).__name__}{tuple(spec._fields)}, got {type(given).__name__}"
                + (f"{tuple(given._fields)}" if is_namedtuple(given) else "")
            )
        for field, g, e in zip(spec._fields, given, spec, strict=True):
            check_state(f"{name}.{field}", g, e, device=device, dtype=dtype)
        return
    if isinstance(spec, (tuple, list)):
        if not isinstance(given, (tuple, list)) or len(given) != len(spec):
            raise TypeError(
                f"{name}: expected a sequence of {len(spec)} states, got {type(given).__name__}"
                + (f" of length {len(given)}" if isinstance(given, (tuple, list)) else "")
            )
        for i, (g, e) in enumerate(zip(given, spec, strict=True)):
            check_state(f"{name}[{i}]", g, e, device=device, dtype=dtype)
        return
    if isinstance(spec, dict):
        if not isinstance(given, dict) or given.keys() != spec.keys():
            raise TypeError(f"{name}: expected a dict with keys {sorted(spec)}, got "
                            f"{sorted(given) if isinstance(given, dict) else type(given).__name__}")
        for key in spec:
            check_state(f"{name}[{key!r}]", given[key], spec[key], device=device, dtype=dtype)
        return
    if spec is None:
        if given is not None:
            raise TypeError(f"{name}: expected None, got {type(given).__name__}")
        return
    raise TypeError(f"{name}: unsupported state structure {type(spec).__name__}")


def unbatched_state(spec: Any, state: Any, *, device: torch.device | None, dtype: torch.dtype | None) -> Any:
    """Check a state without batch axis against the spec of a batch of one (``spec``), then add the axis."""
    one = map_spec(lambda s: TensorSpec(s.shape[1:], s.dtype), spec)
    check_state("state", state, one, device=device, dtype=dtype)
    return tree_map(lambda t: t.unsqueeze(0), state)
