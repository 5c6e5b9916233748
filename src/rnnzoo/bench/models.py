"""``rnnzoo bench --structured``: whole models (and memory cells) timed from their registry entries alone.

What is measured, for every selected entry (issue 12, "Speed and scale"):

* **train steps per second**: one step is ``model(x)``, the sum of every floating output leaf, ``backward()``;
  ``zero_grad`` runs untimed between steps; all (model, batch) steps are interleaved round by round
  (:func:`rnnzoo.bench.measure.interleaved_samples`) and the median round is reported;
* **decoding throughput** (sequences per second) of models with ``generate(x, *, width=...)``, at each beam width
  of ``--widths`` (default 1 and 5), under ``torch.no_grad()`` in eval mode, median of interleaved rounds;
* **the split of a train step's time by part**: one profiled step (``torch.profiler``, CPU); every operator's self
  CPU time is given to the innermost enclosing ``torch.profiler.record_function`` range labelled
  ``"<registered name>/<part>"`` (e.g. ``"ntm/addressing"``); backward operators go to the label of the forward
  operator that created them (matched by autograd's sequence number); the rest is ``other``. Shares of the
  step's total self CPU time are printed.

How an entry is built, from registry fields only: kind MODEL with ``test_options``: ``rnnzoo.create(name,
**test_options, **overrides)`` fed ``model.example_input(B)``; kind CELL (an NTM, a recurrent memory network):
``rnnzoo.create(name, I, H, **overrides)`` fed ``input_kind.example(B, T, I)`` for each ``--sizes``. Overrides come
from ``--models 'name[key=value,...]'`` (e.g. ``memn2n[hidden_size=128]``), the way the paper's sizes are asked for.
Without ``--models`` every MODEL entry with ``test_options`` is benched; cells only when named.
"""

from __future__ import annotations

import json
import re
import statistics
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

import rnnzoo
from rnnzoo.bench.cases import BenchArgumentError, Selection, Size
from rnnzoo.bench.measure import interleaved_samples
from rnnzoo.bench.report import RESULT_FILES, existing_results, md_table, text_table
from rnnzoo.core.registry import ModelKind
from rnnzoo.core.tree import tree_leaves

Log = Callable[[str], None]

MODEL_COLUMNS = ("model", "size", "params", "train ms / step", "train steps / s", "work of a step", "decode seq / s",
                 "split of a step")
DEFAULT_WIDTHS = (1, 5)
_AUTOGRAD = "autograd::engine::evaluate_function: "


@dataclass
class Target:
    """One row: ``row`` as selected, the registry ``name``, the ``options`` given, a batch size and, for cells,
    the (B, T, I, H) size; ``build()`` makes the module, ``example(generator)`` its input."""

    row: str
    name: str
    options: dict[str, Any]
    batch: int
    size: Size | None = None

    @property
    def label(self) -> str:
        return str(self.size) if self.size is not None else f"B={self.batch}"

    def build(self) -> nn.Module:
        info = rnnzoo.model_info(self.name)
        if info.kind is ModelKind.MODEL:
            return rnnzoo.create(self.name, **{**info.test_options, **self.options})
        assert self.size is not None
        return rnnzoo.create(self.name, self.size.I, self.size.H, **self.options)

    def example(self, model: nn.Module, generator: torch.Generator) -> Any:
        info = rnnzoo.model_info(self.name)
        if info.kind is ModelKind.MODEL:
            return model.example_input(self.batch, generator=generator)
        assert self.size is not None
        return info.input_kind.example(self.size.B, self.size.T, self.size.I, generator=generator)


@dataclass
class ModelRow:
    """One measured row. Times in seconds; ``decode``: beam width -> sequences per second; ``parts``: label ->
    share of a train step's self CPU time (``other`` included), empty when the step has no labelled parts."""

    row: str
    name: str
    size: str
    params: int
    train_s: float
    decode: dict[int, float] = field(default_factory=dict)
    parts: dict[str, float] = field(default_factory=dict)
    note: str = ""
    work: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def structured_targets(selections: Sequence[Selection], batches: Sequence[int], sizes: Sequence[Size]
                       ) -> list[Target]:
    """The rows to bench: a MODEL entry once per batch size; a CELL entry once per size (its own B)."""
    targets: list[Target] = []
    for sel in selections:
        info = rnnzoo.model_info(sel.name)
        if info.kind is ModelKind.MODEL:
            if not info.test_options:
                raise BenchArgumentError(f"--models: {sel.row!r} has no test_options in its registry entry, so the "
                                         "benchmark cannot build it")
            targets += [Target(sel.row, sel.name, sel.options, b) for b in batches]
        else:
            targets += [Target(sel.row, sel.name, sel.options, s.B, s) for s in sizes]
    return targets


