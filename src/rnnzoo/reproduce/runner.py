"""Run a claim: every run x seed through :func:`rnnzoo.train.train`, then published vs measured and a verdict.

``RUN_DIR/<label>-s<seed>/`` holds each training run; ``RUN_DIR/reproduce.json`` and ``reproduce.md`` the summary.
The runs go through :func:`rnnzoo.train.sweep.run_sweep` (in this process, or on Ray with ``--workers N`` /
``--ray-address``). The same ``--run-dir`` again reads the finished runs back and retries the failed ones; a run
directory holding a run of another configuration is never overwritten (refused before anything trains).
"""

from __future__ import annotations

import datetime as _dt
import json
import math
import statistics
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from rnnzoo.reproduce.claims import Claim
from rnnzoo.reproduce.verdict import verdict

Echo = Callable[[str], None]
QUICK_LABEL = "QUICK SMOKE SCALE: tests the machinery only, NOT a result"


def error_share(run_dir: Path, threshold: float = 0.04, split: str = "test") -> float:
    """Share of ``split``'s sequences whose absolute error exceeds ``threshold`` (Hochreiter & Schmidhuber
    1997's criterion) for the regression run in ``run_dir`` (its reported weights)."""
    from rnnzoo.train.build import build_task
    from rnnzoo.train.config import TrainConfig
    from rnnzoo.train.run import load_checkpoint, model_from_checkpoint

    results = json.loads((run_dir / "results.json").read_text())
    ckpt = load_checkpoint(results["checkpoint"])
    cfg = TrainConfig.from_dict(dict(ckpt["rnnzoo"]["config"]))
    task = build_task(cfg)
    if task.loss != "mse":
        raise ValueError(f"metric error_share: expected a regression task, got {task.name!r} ({task.loss})")
    model = model_from_checkpoint(ckpt).float().eval()
    data = task.split(split)
    with torch.no_grad():
        pred, _ = model(data.x.float(), lengths=data.lengths)
    err = (pred.reshape(data.y.shape) - data.y.float()).abs()
    return float((err.reshape(err.shape[0], -1).amax(dim=1) > threshold).float().mean())


SECONDS_TO = "seconds_to_"


