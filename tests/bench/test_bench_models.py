"""``rnnzoo bench --structured`` (rnnzoo.bench.models): whole models and labelled cells timed from registry fields
alone. The machinery is tested on a tiny StructuredModel with ``generate`` and a tiny cell with
``record_function`` part labels, both registered here and unregistered after each test."""

from __future__ import annotations

import json
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor, nn

import rnnzoo
from rnnzoo.bench.cases import Selection, Size
from rnnzoo.bench.cli import main
from rnnzoo.bench.models import Target, bench_models, event_labels, part_shares, structured_targets
from rnnzoo.core.cell import Cell
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.registry import InputKind, ModelKind, Paper, register, unregister
from rnnzoo.core.spec import TensorSpec
from rnnzoo.decode import Beams, beam_search

PAPER = Paper("Nobody", 2026, "A test model")


class TinyInput(NamedTuple):
    tokens: Tensor  # (B, T) int64


class TinySeq(StructuredModel):
    """Embeds tokens, a GRU cell over them, logits per step; ``generate`` beam-searches from the final state."""

    def __init__(self, *, hidden_size: int, vocab: int = 7, steps: int = 5) -> None:
        super().__init__()
        self.vocab, self.steps = vocab, steps
        self.embed = nn.Embedding(vocab, hidden_size)
        self.cell = rnnzoo.GRUCell(hidden_size, hidden_size)
        self.out = nn.Linear(hidden_size, vocab)

    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> TinyInput:
        return TinyInput(torch.randint(0, self.vocab, (batch_size, self.steps), generator=generator))

    def forward(self, x: TinyInput) -> Tensor:
        return self.out(rnnzoo.run(self.cell, self.embed(x.tokens)).output)

    def generate(self, x: TinyInput, *, width: int = 1, max_steps: int | None = None) -> Beams:
        h = rnnzoo.run(self.cell, self.embed(x.tokens)).state

        def step(tokens: Tensor, state: Any) -> tuple[Tensor, Any]:
            y, new = self.cell(self.embed(tokens), state)
            return torch.log_softmax(self.out(y), -1), new

        return beam_search(step, h, batch_size=x.tokens.shape[0], width=width, max_steps=max_steps or 4, start=0)


class TinyMemState(NamedTuple):
    h: Tensor


