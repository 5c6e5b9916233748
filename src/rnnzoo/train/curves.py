"""Learning curves of a run: ``curves.png`` in the run directory (matplotlib, Agg backend).

From ``metrics.csv``: the training loss averaged over the updates between two validations (with
``--epochs`` and the default ``--val-every``, one point per epoch), shown in the monitored metric's unit
when it is a function of the cross-entropy (perplexity = exp(loss), bpc = loss / ln 2), beside the valid
metric at each validation.
"""

from __future__ import annotations

import csv
import math
from pathlib import Path

__all__ = ["curve_points", "save_curves"]

_FROM_CE = {"perplexity": lambda v: math.exp(min(v, 50.0)), "bpc": lambda v: v / math.log(2.0),
            "cross_entropy": lambda v: v}


def _float(text: str | None) -> float | None:
    try:
        return float(text) if text not in (None, "") else None
    except ValueError:
        return None


def curve_points(rows: list[dict[str, str]], monitor: str) -> tuple[list[float], list[float], list[float]]:
    """``(train, valid, steps)``: per validation, the mean training loss since the previous one (converted to
    ``monitor``'s unit where it can be), the valid value and the step."""
    train, valid, steps, pending = [], [], [], []
    for row in rows:
        loss = _float(row.get("train/loss"))
        if loss is not None:
            pending.append(loss)
        value = _float(row.get(f"valid/{monitor}"))
        if value is not None:
            mean = sum(pending) / len(pending) if pending else math.nan
            train.append(_FROM_CE.get(monitor, lambda v: v)(mean) if pending else math.nan)
            valid.append(value)
            steps.append(_float(row.get("step")) or 0.0)
            pending = []
    return train, valid, steps


def save_curves(run_dir: Path, monitor: str) -> Path | None:
    """Write ``run_dir/curves.png`` from ``run_dir/metrics.csv``; None when there is nothing to plot (no
    validation yet) or matplotlib is not installed."""
    table = run_dir / "metrics.csv"
    if not table.exists():
        return None
    with table.open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    train, valid, _ = curve_points(rows, monitor)
    if not valid:
        return None
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(6, 4))
    x = list(range(1, len(valid) + 1))
    converted = monitor in _FROM_CE
    ax.plot(x, train, "o-", label=f"train ({monitor})" if converted else "train loss")
    ax.plot(x, valid, "s-", label=f"valid {monitor}")
    ax.set_xlabel("validation (epoch with --epochs)")
    ax.set_ylabel(monitor)
    if monitor == "perplexity":
        ax.set_yscale("log")
    ax.legend()
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    out = run_dir / "curves.png"
    fig.savefig(out, dpi=100)
    plt.close(fig)
    return out
