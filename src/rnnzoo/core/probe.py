"""Probes: a cell reports its internals (gates) from inside its own step, in the spirit of flax's ``sow``.

A cell calls ``self.report("f", f, kind="sigmoid")`` where it computes its forget gate. Nothing
happens unless a :func:`record` block is active, so the cost in ordinary runs is one check of a
module-level list. Inside a ``record`` block the runner takes the step loop (fast paths do not
call ``step``) and tells the recorder which batch elements are valid at each step, so a recording
never mixes in the values a cell computed on padding.

>>> import torch, rnnzoo
>>> from rnnzoo.core import probe
>>> cell = rnnzoo.LSTMCell(3, 4)
>>> with probe.record() as rec:
...     _ = rnnzoo.run(cell, torch.randn(2, 5, 3), lengths=[5, 2])
>>> sorted(rec.names(cell))
['f', 'g', 'i', 'o', 'tanh(c)']
>>> rec.valid(cell, "f").shape   # the 7 valid (example, step) pairs, 4 units each
torch.Size([7, 4])
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

import torch
from torch import Tensor, nn

_ACTIVE: list[Recorder] = []


@dataclass
class Report:
    """One named internal of one cell across a run: per-step values ``(B, *S)``, the matching
    validity masks ``(B,)`` (None: every element valid) and the activation kind deciding what
    counts as saturated (``"sigmoid"``, ``"tanh"``, ``"relu"``, ``"linear"``, ...)."""

    kind: str
    values: list[Tensor] = field(default_factory=list)
    masks: list[Tensor | None] = field(default_factory=list)

    def stacked(self) -> Tensor:
        """``(T, B, *S)``: the values in the order the steps ran."""
        return torch.stack(self.values, 0)

    def valid(self) -> Tensor:
        """``(N, *S)``: the values of valid (example, step) pairs only."""
        rows = [v if m is None else v[m] for v, m in zip(self.values, self.masks, strict=True)]
        return torch.cat(rows, 0)


class Recorder:
    """What the cells reported inside one :func:`record` block, per cell and name."""

    def __init__(self) -> None:
        self._reports: dict[int, dict[str, Report]] = {}
        self._cells: dict[int, nn.Module] = {}
        self.mask: Tensor | None = None  # the validity of the step being run, set by the runner

    def add(self, cell: nn.Module, name: str, value: Tensor, kind: str) -> None:
        key = id(cell)
        self._cells[key] = cell
        reports = self._reports.setdefault(key, {})
        rep = reports.get(name)
        if rep is None:
            rep = reports[name] = Report(kind)
        rep.values.append(value.detach())
        rep.masks.append(self.mask)

    def cells(self) -> list[nn.Module]:
        """The cells that reported, in the order they first did."""
        return list(self._cells.values())

    def names(self, cell: nn.Module) -> list[str]:
        """The names ``cell`` reported, in the order it first did."""
        return list(self._reports.get(id(cell), {}))

    def report(self, cell: nn.Module, name: str) -> Report:
        try:
            return self._reports[id(cell)][name]
        except KeyError:
            raise KeyError(f"name: {type(cell).__name__} reported no {name!r} "
                           f"(it reported {self.names(cell)})") from None

    def valid(self, cell: nn.Module, name: str) -> Tensor:
        """``(N, *S)``: the values of ``name`` at valid (example, step) pairs."""
        return self.report(cell, name).valid()

    def within(self, module: nn.Module) -> dict[str, Report]:
        """Every report made by ``module`` or a cell inside it (a wrapper's inner cell, a stack's
        cells), named by where it sits: ``"f"`` for a wrapped LSTM's forget gate (wrappers add no
        prefix), ``"layers.1.f"`` for the second cell of a :class:`~rnnzoo.core.deep.DeepCell`."""
        out: dict[str, Report] = {}
        for path, sub in module.named_modules():
            parts = [p for p in path.split(".") if p and p != "inner"]
            prefix = ".".join(parts) + "." if parts else ""
            for name, rep in self._reports.get(id(sub), {}).items():
                out[prefix + name] = rep
        return out


@contextlib.contextmanager
def record() -> Iterator[Recorder]:
    """Collect every report made inside the block (nested blocks each collect everything)."""
    rec = Recorder()
    _ACTIVE.append(rec)
    try:
        yield rec
    finally:
        _ACTIVE.remove(rec)


def recording() -> bool:
    """True inside a :func:`record` block."""
    return bool(_ACTIVE)


def sow(cell: nn.Module, name: str, value: Tensor, kind: str) -> None:
    """Report ``value`` (``(B, *S)``, one step) as ``cell``'s internal ``name``; a no-op unless recording."""
    for rec in _ACTIVE:
        rec.add(cell, name, value, kind)


def set_step_mask(mask: Tensor | None) -> None:
    """The runner's call before each step: which batch elements the step's reports are valid for."""
    for rec in _ACTIVE:
        rec.mask = mask


def step_mask() -> Tensor | None:
    """The validity mask the runner set for the step being run (None outside a recording)."""
    return _ACTIVE[0].mask if _ACTIVE else None
