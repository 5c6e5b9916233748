"""The ``babi`` StructuredTask: frozen splits, sampling, loss and score, reading real-format files."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from torch import Tensor, nn

from rnnzoo.data import babi
from rnnzoo.data.babi_gen import generate
from rnnzoo.tasks.babi import BabiTask
from rnnzoo.tasks.registry import get_task


@pytest.fixture(scope="module")
def task() -> BabiTask:
    return get_task("babi", task_id=1, train_stories=40, test_stories=20)


def test_splits_are_fixed_and_sized(task: BabiTask) -> None:
    assert task.label.startswith("bAbI-style (regenerated)")
    assert len(task.stories["valid"]) == 4 and len(task.stories["train"]) == 36
    assert task.train_size == 36 * 5 and task.size(task.split("test")) == 100
    again = get_task("babi", task_id=1, train_stories=40, test_stories=20)
    assert torch.equal(again.split("valid").x.story, task.split("valid").x.story)
    train_stories = {str(s.sentences) for s in task.stories["train"]}
    assert not train_stories & {str(s.sentences) for s in task.stories["valid"]}
    opts = task.model_options
    assert opts["vocab_size"] == len(task.vocab)
    assert task.split("test").x.story.shape[1:] == (opts["memory_size"], opts["sentence_len"])


def test_sample_is_seeded(task: BabiTask) -> None:
    a = task.sample(8, torch.Generator().manual_seed(3))
    b = task.sample(8, torch.Generator().manual_seed(3))
    assert torch.equal(a.x.story, b.x.story) and torch.equal(a.y.answer, b.y.answer)
    assert a.x.story.shape[0] == 8
    parts = [task.epoch_batch(torch.Generator().manual_seed(1), p, 64).y.answer for p in range(3)]
    assert sum(p.numel() for p in parts) == task.train_size
    with pytest.raises(ValueError, match="part"):
        task.epoch_batch(torch.Generator().manual_seed(1), 3, 64)


class _Out(NamedTuple):
    logits: Tensor
    aux_loss: Tensor


class _Oracle(nn.Module):
    """Answers with the logits of the true answers it is handed (to test score)."""

    def __init__(self, answers: Tensor, vocab: int) -> None:
        super().__init__()
        self.answers, self.vocab = answers, vocab

    def forward(self, x: babi.BabiInput) -> Tensor:
        return nn.functional.one_hot(self.answers, self.vocab).float()


def test_loss_and_score(task: BabiTask) -> None:
    batch = task.split("valid")
    v = task.model_options["vocab_size"]
    n = task.size(batch)
    logits = torch.zeros(n, v)
    assert task.loss_of(logits, batch).item() == pytest.approx(torch.log(torch.tensor(float(v))).item())
    assert task.loss_of(_Out(logits, torch.tensor(1.5)), batch).item() == pytest.approx(
        torch.log(torch.tensor(float(v))).item() + 1.5)
    with pytest.raises(TypeError, match="output"):
        task.loss_of(torch.zeros(n), batch)
    right = task.score(_Oracle(batch.y.answer, v), batch)["accuracy"]
    assert right[0].item() == n and int(right[1]) == n
    wrong = task.score(_Oracle((batch.y.answer + 1) % v, v), batch)["accuracy"]
    assert wrong[0].item() == 0
    base = task.baseline()["accuracy"]
    assert 0.0 < base < 0.5


def test_reads_real_format_files(tmp_path) -> None:
    root = tmp_path / "tasks_1-20_v1-2" / "en"
    babi.write(generate(2, 10, seed=1), root / "qa2_two-supporting-facts_train.txt")
    babi.write(generate(2, 5, seed=2), root / "qa2_two-supporting-facts_test.txt")
    task = get_task("babi", task_id=2, data_dir=str(tmp_path))
    assert task.label.startswith("bAbI v1.2 task 2")
    assert task.size(task.split("test")) == 25 and task.train_size == 45


def test_rejects_unknown_task() -> None:
    with pytest.raises(ValueError, match="task_id"):
        get_task("babi", task_id=5)