def default_selection(registry: Sequence[str]) -> str:
    """Every MODEL entry with ``test_options``, comma-separated (what ``--structured`` benches by default)."""
    names = [n for n in registry if rnnzoo.model_info(n).kind is ModelKind.MODEL and rnnzoo.model_info(n).test_options]
    if not names:
        raise BenchArgumentError("--structured: no registered whole model (kind MODEL with test_options); name cells "
                                 "with --models (e.g. --models ntm)")
    return ",".join(names)


def _loss(out: Any) -> torch.Tensor:
    leaves = [t for t in tree_leaves(out) if isinstance(t, torch.Tensor) and t.is_floating_point()]
    if not leaves:
        raise TypeError("model: its forward returned no floating tensor to differentiate")
    return sum(t.sum() for t in leaves)  # type: ignore[return-value]


def _label_of(event: Any, labels: re.Pattern[str], by_seq: dict[int, str]) -> str | None:
    """The innermost part label enclosing ``event`` (a profiler FunctionEvent), through autograd's backward
    nodes to the forward operator that made them; None if unlabelled."""
    e = event
    while e is not None:
        if labels.match(e.name):
            return e.name
        if e.name.startswith(_AUTOGRAD) and e.sequence_nr in by_seq:
            return by_seq[e.sequence_nr]
        e = e.cpu_parent
    return None


def event_labels(events: Sequence[Any], names: Sequence[str]) -> list[str | None]:
    """The ``"<name>/<part>"`` label of each of ``events`` (profiler FunctionEvents) for the model ``names``, backward
    operators credited to the label of the forward operator that made them (autograd's sequence numbers); None
    for unlabelled events."""
    labels = re.compile("^(" + "|".join(re.escape(n) for n in names) + ")/[^/]+$")
    by_seq: dict[int, str] = {}
    for e in events:
        if e.sequence_nr >= 0 and not e.name.startswith(_AUTOGRAD) and not labels.match(e.name):
            label = _label_of(e, labels, {})
            if label is not None:
                by_seq.setdefault(e.sequence_nr, label)
    return [_label_of(e, labels, by_seq) for e in events]


def part_shares(events: Sequence[Any], names: Sequence[str]) -> dict[str, float]:
    """Shares of the total self CPU time of ``events`` (``torch.profiler.profile(...).events()``) by the
    ``"<name>/<part>"`` labels of ``names`` (:func:`event_labels`), plus ``"other"``; {} when no event carries
    such a label."""
    totals: dict[str, float] = {}
    for e, label in zip(events, event_labels(events, names), strict=True):
        key = label or "other"
        totals[key] = totals.get(key, 0.0) + e.self_cpu_time_total
    total = sum(totals.values())
    if total <= 0 or set(totals) <= {"other"}:
        return {}
    return {k: v / total for k, v in sorted(totals.items(), key=lambda kv: -kv[1])}


def bench_models(targets: Sequence[Target], *, reps: int, warmup: int, widths: Sequence[int] = DEFAULT_WIDTHS,
                 parts: bool = True, log: Log = lambda _: None) -> list[ModelRow]:
    """Measure every target (module docstring); a target that fails to build or run is a row with a note."""
    built: dict[str, tuple[Target, nn.Module, Any]] = {}
    notes: dict[str, str] = {}
    gen = torch.Generator().manual_seed(0)
    for i, t in enumerate(targets):
        key = f"{i}:{t.row}@{t.label}"
        try:
            torch.manual_seed(0)
            model = t.build().train()
            built[key] = (t, model, t.example(model, gen))
        except Exception as exc:  # a row that fails says why instead of ending the run
            notes[key] = f"not built: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
    steps: dict[str, Callable[[], None]] = {}
    prepare: dict[str, Callable[[], None]] = {}
    for key, (_, model, x) in built.items():
        steps[key] = (lambda m=model, v=x: _loss(m(v)).backward())
        prepare[key] = (lambda m=model: m.zero_grad(set_to_none=True))
    log(f"structured: timing {len(steps)} train step(s), {reps} reps")
    samples = interleaved_samples(steps, reps, warmup, prepare)
    decode: dict[str, dict[int, float]] = {}
    decode_steps: dict[str, Callable[[], None]] = {}
    for key, (_, model, x) in built.items():
        if callable(getattr(model, "generate", None)):
            for w in widths:
                decode_steps[f"{key}|{w}"] = (lambda m=model, v=x, w=w: m.generate(v, width=w))
    if decode_steps:
        log(f"structured: timing {len(decode_steps)} decoding run(s)")
        for m in {id(model): model for _, model, _ in built.values()}.values():
            m.eval()
        with torch.no_grad():
            dec = interleaved_samples(decode_steps, reps, warmup)
        for k, v in dec.items():
            key, w = k.rsplit("|", 1)
            decode.setdefault(key, {})[int(w)] = built[key][0].batch / statistics.median(v)
    rows: list[ModelRow] = []
    for i, t in enumerate(targets):
        key = f"{i}:{t.row}@{t.label}"
        if key not in built:
            rows.append(ModelRow(t.row, t.name, t.label, 0, float("nan"), note=notes[key]))
            continue
        _, model, x = built[key]
        shares: dict[str, float] = {}
        if parts:
            model.train()
            with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
                _loss(model(x)).backward()
            model.zero_grad(set_to_none=True)
            shares = part_shares(prof.events(), rnnzoo.list_models())
        work = model.work(x) if callable(getattr(model, "work", None)) else {}
        rows.append(ModelRow(t.row, t.name, t.label, sum(p.numel() for p in model.parameters()),
                             statistics.median(samples[key]), decode.get(key, {}), shares, work=dict(work)))
    return rows


