"""How ``rnnzoo bench`` measures: interleaved timing rounds, paired ratios to the baseline of the same round,
peak tensor memory through the profiler, and the rows of one size.

* **Time ratio**: ``warmup`` untimed rounds, then ``reps`` rounds, each timing one step of every row (the
  order rotated by one group each round so that no row always runs first). A row's ratio is the median over rounds
  of its step time divided by the baseline's step time *of the same round* (paired, so a burst of load on a
  shared machine hits both); the quartiles of those ratios show the spread. A peer row (torchrecurrent) runs
  right after the rnnzoo row it is compared with in every round (:func:`peer_groups`: the rotation moves whole
  groups), so that pair's steps are back to back.
* **Peak memory**: one extra step under ``torch.profiler.profile(profile_memory=True)``; the running sum, in
  time order, of every CPU allocator event (+bytes, -bytes) is the tensor memory the step holds at each moment;
  its maximum is the peak. Parameters and the input exist before the step and are not counted. The Functions'
  buffer pool (:mod:`rnnzoo.fused.workspace`) is emptied first, so the buffers it would hand back are allocated,
  and counted, inside the step.
* **Device** (``--device cuda``): modules and inputs are moved there after they are built (untimed); each
  clock reading waits for the device (``torch.cuda.synchronize``), and the peak is CUDA's
  ``max_memory_allocated`` during the step, above what was allocated before it.
* **FLOPs**: one extra step per row under torch's FLOP counter, before the timed rounds
  (:mod:`~rnnzoo.bench.flops`: the matrix products of forward and backward); GFLOP/s = that count over the
  row's median step time, and the rate ratio = the row's GFLOP/s over the baseline's.
"""

from __future__ import annotations

import gc
import statistics
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn

from rnnzoo.bench.cases import COMPILED, Case, Size, compile_variant, quiet_fd, train_step
from rnnzoo.bench.flops import gflop_rate, train_step_flops
from rnnzoo.bench.targets import Target, compared_with_plain, peer_rows, targets_for

Log = Callable[[str], None]


def _silent(message: str) -> None:
    pass


# --------------------------------------------------------------------------------------------------- timing


def interleaved_samples(steps: dict[str, Callable[[], None]], reps: int, warmup: int,
                        prepare: dict[str, Callable[[], None]] | None = None,
                        clock: Callable[[], float] = time.perf_counter,
                        groups: Sequence[Sequence[str]] | None = None) -> dict[str, list[float]]:
    """Time each step once per round, ``reps`` rounds after ``warmup`` untimed ones; seconds per round.

    The order rotates by one group each round; ``groups`` (default: each step its own) partition the steps in
    order, and a group's steps always run back to back, in their order (a row and its peers). ``prepare[name]``
    (e.g. ``zero_grad``) runs untimed before a step. The garbage collector is paused while timing.
    """
    names = list(steps)
    blocks = [list(g) for g in groups] if groups is not None else [[n] for n in names]
    if [n for g in blocks for n in g] != names:
        raise ValueError(f"groups: expected a partition of the steps in their order {names}, got {blocks}")
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
            k = r % len(blocks) if blocks else 0
            for name in [n for g in blocks[k:] + blocks[:k] for n in g]:
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


def peak_of_deltas(deltas: Iterable[tuple[int, int]]) -> int:
    """Peak of the running sum of ``(timestamp, +/-bytes)`` allocator events, in time order (0 if it never rises)."""
    current = peak = 0
    for _, nbytes in sorted(deltas, key=lambda d: d[0]):
        current += nbytes
        peak = max(peak, current)
    return peak


_HOST_DEVICES = ("CPU", "MKLDNN", "IDEEP")  # the device types torch.profiler counts as CPU memory


