"""``rnnzoo bench``: train-step time and peak memory of every registered model, as ratios to ``torch.nn.LSTM``.

Usage::

    rnnzoo bench                                  # all models, sizes 1-3, 7 reps, 2 threads
    python -m rnnzoo.bench --sizes 1,2 --models "*lstm*" --reps 9
    python -m rnnzoo.bench --quick                # smoke run: tiny sizes, 2 reps
    python -m rnnzoo.bench --scaling              # truncated BPTT over T = 100, 1,000, 10,000
    python -m rnnzoo.bench --compile --models lstm,gru

What is measured (the method, so that the numbers can be trusted):

* **A train step** is ``zero_grad(set_to_none=True)`` (not timed), then the timed part: forward on a fixed
  random input, ``output.sum().backward()``. Every model is built with ``rnnzoo.create(name, input_size=I,
  hidden_size=H)`` (registry defaults, one layer, batch-first) after ``torch.manual_seed(0)``.
* **Time ratio**: the machine is shared and noisy, so times are only compared inside one run, interleaved:
  ``warmup`` untimed rounds, then ``reps`` rounds, each timing one step of every model (the order rotated by
  one each round so that no model always runs first). A model's ratio is the median over rounds of its step
  time divided by the ``torch.nn.LSTM(I, H, batch_first=True)`` step time *of the same round* (paired, so a
  burst of load on the machine hits both). The absolute medians (ms) are printed for reference only.
* **OpenMP wait policy**: by default the measurement runs in a child process with ``OMP_WAIT_POLICY=PASSIVE``
  (unless the variable is set already; ``--omp-wait-policy keep`` measures in-process as the environment
  is). On a shared 2-core machine, libgomp's default spin-waiting made the same fused kernel's paired ratio
  swing from 0.5x to 3.3x and every step 3-6x slower; with passive waiting the spread was 0.8x-1.2x.
* **Peak memory**: one extra step per model under ``torch.profiler.profile(profile_memory=True)``; the
  profiler records every CPU allocator allocation (+bytes) and free (-bytes) with a timestamp. Their running
  sum, in time order, is the tensor memory the step holds at each moment (activations kept for backward,
  temporaries, gradients, the fused kernels' workspaces); its maximum is the peak. Parameters and the input
  exist before the step and are not counted. This measures tensors, not the process RSS (which the allocator's
  caching and the interpreter blur). The ratio divides by nn.LSTM's peak at the same size.
* **Spatial models** (capability ``"spatial"``, e.g. convlstm) read ``(B, T, C, Y, X)``: they are benched
  with ``C = I/16`` input channels and ``H/16`` hidden channels on a ``4 x 4`` image (``--spatial-size``),
  so that a step's input and state hold exactly ``I`` and ``H`` numbers, as nn.LSTM(I, H)'s do (with a
  3x3 kernel that is ~9/16 of the LSTM's multiply-adds). Their ratios are informational: the targets below
  do not apply to them.
* **Peers**: when importable, ``torchrecurrent`` (OriginalLSTM, PeepholeLSTM, SCRN: the counterparts of
  lstm1997, peephole_lstm, scrn) and ``sru`` (SRU, one layer) are benched as extra rows in the same
  interleaved loop; otherwise a note says why they were skipped. To bench them without touching the
  project's venv (they may pull another torch): ``python3 -m venv /tmp/peervenv``, ``/tmp/peervenv/bin/pip
  install -c constraints.txt torch==2.13.0``, ``/tmp/peervenv/bin/pip install --no-deps torchrecurrent sru
  ninja``, then ``PYTHONPATH=src /tmp/peervenv/bin/python -m rnnzoo.bench --models
  'lstm1997,peephole_lstm,scrn,torchrecurrent.*,sru.*'`` (sru compiles a small CPU extension on import).
* **--compile**: ``torch.compile(model)``; the first train step (compilation of forward and backward) is
  timed once as the compile time, and the compiled model joins the interleaved loop as an extra row.
* **--scaling**: for each ``T`` in ``--lengths`` the whole sequence is trained by truncated BPTT (chunks of
  ``--chunk`` steps, the state carried and detached between chunks, a backward per chunk); the time per time
  step (median over interleaved reps of the whole pass, divided by T) should be roughly constant in T and the
  peak memory (profiled over the whole pass) bounded by the truncation window.

Targets (informational marks next to each row, from the issues; rnnzoo rows, not spatial, eager only):

* issue 2: torch-fused configurations (capability ``fused_torch``: lstm, gru, elman) at most 1.05x, every
  other cell at most 1.3x, at the larger sizes (64, 100, 256, 256) and (64, 100, 512, 512);
* issue 5: every LSTM, GRU and Elman variant at most 1.15x at (64, 100, 256, 256) and at most 1.8x at
  (32, 100, 64, 128); the peak memory of every LSTM variant at most nn.LSTM's (at every size).

Results go to the screen and to ``benchmarks/results/<YYYY-MM-DD>.md`` and ``.json`` (``--out-dir``), with
the machine (CPU model, cores, torch version, threads); an existing file is never overwritten: a counter
suffix is added (``<date>-2.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as _dt
import fnmatch
import gc
import importlib
import importlib.metadata
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import rnnzoo

BASELINE = "torch.nn.LSTM"
DEFAULT_OUT_DIR = Path("benchmarks/results")
DEFAULT_SCALING_MODELS = ("lstm", "peephole_lstm")


# --------------------------------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Size:
    """One benchmark cell: batch B, sequence length T, input features I, hidden units H."""

    B: int
    T: int
    I: int
    H: int

    def __str__(self) -> str:
        return f"({self.B},{self.T},{self.I},{self.H})"


PRESETS: dict[str, Size] = {"1": Size(32, 100, 64, 128), "2": Size(64, 100, 256, 256), "3": Size(64, 100, 512, 512)}
QUICK_SIZES = (Size(4, 8, 16, 16), Size(4, 8, 32, 32))
QUICK_LENGTHS = (8, 32)


class BenchArgumentError(ValueError):
    """A bad command-line value; the message starts with the flag it concerns."""


def parse_sizes(text: str) -> list[Size]:
    """``"1,2"`` (presets), ``"all"``, or explicit ``"32x100x64x128"`` (BxTxIxH) items, comma-separated."""
    sizes: list[Size] = []
    for item in (s.strip() for s in text.split(",")):
        if item == "all":
            sizes.extend(PRESETS.values())
            continue
        if item in PRESETS:
            sizes.append(PRESETS[item])
            continue
        parts = item.lower().split("x")
        if len(parts) == 4 and all(p.isdigit() and int(p) > 0 for p in parts):
            sizes.append(Size(*(int(p) for p in parts)))
            continue
        raise BenchArgumentError(f"--sizes: expected presets {', '.join(PRESETS)}, 'all' or BxTxIxH "
                                 f"(e.g. 32x100x64x128), comma-separated; got {item!r}")
    return sizes


def parse_lengths(text: str) -> list[int]:
    """``"100,1000,10000"`` -> ``[100, 1000, 10000]``."""
    items = [s.strip() for s in text.split(",")]
    if not all(s.isdigit() and int(s) > 0 for s in items):
        raise BenchArgumentError(f"--lengths: expected positive ints, comma-separated (e.g. 100,1000); got {text!r}")
    return [int(s) for s in items]


# --------------------------------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One row to bench: how to build the module and its input, and what to report about it.

    ``build(size)`` returns a fresh module; ``make_input(size)`` its input; the module's ``forward(x)`` returns
    ``(output, state)`` (``state`` optional for the timing, needed for ``--scaling``); ``time_dim`` is the
    input's time axis (1 batch-first, 0 time-major).
    """

    name: str
    source: str
    build: Callable[[Size], nn.Module]
    make_input: Callable[[Size], Tensor]
    time_dim: int = 1
    family: str | None = None
    fused: bool = False
    spatial: bool = False
    counterpart: str | None = None
    note: str = ""