def seconds_to(run_dir: Path, metric: str, target: float) -> float:
    """Training wall-clock seconds until the validation ``metric`` (``valid/<metric>`` in ``run_dir/metrics.csv``)
    first reached ``target`` (at most it; at least it for a metric where higher is better, e.g. accuracy): the
    ``valid/wall_seconds`` logged with that validation (training time so far, validations included, over every
    resumed segment); ``inf`` if no validation reached it."""
    import csv

    from rnnzoo.reproduce.verdict import HIGHER_IS_BETTER

    table = run_dir / "metrics.csv"
    column = f"valid/{metric}"
    with open(table, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows or column not in rows[0] or "valid/wall_seconds" not in rows[0]:
        have = sorted(rows[0]) if rows else []
        raise KeyError(f"metric: {SECONDS_TO}{metric}_{target:g} needs {column!r} and 'valid/wall_seconds' in "
                       f"{table}, which has {have}")
    higher = metric in HIGHER_IS_BETTER
    for row in rows:
        value, seconds = row.get(column) or "", row.get("valid/wall_seconds") or ""
        if not value or not seconds:
            continue
        if (float(value) >= target) if higher else (float(value) <= target):
            return float(seconds)
    return math.inf


def parse_seconds_to(name: str) -> tuple[str, float]:
    """``"seconds_to_mse_0.01"`` -> ``("mse", 0.01)``: the validation metric and the value to reach."""
    metric, _, value = name[len(SECONDS_TO):].rpartition("_")
    try:
        target = float(value)
    except ValueError:
        target = math.nan
    if not name.startswith(SECONDS_TO) or not metric or math.isnan(target):
        raise ValueError(f"metric: expected {SECONDS_TO}<valid metric>_<value> (e.g. seconds_to_mse_0.01), "
                         f"got {name!r}")
    return metric, target


def measure(claim: Claim, results: dict[str, Any], run_dir: Path) -> float:
    """The claim's metric of one finished run: a value of ``results[claim.split]``, or ``error_share_<t>``
    (:func:`error_share`), or ``seconds_to_<valid metric>_<value>`` (:func:`seconds_to`: wall-clock seconds of
    training until the validation metric first reached the value, ``inf`` if never)."""
    if claim.metric.startswith("error_share_"):
        return error_share(run_dir, float(claim.metric.rsplit("_", 1)[1]), claim.split)
    if claim.metric.startswith(SECONDS_TO):
        return seconds_to(run_dir, *parse_seconds_to(claim.metric))
    values = results[claim.split]
    if claim.metric not in values:
        raise KeyError(f"metric: claim {claim.name!r} reports {claim.metric!r}, the run has {sorted(values)}")
    return float(values[claim.metric])


def _new_dir(name: str) -> Path:
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    path, n = Path("runs") / f"reproduce-{name}-{stamp}", 1
    while path.exists():
        path = path.with_name(f"reproduce-{name}-{stamp}-{n}")
        n += 1
    return path


def reproduce(claim: Claim, *, seeds: list[int] | None = None, run_dir: str | Path | None = None,
              quick: bool = False, workers: int | None = None, ray_address: str | None = None,
              echo: Echo = print) -> dict[str, Any]:
    """Run ``claim`` (all runs x ``seeds``, default the claim's) into ``run_dir``; returns the summary dict
    also written to ``reproduce.json``.

    The runs go through :func:`rnnzoo.train.sweep.run_sweep` (``workers``, ``ray_address``: in this process or on
    Ray). ``run_dir`` used before: its finished runs of the same configuration are read back (not retrained),
    failed ones retrained, interrupted ones resumed, and the summary written again; a run directory holding a
    run of another configuration is refused (RunDirError) before anything trains: a reproduction never
    overwrites a run. A failed run is a row whose status says why; the verdict uses the runs that finished."""
    from rnnzoo.train.sweep import Plan, run_sweep

    configs = claim.configs(seeds, quick=quick)  # every config validated before anything is written
    root = Path(run_dir) if run_dir is not None else _new_dir(claim.name)
    plans = [Plan(cfg, root / f"{run.label}-s{seed}") for run, seed, cfg in configs]
    if quick:
        echo(f"[{claim.name}] {QUICK_LABEL}")
    outcomes = run_sweep(plans, workers=workers, ray_address=ray_address, echo=echo,
                         refuse_hint=" (a reproduction never overwrites a run)")
    runs: list[dict[str, Any]] = []
    per_seed: dict[str, dict[int, float]] = {label: {} for label in claim.labels}
    for (run, seed, _), plan, outcome in zip(configs, plans, outcomes, strict=True):
        row: dict[str, Any] = {"label": run.label, "seed": seed, "run_dir": str(plan.run_dir),
                               "status": outcome.label}
        res = outcome.results
        if outcome.status == "ok" and res is not None:
            try:
                value = measure(claim, res, plan.run_dir)
            except Exception as err:  # the run is kept; the row says why it has no value
                row["status"] = f"failed: measuring {claim.metric}: {type(err).__name__}: {err}"
            else:
                row.update(value=value, steps=res["steps"], wall_seconds=res["wall_seconds"],
                           parameters=res["parameters"])
                if not math.isnan(value):  # inf counts: seconds_to_* of a run that never reached the loss
                    per_seed[run.label][seed] = value
        runs.append(row)
    result, reason = verdict(claim.conditions, per_seed, claim.metric)
    root.mkdir(parents=True, exist_ok=True)
    summary = {
        "claim": claim.name, "paper": str(claim.paper), "statement": claim.claim, "published": claim.published,
        "published_values": dict(claim.published_values), "setting": claim.setting, "metric": claim.metric,
        "split": claim.split, "seeds": sorted({s for _, s, _ in configs}), "quick": quick,
        "unverified": claim.unverified, "condition": claim.describe_condition(),
        "measured": {label: _stats(per_seed[label]) for label in claim.labels},
        "verdict": "SMOKE (quick scale, no verdict)" if quick else result, "reason": reason,
        "wall_seconds": round(sum(r.get("wall_seconds", 0.0) for r in runs), 1), "runs": runs,
    }
    (root / "reproduce.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = report(summary)
    (root / "reproduce.md").write_text(text + "\n")
    echo(text)
    summary["run_dir"] = str(root)
    return summary


def _stats(values: dict[int, float]) -> dict[str, Any] | None:
    if not values:
        return None
    v = list(values.values())
    return {"median": statistics.median(v), "min": min(v), "max": max(v), "n": len(v),
            "per_seed": {str(k): x for k, x in sorted(values.items())}}


def _num(x: float) -> str:
    return f"{x:.4g}"


def measured_text(stats: dict[str, Any] | None) -> str:
    """``median [min, max] (n seeds)`` or ``no finished run``."""
    if stats is None:
        return "no finished run"
    if stats["n"] == 1:
        return f"{_num(stats['median'])} (1 seed)"
    return f"{_num(stats['median'])} [{_num(stats['min'])}, {_num(stats['max'])}] ({stats['n']} seeds)"


def report(summary: dict[str, Any]) -> str:
    """The markdown report of a reproduction: published vs measured per run, then the verdict."""
    lines = [f"## {summary['claim']}: {summary['statement']}", ""]
    if summary["quick"]:
        lines += [f"**{QUICK_LABEL}**", ""]
    runs = "rnnzoo's full-scale setting (NOT what this quick run did)" if summary["quick"] else "rnnzoo runs"
    lines += [f"Paper: {summary['paper']}", f"Published: {summary['published']}",
              f"{runs}: {summary['setting']}", ""]
    if summary.get("unverified"):
        lines += [f"Unverified: {summary['unverified']}", ""]
    lines += [f"| run | published {summary['metric']} | measured {summary['split']} {summary['metric']}, "
              "median [min, max] |", "|---|---|---|"]
    for label, stats in summary["measured"].items():
        pub = summary["published_values"].get(label)
        lines.append(f"| {label} | {'-' if pub is None else _num(pub)} | {measured_text(stats)} |")
    lines += ["", f"Verdict: **{summary['verdict']}**: {summary['reason']}",
              f"Condition: {summary['condition']}. Seeds {', '.join(map(str, summary['seeds']))}; "
              f"{summary['wall_seconds']:.0f} s of training in all."]
    return "\n".join(lines)


__all__ = ["QUICK_LABEL", "error_share", "measure", "measured_text", "parse_seconds_to", "report", "reproduce",
           "seconds_to"]