def peak_cuda_memory(fn: Callable[[], None], device: torch.device) -> int:
    """Peak bytes of CUDA tensor memory ``fn()`` allocates on ``device`` above what was allocated before it."""
    torch.cuda.synchronize(device)
    before = torch.cuda.memory_allocated(device)
    torch.cuda.reset_peak_memory_stats(device)
    fn()
    torch.cuda.synchronize(device)
    return max(torch.cuda.max_memory_allocated(device) - before, 0)


def synced_clock(device: torch.device) -> Callable[[], float]:
    """``time.perf_counter`` that first waits for ``device`` (CUDA kernels run asynchronously)."""
    if device.type != "cuda":
        return time.perf_counter

    def clock() -> float:
        torch.cuda.synchronize(device)
        return time.perf_counter()

    return clock


def to_device(x: Any, device: torch.device) -> Any:
    """A case's input (a tensor, or a tuple/list/dict of them) on ``device``."""
    if isinstance(x, torch.Tensor):
        return x.to(device)
    if isinstance(x, tuple | list):
        return type(x)(to_device(v, device) for v in x)
    if isinstance(x, dict):
        return {k: to_device(v, device) for k, v in x.items()}
    return x


def peak_memory(fn: Callable[[], None]) -> int:
    """Peak bytes of CPU tensor memory allocated while ``fn()`` runs (see the module docstring)."""
    from torch.profiler import ProfilerActivity, profile

    from rnnzoo.fused import workspace

    workspace.clear()  # a pooled buffer from an earlier step would otherwise escape the count
    with quiet_fd(2), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
            fn()
    events = prof.profiler.kineto_results.events()  # raw events: building FunctionEvents is far slower
    return peak_of_deltas((e.start_ns(), e.nbytes()) for e in events
                          if e.name() == "[memory]" and str(e.device_type()).split(".")[-1] in _HOST_DEVICES)


# --------------------------------------------------------------------------------------------------- rows


@dataclass
class Row:
    """One row at one size; ``vs_plain``: the paired time ratio to the plain model's row (issue 8), if any;
    ``vs_peers``: the paired speed-up over each peer row computing the same cell (peer step / this step);
    ``gflop``: the counted GFLOP of one train step, ``gflop_s`` it over ``time_ms``, ``rate_ratio`` that rate
    over the baseline's (None where not counted)."""

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
    vs_plain: float | None = None
    vs_peers: dict[str, float] = field(default_factory=dict)
    gflop: float | None = None
    gflop_s: float | None = None
    rate_ratio: float | None = None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["size"] = asdict(self.size)
        d["targets"] = [{**asdict(t), "passed": t.passed} for t in self.targets]
        return d


def _first_line(exc: Exception) -> str:
    return f"{type(exc).__name__}: {(str(exc).strip().splitlines() or [''])[0][:120]}"


def count_flops(modules: dict[str, nn.Module], inputs: dict[str, Any], *, log: Log = _silent
                ) -> tuple[dict[str, int], dict[str, str]]:
    """The FLOPs of one train step of each module (:func:`~rnnzoo.bench.flops.train_step_flops`), and a note
    for each one that could not be counted (the row then shows no rate)."""
    counts: dict[str, int] = {}
    failed: dict[str, str] = {}
    for name, module in modules.items():
        try:
            counts[name] = train_step_flops(module, inputs[name])
        except Exception as exc:  # an op the counter cannot run: report it, keep the timing
            failed[name] = f"FLOPs not counted: {_first_line(exc)}"
            log(f"  {name}: {failed[name]}")
    return counts, failed


def peer_groups(names: list[str], of: dict[str, Case]) -> list[list[str]]:
    """``names`` in groups: each rnnzoo row followed by the peer rows it names (``peer_rows``; a peer named by several
    rows goes with the first), every other row alone, in their order; the first name (the baseline) always alone.
    Timed as groups (:func:`interleaved_samples`), a row and its peer run back to back in every round, so a burst of
    load on a shared machine hits both sides of their paired ratio."""
    owner: dict[str, str] = {}
    for name in names[1:]:
        if name in owner:
            continue
        for peer in peer_rows(of[name]):
            if peer in of and peer not in (name, names[0]):
                owner.setdefault(peer, name)
    return [[name, *(p for p, o in owner.items() if o == name)] for name in names if name not in owner]


