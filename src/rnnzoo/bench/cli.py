"""The ``rnnzoo bench`` command line: the flags, their defaults, the measuring environment, and the run from
arguments to tables and result files.

**Environment** (issue 9): by default the benchmark measures in this process as the environment is, i.e. what a
user gets: torch's default number of threads (``--threads N`` to set it) and OpenMP's default wait policy
(whatever ``OMP_WAIT_POLICY`` says, unset for most users). ``--omp-wait passive`` is the labelled alternative:
the measurement runs in a child process (``python -m rnnzoo.bench``) with ``OMP_WAIT_POLICY=PASSIVE`` (libgomp
reads it once, when torch loads it). On a shared 2-core machine passive waiting steadies the timings (the same
fused kernel's paired ratio swung 0.5x-3.3x with spinning threads, 0.8x-1.2x passive), but it slows
torch.nn.LSTM itself about 3x at (32, 100, 64, 128) (58 ms against 18 ms, issue 9) and flatters every ratio.
The report's header says which environment was used. The child imports rnnzoo afresh: a model registered at
run time (not on import) is benched in the default environment only.

**Whole models** (issue 12): ``--structured`` benches every registry entry of kind MODEL with ``test_options``
(and cells named in ``--models``, e.g. an NTM at its paper's size ``--models 'ntm[...]' --sizes BxTxIxH``): train
steps per second, decoding throughput at ``--widths`` for models with ``generate``, and the split of a step's time by
``record_function("<name>/<part>")`` labels; :mod:`rnnzoo.bench.models` says how each is measured.

**Results** go to ``--out RUN_DIR`` (default ``runs/bench-<YYYYmmdd-HHMMSS>``, a counter suffix if that exists):
``bench.md`` and ``bench.json``; a directory that holds another run's results is refused before anything is
measured. The historic files under ``benchmarks/results/`` are not written any more.
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
from rnnzoo.bench.cases import (
    peers as all_peers,
)
from rnnzoo.bench.measure import Row, bench_size
from rnnzoo.bench.report import (
    ROW_COLUMNS,
    SCALING_COLUMNS,
    STREAM_COLUMNS,
    default_run_dir,
    environment_line,
    existing_results,
    git_state,
    machine_info,
    row_cells,
    scaling_cells,
    stream_cells,
    text_table,
    write_results,
)
from rnnzoo.bench.streaming import DEFAULT_BATCHES, bench_streaming, streaming_cases
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
    p.add_argument("--threads", type=int, default=None,
                   help="torch.set_num_threads for the measurement (default: torch's default, as a user runs)")
    p.add_argument("--quick", action="store_true", help="smoke run: tiny sizes, 2 reps")
    p.add_argument("--compile", action="store_true",
                   help="also time torch.compile(model): compile time and steady-state ratio (slow)")
    p.add_argument("--scaling", action="store_true",
                   help="sequence-length scaling under truncated BPTT instead of the size table")
    p.add_argument("--lengths", default=None, help="--scaling: sequence lengths (default 100,1000,10000)")
    p.add_argument("--chunk", type=int, default=None, help="--scaling: truncation window (default 100; --quick 8)")
    p.add_argument("--streaming", action="store_true",
                   help="per-step latency of streaming inference (one step at a time, state carried) of the causal "
                        "models beside torch.nn.LSTMCell, instead of the size table (I, H from --sizes, default 1)")
    p.add_argument("--batches", default=None,
                   help="--streaming, --structured: batch sizes, comma-separated (default "
                        + ",".join(map(str, DEFAULT_BATCHES)) + "; --structured: 32)")
    p.add_argument("--structured", action="store_true",
                   help="whole models (registry kind MODEL, built from test_options; cells only when named in "
                        "--models) instead of the size table: train steps / s, decoding sequences / s of models "
                        "with generate() at --widths, and a step's time split by record_function '<name>/<part>' "
                        "labels; size overrides as --models 'name[key=value]'; batch sizes from --batches "
                        "(default 32; --quick 4); see rnnzoo.bench.models")
    p.add_argument("--widths", default=None, help="--structured: beam widths for decoding (default 1,5)")
    p.add_argument("--spatial-size", type=int, default=4,
                   help="image side for spatial models (C=I/side^2, H/side^2 channels; default 4)")
    p.add_argument("--device", default="cpu",
                   help="the size table's device: cpu (default), cuda or cuda:N (models and inputs moved there, "
                        "steps timed with torch.cuda.synchronize, peak memory from torch.cuda); not with "
                        "--scaling, --streaming, --structured or --omp-wait passive")
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory measurement")
    p.add_argument("--no-flops", action="store_true",
                   help="skip counting each model's FLOPs per train step (GFLOP/s and the rate ratio)")
    p.add_argument("--no-peers", action="store_true", help="skip torchrecurrent / sru even if importable")
    p.add_argument("--out", type=Path, default=None, metavar="RUN_DIR",
                   help="run directory for bench.md and bench.json (default runs/bench-<timestamp>); one that holds "
                        "another run's results is refused")
    p.add_argument("--no-save", action="store_true", help="print only, write no files")
    p.add_argument("--omp-wait", choices=("default", "passive"), default="default",
                   help="default: measure in this process as a user runs (OpenMP's wait policy as the environment "
                        "has it); passive: in a child process with OMP_WAIT_POLICY=PASSIVE (steadier on a busy "
                        "machine, but it slows torch.nn.LSTM itself and flatters the ratios; labelled in the report)")
    return p


def parse_batches(text: str) -> list[int]:
    """``"1,32"`` -> ``[1, 32]``."""
    items = [s.strip() for s in text.split(",")]
    if not all(s.isdigit() and int(s) > 0 for s in items):
        raise BenchArgumentError(f"--batches: expected positive ints, comma-separated (e.g. 1,32); got {text!r}")
    return [int(s) for s in items]


def parse_device(text: str) -> torch.device:
    """``--device``: ``cpu``, ``cuda`` or ``cuda:N``, refused where torch has no such device."""
    try:
        device = torch.device(text)
    except (RuntimeError, ValueError):
        raise BenchArgumentError(f"--device: expected cpu, cuda or cuda:N, got {text!r}") from None
    if device.type not in ("cpu", "cuda"):
        raise BenchArgumentError(f"--device: expected cpu, cuda or cuda:N, got {text!r}")
    if device.type == "cuda" and not torch.cuda.is_available():
        raise BenchArgumentError(f"--device: {text!r} asked for, but torch sees no CUDA device "
                                 f"(torch {torch.__version__}, CUDA build {torch.version.cuda})")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise BenchArgumentError(f"--device: {text!r}: torch sees {torch.cuda.device_count()} CUDA device(s)")
    return device


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
    threads = _positive("--threads", args.threads) if args.threads is not None else torch.get_num_threads()
    spatial = _positive("--spatial-size", args.spatial_size)
    if args.scaling and args.streaming:
        raise BenchArgumentError("--streaming: cannot be combined with --scaling (one section per run)")
    device = parse_device(args.device)
    if device.type != "cpu" and (args.scaling or args.streaming or args.structured or args.omp_wait == "passive"):
        raise BenchArgumentError(f"--device: {args.device!r} is for the size table only; --scaling, --streaming, "
                                 "--structured and --omp-wait passive measure on the CPU")
    if args.sizes is not None:
        sizes = parse_sizes(args.sizes)
    elif quick:
        sizes = list(QUICK_SIZES)
    else:
        sizes = [PRESETS["1"]] if args.scaling or args.streaming else list(PRESETS.values())
    lengths = parse_lengths(args.lengths) if args.lengths else list(QUICK_LENGTHS if quick else DEFAULT_LENGTHS)
    batches = parse_batches(args.batches) if args.batches else list(DEFAULT_BATCHES)
    chunk = _positive("--chunk", args.chunk if args.chunk is not None else (8 if quick else 100))
    run_dir: Path | None = None
    if not args.no_save:
        run_dir = args.out if args.out is not None else default_run_dir(_dt.datetime.now().strftime("%Y%m%d-%H%M%S"))
        taken = ", ".join(p.name for p in existing_results(run_dir))
        if taken:
            raise BenchArgumentError(f"--out: {run_dir} already holds a bench run ({taken}); give another directory")

    if args.structured:
        if args.scaling or args.streaming:
            raise BenchArgumentError("--structured: cannot be combined with --scaling or --streaming")
        if args.omp_wait == "passive" and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
            raise BenchArgumentError("--omp-wait passive: not implemented for --structured (it measures in this "
                                     "process; set OMP_WAIT_POLICY=PASSIVE in the environment instead)")
        from rnnzoo.bench.models import run_structured

        return run_structured(args, list(argv if argv is not None else sys.argv[1:]), sizes=sizes,
                              batches=parse_batches(args.batches) if args.batches else None, reps=reps,
                              warmup=warmup, threads=threads, run_dir=run_dir,
                              log=lambda m: print(m, file=sys.stderr, flush=True))
    registry = rnnzoo.list_models()
    peer_names = [] if args.no_peers else [p.row for p in all_peers()]
    default = ",".join(DEFAULT_SCALING_MODELS) if args.scaling else "*"
    selections = parse_models(args.models or default, registry + peer_names, registry)
    cases, notes = registry_cases([s for s in selections if s.name in registry], spatial)
    if args.omp_wait == "passive" and os.environ.get("OMP_WAIT_POLICY", "").upper() != "PASSIVE":
        # libgomp reads the policy once, when torch loads it: measure in a child that has it set.
        child_argv = list(argv if argv is not None else sys.argv[1:])
        if run_dir is not None and args.out is None:
            child_argv += ["--out", str(run_dir)]  # the child writes where this process said it would
        sys.stdout.flush()
        sys.stderr.flush()
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        return subprocess.run([sys.executable, "-m", "rnnzoo.bench", *child_argv], env=env, check=False).returncode
    peers, peer_notes = peer_cases([] if args.streaming else [s.name for s in selections if s.name in peer_names])
    cases += peers
    notes += peer_notes
    if args.streaming:
        cases, stream_notes = streaming_cases(cases)
        notes += stream_notes
    if any(c.spatial for c in cases):
        notes.append(f"spatial models (input (B, T, C, Y, X)) run at C=I/{spatial ** 2} input channels, "
                     f"H/{spatial ** 2} hidden channels on a {spatial}x{spatial} image: the same I and H numbers "
                     "per step as nn.LSTM(I, H); informational, no targets apply")
    environment = {"omp_wait": args.omp_wait, "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default"),
                   "threads": threads, "threads_default": args.threads is None}

    def log(message: str) -> None:
        print(message, file=sys.stderr, flush=True)

    log(f"environment: {environment_line(environment)}")
    previous_threads = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows: list[Row] = []
        scaling: list[Any] = []
        streaming: list[Any] = []
        if args.scaling:
            from rnnzoo.bench.scaling import bench_scaling  # imports rnnzoo.train (Lightning): only when asked

            scaling = bench_scaling([baseline_case(), *cases], sizes[0], lengths, chunk, reps=reps, warmup=warmup,
                                    memory=not args.no_memory, log=log)
        elif args.streaming:
            for size in sizes:
                got, stream_notes = bench_streaming(cases, size, batches, reps=reps, warmup=warmup, log=log)
                streaming += got
                notes += [n for n in stream_notes if n not in notes]
        else:
            for size in sizes:
                refused: dict[str, str] = {}
                rows += bench_size([baseline_case(), *cases], size, reps=reps, warmup=warmup,
                                   memory=not args.no_memory, compile_models=args.compile,
                                   flops=not args.no_flops, log=log, device=device, refusals=refused)
                notes += [f"{name} at {size}: refused this size ({why}); no row" for name, why in refused.items()]
    finally:
        torch.set_num_threads(previous_threads)

    report = {
        "date": _dt.date.today().isoformat(),
        "timestamp": _dt.datetime.now().isoformat(timespec="seconds"),
        "command": "rnnzoo bench " + " ".join(argv if argv is not None else sys.argv[1:]),
        "source": git_state(),
        "environment": environment,
        "machine": machine_info(threads),
        "config": {"reps": reps, "warmup": warmup, "sizes": [asdict(s) for s in sizes], "quick": quick,
                   "compile": args.compile, "spatial_size": spatial, "flops": not args.no_flops,
                   "device": str(device),
                   **({"device_name": torch.cuda.get_device_name(device)} if device.type == "cuda" else {}),
                   **({"scaling_size": str(sizes[0]), "lengths": lengths, "chunk": chunk} if args.scaling else {}),
                   **({"batches": batches} if args.streaming else {})},
        "notes": notes,
    }
    print(f"environment: {environment_line(environment)}")
    if rows:
        print(text_table(ROW_COLUMNS, [row_cells(r) for r in rows]))
    if scaling:
        print(text_table(SCALING_COLUMNS, [scaling_cells(r) for r in scaling]))
    if streaming:
        print(text_table(STREAM_COLUMNS, [stream_cells(r) for r in streaming]))
    for note in notes:
        print(f"note: {note}")
    if run_dir is not None:
        md, js = write_results(run_dir, report, rows, scaling, streaming)
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
