"""``rnnzoo compare``: train every model x task x sequence length x seed, then tabulate and plot.

Each combination is an ordinary run in ``RUN_DIR/<model>-<task>-T<seq_len>-s<seed>``; the comparison
writes ``compare.csv`` (one row per run), ``compare.md`` (per task: the test value of the task's first
metric per model and length, mean +- std over seeds, and the trivial baseline) and ``compare.png``
(that metric against the sequence length, one line per model, the baseline dashed).

The runs go through :func:`rnnzoo.train.sweep.run_sweep`: one after another in this process, or concurrently
on Ray (``--workers N``, ``--ray-address``); the same ``--run-dir`` again skips the finished runs and retries the
failed ones (docs/sweeps.md).
"""

from __future__ import annotations

import csv
import datetime as _dt
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

from rnnzoo.train.build import build_model, build_task
from rnnzoo.train.config import TrainConfig, layer
from rnnzoo.train.metrics import derived_baseline
from rnnzoo.train.run import Interrupted, monitor_of
from rnnzoo.train.sweep import Outcome, Plan, run_sweep


def _layer(base: dict[str, Any], explicit: dict[str, Any], **grid: Any) -> TrainConfig:
    return TrainConfig.from_dict(layer(layer(base, grid), explicit))


def compare(base: TrainConfig, explicit: dict[str, Any], *, models: list[str], tasks: list[str] | None,
            seq_lens: list[int] | None, seeds: list[int], run_dir: str | Path | None = None,
            overwrite: bool = False, workers: int | None = None, ray_address: str | None = None,
            echo: Callable[[str], None] = print) -> Path:
    """Run the grid and write ``compare.{csv,md,png}`` into ``run_dir``; returns ``run_dir``.

    ``base`` is the resolved configuration (default job <- --config <- flags) and ``explicit`` the flags
    given, which win over the grid's per-run changes of model/task (see :func:`rnnzoo.train.config.layer`).
    The runs go through :func:`rnnzoo.train.sweep.run_sweep` (``workers``, ``ray_address``: in this process or on
    Ray); a ``run_dir`` used before resumes the comparison: finished runs of the same configuration are read back,
    failed ones retrained, interrupted ones resumed (``overwrite``: retrain everything). A failed run is a row whose
    status says why; the others are not lost.
    """
    tasks = tasks or [base.task]
    root = Path(run_dir) if run_dir is not None else _new_dir(Path("runs"))
    # check every combination before training anything
    plans: list[Plan] = []
    for task in tasks:
        lens: list[int | None] = list(seq_lens) if seq_lens else [base.seq_len if task == base.task else None]
        for model in models:
            for T in lens:
                for seed in seeds:
                    grid: dict[str, Any] = {"model": model, "task": task, "seed": seed}
                    if T is not None or task != base.task:
                        grid["seq_len"] = T
                    cfg = _layer(base.to_dict(), explicit, **grid)
                    t = build_task(cfg)
                    build_model(cfg, t)
                    monitor_of(cfg, t)
                    plans.append(Plan(cfg, root / f"{model}-{t.name}-T{t.seq_len}-s{seed}"))
    rows: dict[int, dict[str, Any]] = {}

    def collect(i: int, outcome: Outcome) -> None:
        rows[i] = _row(plans[i], outcome)

    try:
        run_sweep(plans, workers=workers, ray_address=ray_address, overwrite=overwrite, echo=echo,
                  refuse_hint=", or pass --overwrite to retrain every run", on_outcome=collect)
    except (Interrupted, KeyboardInterrupt):
        if rows:
            root.mkdir(parents=True, exist_ok=True)
            write_tables(root, [rows[i] for i in sorted(rows)])
        raise
    root.mkdir(parents=True, exist_ok=True)
    write_tables(root, [rows[i] for i in sorted(rows)])
    return root


