"""Tokens per second of the PTB word language model trained by one process and by two DDP processes on this CPU
machine (issue 14 section 3): the speed-up of ``--devices 2``.

The model and data are ``rnnzoo train --task ptb_word``'s (Zaremba et al. 2014's small model: a 2-layer LSTM of
200 units, 10,000-word vocabulary, batch 20, windows of 20 tokens, SGD lr 1), except ``--epochs none --schedule
constant`` so that the run's length is ``--max-steps`` (the epoch-decay schedule would not change the rate before
epoch 4 anyway). Each run is the real command line, ``python -m rnnzoo train`` in a subprocess:

* **A, one process**: ``--devices 1 --threads 2`` (both cores for torch's intra-op threads);
* **B, two processes**: ``--devices 2 --threads 1`` (DDP over gloo, ``ddp_spawn``; each process computes its 10 of
  the 20 streams of a batch with one thread, then the gradients are all-reduced).

The same two cores either way: the question is whether data parallelism over processes uses them better than
torch's threads inside one process. (With ``--threads 1`` for A as well, ``--single-thread``, the one-process run is
what one core does: the ratio B / that is the scaling over cores, not over the machine.)

**What is timed.** The run's own progress lines (``--progress log``: one every ``--every`` updates, the global
batch's tokens per second of training since the previous line, validation excluded): the first line (start-up,
allocator warm-up) is dropped and the median of the next ``--lines`` lines is the run's rate. Then the run gets
SIGTERM (it saves a checkpoint and stops, as ``kill`` would): the final evaluation on PTB's valid and test
streams (minutes on this CPU) is not part of the training speed and is not waited for.

**Interleaving.** A B A B ...: a change of the machine's load (it is shared) hits both sides; printed are every
run's rate, the medians and the ratio of the medians B / A.

**Load.** The machine is shared: with other jobs running, a process with two threads loses more than two processes
with one thread each (its threads wait for each other at every parallel region), so the ratio measured under load
overstates what DDP gains on an idle machine; the load average is printed with the result.

Measured here (2026-12-01, shared 2-core machine): under a load of ~4.5, 1,043 tokens/s (A) and 1,718 (B), 1.65x;
3 pairs under a load falling from ~17 to ~4: per-pair 3.5x, 8.2x, 2.9x (see the load caveat).

Usage::

    PYTHONPATH=src nice -n 5 python benchmarks/ddp_speedup.py --pairs 3 --out benchmarks/results/2026-12-01-ddp-speedup
    python benchmarks/ddp_speedup.py --report benchmarks/results/2026-12-01-ddp-speedup/runs.json   # runs saved so far
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

LINE = re.compile(r"^step\s+(\d+)/\d+\s.*?([\d,]+) tokens/s")


def run_rate(devices: int, threads: int, *, every: int, lines: int, timeout: float = 1800.0) -> dict:
    """One ``rnnzoo train --task ptb_word`` run: its progress lines' tokens/s, stopped by SIGTERM after
    ``lines + 1`` of them. Returns the rates and their median (the first line excluded)."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MASTER_PORT", "NODE_RANK")}
    with tempfile.TemporaryDirectory(prefix="ddp-speedup-") as tmp:
        cmd = [sys.executable, "-m", "rnnzoo", "train", "--task", "ptb_word", "--epochs", "none", "--schedule",
               "constant", "--max-steps", "1000000", "--val-every", str(10 * every), "--progress", "log",
               "--accelerator", "cpu", "--devices", str(devices), "--threads", str(threads),
               "--run-dir", str(Path(tmp) / "run")]
        started = time.time()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        rates: list[float] = []
        assert proc.stdout is not None
        for line in proc.stdout:
            match = LINE.match(line.strip())
            if match:
                rates.append(float(match.group(2).replace(",", "")))
                if len(rates) > lines:
                    break
            if time.time() - started > timeout:
                break
        proc.send_signal(signal.SIGTERM)
        try:
            _, err = proc.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, err = proc.communicate()
        if len(rates) <= lines:
            raise RuntimeError(f"run with --devices {devices} gave {len(rates)} progress lines; stderr:\n"
                               f"{err[-3000:]}")
    measured = rates[1:]
    return {"devices": devices, "threads": threads, "rates": measured, "median": statistics.median(measured),
            "seconds": round(time.time() - started, 1)}


