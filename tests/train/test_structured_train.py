"""`rnnzoo train` / evaluate / resume on a structured task with a whole model (issue 12's trainer wiring).

The toy problem, generated here: point to the point with the largest first coordinate among a variable number of
points (padding marked in the input), a one-step pointer task. A model that scores each point linearly solves it.
"""

from __future__ import annotations

import json
from typing import NamedTuple

import pytest
import torch
from torch import Tensor, nn

import rnnzoo
from rnnzoo.core import probe
from rnnzoo.core.model import StructuredModel
from rnnzoo.tasks import Batch, register_task
from rnnzoo.tasks import registry as task_registry
from rnnzoo.tasks.structured import StructuredTask
from rnnzoo.train import ConfigError, TrainConfig
from rnnzoo.train.run import evaluate_checkpoint, train


class Points(NamedTuple):
    points: Tensor  # (B, n, 2)
    mask: Tensor  # (B, n) bool


class ArgmaxTask(StructuredTask):
    name = "_test_argmax"
    input_kind = rnnzoo.InputKind.SET_TO_SEQUENCE
    metrics = ["accuracy", "cross_entropy"]  # noqa: RUF012
    seq_len = 6

    def __init__(self, seq_len: int = 6) -> None:
        self.seq_len = seq_len
        self.model_options = {"features": 2}
        self._splits = {name: self._make(100, torch.Generator().manual_seed(seed))
                        for name, seed in (("valid", 1), ("test", 2))}

    def _make(self, b: int, gen: torch.Generator) -> Batch:
        pts = torch.rand(b, self.seq_len, 2, generator=gen)
        lengths = torch.randint(2, self.seq_len + 1, (b,), generator=gen)
        mask = torch.arange(self.seq_len) < lengths[:, None]
        y = pts[..., 0].masked_fill(~mask, -1).argmax(1)
        return Batch(Points(pts, mask), y)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self._make(batch_size, generator)

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        return self._splits[self.check_split_name(name)]

    def loss_of(self, output: Tensor, batch: Batch) -> Tensor:
        return nn.functional.cross_entropy(output, batch.y)

    def score(self, model: nn.Module, batch: Batch) -> dict[str, tuple[Tensor, Tensor]]:
        out = model(batch.x)
        n = torch.tensor(out.shape[0])
        ce = nn.functional.cross_entropy(out, batch.y, reduction="sum")
        return {"accuracy": ((out.argmax(1) == batch.y).sum(), n), "cross_entropy": (ce, n)}

    def baseline(self) -> dict[str, float]:
        return {"accuracy": 0.25}


class Scorer(StructuredModel):
    """A toy whole model (arXiv:0000.00000): a score per point, -inf on padding."""

    def __init__(self, *, features: int, hidden_size: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(features, hidden_size), nn.Tanh(), nn.Linear(hidden_size, 1))

    def forward(self, x: Points) -> Tensor:
        scores = self.net(x.points).squeeze(-1).masked_fill(~x.mask, float("-inf"))
        probe.sow(self, "pointer", scores.softmax(-1), "attention")  # one step: a (1, n) heatmap per example
        return scores

    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> Points:
        return Points(torch.rand(batch_size, 4, 2, generator=generator, dtype=self.dtype),
                      torch.ones(batch_size, 4, dtype=torch.bool))


@pytest.fixture(scope="module", autouse=True)
def registered():
    rnnzoo.register("_test_scorer", paper=rnnzoo.Paper("T", 2026, "toy", "0000.00000"), seed_equations="-",
                    description="toy", kind=rnnzoo.ModelKind.MODEL, input_kind=rnnzoo.InputKind.SET_TO_SEQUENCE,
                    chunkable=False, bidirectional_ok=False, unbatched=False)(Scorer)
    register_task("_test_argmax", ArgmaxTask, "toy pointer", "chance")
    yield
    rnnzoo.core.registry.unregister("_test_scorer")
    task_registry._REGISTRY.pop("_test_argmax")


def config(**over) -> TrainConfig:
    base = dict(model="_test_scorer", task="_test_argmax", hidden_size=8, optimizer="adam", lr=0.05, batch_size=32,
                max_steps=150, val_every=50, progress="none", eval_batch_size=64, threads=1)
    return TrainConfig.from_dict({**base, **over})


def quiet(*_: object) -> None:
    pass


def test_trains_evaluates_and_scores_with_the_task(tmp_path):
    res = train(config(), run_dir=tmp_path / "run", echo=quiet)
    assert res["monitor"] == "accuracy"
    assert res["test"]["accuracy"] > 0.9, res["test"]
    assert set(res["test"]) == {"accuracy", "cross_entropy"}
    ev = evaluate_checkpoint(tmp_path / "run", "test")
    assert ev["metrics"]["accuracy"] == pytest.approx(res["test"]["accuracy"])
    assert json.loads((tmp_path / "run" / "results.json").read_text())["test"] == res["test"]


def test_resume_is_exact(tmp_path):
    whole = train(config(max_steps=40), run_dir=tmp_path / "whole", echo=quiet)
    train(config(max_steps=20), run_dir=tmp_path / "part", echo=quiet)
    resumed = train(config(max_steps=40), resume=tmp_path / "part", echo=quiet)
    assert resumed["test"] == whole["test"]


def test_cell_options_that_do_not_apply_are_refused(tmp_path):
    with pytest.raises(ConfigError, match="--bidirectional"):
        train(config(bidirectional=True), run_dir=tmp_path / "b", echo=quiet)
    with pytest.raises(ConfigError, match="--head"):
        train(config(head="last"), run_dir=tmp_path / "h", echo=quiet)
    with pytest.raises(ConfigError, match="--model"):  # a cell cannot read a structured task's input
        train(config(model="lstm"), run_dir=tmp_path / "m", echo=quiet)


def test_evaluate_draws_the_reported_attention(tmp_path):
    train(config(max_steps=20, val_every=20), run_dir=tmp_path / "run", echo=quiet)
    ev = evaluate_checkpoint(tmp_path / "run", "test", plots=2)
    assert len(ev["plots"]) == 2
    for p in ev["plots"]:
        assert p.endswith(".png") and (tmp_path / "run").joinpath(p).exists()


def test_evaluate_plots_nothing_for_a_model_without_attention(tmp_path):
    cfg = TrainConfig.from_dict(dict(model="lstm", task="adding", seq_len=5, hidden_size=4, max_steps=2, val_every=2,
                                     progress="none", threads=1, eval_batch_size=64, task_options={"valid_size": 8,
                                                                                                   "test_size": 8}))
    train(cfg, run_dir=tmp_path / "lstm", echo=quiet)
    assert evaluate_checkpoint(tmp_path / "lstm", "test", plots=1)["plots"] == []
