"""Pass conditions of a claim (a threshold or an ordering) and the verdict PASS / FAIL / PARTIAL.

A condition is judged on the median over seeds and on every seed: PASS when it holds for the median and
for every seed, PARTIAL when it holds for the median only (or when some of a claim's conditions hold and
others do not), FAIL when it does not hold for the median.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass

from rnnzoo.tasks.base import HIGHER_IS_BETTER  # metrics where a larger value is better (the others: smaller)


@dataclass(frozen=True)
class Threshold:
    """``run``'s metric ``op`` ``value``: ``"<="``, ``">="`` or ``"within"`` (``|m - value| <= rel_tol * value``)."""

    run: str
    op: str
    value: float
    rel_tol: float = 0.0

    def __post_init__(self) -> None:
        if self.op not in ("<=", ">=", "within"):
            raise ValueError(f"op: expected '<=', '>=' or 'within', got {self.op!r}")
        if self.op == "within" and not self.rel_tol > 0:
            raise ValueError(f"rel_tol: expected a number > 0 with op 'within', got {self.rel_tol!r}")

    def holds(self, values: dict[str, float]) -> bool:
        m = values[self.run]
        if self.op == "<=":
            return m <= self.value
        if self.op == ">=":
            return m >= self.value
        return abs(m - self.value) <= self.rel_tol * abs(self.value)

    def describe(self, metric: str) -> str:
        if self.op == "within":
            return f"{self.run} {metric} within {self.rel_tol:.0%} of {self.value:g}"
        return f"{self.run} {metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class Ordering:
    """Every run in ``better`` beats every run in ``worse`` on the metric, by at least ``margin``
    (in the metric's units)."""

    better: tuple[str, ...]
    worse: tuple[str, ...]
    margin: float = 0.0

    def __post_init__(self) -> None:
        if not self.better or not self.worse:
            raise ValueError(f"better, worse: expected non-empty tuples of run labels, got {self.better!r}, "
                             f"{self.worse!r}")
        if self.margin < 0:
            raise ValueError(f"margin: expected a number >= 0, got {self.margin!r}")

    def holds(self, values: dict[str, float], higher_is_better: bool) -> bool:
        sign = 1.0 if higher_is_better else -1.0
        return all(sign * (values[b] - values[w]) > self.margin for b in self.better for w in self.worse)

    def describe(self, metric: str) -> str:
        word = "above" if metric in HIGHER_IS_BETTER else "below"
        by = f" by more than {self.margin:g}" if self.margin else ""
        return f"{' and '.join(self.better)} {word} {' and '.join(self.worse)} in {metric}{by}"


Condition = Threshold | Ordering


def labels_of(condition: Condition) -> tuple[str, ...]:
    """The run labels a condition reads."""
    return (condition.run,) if isinstance(condition, Threshold) else (*condition.better, *condition.worse)


def _holds(condition: Condition, values: dict[str, float], metric: str) -> bool:
    if isinstance(condition, Threshold):
        return condition.holds(values)
    return condition.holds(values, metric in HIGHER_IS_BETTER)


def verdict(conditions: tuple[Condition, ...], per_seed: dict[str, dict[int, float]], metric: str
            ) -> tuple[str, str]:
    """``("PASS" | "FAIL" | "PARTIAL", reason)`` from the measured values ``per_seed[label][seed]``.

    A label with no value (its runs diverged or failed) makes every condition reading it fail.
    """
    if not conditions:
        raise ValueError("conditions: expected at least one condition, got none")
    outcomes: list[str] = []
    reasons: list[str] = []
    for cond in conditions:
        needed = labels_of(cond)
        missing = [label for label in needed if not per_seed.get(label)]
        text = cond.describe(metric)
        if missing:
            outcomes.append("FAIL")
            reasons.append(f"{text}: no finished run of {', '.join(missing)}")
            continue
        medians = {label: statistics.median(per_seed[label].values()) for label in needed}
        if not _holds(cond, medians, metric):
            outcomes.append("FAIL")
            reasons.append(f"{text}: not met by the medians")
            continue
        seeds = sorted(set.intersection(*(set(per_seed[label]) for label in needed)))
        failed = [s for s in seeds if not _holds(cond, {label: per_seed[label][s] for label in needed}, metric)]
        if failed:
            outcomes.append("PARTIAL")
            reasons.append(f"{text}: met by the medians, not by seed(s) {', '.join(map(str, failed))}")
        else:
            outcomes.append("PASS")
            reasons.append(f"{text}: met by the medians and by every seed ({len(seeds)})")
    if all(o == "PASS" for o in outcomes):
        result = "PASS"
    elif all(o == "FAIL" for o in outcomes):
        result = "FAIL"
    else:
        result = "PARTIAL"
    return result, "; ".join(reasons)


__all__ = ["HIGHER_IS_BETTER", "Condition", "Ordering", "Threshold", "labels_of", "verdict"]
