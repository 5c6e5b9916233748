"""Per-step latency of streaming inference (``rnnzoo bench --streaming``, issue 9 section 5).

A causal model is fed one step at a time, the state carried by the caller, under ``torch.no_grad()`` in
eval mode, beside ``torch.nn.LSTMCell(I, H)`` stepped the same way: ``y_t, state = model.step(x_t, state)``
(the streaming API), ``h, c = lstm_cell(x_t, (h, c))`` for the baseline.
One timed sample runs ``T`` steps from the zero state (``x_t`` ``(B, I)``, all drawn before timing); the
samples of every row are interleaved in the same rounds (the order rotated each round), the latency is the
median sample / T, and the ratio the median over rounds of the paired ratio to LSTMCell's sample of the same
round. Only causal models (``info.causal``) are benched; a row whose options make it non-causal (e.g.
``bidirectional=True``) is skipped with a note.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

import rnnzoo
from rnnzoo.bench.cases import Case, Size
from rnnzoo.bench.measure import Log, interleaved_samples, paired_iqr, paired_ratio

STREAM_BASELINE = "torch.nn.LSTMCell"
DEFAULT_BATCHES = (1, 32)


@dataclass
class StreamRow:
    """One model at one batch size: latency per step (us) and its ratio to LSTMCell's (paired)."""

    model: str
    batch: int
    I: int
    H: int
    steps: int
    us_per_step: float
    baseline_us: float
    ratio: float
    ratio_iqr: tuple[float, float] | None
    samples_ms: list[float] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def stepper(model: nn.Module) -> Callable[[Tensor, Any], tuple[Tensor, Any]]:
    """How a user steps ``model`` one token at a time: ``model.step``; raises ValueError where the model cannot
    be stepped (a reversed or bidirectional layer needs the future)."""
    model.step_cell  # noqa: B018 - the property raises for a model that cannot be stepped
    return model.step


def _stream_loop(step: Callable[[Tensor, Any], tuple[Tensor, Any]], xs: Sequence[Tensor]) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            state = None
            for x_t in xs:
                _, state = step(x_t, state)

    return run


def _lstm_cell_loop(cell: nn.LSTMCell, xs: Sequence[Tensor]) -> Callable[[], None]:
    def run() -> None:
        with torch.no_grad():
            state = None
            for x_t in xs:
                state = cell(x_t, state)

    return run


def streaming_cases(cases: Sequence[Case]) -> tuple[list[Case], list[str]]:
    """The rnnzoo rows that stream (causal registry models), and a note per row left out."""
    keep: list[Case] = []
    notes: list[str] = []
    for case in cases:
        if case.source != "rnnzoo" or case.model is None:
            continue
        if not rnnzoo.model_info(case.model).causal:
            notes.append(f"{case.name}: not causal, no streaming row")
            continue
        keep.append(case)
    return keep, notes


def bench_streaming(cases: Sequence[Case], size: Size, batches: Sequence[int], *, reps: int, warmup: int,
                    log: Log = lambda message: None) -> tuple[list[StreamRow], list[str]]:
    """Stream ``size.T`` steps of every case at each batch size beside ``torch.nn.LSTMCell(I, H)``; rows and
    notes (a case that cannot be stepped, e.g. bidirectional, is noted and skipped)."""
    rows: list[StreamRow] = []
    notes: list[str] = []
    for batch in batches:
        s = Size(batch, size.T, size.I, size.H)
        torch.manual_seed(0)
        baseline = nn.LSTMCell(s.I, s.H).eval()
        steps = torch.randn(s.T, batch, s.I).unbind(0)  # cpu: --streaming measures on the CPU (no --device)
        runs: dict[str, Callable[[], None]] = {STREAM_BASELINE: _lstm_cell_loop(baseline, steps)}
        for case in cases:
            torch.manual_seed(0)
            model = case.build(s).eval()
            try:
                step = stepper(model)
            except ValueError as exc:  # e.g. a bidirectional layer: it needs the future
                if batch == batches[0]:
                    notes.append(f"{case.name}: not streamed ({str(exc).splitlines()[0]})")
                continue
            xs = case.make_input(s).movedim(case.time_dim, 0).unbind(0)  # x_t: (B, I) or (B, C, Y, X)
            runs[case.name] = _stream_loop(step, xs)
        log(f"streaming, batch {batch}, I={s.I}, H={s.H}: timing {len(runs)} models x {reps} reps of {s.T} steps ...")
        samples = interleaved_samples(runs, reps, warmup)
        base = samples[STREAM_BASELINE]
        for name, got in samples.items():
            rows.append(StreamRow(model=name, batch=batch, I=s.I, H=s.H, steps=s.T,
                                  us_per_step=1e6 * statistics.median(got) / s.T,
                                  baseline_us=1e6 * statistics.median(base) / s.T, ratio=paired_ratio(got, base),
                                  ratio_iqr=paired_iqr(got, base),
                                  samples_ms=[round(1e3 * v, 3) for v in got]))
    return rows, notes
