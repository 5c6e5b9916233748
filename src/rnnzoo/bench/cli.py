"""The ``rnnzoo bench`` command line: the flags, their defaults, the OpenMP-passive child process, and the
run from arguments to tables and result files.

**OpenMP wait policy**: by default the measurement runs in a child process (``python -m rnnzoo.bench``) with
``OMP_WAIT_POLICY=PASSIVE`` (unless the variable is set already; ``--omp-wait-policy keep`` measures
in-process as the environment is). On a shared 2-core machine, libgomp's default spin-waiting made the same
fused kernel's paired ratio swing from 0.5x to 3.3x and every step 3-6x slower; with passive waiting the
spread was 0.8x-1.2x. The child imports rnnzoo afresh: a model registered at run time (not on import) is
benched in-process only (``--omp-wait-policy keep``, or ``OMP_WAIT_POLICY`` set before Python starts).
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

import rnnzoo
from rnnzoo.bench.cases import (
    PEERS,
    PRESETS,
    QUICK_SIZES,
    BenchArgumentError,
    Case,
    Selection,
    baseline_case,
    parse_models,
    parse_sizes,
    peer_cases,
    rnnzoo_case,
)
from rnnzoo.bench.measure import Row, bench_size
from rnnzoo.bench.report import (
    DEFAULT_OUT_DIR,
    ROW_COLUMNS,
    SCALING_COLUMNS,
    git_state,
    machine_info,
    row_cells,
    scaling_cells,
    text_table,
    write_results,
)
from rnnzoo.bench.targets import with_plain_rows

DEFAULT_SCALING_MODELS = ("lstm", "peephole_lstm")
DEFAULT_LENGTHS = (100, 1000, 10000)
QUICK_LENGTHS = (8, 32)


def parse_lengths(text: str) -> list[int]:
    """``"100,1000,10000"`` -> ``[100, 1000, 10000]``."""
    items = [s.strip() for s in text.split(",")]
    if not all(s.isdigit() and int(s) > 0 for s in items):
        raise BenchArgumentError(f"--lengths: expected positive ints, comma-separated (e.g. 100,1000); got {text!r}")
    return [int(s) for s in items]


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, no usage block
        raise BenchArgumentError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``rnnzoo bench`` arguments."""
    p = _Parser(prog="rnnzoo bench", description="Train-step time and peak memory of every registered model as "
                "ratios to torch.nn.LSTM, measured interleaved in one run.")
    p.add_argument("--models", default=None,
                   help="comma-separated shell wildcards over model names (rnnzoo and peers, e.g. "
                        "'*lstm*,torchrecurrent.*') or name[key=value,...] (a registry model with options, values "
                        "in YAML, e.g. 'gru[reset=before]'); default: all (--scaling: lstm,peephole_lstm)")
    p.add_argument("--sizes", default=None,
                   help="presets 1=(32,100,64,128) 2=(64,100,256,256) 3=(64,100,512,512), 'all', or BxTxIxH; "
                        "comma-separated (default: all; --scaling: 1)")
    p.add_argument("--reps", type=int, default=None, help="timed rounds, median taken (default 7; --quick 2)")
    p.add_argument("--warmup", type=int, default=None, help="untimed rounds first (default 2; --quick 1)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 2 reps")
    p.add_argument("--compile", action="store_true",
                   help="also time torch.compile(model): compile time and steady-state ratio (slow)")
    p.add_argument("--scaling", action="store_true",
                   help="sequence-length scaling under truncated BPTT instead of the size table")
    p.add_argument("--lengths", default=None, help="--scaling: sequence lengths (default 100,1000,10000)")
    p.add_argument("--chunk", type=int, default=None, help="--scaling: truncation window (default 100; --quick 8)")
    p.add_argument("--spatial-size", type=int, default=4,
                   help="image side for spatial models (C=I/side^2, H/side^2 channels; default 4)")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--no-peers", action="store_true", help="skip torchrecurrent / sru even if importable")
    p.add_argument("--out-dir", type=Path, default=DEFAULT_OUT_DIR,
                   help=f"where the .md and .json go (default {DEFAULT_OUT_DIR})")
    p.add_argument("--no-save", action="store_true", help="print only, write no files")
    p.add_argument("--omp-wait-policy", choices=("passive", "keep"), default="passive",
                   help="passive (default): measure in a child process with OMP_WAIT_POLICY=PASSIVE unless the "
                        "variable is set already (on a shared machine, spinning OpenMP threads make 2-thread "
                        "timings swing 0.5x-3x); keep: measure in this process as the environment is")
    return p


def _positive(flag: str, value: int, minimum: int = 1) -> int:
    if value < minimum:
        raise BenchArgumentError(f"{flag}: expected an int >= {minimum}, got {value}")
    return value


