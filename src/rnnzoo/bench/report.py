"""What ``rnnzoo bench`` reports and where: the machine and the measuring environment, the tables (terminal
and markdown), and the result files ``bench.md`` / ``bench.json`` in the run directory it is given (default
``runs/bench-<timestamp>``, never the checkout); another run's results are never overwritten.
"""

from __future__ import annotations

import contextlib
import json
import os
import platform
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

import rnnzoo
from rnnzoo.bench.measure import Row

if TYPE_CHECKING:  # scaling imports rnnzoo.train (Lightning); a report only reads its rows
    from rnnzoo.bench.scaling import ScalingRow
    from rnnzoo.bench.streaming import StreamRow

RUNS = Path("runs")
"""Where the default run directories go (``runs/bench-<timestamp>``), relative to the working directory."""
RESULT_FILES = ("bench.md", "bench.json")


def default_run_dir(stamp: str, root: Path = RUNS) -> Path:
    """``root/bench-<stamp>``, or ``bench-<stamp>-2``, ``-3``, ... if that directory exists already."""
    candidate, n = root / f"bench-{stamp}", 1
    while candidate.exists():
        n += 1
        candidate = root / f"bench-{stamp}-{n}"
    return candidate


def existing_results(run_dir: Path) -> list[Path]:
    """The result files of an earlier run already in ``run_dir`` (a run directory holds one run)."""
    return [run_dir / name for name in RESULT_FILES if (run_dir / name).exists()]


def machine_info(threads: int) -> dict[str, Any]:
    """CPU model (from /proc/cpuinfo), cores, torch and Python versions, threads, the OpenMP wait policy."""
    cpu = platform.processor() or "unknown"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": threads,
            "python": platform.python_version(), "platform": platform.platform(), "rnnzoo": rnnzoo.__version__,
            "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"), "executable": sys.executable}


def git_state() -> str:
    """``<short commit>`` of the source tree, ``+dirty`` if it has uncommitted changes ("" outside git)."""
    root = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=root, capture_output=True, text=True,
                              timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=root,
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return ""
    return head + ("+dirty" if dirty else "")


def _fmt(value: float | None, spec: str, unit: str = "") -> str:
    return "-" if value is None else format(value, spec) + unit


ROW_COLUMNS = ("model", "size (B,T,I,H)", "time ratio", "ratio IQR", "mem ratio", "nn.LSTM ms", "model ms", "peak MB",
               "GFLOP / step", "GFLOP/s", "rate vs nn.LSTM", "targets", "note")
STREAM_COLUMNS = ("model", "batch", "I", "H", "us / step", "vs LSTMCell", "ratio IQR", "LSTMCell us / step")


def row_cells(row: Row) -> list[str]:
    """The table cells of a row, in ``ROW_COLUMNS`` order."""
    note = row.note + (f"; compile {row.compile_s:.1f} s" if row.compile_s is not None else "")
    iqr = "-" if row.ratio_iqr is None else f"{row.ratio_iqr[0]:.2f}-{row.ratio_iqr[1]:.2f}"
    return [row.model, str(row.size), _fmt(row.time_ratio, ".2f", "x"), iqr, _fmt(row.mem_ratio, ".2f", "x"),
            _fmt(row.baseline_ms, ".1f"), _fmt(row.time_ms, ".1f"), _fmt(row.peak_mb, ".2f"),
            _fmt(row.gflop, ".3g"), _fmt(row.gflop_s, ".2f"), _fmt(row.rate_ratio, ".2f", "x"),
            "; ".join(t.mark() for t in row.targets), note.strip("; ")]


SCALING_COLUMNS = ("model", "T", "chunk", "us / time step", "per step vs first T", "vs nn.LSTM", "total ms",
                   "peak MB")


def scaling_cells(row: ScalingRow) -> list[str]:
    """The table cells of a scaling row, in ``SCALING_COLUMNS`` order."""
    return [row.model, str(row.T), str(row.chunk), f"{row.us_per_step:.1f}", f"{row.vs_first:.2f}x",
            f"{row.vs_baseline:.2f}x", f"{row.total_ms:.1f}", _fmt(row.peak_mb, ".2f")]


def stream_cells(row: StreamRow) -> list[str]:
    """The table cells of a streaming row, in ``STREAM_COLUMNS`` order."""
    iqr = "-" if row.ratio_iqr is None else f"{row.ratio_iqr[0]:.2f}-{row.ratio_iqr[1]:.2f}"
    return [row.model, str(row.batch), str(row.I), str(row.H), f"{row.us_per_step:.1f}", f"{row.ratio:.2f}x", iqr,
            f"{row.baseline_us:.1f}"]


