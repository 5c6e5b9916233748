"""What a training run says: the line that starts it, why it stopped, the summary at the end, and the
check that refuses a resume that would train nothing."""

from __future__ import annotations

import csv
import json
import math
import os
from pathlib import Path
from typing import Any

from rnnzoo.train.config import TrainConfig
from rnnzoo.train.errors import ConfigError
from rnnzoo.train.metrics import HIGHER_IS_BETTER

#: how a metric is written in messages
_SHOWN = {"mse": "MSE"}


def shown(metric: str) -> str:
    """``mse`` -> ``MSE``; other metric names as they are."""
    return _SHOWN.get(metric, metric)


def announce(cfg: TrainConfig, task: Any, n_params: int, monitor: str, run_dir: Path, *,
             resumed_at: int | None = None, launch: dict[str, Any] | None = None) -> str:
    """The first line of a run: what trains on what, for how long, when it stops early, on how many
    processes (``launch``: :meth:`rnnzoo.train.launch.Launch.record`; None: CPU, spawned), the baseline, where
    it writes."""
    what = f"resuming at step {resumed_at:,}:" if resumed_at is not None else "training"
    stops = []
    if cfg.stop_at is not None:
        sign = ">" if HIGHER_IS_BETTER.get(monitor, False) else "<"
        stops.append(f"once valid {shown(monitor)} {sign} {cfg.stop_at:g} (--stop-at)")
    if cfg.early_stopping is not None:
        stops.append(f"after {cfg.early_stopping} validations without improvement (--early-stopping)")
    early = f", stopping early {' or '.join(stops)}" if stops else ""
    procs = ""
    launch = launch or {"accelerator": "cpu", "launcher": "spawn", "backend": "gloo"}
    world = cfg.world_size
    if world > 1:
        how = "FSDP" if cfg.strategy == "fsdp" else "DDP"
        nodes = f" on {cfg.num_nodes} nodes" if cfg.num_nodes > 1 else ""
        by = "" if launch["launcher"] == "spawn" else f"; launched by {launch['launcher']}"
        procs = (f" on {world} processes{nodes} ({how} over {launch['backend']}, {cfg.batch_size // world} of the "
                 f"{cfg.batch_size} sequences of each batch per process{by})")
    if launch["accelerator"] == "gpu":
        procs += f" on GPU{'s' if world > 1 else ''} ({cfg.precision})"
    base = ", ".join(f"{shown(k)} {v:.4g}" for k, v in task.baseline().items())
    data = f"T={task.seq_len}"
    if getattr(task, "stream", False):
        streams = f"{cfg.batch_size} streams of {task.train_size // cfg.batch_size:,}"
        window = f", windows of {cfg.tbptt[0]}" if cfg.tbptt else ""
        data = f"({task.train_size:,} training tokens as {streams}{window})"
    epochs = ""
    if cfg.epochs is not None:
        epochs = f" ({cfg.epochs} epoch{'s' if cfg.epochs > 1 else ''} of {cfg.max_steps // cfg.epochs:,})"
    return (f"{what} {cfg.model} ({n_params:,} parameters) on {task.name} {data} for up to "
            f"{cfg.max_steps:,} steps{epochs}{early}{procs}; baseline {base}; run dir {run_dir}")


def stop_reason(cfg: TrainConfig, monitor: str, steps: int, last_valid: float | None) -> tuple[str, str]:
    """``(rule, text)``: why a run that was not interrupted ended after ``steps`` updates. ``rule`` is
    ``max_steps``, ``stop_at`` or ``early_stopping``; ``last_valid`` is the last validation's monitored value."""
    if steps >= cfg.max_steps:
        return "max_steps", f"reached --max-steps {cfg.max_steps:,}"
    value = f"valid {shown(monitor)} {last_valid:.2g}" if last_valid is not None else f"valid {shown(monitor)}"
    if cfg.stop_at is not None and last_valid is not None and math.isfinite(last_valid):
        higher = HIGHER_IS_BETTER.get(monitor, False)
        if (last_valid > cfg.stop_at) if higher else (last_valid < cfg.stop_at):
            where = "above" if higher else "below"
            return "stop_at", f"stopped early at step {steps:,}: {value} {where} --stop-at {cfg.stop_at:g}"
    if cfg.early_stopping is not None:
        return "early_stopping", (f"stopped early at step {steps:,}: {value}, no better than the best for "
                                  f"{cfg.early_stopping} validations (--early-stopping {cfg.early_stopping})")
    return "early", f"stopped early at step {steps:,}"


