"""How the cost of training grows with the sequence length under truncated BPTT (``rnnzoo bench --scaling``).

For each ``T`` the whole sequence is trained by the library's TBPTT(k1, k2) with ``k1 = k2 = chunk``
(:func:`rnnzoo.train.tbptt.windows` and :func:`~rnnzoo.train.tbptt.run_window`: the state carried and
detached between windows, a backward per window). The time per time step (median over interleaved reps of
the whole pass, divided by T) should be roughly constant in T, and the peak memory (profiled over the whole
pass) bounded by the truncation window. Where ``chunk`` does not divide T, the last window still reaches
back ``chunk`` steps (the TBPTT definition), re-running the steps it shares with the window before.

This module imports :mod:`rnnzoo.train` (and with it Lightning); the CLI imports it only for ``--scaling``.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from rnnzoo.bench.cases import Case, Size
from rnnzoo.bench.measure import Log, interleaved_samples, paired_ratio, peak_memory
from rnnzoo.train.tbptt import run_window, windows


def tbptt_pass(module: nn.Module, x: Any, chunk: int, time_dim: int = 1) -> None:
    """Train over ``x`` by TBPTT(chunk, chunk): per window zero_grad, forward from the carried (detached)
    state, ``output.sum().backward()``."""

    def run(a: int, b: int, state: Any) -> tuple[Any, Any]:
        piece = x.narrow(time_dim, a, b - a)
        return module(piece) if state is None else module(piece, state)

    state = None
    for window in windows(x.shape[time_dim], chunk, chunk):
        module.zero_grad(set_to_none=True)
        out, state = run_window(run, window, state, time_dim=time_dim)
        out.sum().backward()
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
                  warmup: int, memory: bool = True, log: Log = lambda m: None) -> list[ScalingRow]:
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