def bench_size(cases: Sequence[Case], size: Size, *, reps: int, warmup: int, memory: bool = True,
               compile_models: bool = False, flops: bool = True, log: Log = _silent,
               device: torch.device | str = "cpu", refusals: dict[str, str] | None = None) -> list[Row]:
    """Bench every case at ``size`` (the first case is the baseline); one row per case (and compiled variant).

    With ``compile_models`` every rnnzoo row gets a compiled variant (``name [compiled]``): its first step,
    compilation included, is timed once as ``compile_s``, then it joins the interleaved rounds. With ``flops``
    each row's train step is counted once first (a compiled variant gets its eager model's count). ``device``:
    where the modules and inputs are moved before anything is measured (see the module docstring).
    A peer case whose build refuses ``size`` (ValueError, TypeError, NotImplementedError: one that needs
    ``input_size == hidden_size``) gets no row; the rows naming it as their peer say so, and ``refusals`` (if
    given) receives ``{row: reason}``. The baseline or an rnnzoo case refusing raises.
    """
    device = torch.device(device)
    modules: dict[str, nn.Module] = {}
    inputs: dict[str, Any] = {}
    of: dict[str, Case] = {}
    notes: dict[str, str] = {}
    compile_s: dict[str, float] = {}
    refused: dict[str, str] = refusals if refusals is not None else {}
    for i, case in enumerate(cases):
        torch.manual_seed(0)
        try:
            module = case.build(size)
        except (ValueError, TypeError, NotImplementedError) as exc:
            if i == 0 or case.source == "rnnzoo":  # the baseline, or our own model: a real failure
                raise
            refused[case.name] = _first_line(exc)  # a peer, e.g. one that needs input_size == hidden_size
            log(f"size {size}: {case.name} refused this size ({refused[case.name]}); no row")
            continue
        modules[case.name], of[case.name] = module.to(device), case
        inputs[case.name] = to_device(case.make_input(size), device)
        notes[case.name] = case.note
    for name, case in of.items():  # a row whose peer refused the size says so (its comparison is absent)
        notes[name] = "; ".join(filter(None, [notes[name], *(f"{p} refused this size ({refused[p]})"
                                                              for p in peer_rows(case) if p in refused)]))
    for case in cases[1:] if compile_models else ():
        if case.source != "rnnzoo" or case.name not in modules:
            continue
        key = case.name + COMPILED
        log(f"  compiling {case.name} ...")
        try:
            modules[key], compile_s[key] = compile_variant(modules[case.name], inputs[case.name])
        except Exception as exc:  # compilation unsupported for this model: report it, keep going
            reason = f"compile failed: {_first_line(exc)}"
            notes[case.name] = "; ".join(filter(None, [notes[case.name], reason]))
            log(f"  {case.name}: {reason}")
            continue
        inputs[key], of[key], notes[key] = inputs[case.name], case, "torch.compile, steady state"
    groups = peer_groups(list(modules), of)
    names = [n for g in groups for n in g]
    counts: dict[str, int] | None = None
    if flops:
        log(f"size {size}: FLOPs of one step per model ...")
        counts, failed = count_flops({n: modules[n] for n in names if n not in compile_s}, inputs, log=log)
        for key in compile_s:  # the same computation as the eager model's
            base = key[:-len(COMPILED)]
            if base in counts:
                counts[key] = counts[base]
        for name, reason in failed.items():
            notes[name] = "; ".join(filter(None, [notes[name], reason]))

    def step_of(name: str) -> Callable[[], None]:
        return lambda: train_step(modules[name], inputs[name])

    def zero_of(name: str) -> Callable[[], None]:
        return lambda: modules[name].zero_grad(set_to_none=True)

    log(f"size {size}: timing {len(names)} models x {reps} reps (+{warmup} warm-up) ...")
    samples = interleaved_samples({n: step_of(n) for n in names}, reps, warmup,
                                  prepare={n: zero_of(n) for n in names}, clock=synced_clock(device), groups=groups)
    peaks: dict[str, int] | None = None
    if memory:
        log(f"size {size}: peak memory of one step per model ...")
        peaks = {}
        for name in names:
            modules[name].zero_grad(set_to_none=True)
            peaks[name] = (peak_cuda_memory(step_of(name), device) if device.type == "cuda"
                           else peak_memory(step_of(name)))
    return make_rows(of, size, samples, peaks, compile_s=compile_s, notes=notes, flops=counts)