def summary(results: dict[str, Any]) -> str:
    """A short human summary of a results dict: why it stopped, the test metric, where the files are."""
    metric = results["monitor"]
    test = results["test"].get(metric)
    base = results["baseline"].get(metric)
    vs = f" vs baseline {base:.4g}" if base is not None else ""
    lines = []
    if results.get("stop_reason"):
        lines.append(results["stop_reason"])
    lines += [
        f"test {shown(metric)} {test:.4g}{vs} (valid {results['valid'].get(metric):.4g}; {results['weights']} "
        f"weights); {results['steps']:,} steps in {results['wall_seconds']:.0f} s, {results['parameters']:,} "
        "parameters",
        f"results: {Path(results['run_dir']) / 'results.json'}  (checkpoints, metrics.csv, config.yaml alongside)",
    ]
    return "\n".join(lines)


def check_resumable(cfg: TrainConfig, checkpoint: dict[str, Any], run_dir: Path) -> int:
    """The step the checkpoint reached; ConfigError (nothing written) if resuming it would train nothing.

    A run at or beyond ``cfg.max_steps`` needs a larger ``--max-steps``; a finished run that stopped on
    ``--stop-at`` would stop again at its next validation unless ``--stop-at`` changes."""
    meta = checkpoint.get("rnnzoo", {})
    done = int(meta.get("updates", checkpoint.get("global_step", 0)))
    if done >= cfg.max_steps:
        raise ConfigError(f"--max-steps: the run in {run_dir} is already at step {done:,}, got --max-steps "
                          f"{cfg.max_steps:,}, which would train nothing; give a --max-steps above {done:,} to "
                          "train it further (its records are left as they are)")
    results_file = run_dir / "results.json"
    if results_file.exists():
        try:
            results = json.loads(results_file.read_text())
        except (OSError, ValueError):
            return done
        if results.get("stop_rule") == "stop_at" and int(results.get("steps", -1)) == done:
            old = meta.get("config", {}).get("stop_at")
            if cfg.stop_at is not None and old is not None:
                higher = HIGHER_IS_BETTER.get(results.get("monitor", ""), False)
                if (cfg.stop_at <= old) if higher else (cfg.stop_at >= old):
                    raise ConfigError(
                        f"--stop-at: the run in {run_dir} {results['stop_reason']}; with --stop-at {cfg.stop_at:g} "
                        "it would stop again at its next validation; pass --stop-at none (or a stricter value) to "
                        "train it further (its records are left as they are)")
    return done


def merge_metrics_csv(run_dir: Path) -> Path | None:
    """Merge ``logs/version_*/metrics.csv`` into ``metrics.csv`` (a resumed segment replaces the rows
    of earlier segments from its first step on)."""
    files = sorted((run_dir / "logs").glob("version_*/metrics.csv"),
                   key=lambda p: int(p.parent.name.split("_")[-1]) if p.parent.name.split("_")[-1].isdigit() else 0)
    tables: list[list[dict[str, str]]] = []
    header: list[str] = []
    for f in files:
        try:
            with f.open(newline="") as fh:
                reader = csv.DictReader(fh)
                rows = list(reader)
                names = list(reader.fieldnames or [])
        except OSError:
            continue
        header += [name for name in names if name not in header]
        tables.append(rows)
    if not tables:
        return None

    def step(row: dict[str, str]) -> float:
        try:
            return float(row.get("step") or "nan")
        except ValueError:
            return math.nan

    merged: list[dict[str, str]] = []
    for rows in tables:
        steps = [step(r) for r in rows if not math.isnan(step(r))]
        if steps:
            first = min(steps)
            merged = [r for r in merged if not step(r) >= first]
        merged.extend(rows)
    out = run_dir / "metrics.csv"
    tmp = out.with_name("metrics.csv.tmp")
    with tmp.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=header)
        writer.writeheader()
        writer.writerows(merged)
    os.replace(tmp, out)
    return out
