"""Wall time of a 12-run ``rnnzoo compare`` grid with 1 and with 2 Ray workers (issue 14, "Measured").

The grid: elman, gru, lstm x adding at T = 50 and 100 x seeds 0, 1, each run a fixed number of updates (no early
stop), one torch thread per run (the default job's ``threads: 1``). Each configuration is one ``rnnzoo compare``
command in a fresh process into its own run directory, timed from the start of the process to its exit (so the
Python/torch imports, Ray's start-up and its workers' imports all count):

- ``ray-1``: ``--workers 1 --ray-address local``: a fresh local Ray, one run at a time;
- ``ray-2``: ``--workers 2``: a fresh local Ray, two runs at a time;
- ``in-process`` (``--in-process``, optional): ``--workers 1`` without Ray, the default, for reference.

It prints each wall time, the ratio ray-1 / ray-2 (the speed-up of the second worker) and whether the three
``compare.md`` tables are identical (they must be: the runs are deterministic)::

    OMP_NUM_THREADS=1 nice -n 5 PYTHONPATH=src python benchmarks/sweep_speedup.py --out runs/sweep-speedup

On a shared machine the second worker only helps as far as a second core is free: the load average before and
after each configuration is printed beside its time, and the runs' own seconds (``results.json``'s
``wall_seconds``, summed) over the sweep's wall time: how many runs were in flight on average. Two workers that
keep two runs in flight but see each run take twice as long had no free core to use.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

GRID = ["--models", "elman,gru,lstm", "--tasks", "adding", "--seq-lens", "50,100", "--seeds", "0,1",
        "--stop-at", "none", "--progress", "none", "--threads", "1"]
MODES = {"ray-1": ["--workers", "1", "--ray-address", "local"], "ray-2": ["--workers", "2"], "in-process": []}


def run(mode: str, out: Path, steps: int) -> tuple[float, str]:
    """One ``rnnzoo compare`` of the grid in a fresh process; returns (wall seconds, its compare.md)."""
    cmd = [sys.executable, "-m", "rnnzoo", "compare", *GRID, "--max-steps", str(steps), "--val-every", str(steps),
           *MODES[mode], "--run-dir", str(out / mode)]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - start
    (out / f"{mode}.log").write_text(proc.stdout + proc.stderr)
    if proc.returncode != 0:
        raise SystemExit(f"{mode}: rnnzoo compare exited {proc.returncode}; see {out / f'{mode}.log'}")
    return wall, (out / mode / "compare.md").read_text()


def run_seconds(run_dir: Path) -> float:
    """The runs' own wall seconds (``results.json``), summed: over the sweep's wall time, the runs in flight."""
    return sum(json.loads(p.read_text())["wall_seconds"] for p in run_dir.glob("*/results.json"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=Path("runs/sweep-speedup"), help="run directories and logs")
    parser.add_argument("--steps", type=int, default=300, help="updates per run (default 300: ~10-40 s a run)")
    parser.add_argument("--in-process", action="store_true", help="also time the default, without Ray")
    args = parser.parse_args()
    if args.out.exists():
        shutil.rmtree(args.out)  # a sweep into a used directory would skip its finished runs
    args.out.mkdir(parents=True)
    modes = ["ray-1", "ray-2"] + (["in-process"] if args.in_process else [])
    print(f"12-run grid: rnnzoo compare {' '.join(GRID)} --max-steps {args.steps}; {os.cpu_count()} CPUs; "
          f"OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}, nice {os.nice(0)}", flush=True)
    walls, tables = {}, {}
    for mode in modes:
        load = os.getloadavg()[0]
        walls[mode], tables[mode] = run(mode, args.out, args.steps)
        inside = run_seconds(args.out / mode)
        print(f"{mode:>10}: {walls[mode]:7.1f} s wall  (load average {load:.1f} before, {os.getloadavg()[0]:.1f} "
              f"after; the runs' own seconds {inside:.0f}, {inside / walls[mode]:.2f} runs in flight on average)",
              flush=True)
    print(f"speed-up of 2 Ray workers over 1: {walls['ray-1'] / walls['ray-2']:.2f}x")
    if "in-process" in walls:
        print(f"speed-up of 2 Ray workers over the in-process default: {walls['in-process'] / walls['ray-2']:.2f}x")
    same = all(t == tables["ray-1"] for t in tables.values())
    print(f"compare.md identical across {', '.join(modes)}: {same}")
    print(tables["ray-2"])


if __name__ == "__main__":
    main()