def make_rows(of: dict[str, Case], size: Size, samples: dict[str, list[float]], peaks: dict[str, int] | None,
              *, compile_s: dict[str, float] | None = None, notes: dict[str, str] | None = None,
              flops: dict[str, int] | None = None) -> list[Row]:
    """The rows of one size from what was measured: ``samples`` (seconds per round, in the same rounds; the
    first entry is the baseline), ``peaks`` (bytes, or None), ``compile_s`` (the compiled variants' compile
    times; a row in it is compiled); ``of[row]`` is the row's case, ``notes[row]`` its note (else the case's);
    ``flops[row]`` the counted FLOPs of its train step (absent: not counted).

    A row compared with its plain model (issue 8) gets ``vs_plain``, the paired ratio to that row's samples,
    when the plain row was measured in the same rounds; a plain rnnzoo row whose registry entry names peers
    (issue 5) gets ``vs_peers``, the paired speed-up over each peer row measured in the same rounds.
    """
    compile_s = compile_s or {}
    names = list(samples)
    base = samples[names[0]]
    base_peak = peaks[names[0]] if peaks is not None else None
    counts = flops or {}
    base_rate = gflop_rate(counts.get(names[0]), statistics.median(base))
    rows: list[Row] = []
    for name in names:
        case, compiled = of[name], name in compile_s
        ratio = paired_ratio(samples[name], base)
        peak = peaks[name] if peaks is not None else None
        mem_ratio = peak / base_peak if peak is not None and base_peak else None
        plain = case.model if compared_with_plain(case) and not compiled else None
        vs_plain = paired_ratio(samples[name], samples[plain]) if plain is not None and plain in samples else None
        vs_peers = {} if compiled else {p: paired_ratio(samples[p], samples[name])
                                         for p in peer_rows(case) if p in samples}
        count = counts.get(name)
        rate = gflop_rate(count, statistics.median(samples[name]))
        rate_ratio = rate / base_rate if rate is not None and base_rate else None
        note = (notes or {}).get(name, case.note)
        note += f"; {vs_plain:.2f}x {plain} (paired)" if vs_plain is not None else ""
        note += "".join(f"; {v:.2f}x faster than {p} (paired)" for p, v in vs_peers.items())
        rows.append(Row(
            model=name, source=case.source, size=size, time_ratio=ratio, ratio_iqr=paired_iqr(samples[name], base),
            time_ms=1e3 * statistics.median(samples[name]), baseline_ms=1e3 * statistics.median(base),
            mem_ratio=mem_ratio, peak_mb=peak / 2**20 if peak is not None else None,
            baseline_peak_mb=base_peak / 2**20 if base_peak is not None else None, compile_s=compile_s.get(name),
            samples_ms=[round(1e3 * s, 3) for s in samples[name]],
            targets=targets_for(case, size, ratio, mem_ratio, compiled=compiled, vs_plain=vs_plain, vs_peers=vs_peers,
                                rate_ratio=rate_ratio),
            note=note.strip("; "), vs_plain=vs_plain, vs_peers=vs_peers,
            gflop=count / 1e9 if count is not None else None, gflop_s=rate, rate_ratio=rate_ratio))
    return rows
