"""Which targets of the issues a row is held to (informational marks next to each row, each said in words:
``≤1.15x torch.nn.LSTM at the large size (64,100,256,256) (issue 5 target): met (1.07x)``).

* issue 2: torch-fused configurations (lstm, gru, elman: ``info.fast_path`` is ``FastPath.TORCH``) at most
  1.05x nn.LSTM, every other cell at most 1.3x, at the larger sizes (64, 100, 256, 256) and (64, 100, 512, 512);
* issue 5: every LSTM, GRU and Elman variant (``info.family``) at most 1.15x at (64, 100, 256, 256) and at
  most 1.8x at (32, 100, 64, 128); the peak memory of every LSTM variant at most nn.LSTM's (at every size);
  at least 1.4x faster than torchrecurrent on every cell both libraries have (the registry entry's ``peers``
  name the peer row), at every size: the paired ratio peer step / rnnzoo step of the same rounds;
* issue 8: a row ``name[options]`` whose options include a regulariser (:data:`REGULARISERS`) is timed
  against the plain ``name`` row of the same run (paired, interleaved; the plain row is added if missing);
  with weight drop or variational dropout (:data:`BOUNDED`) it is held to at most 1.15x that row (issue 8
  bounds those two: "a weight-dropped or variational-dropout LSTM"; zoneout and layer normalisation are
  different computations, their ratio is shown without a target).

* issue 11, from the registry entry's ``recurrence`` field (:class:`~rnnzoo.Recurrence`), at the large size
  (64, 100, 256, 256): an elementwise recurrence (SRU, IndRNN, minGRU, minLSTM) at least 2x faster than
  torch.nn.LSTM's train step (time ratio at most 0.5); a matrix recurrence (Mogrifier LSTM, RHN, dRNN, sLSTM)
  at least 75% of torch.nn.LSTM's achieved GFLOP/s (the rate ratio, :mod:`~rnnzoo.bench.flops`: counted
  matrix-product FLOPs of the train step over its median time, divided by nn.LSTM's). Entries without the field
  (the earlier cells) are not held to these.

Targets apply to rnnzoo rows only, eager (not compiled), not spatial. Issue 9 asks that they hold in the
environment a user runs (default threads and OpenMP wait policy), which is what ``rnnzoo bench`` measures by
default.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import rnnzoo
from rnnzoo import Recurrence, wrappers
from rnnzoo.bench.cases import PRESETS, Case, Size

REGULARISERS = frozenset(wrappers.REGULARISERS)
"""Options whose cost is measured relative to the same model without them."""
BOUNDED = frozenset({"variational_dropout", "weight_drop"})
"""Of those, the ones issue 8 bounds at 1.15x the plain model."""
PEER_SPEEDUP = 1.4
"""Issue 5: rnnzoo at least this many times faster than torchrecurrent on every shared cell and size."""
ELEMENTWISE_TIME = 0.5
"""Issue 11: an elementwise recurrence's train step at most this fraction of torch.nn.LSTM's (2x faster)."""
MATRIX_RATE = 0.75
"""Issue 11: a matrix recurrence's achieved GFLOP/s at least this fraction of torch.nn.LSTM's."""

SIZE_WORDS = {PRESETS["1"]: "the small size", PRESETS["2"]: "the large size", PRESETS["3"]: "the largest size"}


def size_words(size: Size) -> str:
    """``"the large size (64,100,256,256)"`` for a preset, ``"(4,8,16,16)"`` otherwise."""
    return f"{SIZE_WORDS[size]} {size}" if size in SIZE_WORDS else str(size)


@dataclass
class Target:
    """An informational target: ``value <= limit`` (``value >= limit`` if ``at_least``), said in words by
    ``label`` (what is compared with what, where; the issue that set it is added by :meth:`mark`)."""

    issue: int
    metric: str
    limit: float
    value: float | None
    label: str = ""
    at_least: bool = False

    @property
    def passed(self) -> bool | None:
        if self.value is None:
            return None
        return self.value >= self.limit if self.at_least else self.value <= self.limit

    def mark(self) -> str:
        """``"<label> (issue N target): met (1.07x)"``, ``MISSED (...)`` or ``not measured``."""
        state = {True: "met", False: "MISSED", None: "not measured"}[self.passed]
        if self.value is not None:
            state += f" ({self.value:.2f}x)"
        return f"{self.label or f'{self.metric} {self.limit:.2f}x'} (issue {self.issue} target): {state}"


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


def peer_rows(case: Case) -> tuple[str, ...]:
    """The peer rows (``torchrecurrent.PeepholeLSTM``) computing the same cell as ``case``: its registry entry's
    ``peers``, for a plain rnnzoo row (a row with options computes another configuration)."""
    if case.source != "rnnzoo" or case.model is None or case.options or case.spatial:
        return ()
    return tuple(rnnzoo.model_info(case.model).peers)


def targets_for(case: Case, size: Size, time_ratio: float | None, mem_ratio: float | None,
                compiled: bool = False, vs_plain: float | None = None,
                vs_peers: dict[str, float] | None = None, rate_ratio: float | None = None) -> list[Target]:
    """The targets of issues 2, 5, 8 and 11 that apply to ``case`` at ``size`` (rnnzoo rows, eager, not
    spatial); ``vs_plain``: the paired time ratio to the plain row (None if not measured); ``vs_peers``: the
    paired speed-up over each peer row measured in the same rounds (peer step / this row's step);
    ``rate_ratio``: this row's GFLOP/s over nn.LSTM's (None if not counted)."""
    if case.source != "rnnzoo" or case.spatial or compiled:
        return []
    out: list[Target] = []
    lstm = "torch.nn.LSTM"
    if size in (PRESETS["2"], PRESETS["3"]):
        limit, what = (1.05, "a torch-kernel configuration") if case.fused else (1.3, "an rnnzoo cell")
        out.append(Target(2, "time", limit, time_ratio, f"≤{limit:.2f}x {lstm} at {size_words(size)}, {what}"))
    if case.family is not None:
        if size == PRESETS["2"]:
            out.append(Target(5, "time", 1.15, time_ratio, f"≤1.15x {lstm} at {size_words(size)}"))
        elif size == PRESETS["1"]:
            out.append(Target(5, "time", 1.8, time_ratio, f"≤1.80x {lstm} at {size_words(size)}"))
        if case.family == "lstm":
            out.append(Target(5, "mem", 1.0, mem_ratio, f"peak memory ≤ {lstm}'s at {size_words(size)}"))
    for peer in peer_rows(case):
        out.append(Target(5, "vs peer", PEER_SPEEDUP, (vs_peers or {}).get(peer),
                          f"≥{PEER_SPEEDUP:.1f}x faster than {peer} at {size_words(size)}", at_least=True))
    if compared_with_plain(case) and BOUNDED & case.options.keys():
        out.append(Target(8, "vs plain", 1.15, vs_plain, f"≤1.15x the plain {case.model} at {size_words(size)}"))
    if size == PRESETS["2"] and case.recurrence is Recurrence.ELEMENTWISE:
        out.append(Target(11, "time", ELEMENTWISE_TIME, time_ratio,
                          f"≤{ELEMENTWISE_TIME:.2f}x {lstm}'s train-step time (2x faster) at {size_words(size)}, "
                          "an elementwise recurrence"))
    if size == PRESETS["2"] and case.recurrence is Recurrence.MATRIX:
        out.append(Target(11, "rate", MATRIX_RATE, rate_ratio,
                          f"≥{MATRIX_RATE:.2f}x {lstm}'s GFLOP/s at {size_words(size)}, a matrix recurrence",
                          at_least=True))
    return out