def report(runs: dict[str, list[dict]], args: argparse.Namespace) -> None:
    """Print (and with ``--out`` write) the table and the ratio of the medians over the complete pairs."""
    pairs = min(len(runs["A"]), len(runs["B"]))
    runs = {"A": runs["A"][:pairs], "B": runs["B"][:pairs]}
    a_threads = runs["A"][0]["threads"]
    a = statistics.median(r["median"] for r in runs["A"])
    b = statistics.median(r["median"] for r in runs["B"])
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    lines = [
        f"# DDP speed-up, PTB word LM ({_dt.date.today().isoformat()})",
        "",
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, load average at the end "
        f"{load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (shared)",
        f"command: python benchmarks/ddp_speedup.py --pairs {args.pairs} --every {args.every} --lines {args.lines}"
        + (" --single-thread" if a_threads == 1 else "") + f" ({pairs} complete pairs)",
        "",
        "| run | processes x threads | tokens/s (median of each run) | median |",
        "|---|---|---|---|",
        f"| A | 1 x {a_threads} | {_rates(runs['A'])} | {a:,.0f} |",
        f"| B | 2 x 1 | {_rates(runs['B'])} | {b:,.0f} |",
        "",
        f"speed-up B / A (ratio of the medians): {b / a:.2f}x; per pair: "
        + ", ".join(f"{rb['median'] / ra['median']:.2f}x" for ra, rb in zip(runs["A"], runs["B"], strict=True)),
    ]
    text = "\n".join(lines)
    print(text)
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "result.md").write_text(text + "\n")
        (args.out / "result.json").write_text(json.dumps({"A": runs["A"], "B": runs["B"], "median_A": a,
                                                          "median_B": b, "ratio": b / a, "load": load}, indent=2)
                                              + "\n")


def _rates(runs: list[dict]) -> str:
    return ", ".join(f"{r['median']:,.0f}" for r in runs)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", type=int, default=3, help="A B rounds (default 3)")
    parser.add_argument("--every", type=int, default=10, help="updates per progress line (default 10)")
    parser.add_argument("--lines", type=int, default=4, help="progress lines measured per run (default 4)")
    parser.add_argument("--single-thread", action="store_true",
                        help="A with --threads 1 (one core) instead of 2")
    parser.add_argument("--out", type=Path, help="directory for result.md and result.json")
    parser.add_argument("--report", type=Path, metavar="RUNS_JSON",
                        help="measure nothing: report the runs an earlier (interrupted) invocation saved in --out")
    args = parser.parse_args(argv)
    if args.report is not None:
        report(json.loads(args.report.read_text()), args)
        return 0
    a_threads = 1 if args.single_thread else 2
    runs: dict[str, list[dict]] = {"A": [], "B": []}
    for i in range(args.pairs):
        for arm, (devices, threads) in (("A", (1, a_threads)), ("B", (2, 1))):
            result = run_rate(devices, threads, every=args.every, lines=args.lines)
            runs[arm].append(result)
            print(f"pair {i + 1} {arm}: --devices {devices} --threads {threads}: "
                  f"{result['median']:,.0f} tokens/s (lines {', '.join(f'{r:,.0f}' for r in result['rates'])}; "
                  f"{result['seconds']:.0f} s)", flush=True)
            if args.out is not None:  # every run as it comes (a long benchmark stopped early keeps them)
                args.out.mkdir(parents=True, exist_ok=True)
                (args.out / "runs.json").write_text(json.dumps(runs, indent=2) + "\n")
    report(runs, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