def environment_line(env: dict[str, Any]) -> str:
    """The report header's line saying in which environment the numbers were measured."""
    threads = f"{env['threads']} threads ({'torch default' if env['threads_default'] else '--threads'})"
    if env["omp_wait"] == "passive":
        return (f"passive (`--omp-wait passive`): OMP_WAIT_POLICY=PASSIVE, {threads}. Idle OpenMP threads sleep "
                "at once instead of spinning: steadier on a busy machine, but not what a user gets (it made "
                "torch.nn.LSTM itself about 3x slower at (32,100,64,128) and flattered every ratio)")
    policy = env["omp_wait_policy"]
    policy_words = "unset (OpenMP's default)" if policy == "default" else f"{policy} (set in the environment)"
    return f"default, as a user runs it: OMP_WAIT_POLICY {policy_words}, {threads}"


def text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A plain, aligned table for the terminal."""
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows]
    return "\n".join(lines)


def md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub-flavoured markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any], rows: Sequence[Row], scaling: Sequence[ScalingRow],
                    streaming: Sequence[StreamRow] = ()) -> str:
    """The results file: environment, machine, command, method, tables, notes."""
    m = report["machine"]
    out = [f"# rnnzoo bench, {report['date']}", "",
           f"- environment: {environment_line(report['environment'])}",
           f"- command: `{report['command']}`" + (f" (source {report['source']})" if report.get("source") else ""),
           f"- machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} threads, "
           f"OMP_WAIT_POLICY={m['omp_wait_policy']}, Python {m['python']}",
           *([f"- device: {report['config']['device']} ({report['config'].get('device_name', '?')}): models and "
              "inputs there, steps timed after torch.cuda.synchronize, memory = torch.cuda.max_memory_allocated "
              "during the step above what was allocated before it (the CPU memory wording below does not apply)"]
             if report["config"].get("device", "cpu") != "cpu" else []),
           f"- reps: {report['config']['reps']} (+{report['config']['warmup']} warm-up), interleaved; "
           "time ratio = median over rounds of (model step / nn.LSTM step in the same round); "
           "memory = peak CPU tensor bytes of one step (torch.profiler, profile_memory=True) / nn.LSTM's",
           "- a train step: forward + `output.sum().backward()`, zero_grad untimed between steps; "
           "ratio IQR = quartiles of the per-round ratios (the spread the median comes from)",
           "- GFLOP / step: the matrix-product FLOPs of one train step (forward + backward), counted by "
           "torch.utils.flop_counter.FlopCounterMode (oneDNN off for the count, so that nn.LSTM's products are "
           "seen; elementwise work not counted); GFLOP/s = that over the model's median step time; "
           "rate vs nn.LSTM = the model's GFLOP/s over nn.LSTM's", ""]
    if rows:
        out += ["## Train step vs torch.nn.LSTM(I, H, batch_first=True)", "",
                md_table(ROW_COLUMNS, [row_cells(r) for r in rows]), ""]
    if scaling:
        out += [f"## Sequence-length scaling (truncated BPTT, size {report['config'].get('scaling_size')})", "",
                "Time per time step = median over reps of a whole truncated-BPTT pass / T; every (model, T) "
                "pass is interleaved in the same rounds; 'per step vs first T' = median of paired per-step ratios "
                "to the same model at the first T (about 1 if the cost is linear in T); peak MB = peak CPU tensor "
                "bytes over the whole pass (state carried and detached between chunks).", "",
                md_table(SCALING_COLUMNS, [scaling_cells(r) for r in scaling]), ""]
    if streaming:
        out += ["## Streaming inference: latency per step vs torch.nn.LSTMCell(I, H)", "",
                "One step at a time, the state carried by the caller, `torch.no_grad()`, eval mode; a sample is "
                f"{streaming[0].steps} steps from the zero state; us / step = median sample / steps; 'vs LSTMCell' "
                "= median over rounds of the paired ratio to LSTMCell's sample of the same round.", "",
                md_table(STREAM_COLUMNS, [stream_cells(r) for r in streaming]), ""]
    if report["notes"]:
        out += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    return "\n".join(out).rstrip("\n") + "\n"


def write_results(run_dir: Path, report: dict[str, Any], rows: Sequence[Row], scaling: Sequence[ScalingRow],
                  streaming: Sequence[StreamRow] = ()) -> tuple[Path, Path]:
    """Write ``run_dir/bench.md`` and ``bench.json`` (creating the directory); return the paths. Raises
    FileExistsError, writing nothing, if the directory holds another run's results."""
    run_dir.mkdir(parents=True, exist_ok=True)
    md, js = (run_dir / name for name in RESULT_FILES)
    if existing_results(run_dir):
        raise FileExistsError(f"{run_dir} already holds a bench run ({', '.join(map(str, existing_results(run_dir)))})")
    payload = {**report, "rows": [r.to_json() for r in rows], "scaling": [asdict(s) for s in scaling],
               "streaming": [r.to_json() for r in streaming]}
    with open(js, "x") as f:  # "x": never overwrite, even if a file appeared meanwhile
        json.dump(payload, f, indent=1)
        f.write("\n")
    with open(md, "x") as f:
        f.write(render_markdown(report, rows, scaling, streaming))
    return md, js
