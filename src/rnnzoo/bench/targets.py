"""Which targets of the issues a row is held to (informational marks next to each row).

* issue 2: torch-fused configurations (lstm, gru, elman: ``info.fast_path`` is ``FastPath.TORCH``) at most
  1.05x nn.LSTM, every other cell at most 1.3x, at the larger sizes (64, 100, 256, 256) and (64, 100, 512, 512);
* issue 5: every LSTM, GRU and Elman variant (``info.family``) at most 1.15x at (64, 100, 256, 256) and at
  most 1.8x at (32, 100, 64, 128); the peak memory of every LSTM variant at most nn.LSTM's (at every size);
* issue 8: a row ``name[options]`` whose options include a regulariser (:data:`REGULARISERS`) is timed
  against the plain ``name`` row of the same run (paired, interleaved; the plain row is added if missing);
  with weight drop or variational dropout (:data:`BOUNDED`) it is held to at most 1.15x that row (issue 8
  bounds those two: "a weight-dropped or variational-dropout LSTM"; zoneout and layer normalisation are
  different computations, their ratio is shown without a target).

Targets apply to rnnzoo rows only, eager (not compiled), not spatial.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from rnnzoo import wrappers
from rnnzoo.bench.cases import PRESETS, Case, Size

REGULARISERS = frozenset(wrappers.REGULARISERS)
"""Options whose cost is measured relative to the same model without them."""
BOUNDED = frozenset({"variational_dropout", "weight_drop"})
"""Of those, the ones issue 8 bounds at 1.15x the plain model."""


@dataclass
class Target:
    """An informational target: ``value <= limit``."""

    issue: int
    metric: str
    limit: float
    value: float | None

    @property
    def passed(self) -> bool | None:
        return None if self.value is None else self.value <= self.limit

    def mark(self) -> str:
        state = {True: "ok", False: "FAIL", None: "n/a"}[self.passed]
        return f"#{self.issue} {self.metric}<={self.limit:.2f} {state}"


def compared_with_plain(case: Case) -> bool:
    """Whether ``case`` is held to issue 8's bound against its plain model (its options hold a regulariser)."""
    return case.source == "rnnzoo" and case.model is not None and bool(REGULARISERS & case.options.keys())


def with_plain_rows(cases: Sequence[Case], make: Callable[[str], Case]) -> tuple[list[Case], list[str]]:
    """``cases`` with the plain row ``make(model)`` inserted before the first row compared with it, where the
    run lacks it; and a note per added row."""
    out = list(cases)
    notes: list[str] = []
    for case in cases:
        if compared_with_plain(case) and case.model is not None and all(c.name != case.model for c in out):
            out.insert(out.index(case), make(case.model))
            notes.append(f"{case.model}: benched as the plain row that {case.name} is compared with (issue 8)")
    return out, notes


def targets_for(case: Case, size: Size, time_ratio: float | None, mem_ratio: float | None,
                compiled: bool = False, vs_plain: float | None = None) -> list[Target]:
    """The targets of issues 2, 5 and 8 that apply to ``case`` at ``size`` (rnnzoo rows, eager, not spatial);
    ``vs_plain``: the paired time ratio to the plain row (None if not measured)."""
    if case.source != "rnnzoo" or case.spatial or compiled:
        return []
    out: list[Target] = []
    if size in (PRESETS["2"], PRESETS["3"]):
        out.append(Target(2, "time", 1.05 if case.fused else 1.3, time_ratio))
    if case.family is not None:
        if size == PRESETS["2"]:
            out.append(Target(5, "time", 1.15, time_ratio))
        elif size == PRESETS["1"]:
            out.append(Target(5, "time", 1.8, time_ratio))
        if case.family == "lstm":
            out.append(Target(5, "mem", 1.0, mem_ratio))
    if compared_with_plain(case) and BOUNDED & case.options.keys():
        out.append(Target(8, "vs plain", 1.15, vs_plain))
    return out
