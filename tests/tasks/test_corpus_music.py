"""Next-frame prediction on generated piano rolls (held chords: the next frame is mostly the current one)."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.data.types import PianoRolls
from rnnzoo.tasks import register_task
from rnnzoo.tasks import registry as task_registry
from rnnzoo.tasks.corpus_music import PianoRollTask
from rnnzoo.train import TrainConfig
from rnnzoo.train.metrics import SequenceMetrics
from rnnzoo.train.objective import full_loss, make_targets
from rnnzoo.train.run import train

P = 10


def generated(seed: int = 0) -> PianoRolls:
    """Pieces of 8-20 frames: random 3-note chords, each held for 4 frames."""
    g = torch.Generator().manual_seed(seed)

    def piece() -> torch.Tensor:
        t = int(torch.randint(8, 21, (1,), generator=g))
        roll = torch.zeros(t, P)
        for start in range(0, t, 4):
            roll[start:start + 4, torch.randperm(P, generator=g)[:3]] = 1.0
        return roll

    return PianoRolls("generated_rolls", 60, {s: [piece() for _ in range(n)] for s, n in
                                              (("train", 40), ("valid", 10), ("test", 12))}, "generated in the test")


def test_shapes_lengths_and_the_bernoulli_baseline():
    rolls = generated()
    task = PianoRollTask(rolls)
    test = task.split("test")
    assert test.x.shape == (12, int(test.lengths.max()), P) and torch.equal(test.x, test.y)
    # the baseline equals the metric of its own output under the trainer's next-frame targets
    targets = make_targets("next_token", test.y, test.lengths, test.x.shape[1], "bce")
    metrics = SequenceMetrics("bce", P)
    metrics.update(task.baseline_output(test.x), targets)
    assert metrics.compute()["nll"] == pytest.approx(task.baseline()["nll"], rel=1e-5)
    with pytest.raises(ValueError, match="seq_len"):
        PianoRollTask(rolls, seq_len=3)


def test_nll_is_the_sum_over_pitches_per_frame():
    torch.manual_seed(0)
    logits, y = torch.randn(2, 5, P), (torch.rand(2, 5, P) > 0.5).float()
    targets = make_targets("next_token", y, None, 5, "bce")
    metrics = SequenceMetrics("bce", P)
    metrics.update(logits, targets)
    naive = sum(float(torch.nn.functional.binary_cross_entropy_with_logits(logits[b, t], y[b, t + 1],
                                                                           reduction="sum"))
                for b in range(2) for t in range(4)) / 8
    assert metrics.compute()["nll"] == pytest.approx(naive, rel=1e-6)
    assert float(full_loss(logits, targets, "bce")) == pytest.approx(naive / P, rel=1e-5)  # mean per pitch


@pytest.fixture
def music_task():
    register_task("_test_music", lambda seq_len=None: PianoRollTask(generated(), name="_test_music", seq_len=seq_len),
                  "generated rolls (tests)", "frequencies")
    yield "_test_music"
    del task_registry._REGISTRY["_test_music"]


def test_training_beats_the_frequency_baseline(music_task, tmp_path):
    cfg = TrainConfig.from_dict(dict(model="gru", task=music_task, seq_len=None, head="next_token", hidden_size=32,
                                     batch_size=8, epochs=15, val_every=None, optimizer="adam", lr=0.01,
                                     progress="none", threads=1))
    res = train(cfg, run_dir=tmp_path / "run", echo=lambda s: None)
    assert res["steps"] == 15 * 5 and res["monitor"] == "nll"
    assert res["test"]["nll"] < 0.8 * res["baseline"]["nll"]