def _row(plan: Plan, outcome: Outcome) -> dict[str, Any]:
    """One row of ``compare.csv``: what ran, its status, its metrics and the task's baseline."""
    cfg = plan.cfg
    task = build_task(cfg)
    metric = monitor_of(cfg, task)
    row: dict[str, Any] = {"model": cfg.model, "task": task.name, "seq_len": task.seq_len,
                           "seed": cfg.seed, "metric": metric, "run_dir": str(plan.run_dir), "status": outcome.label}
    res = outcome.results
    if outcome.status == "ok" and res is not None:
        row.update(steps=res["steps"], wall_seconds=res["wall_seconds"], parameters=res["parameters"])
        row.update({f"test_{k}": v for k, v in res["test"].items()})
        row.update({f"valid_{k}": v for k, v in res["valid"].items()})
    row.update({f"baseline_{k}": v for k, v in derived_baseline(task.baseline()).items()})
    return row


def _new_dir(parent: Path) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = parent / f"compare-{stamp}", 1
    while path.exists():
        path = parent / f"compare-{stamp}-{n}"
        n += 1
    return path


def _fmt(values: list[float]) -> str:
    if not values:
        return "failed"
    if len(values) == 1:
        return f"{values[0]:.4g}"
    return f"{statistics.mean(values):.4g} ± {statistics.stdev(values):.2g}"


def write_tables(root: Path, rows: list[dict[str, Any]]) -> None:
    """Write ``compare.csv``, ``compare.md`` and ``compare.png`` for the rows run so far."""
    header: list[str] = []
    for row in rows:
        header += [k for k in row if k not in header]
    with (root / "compare.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header or ["model"])
        writer.writeheader()
        writer.writerows(rows)

    lines = ["# rnnzoo compare", ""]
    for task in dict.fromkeys(r["task"] for r in rows):
        sub = [r for r in rows if r["task"] == task]
        metric = sub[0]["metric"]
        lens = sorted({r["seq_len"] for r in sub})
        lines += [f"## {task}: test {metric}", "", "| model | " + " | ".join(f"T={T}" for T in lens) + " |",
                  "|---|" + "---|" * len(lens)]
        for model in dict.fromkeys(r["model"] for r in sub):
            cells = []
            for T in lens:
                vals = [r[f"test_{metric}"] for r in sub
                        if r["model"] == model and r["seq_len"] == T and r.get("status") == "ok"]
                cells.append(_fmt(vals))
            lines.append(f"| {model} | " + " | ".join(cells) + " |")
        base = []
        for T in lens:
            b = [r.get(f"baseline_{metric}") for r in sub if r["seq_len"] == T]
            base.append(f"{b[0]:.4g}" if b and b[0] is not None else "")
        lines += ["| *baseline* | " + " | ".join(base) + " |", ""]
        seeds = sorted({r["seed"] for r in sub})
        lines += [f"Seeds: {', '.join(map(str, seeds))} (mean ± std over seeds). Runs: {len(sub)}.", ""]
    (root / "compare.md").write_text("\n".join(lines))
    plot(root / "compare.png", rows)


def plot(path: Path, rows: list[dict[str, Any]]) -> None:
    """Metric vs sequence length, one line per model, baseline dashed; one panel per task."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = list(dict.fromkeys(r["task"] for r in rows)) or ["(no runs)"]
    fig, axes = plt.subplots(1, len(tasks), figsize=(5 * len(tasks), 3.8), squeeze=False)
    for ax, task in zip(axes[0], tasks, strict=True):
        sub = [r for r in rows if r["task"] == task]
        if not sub:
            continue
        metric = sub[0]["metric"]
        lens = sorted({r["seq_len"] for r in sub})
        for model in dict.fromkeys(r["model"] for r in sub):
            xs, ys, es = [], [], []
            for T in lens:
                vals = [r[f"test_{metric}"] for r in sub
                        if r["model"] == model and r["seq_len"] == T and r.get("status") == "ok"]
                if vals:
                    xs.append(T)
                    ys.append(statistics.mean(vals))
                    es.append(statistics.stdev(vals) if len(vals) > 1 else 0.0)
            if xs:
                ax.errorbar(xs, ys, yerr=es, marker="o", capsize=3, label=model)
        by = [next((r.get(f"baseline_{metric}") for r in sub if r["seq_len"] == T), math.nan) for T in lens]
        ax.plot(lens, by, "k--", label="baseline")
        ax.set_xlabel("sequence length T")
        ax.set_ylabel(f"test {metric}")
        ax.set_title(task)
        if metric == "mse":
            ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


__all__ = ["compare", "plot", "write_tables"]