class TinyMemCell(Cell):
    """A cell whose step has a cheap ``tinymem/controller`` part and an expensive ``tinymem/memory`` part."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.w_in = nn.Parameter(torch.randn(hidden_size, input_size) * 0.1)
        self.w_mem = nn.Parameter(torch.randn(hidden_size, 256, 256) * 0.01)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> TinyMemState:
        return TinyMemState(TensorSpec((batch_size, self.hidden_size)))

    def step(self, u_t: Tensor, state: TinyMemState) -> tuple[Tensor, TinyMemState]:
        with torch.profiler.record_function("tinymem/controller"):
            h = torch.tanh(u_t @ self.w_in.t() + state.h)
        with torch.profiler.record_function("tinymem/memory"):
            big = torch.einsum("bk,kij->bij", h, self.w_mem)  # (B, 256, 256): far more work than the controller
            h = h + big.mean((1, 2)).unsqueeze(1)
        return h, TinyMemState(h)


@pytest.fixture
def tiny_models():
    register("tiny_seq", paper=PAPER, seed_equations="none", description="test", kind=ModelKind.MODEL,
             input_kind=InputKind.SEQUENCE_TO_SEQUENCE, test_options={"hidden_size": 8}, chunkable=False,
             bidirectional_ok=False, unbatched=False)(TinySeq)
    register("tinymem", paper=PAPER, seed_equations="none", description="test", bidirectional_ok=False)(TinyMemCell)
    register("tiny_untested", paper=PAPER, seed_equations="none", description="test", kind=ModelKind.MODEL,
             input_kind=InputKind.SEQUENCE_TO_SEQUENCE, chunkable=False, bidirectional_ok=False,
             unbatched=False)(TinySeq)
    yield
    for name in ("tiny_seq", "tinymem", "tiny_untested"):
        unregister(name)


def test_part_shares_count_backward_with_the_forward_label():
    """All the work is under one label but for the loss: the share left to 'other' is small only if the backward
    operators (about twice the forward's products) are counted with the label that made them."""
    w = torch.randn(256, 256, requires_grad=True)
    x = torch.randn(64, 256)

    def step():
        with torch.profiler.record_function("tinymem/memory"):
            y = x
            for _ in range(5):
                y = torch.tanh(y @ w)
        y.sum().backward()

    step()  # warm-up: first calls of a shape are slow
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        step()
    events = prof.events()
    shares = part_shares(events, ["tinymem"])
    assert set(shares) == {"tinymem/memory", "other"}
    assert sum(shares.values()) == pytest.approx(1.0)
    # which events count where, not how long they took (timings vary on a loaded machine): every matrix product,
    # the 5 forward ones and the 9 of their backward (x needs no gradient: the first product has one), is credited
    # to the label of the forward code
    mm = [label for e, label in zip(events, event_labels(events, ["tinymem"]), strict=True) if e.name == "aten::mm"]
    assert len(mm) == 14 and set(mm) == {"tinymem/memory"}, mm


def test_part_shares_ignore_labels_of_unknown_names_and_return_nothing_without_labels():
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        with torch.profiler.record_function("nobody/part"):
            torch.randn(8, 8).sum()
    assert part_shares(prof.events(), ["tinymem"]) == {}


def test_bench_models_times_train_steps_decoding_and_parts(tiny_models):
    targets = structured_targets([Selection("tiny_seq", "tiny_seq"), Selection("tinymem", "tinymem")], [3],
                                 [Size(2, 3, 4, 4)])
    assert [(t.name, t.batch) for t in targets] == [("tiny_seq", 3), ("tinymem", 2)]
    rows = bench_models(targets, reps=2, warmup=1, widths=(1, 5))
    seq, mem = rows
    assert seq.note == "" and seq.params == sum(p.numel() for p in TinySeq(hidden_size=8).parameters())
    assert seq.train_s > 0 and set(seq.decode) == {1, 5} and all(v > 0 for v in seq.decode.values())
    assert seq.parts == {}  # no labels in it
    assert mem.decode == {}  # a cell has no generate
    assert {"tinymem/controller", "tinymem/memory"} <= set(mem.parts)
    assert mem.parts["tinymem/memory"] > mem.parts["tinymem/controller"]


def test_size_overrides_reach_the_factory(tiny_models):
    rows = bench_models([Target("tiny_seq[hidden_size=16]", "tiny_seq", {"hidden_size": 16}, 2)], reps=1, warmup=0,
                        parts=False)
    assert rows[0].params == sum(p.numel() for p in TinySeq(hidden_size=16).parameters())


def test_a_model_without_test_options_is_refused_naming_it(tiny_models):
    from rnnzoo.bench.cases import BenchArgumentError

    with pytest.raises(BenchArgumentError, match="tiny_untested"):
        structured_targets([Selection("tiny_untested", "tiny_untested")], [2], [])


def test_a_row_that_fails_to_build_says_why(tiny_models):
    rows = bench_models([Target("tiny_seq[hidden_size=-1]", "tiny_seq", {"hidden_size": -1}, 2)], reps=1, warmup=0)
    assert rows[0].note.startswith("not built:")


def test_the_cli_structured_mode_writes_its_results(tiny_models, tmp_path, capsys):
    out = tmp_path / "run"
    code = main(["--structured", "--models", "tiny_seq,tinymem", "--sizes", "2x3x4x4", "--batches", "2",
                 "--reps", "1", "--warmup", "0", "--widths", "1,3", "--out", str(out)])
    assert code == 0
    data = json.loads((out / "bench.json").read_text())
    assert [(m["name"], sorted(m["decode"])) for m in data["models"]] == [("tiny_seq", ["1", "3"]), ("tinymem", [])]
    assert "tinymem" in (out / "bench.md").read_text() and "memory" in capsys.readouterr().out


@pytest.mark.parametrize("argv,flag", [(["--structured", "--scaling"], "--structured"),
                                       (["--structured", "--widths", "0", "--no-save"], "--widths"),
                                       (["--structured", "--omp-wait", "passive", "--no-save"], "--omp-wait")])
def test_bad_structured_arguments_name_the_flag(tiny_models, capsys, argv, flag):
    assert main(argv) == 2
    assert flag in capsys.readouterr().err


def test_rows_carry_the_models_work_as_rates_and_steps():
    from rnnzoo.bench.models import model_cells

    rows = bench_models([Target("tree_lstm", "tree_lstm", {}, 4)], reps=1, warmup=0, parts=False)
    row = rows[0]
    model = rnnzoo.create("tree_lstm", **rnnzoo.model_info("tree_lstm").test_options)
    assert set(row.work) == {"nodes", "steps"} and row.work["nodes"] > 0
    same = Target("tree_lstm", "tree_lstm", {}, 4).example(model, torch.Generator().manual_seed(0))
    assert row.work == model.work(same)  # the row's first example draw
    cell = model_cells(row)[5]
    assert f"{row.work['steps']:,} steps" in cell and "nodes / s" in cell