def registry_cases(selections: list[Selection], spatial: int) -> tuple[list[Case], list[str]]:
    """The rnnzoo rows of ``selections`` (plain rows that issue 8 compares with added), and notes.

    A model whose input kind has no generic example is skipped with a note; bad options raise naming the row.
    """
    cases: list[Case] = []
    notes: list[str] = []
    for sel in selections:
        try:
            cases.append(rnnzoo_case(sel.name, spatial, sel.options, row=sel.row))
        except NotImplementedError as exc:
            notes.append(f"{sel.row}: skipped ({exc})")
        except (TypeError, ValueError) as exc:
            if not sel.options:
                raise
            raise BenchArgumentError(f"--models: {sel.row!r}: {exc}") from None
    cases, added = with_plain_rows(cases, lambda name: rnnzoo_case(name, spatial))
    return cases, notes + added


def _run(argv: list[str] | None) -> int:
    args = build_parser().parse_args(argv)
    quick = args.quick
    reps = _positive("--reps", args.reps if args.reps is not None else (2 if quick else 7))
    warmup = _positive("--warmup", args.warmup if args.warmup is not None else (1 if quick else 2), 0)
    threads = _positive("--threads", args.threads)
    spatial = _positive("--spatial-size", args.spatial_size)
    if args.sizes is not None:
        sizes = parse_sizes(args.sizes)
    elif quick:
        sizes = list(QUICK_SIZES)
    else:
        sizes = [PRESETS["1"]] if args.scaling else list(PRESETS.values())
    lengths = parse_lengths(args.lengths) if args.lengths else list(QUICK_LENGTHS if quick else DEFAULT_LENGTHS)
    chunk = _positive("--chunk", args.chunk if args.chunk is not None else (8 if quick else 100))

    registry = rnnzoo.list_models()
    peer_names = [] if args.no_peers else [p.row for p in PEERS]
    default = ",".join(DEFAULT_SCALING_MODELS) if args.scaling else "*"
    selections = parse_models(args.models or default, registry + peer_names, registry)
    cases, notes = registry_cases([s for s in selections if s.name in registry], spatial)
    if args.omp_wait_policy == "passive" and "OMP_WAIT_POLICY" not in os.environ:
        # libgomp reads the policy once, when torch loads it: measure in a child that has it set.
        child_argv = list(argv if argv is not None else sys.argv[1:])
        sys.stdout.flush()
        sys.stderr.flush()
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        return subprocess.run([sys.executable, "-m", "rnnzoo.bench", *child_argv], env=env, check=False).returncode
    peers, peer_notes = peer_cases([s.name for s in selections if s.name in peer_names])
    cases += peers
    notes += peer_notes
    if any(c.spatial for c in cases):
        notes.append(f"spatial models (input (B, T, C, Y, X)) run at C=I/{spatial ** 2} input channels, "
                     f"H/{spatial ** 2} hidden channels on a {spatial}x{spatial} image: the same I and H numbers "
                     "per step as nn.LSTM(I, H); informational, no targets apply")

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows: list[Row] = []
        scaling: list[Any] = []
        if args.scaling:
            from rnnzoo.bench.scaling import bench_scaling  # imports rnnzoo.train (Lightning): only when asked

            scaling = bench_scaling([baseline_case(), *cases], sizes[0], lengths, chunk, reps=reps, warmup=warmup,
                                    memory=not args.no_memory, log=log)
        else:
            for size in sizes:
                rows += bench_size([baseline_case(), *cases], size, reps=reps, warmup=warmup,
                                   memory=not args.no_memory, compile_models=args.compile, log=log)
    finally:
        torch.set_num_threads(previous_threads)

    report = {
        "date": _dt.date.today().isoformat(),
        "timestamp": _dt.datetime.now().isoformat(timespec="seconds"),
        "command": "rnnzoo bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "source": git_state(),
        "machine": machine_info(threads),
        "config": {"reps": reps, "warmup": warmup, "sizes": [asdict(s) for s in sizes], "quick": quick,
                   "compile": args.compile, "spatial_size": spatial,
                   **({"scaling_size": str(sizes[0]), "lengths": lengths, "chunk": chunk} if args.scaling else {})},
        "notes": notes,
    }
    if rows:
        print(text_table(ROW_COLUMNS, [row_cells(r) for r in rows]))
    if scaling:
        print(text_table(SCALING_COLUMNS, [scaling_cells(r) for r in scaling]))
    for note in notes:
        print(f"note: {note}")
    if not args.no_save:
        md, js = write_results(args.out_dir, report, rows, scaling)
        print(f"wrote {md} and {js}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``rnnzoo bench`` and ``python -m rnnzoo.bench``; returns the exit code.

    A bad argument prints one line naming the flag (``rnnzoo bench: error: --sizes: ...``) and returns 2.
    """
    try:
        return _run(argv)
    except BenchArgumentError as exc:
        print(f"rnnzoo bench: error: {exc}", file=sys.stderr)
        return 2