def _spatial_dims(size: Size, spatial: int) -> tuple[int, int]:
    """(input channels, hidden channels) of a spatial model at ``size``: I and H over ``spatial**2`` pixels."""
    pixels = spatial * spatial
    return max(1, size.I // pixels), max(1, size.H // pixels)


def _family(name: str, info: rnnzoo.ModelInfo) -> str | None:
    """``"lstm"``, ``"gru"`` or ``"elman"`` for the variants of those (by name or cell class), else None."""
    return None if info.input_kind == rnnzoo.InputKind.IMAGE_SEQUENCE else info.family


def baseline_case() -> Case:
    """``torch.nn.LSTM(I, H, batch_first=True)``: the denominator of every ratio."""
    return Case(BASELINE, "torch", lambda s: nn.LSTM(s.I, s.H, batch_first=True),
                lambda s: torch.randn(s.B, s.T, s.I), family=None)


def rnnzoo_case(name: str, spatial_size: int = 4) -> Case:
    """The registry model ``name`` with its defaults (spatial models on a ``spatial_size``^2 image)."""
    info = rnnzoo.model_info(name)
    if info.input_kind == rnnzoo.InputKind.IMAGE_SEQUENCE:
        def build_spatial(s: Size) -> nn.Module:
            c, h = _spatial_dims(s, spatial_size)
            return rnnzoo.create(name, input_size=c, hidden_size=h)

        def input_spatial(s: Size) -> Tensor:
            c, _ = _spatial_dims(s, spatial_size)
            return torch.randn(s.B, s.T, c, spatial_size, spatial_size)

        return Case(name, "rnnzoo", build_spatial, input_spatial, spatial=True,
                    note=f"spatial: C=I/{spatial_size ** 2}, H/{spatial_size ** 2} channels, "
                         f"{spatial_size}x{spatial_size} image")
    return Case(name, "rnnzoo", lambda s: rnnzoo.create(name, input_size=s.I, hidden_size=s.H),
                lambda s: torch.randn(s.B, s.T, s.I), family=_family(name, info),
                fused=info.fast_path == rnnzoo.FastPath.TORCH)


# (row name, module, attribute, counterpart in rnnzoo, time-major)
PEERS: tuple[tuple[str, str, str, str | None, bool], ...] = (
    ("torchrecurrent.OriginalLSTM", "torchrecurrent", "OriginalLSTM", "lstm1997", False),
    ("torchrecurrent.PeepholeLSTM", "torchrecurrent", "PeepholeLSTM", "peephole_lstm", False),
    ("torchrecurrent.SCRN", "torchrecurrent", "SCRN", "scrn", False),
    ("sru.SRU", "sru", "SRU", None, True),
)


def _import_quietly(module: str) -> Any:
    with warnings.catch_warnings(), _quiet_fd(2):
        warnings.simplefilter("ignore")
        return importlib.import_module(module)


def peer_cases(names: Iterable[str]) -> tuple[list[Case], list[str]]:
    """The selected peer rows that can be imported, and a note per peer package that cannot."""
    cases: list[Case] = []
    notes: list[str] = []
    failed: dict[str, str] = {}
    for row, module, attr, counterpart, time_major in PEERS:
        if row not in names:
            continue
        if module in failed:
            continue
        try:
            mod = _import_quietly(module)
        except Exception as exc:  # any import-time failure (missing, broken extension) skips the peer
            failed[module] = f"{type(exc).__name__}: {exc}".splitlines()[0]
            notes.append(f"peer {module}: not importable ({failed[module]}); its rows are skipped")
            continue
        cls = getattr(mod, attr)
        try:
            version = importlib.metadata.version(module)
        except importlib.metadata.PackageNotFoundError:
            version = getattr(mod, "__version__", "?")
        if module == "sru":
            warnings.filterwarnings("ignore", message="Running SRU on CPU")  # training on CPU is the point
            def build(s: Size, cls: Any = cls) -> nn.Module:
                return cls(s.I, s.H, num_layers=1)
        else:
            def build(s: Size, cls: Any = cls) -> nn.Module:
                return cls(s.I, s.H, batch_first=True)

        def make(s: Size, tm: bool = time_major) -> Tensor:
            return torch.randn(s.T, s.B, s.I) if tm else torch.randn(s.B, s.T, s.I)

        note = f"{module} {version}" + (f", counterpart of {counterpart}" if counterpart else "")
        cases.append(Case(row, module, build, make, time_dim=0 if time_major else 1, counterpart=counterpart,
                          note=note))
    return cases, notes


def select_names(patterns: str, candidates: Sequence[str], *, flag: str = "--models") -> list[str]:
    """The candidates matching any of the comma-separated shell wildcards; a pattern matching none raises."""
    chosen: list[str] = []
    for pattern in (p.strip() for p in patterns.split(",")):
        hits = [c for c in candidates if fnmatch.fnmatchcase(c, pattern)]
        if not pattern or not hits:
            raise BenchArgumentError(f"{flag}: pattern {pattern!r} matches no model "
                                     f"(available: {', '.join(candidates)})")
        chosen.extend(h for h in hits if h not in chosen)
    return chosen


# --------------------------------------------------------------------------------------------------- timing


def _output(result: Any) -> Tensor:
    return result[0] if isinstance(result, tuple) else result


def train_step(module: nn.Module, x: Tensor) -> None:
    """The timed part of a train step: forward, ``output.sum().backward()``."""
    _output(module(x)).sum().backward()


def interleaved_samples(steps: dict[str, Callable[[], None]], reps: int, warmup: int,
                        prepare: dict[str, Callable[[], None]] | None = None,
                        clock: Callable[[], float] = time.perf_counter) -> dict[str, list[float]]:
    """Time each step once per round, ``reps`` rounds after ``warmup`` untimed ones; seconds per round.

    The order rotates by one each round. ``prepare[name]`` (e.g. ``zero_grad``) runs untimed before a step.
    The garbage collector is paused while timing.
    """
    names = list(steps)
    prepare = prepare or {}
    noop: Callable[[], None] = lambda: None  # noqa: E731
    for _ in range(warmup):
        for name in names:
            prepare.get(name, noop)()
            steps[name]()
    samples: dict[str, list[float]] = {n: [] for n in names}
    was_enabled = gc.isenabled()
    gc.collect()
    gc.disable()
    try:
        for r in range(reps):
            k = r % len(names) if names else 0
            for name in names[k:] + names[:k]:
                prepare.get(name, noop)()
                t0 = clock()
                steps[name]()
                samples[name].append(clock() - t0)
    finally:
        if was_enabled:
            gc.enable()
    return samples


def _paired(samples: Sequence[float], baseline: Sequence[float]) -> list[float]:
    if len(samples) != len(baseline) or not samples:
        raise ValueError(f"expected as many samples as baseline samples (>0), got {len(samples)} and {len(baseline)}")
    return [s / b for s, b in zip(samples, baseline, strict=True)]


def paired_ratio(samples: Sequence[float], baseline: Sequence[float]) -> float:
    """Median over rounds of ``samples[r] / baseline[r]`` (both measured in round r)."""
    return statistics.median(_paired(samples, baseline))


def paired_iqr(samples: Sequence[float], baseline: Sequence[float]) -> tuple[float, float] | None:
    """The quartiles (Q1, Q3) of the per-round ratios: how far to trust the median (None for one round)."""
    ratios = _paired(samples, baseline)
    if len(ratios) < 2:
        return None
    q1, _, q3 = statistics.quantiles(ratios, n=4, method="inclusive")
    return q1, q3


# --------------------------------------------------------------------------------------------------- memory


@contextlib.contextmanager
def _quiet_fd(fd: int) -> Iterator[None]:
    """Silence a file descriptor (the profiler's C++ log lines go straight to fd 2)."""
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            sys.stderr.flush()
            os.dup2(null.fileno(), fd)
            try:
                yield
            finally:
                os.dup2(saved, fd)
    finally:
        os.close(saved)


def peak_of_deltas(deltas: Iterable[tuple[int, int]]) -> int:
    """Peak of the running sum of ``(timestamp, +/-bytes)`` allocator events, in time order (0 if it never rises)."""
    current = peak = 0
    for _, nbytes in sorted(deltas, key=lambda d: d[0]):
        current += nbytes
        peak = max(peak, current)
    return peak


_HOST_DEVICES = ("CPU", "MKLDNN", "IDEEP")  # the device types torch.profiler counts as CPU memory


def peak_memory(fn: Callable[[], None]) -> int:
    """Peak bytes of CPU tensor memory allocated while ``fn()`` runs (see the module docstring)."""
    from torch.profiler import ProfilerActivity, profile

    with _quiet_fd(2), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
    events = prof.profiler.kineto_results.events()  # raw events: building FunctionEvents is far slower
    return peak_of_deltas((e.start_ns(), e.nbytes()) for e in events
                          if e.name() == "[memory]" and str(e.device_type()).split(".")[-1] in _HOST_DEVICES)


# --------------------------------------------------------------------------------------------------- rows


@dataclass
class Target:
    """An informational target: ``value <= limit``."""

    issue: int
    metric: str
    limit: float
    value: float | None

    @property
    def passed(self) -> bool | None:
        return None if self.value is None else self.value <= self.limit

    def mark(self) -> str:
        state = {True: "ok", False: "FAIL", None: "n/a"}[self.passed]
        return f"#{self.issue} {self.metric}<={self.limit:.2f} {state}"


@dataclass
class Row:
    """One model at one size."""

    model: str
    source: str
    size: Size
    time_ratio: float | None = None
    ratio_iqr: tuple[float, float] | None = None
    time_ms: float | None = None
    baseline_ms: float | None = None
    mem_ratio: float | None = None
    peak_mb: float | None = None
    baseline_peak_mb: float | None = None
    compile_s: float | None = None
    samples_ms: list[float] = field(default_factory=list)
    targets: list[Target] = field(default_factory=list)
    note: str = ""

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"] = asdict(self.size)
        d["targets"] = [{**asdict(t), "passed": t.passed} for t in self.targets]
        return d


def targets_for(case: Case, size: Size, time_ratio: float | None, mem_ratio: float | None,
                compiled: bool = False) -> list[Target]:
    """The targets of issues 2 and 5 that apply to ``case`` at ``size`` (rnnzoo rows, eager, not spatial)."""
    if case.source != "rnnzoo" or case.spatial or compiled:
        return []
    out: list[Target] = []
    if size in (PRESETS["2"], PRESETS["3"]):
        out.append(Target(2, "time", 1.05 if case.fused else 1.3, time_ratio))
    if case.family is not None:
        if size == PRESETS["2"]:
            out.append(Target(5, "time", 1.15, time_ratio))
        elif size == PRESETS["1"]:
            out.append(Target(5, "time", 1.8, time_ratio))
        if case.family == "lstm":
            out.append(Target(5, "mem", 1.0, mem_ratio))
    return out


def bench_size(cases: Sequence[Case], size: Size, *, reps: int, warmup: int, memory: bool = True,
               compile_models: bool = False, log: Callable[[str], None] = lambda m: None) -> list[Row]:
    """Bench every case at ``size`` (the first case is the baseline); one row per case (and compiled model)."""
    modules: dict[str, nn.Module] = {}
    inputs: dict[str, Tensor] = {}
    by_name: dict[str, Case] = {}
    compiled_of: dict[str, str] = {}
    notes: dict[str, str] = {}
    compile_s: dict[str, float] = {}
    for case in cases:
        torch.manual_seed(0)
        modules[case.name] = case.build(size)
        inputs[case.name] = case.make_input(size)
        by_name[case.name] = case
        notes[case.name] = case.note
    if compile_models:
        for case in cases[1:]:
            if case.source != "rnnzoo":
                continue
            key = f"{case.name} [compiled]"
            log(f"  compiling {case.name} ...")
            try:
                compiled = torch.compile(modules[case.name])
                t0 = time.perf_counter()
                train_step(compiled, inputs[case.name])
                compile_s[key] = time.perf_counter() - t0
            except Exception as exc:  # compilation unsupported for this model: report it, keep going
                first = (str(exc).strip().splitlines() or [""])[0][:120]
                reason = f"compile failed: {type(exc).__name__}: {first}"
                notes[case.name] = "; ".join(filter(None, [notes[case.name], reason]))
                log(f"  {case.name}: {reason}")
                continue
            modules[key], inputs[key], by_name[key] = compiled, inputs[case.name], case
            compiled_of[key] = case.name
            notes[key] = "torch.compile, steady state"
    names = list(modules)

    def step_of(name: str) -> Callable[[], None]:
        return lambda: train_step(modules[name], inputs[name])

    def zero_of(name: str) -> Callable[[], None]:
        return lambda: modules[name].zero_grad(set_to_none=True)

    log(f"size {size}: timing {len(names)} models x {reps} reps (+{warmup} warm-up) ...")
    samples = interleaved_samples({n: step_of(n) for n in names}, reps, warmup,
                                  prepare={n: zero_of(n) for n in names})
    base = samples[names[0]]
    peaks: dict[str, int] = {}
    if memory:
        log(f"size {size}: peak memory of one step per model ...")
        for name in names:
            modules[name].zero_grad(set_to_none=True)
            peaks[name] = peak_memory(step_of(name))
    rows: list[Row] = []
    for name in names:
        case = by_name[name]
        ratio = paired_ratio(samples[name], base)
        mem_ratio = peaks[name] / peaks[names[0]] if memory and peaks[names[0]] else None
        rows.append(Row(
            model=name, source=case.source, size=size, time_ratio=ratio,
            ratio_iqr=paired_iqr(samples[name], base),
            time_ms=1e3 * statistics.median(samples[name]), baseline_ms=1e3 * statistics.median(base),
            mem_ratio=mem_ratio, peak_mb=peaks[name] / 2**20 if memory else None,
            baseline_peak_mb=peaks[names[0]] / 2**20 if memory else None, compile_s=compile_s.get(name),
            samples_ms=[round(1e3 * s, 3) for s in samples[name]],
            targets=targets_for(case, size, ratio, mem_ratio, compiled=name in compiled_of), note=notes[name]))
    return rows


# --------------------------------------------------------------------------------------------------- scaling


def _detach(state: Any) -> Any:
    """Detach every tensor of a (nested, possibly named) tuple state."""
    if isinstance(state, Tensor):
        return state.detach()
    if isinstance(state, tuple):
        items = [_detach(s) for s in state]
        return type(state)(*items) if hasattr(state, "_fields") else tuple(items)
    if isinstance(state, list):
        return [_detach(s) for s in state]
    return state


def tbptt_pass(module: nn.Module, x: Tensor, chunk: int, time_dim: int = 1) -> None:
    """Train over ``x`` by truncated BPTT: per chunk of ``chunk`` steps zero_grad, forward from the carried
    (detached) state, ``output.sum().backward()``."""
    state = None
    for piece in x.split(chunk, dim=time_dim):
        module.zero_grad(set_to_none=True)
        out, state = module(piece) if state is None else module(piece, state)
        out.sum().backward()
        state = _detach(state)
        del out


@dataclass
class ScalingRow:
    """One model at one sequence length under truncated BPTT.

    ``vs_first``: per-time-step cost relative to the same model at the first length (paired, interleaved);
    ``vs_baseline``: the pass time relative to nn.LSTM's at the same length (paired, interleaved).
    """

    model: str
    T: int
    chunk: int
    us_per_step: float
    total_ms: float
    vs_first: float
    vs_baseline: float
    peak_mb: float | None
    samples_ms: list[float] = field(default_factory=list)


def bench_scaling(cases: Sequence[Case], size: Size, lengths: Sequence[int], chunk: int, *, reps: int,
                  warmup: int, memory: bool = True, log: Callable[[str], None] = lambda m: None
                  ) -> list[ScalingRow]:
    """Time per time step and peak memory of a truncated-BPTT pass for each case and ``T`` in ``lengths``.

    Every (model, T) pass is one entry of the same interleaved rounds, so the per-step costs at different
    lengths are compared under the same load; the first case is the baseline. Warm-up: ``warmup`` passes
    per model at the first length.
    """
    modules: dict[str, nn.Module] = {}
    for case in cases:
        torch.manual_seed(0)
        modules[case.name] = case.build(size)
    inputs = {(c.name, t): c.make_input(Size(size.B, t, size.I, size.H)) for t in lengths for c in cases}
    dims = {c.name: c.time_dim for c in cases}

    def pass_of(key: tuple[str, int]) -> Callable[[], None]:
        return lambda: tbptt_pass(modules[key[0]], inputs[key], chunk, dims[key[0]])

    for _ in range(warmup):
        for case in cases:
            pass_of((case.name, lengths[0]))()
    keys = list(inputs)
    log(f"scaling: timing {len(cases)} models x T in {list(lengths)} x {reps} reps, interleaved ...")
    timed = interleaved_samples({f"{n}@{t}": pass_of((n, t)) for n, t in keys}, reps, 0)
    samples = {k: timed[f"{k[0]}@{k[1]}"] for k in keys}
    rows: list[ScalingRow] = []
    base = cases[0].name
    for t in lengths:
        for case in cases:
            key, first = (case.name, t), (case.name, lengths[0])
            peak = peak_memory(pass_of(key)) if memory else None
            total = statistics.median(samples[key])
            per_step = [s / t for s in samples[key]]
            rows.append(ScalingRow(case.name, t, chunk, 1e6 * total / t, 1e3 * total,
                                   paired_ratio(per_step, [s / lengths[0] for s in samples[first]]),
                                   paired_ratio(samples[key], samples[(base, t)]),
                                   peak / 2**20 if peak is not None else None,
                                   [round(1e3 * s, 3) for s in samples[key]]))
    return rows


# --------------------------------------------------------------------------------------------------- report


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


# --------------------------------------------------------------------------------------------------- CLI


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, no usage block
        raise BenchArgumentError(message)


def build_parser() -> argparse.ArgumentParser:
    """The ``rnnzoo bench`` arguments."""
    p = _Parser(prog="rnnzoo bench", description="Train-step time and peak memory of every registered model as "
                "ratios to torch.nn.LSTM, measured interleaved in one run.")
    p.add_argument("--models", default=None,
                   help="comma-separated shell wildcards over model names (rnnzoo and peers, e.g. "
                        "'*lstm*,torchrecurrent.*'); default: all (--scaling: lstm,peephole_lstm)")
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
    lengths = parse_lengths(args.lengths) if args.lengths else (list(QUICK_LENGTHS) if quick else [100, 1000, 10000])
    chunk = _positive("--chunk", args.chunk if args.chunk is not None else (8 if quick else 100))

    registry = rnnzoo.list_models()
    peer_names = [] if args.no_peers else [p[0] for p in PEERS]
    default = ",".join(DEFAULT_SCALING_MODELS) if args.scaling else "*"
    chosen = select_names(args.models or default, registry + peer_names)
    if args.omp_wait_policy == "passive" and "OMP_WAIT_POLICY" not in os.environ:
        # libgomp reads the policy once, when torch loads it: measure in a child that has it set.
        child_argv = list(argv if argv is not None else sys.argv[1:])
        sys.stdout.flush()
        sys.stderr.flush()
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        return subprocess.run([sys.executable, "-m", "rnnzoo.bench", *child_argv], env=env, check=False).returncode
    cases = [rnnzoo_case(n, spatial) for n in chosen if n in registry]
    peers, notes = peer_cases([n for n in chosen if n in peer_names])
    cases += peers
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
        scaling: list[ScalingRow] = []
        if args.scaling:
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


if __name__ == "__main__":
    sys.exit(main())