def model_cells(row: ModelRow) -> list[str]:
    """A row as table cells (MODEL_COLUMNS)."""
    if row.note:
        return [row.row, row.size, "-", "-", "-", "-", "-", row.note]
    work = ", ".join(f"{v:,} steps" if k == "steps" else f"{v / row.train_s:,.0f} {k} / s"
                     for k, v in row.work.items()) or "-"
    dec = ", ".join(f"w{w}: {v:,.0f}" for w, v in sorted(row.decode.items())) or "-"
    split = ", ".join(f"{k.split('/', 1)[-1]} {v:.0%}" for k, v in row.parts.items()) or "-"
    return [row.row, row.size, f"{row.params:,}", f"{row.train_s * 1e3:.2f}", f"{1 / row.train_s:,.1f}", work, dec,
            split]


METHOD = ("a train step = forward + backward of the sum of the float outputs, zero_grad untimed; median of "
          "interleaved rounds. decode seq / s = batch / median time of `generate(x, width=w)` (no_grad, eval). "
          "split = shares of one profiled train step's self CPU time by record_function labels "
          "'<name>/<part>' (backward operators counted with the forward operator that made them); other = "
          "unlabelled work (the loss, glue). work of a step = the model's `work(x)` counts (nodes, cells, "
          "operations) per second of a train step, and the runner steps of one forward.")


def print_models(rows: Sequence[ModelRow]) -> str:
    return text_table(MODEL_COLUMNS, [model_cells(r) for r in rows])


def write_model_results(run_dir: Path, report: dict[str, Any], rows: Sequence[ModelRow]) -> tuple[Path, Path]:
    """``run_dir/bench.md`` and ``bench.json`` for a ``--structured`` run; refuses a directory holding results."""
    run_dir.mkdir(parents=True, exist_ok=True)
    if existing_results(run_dir):
        raise FileExistsError(f"{run_dir} already holds a bench run")
    md, js = (run_dir / name for name in RESULT_FILES)
    with open(js, "x") as f:
        json.dump({**report, "models": [r.to_json() for r in rows]}, f, indent=1)
        f.write("\n")
    lines = [f"# rnnzoo bench --structured, {report['date']}", "", f"- command: `{report['command']}`",
             f"- reps: {report['config']['reps']} (+{report['config']['warmup']} warm-up); {METHOD}", "",
             md_table(MODEL_COLUMNS, [model_cells(r) for r in rows]), ""]
    if report.get("notes"):
        lines += ["## Notes", ""] + [f"- {n}" for n in report["notes"]] + [""]
    with open(md, "x") as f:
        f.write("\n".join(lines))
    return md, js


def parse_widths(text: str) -> list[int]:
    """``"1,5"`` -> ``[1, 5]``."""
    items = [s.strip() for s in text.split(",")]
    if not all(s.isdigit() and int(s) > 0 for s in items):
        raise BenchArgumentError(f"--widths: expected positive ints, comma-separated (e.g. 1,5); got {text!r}")
    return [int(s) for s in items]


def run_structured(args: Any, argv: Sequence[str], *, sizes: Sequence[Size], batches: Sequence[int] | None,
                   reps: int, warmup: int, threads: int, run_dir: Path | None, log: Log) -> int:
    """The ``--structured`` run from parsed arguments: select, measure, print, write; returns the exit code."""
    import datetime as _dt

    from rnnzoo.bench.cases import parse_models
    from rnnzoo.bench.report import git_state, machine_info

    registry = rnnzoo.list_models()
    selections = parse_models(args.models or default_selection(registry), registry, registry)
    batches = list(batches) if batches else [4 if args.quick else 32]
    widths = parse_widths(args.widths) if args.widths else list(DEFAULT_WIDTHS)
    targets = structured_targets(selections, batches, sizes)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        rows = bench_models(targets, reps=reps, warmup=warmup, widths=widths, log=log)
    finally:
        torch.set_num_threads(previous)
    print(print_models(rows))
    if run_dir is not None:
        report = {"date": _dt.date.today().isoformat(), "command": "rnnzoo bench " + " ".join(argv),
                  "source": git_state(), "machine": machine_info(threads),
                  "config": {"reps": reps, "warmup": warmup, "batches": batches, "widths": widths,
                             "sizes": [asdict(s) for s in sizes]}, "notes": []}
        md, js = write_model_results(run_dir, report, rows)
        print(f"wrote {md} and {js}")
    return 0
