"""What ``rnnzoo bench`` reports and where: the machine, the tables (terminal and markdown), and the
``<date>.md`` / ``<date>.json`` result files, never overwriting an existing one (a counter suffix is added:
``<date>-2.md``).
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

DEFAULT_OUT_DIR = Path("benchmarks/results")


def machine_info(threads: int) -> dict[str, Any]:
    """CPU model (from /proc/cpuinfo), cores, torch and Python versions, threads."""
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
               "targets", "note")


def row_cells(row: Row) -> list[str]:
    """The table cells of a row, in ``ROW_COLUMNS`` order."""
    note = row.note + (f"; compile {row.compile_s:.1f} s" if row.compile_s is not None else "")
    iqr = "-" if row.ratio_iqr is None else f"{row.ratio_iqr[0]:.2f}-{row.ratio_iqr[1]:.2f}"
    return [row.model, str(row.size), _fmt(row.time_ratio, ".2f", "x"), iqr, _fmt(row.mem_ratio, ".2f", "x"),
            _fmt(row.baseline_ms, ".1f"), _fmt(row.time_ms, ".1f"), _fmt(row.peak_mb, ".2f"),
            "; ".join(t.mark() for t in row.targets), note.strip("; ")]


SCALING_COLUMNS = ("model", "T", "chunk", "us / time step", "per step vs first T", "vs nn.LSTM", "total ms",
                   "peak MB")


def scaling_cells(row: ScalingRow) -> list[str]:
    """The table cells of a scaling row, in ``SCALING_COLUMNS`` order."""
    return [row.model, str(row.T), str(row.chunk), f"{row.us_per_step:.1f}", f"{row.vs_first:.2f}x",
            f"{row.vs_baseline:.2f}x", f"{row.total_ms:.1f}", _fmt(row.peak_mb, ".2f")]


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


def unique_stem(out_dir: Path, stem: str, suffixes: Sequence[str] = (".md", ".json")) -> Path:
    """``out_dir/stem`` if no file ``stem + suffix`` exists there, else ``stem-2``, ``stem-3``, ..."""
    candidate, n = out_dir / stem, 1
    while any((candidate.parent / (candidate.name + s)).exists() for s in suffixes):
        n += 1
        candidate = out_dir / f"{stem}-{n}"
    return candidate


def render_markdown(report: dict[str, Any], rows: Sequence[Row], scaling: Sequence[ScalingRow]) -> str:
    """The results file: machine, command, method, tables, notes."""
    m = report["machine"]
    out = [f"# rnnzoo bench, {report['date']}", "",
           f"- command: `{report['command']}`" + (f" (source {report['source']})" if report.get("source") else ""),
           f"- machine: {m['cpu']}, {m['cores']} cores, torch {m['torch']}, {m['threads']} threads, "
           f"OMP_WAIT_POLICY={m['omp_wait_policy']}, Python {m['python']}",
           f"- reps: {report['config']['reps']} (+{report['config']['warmup']} warm-up), interleaved; "
           "time ratio = median over rounds of (model step / nn.LSTM step in the same round); "
           "memory = peak CPU tensor bytes of one step (torch.profiler, profile_memory=True) / nn.LSTM's",
           "- a train step: forward + `output.sum().backward()`, zero_grad untimed between steps; "
           "ratio IQR = quartiles of the per-round ratios (the spread the median comes from)", ""]
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
    if report["notes"]:
        out += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    return "\n".join(out).rstrip("\n") + "\n"


def write_results(out_dir: Path, report: dict[str, Any], rows: Sequence[Row],
                  scaling: Sequence[ScalingRow]) -> tuple[Path, Path]:
    """Write ``<date>.md`` and ``<date>.json`` (with a counter suffix if either exists); return the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = unique_stem(out_dir, report["date"])
    md, js = stem.with_name(stem.name + ".md"), stem.with_name(stem.name + ".json")
    payload = {**report, "rows": [r.to_json() for r in rows], "scaling": [asdict(s) for s in scaling]}
    with open(js, "x") as f:  # "x": never overwrite, even if a file appeared meanwhile
        json.dump(payload, f, indent=1)
        f.write("\n")
    with open(md, "x") as f:
        f.write(render_markdown(report, rows, scaling))
    return md, js
