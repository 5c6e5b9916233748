"""Argument checks shared by the cells and ``create``: each error names the argument, what was
expected and what came."""

from __future__ import annotations

import math
from typing import Any


def positive_int(name: str, value: Any) -> int:
    """``value`` if it is an int >= 1 (bools refused)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return value


def boolean(name: str, value: Any) -> bool:
    """``value`` if it is a bool (``"no"`` is not False)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True or False, got {value!r}")
    return value


def real(name: str, value: Any, *, optional: bool = False) -> float | None:
    """``value`` as a float if it is a finite real number (or None when ``optional``)."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TypeError(f"{name}: expected a finite real number{' or None' if optional else ''}, got {value!r}")
    return float(value)


def check_cell_args(input_size: Any, hidden_size: Any, **flags: Any) -> None:
    """The sizes every cell takes, and its boolean options by name."""
    positive_int("input_size", input_size)
    positive_int("hidden_size", hidden_size)
    for name, value in flags.items():
        boolean(name, value)


def probability(name: str, value: Any) -> float:
    """``value`` as a float if it is a real number in [0, 1) (a dropout or zoneout rate; 1 would drop
    or freeze everything)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= float(value) < 1.0:
        raise ValueError(f"{name}: expected a probability in [0, 1), got {value!r}")
    return float(value)
