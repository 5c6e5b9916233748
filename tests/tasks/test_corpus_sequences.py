"""Variable-length sequence classification on generated LabelledSequences (no real data is typed in here)."""

from __future__ import annotations

import math

import pytest
import torch

from rnnzoo.data.types import LabelledSequences
from rnnzoo.tasks import register_task
from rnnzoo.tasks import registry as task_registry
from rnnzoo.tasks.corpus_sequences import SequenceClassificationTask, pad
from rnnzoo.train import TrainConfig
from rnnzoo.train.run import train

C, F = 3, 4


def generated(n_train: int = 90, n_test: int = 30, seed: int = 0, valid: bool = False) -> LabelledSequences:
    """Class c: Gaussian noise with feature 0 shifted by c - 1; lengths 3-11; classes unbalanced (c=0 twice as
    frequent)."""
    g = torch.Generator().manual_seed(seed)

    def make(n: int) -> tuple[list[torch.Tensor], torch.Tensor]:
        labels = torch.tensor([[0, 0, 1, 2][i % 4] for i in range(n)], dtype=torch.long)
        seqs = []
        for c in labels.tolist():
            t = int(torch.randint(3, 12, (1,), generator=g))
            s = torch.randn(t, F, generator=g)
            s[:, 0] += c - 1
            seqs.append(s)
        return seqs, labels

    splits, labels = {}, {}
    for name, n in (("train", n_train), ("test", n_test)) + ((("valid", 20),) if valid else ()):
        splits[name], labels[name] = make(n)
    return LabelledSequences("generated_cls", tuple(f"c{i}" for i in range(C)), tuple(f"f{i}" for i in range(F)),
                             splits, labels, "generated in the test")


def test_padding_lengths_and_held_out_valid():
    data = generated()
    task = SequenceClassificationTask(data)
    assert task.train_size == 81 and task.split("valid").x.shape[0] == 9  # 10% held out of 90
    test = task.split("test")
    assert test.x.shape == (30, int(test.lengths.max()), F) and test.y.shape == (30,)
    for i in range(30):
        n = int(test.lengths[i])
        assert torch.equal(test.x[i, :n], data.splits["test"][i]) and not bool(test.x[i, n:].any())
    x, lengths = pad([torch.ones(2, 1), torch.ones(4, 1)])
    assert x.shape == (2, 4, 1) and lengths.tolist() == [2, 4]
    assert SequenceClassificationTask(generated(valid=True)).train_size == 90  # a given valid split is used
    with pytest.raises(ValueError, match="seq_len"):
        SequenceClassificationTask(data, seq_len=5)


def test_an_epoch_visits_every_training_sequence_once():
    task = SequenceClassificationTask(generated())
    seen = []
    for part in range(math.ceil(81 / 16)):
        batch = task.epoch_batch(torch.Generator().manual_seed(7), part, 16)
        seen += [tuple(batch.x[i, : int(batch.lengths[i])].flatten().tolist()) for i in range(batch.x.shape[0])]
    train = [tuple(s.flatten().tolist()) for s in task._splits["train"]]
    assert sorted(seen) == sorted(train)
    with pytest.raises(ValueError, match="part"):
        task.epoch_batch(torch.Generator(), 6, 16)


def test_baseline_is_the_train_majority_class():
    task = SequenceClassificationTask(generated(valid=True))
    y = generated(valid=True).labels["test"]
    assert task.baseline()["accuracy"] == pytest.approx(float((y == 0).double().mean()))
    counts = torch.bincount(generated(valid=True).labels["train"], minlength=C).double() + 1
    assert task.baseline()["cross_entropy"] == pytest.approx(float(-(counts / counts.sum()).log()[y].mean()))


@pytest.fixture
def cls_task():
    register_task("_test_cls", lambda seq_len=None: SequenceClassificationTask(generated(), name="_test_cls",
                                                                               seq_len=seq_len),
                  "generated classification (tests)", "majority")
    yield "_test_cls"
    del task_registry._REGISTRY["_test_cls"]


def test_bidirectional_training_in_epochs_beats_the_majority(cls_task, tmp_path):
    cfg = TrainConfig.from_dict(dict(model="gru", task=cls_task, seq_len=None, hidden_size=16, bidirectional=True,
                                     batch_size=16, epochs=8, val_every=None, optimizer="adam", lr=0.02,
                                     progress="none", threads=1))
    res = train(cfg, run_dir=tmp_path / "run", echo=lambda s: None)
    assert res["steps"] == 8 * 6 and res["batches"] == 48
    assert res["test"]["accuracy"] > res["baseline"]["accuracy"] + 0.15


def test_resume_inside_an_epoch_is_exact(cls_task, tmp_path):
    cfg = TrainConfig.from_dict(dict(model="gru", task=cls_task, seq_len=None, hidden_size=8, bidirectional=True,
                                     batch_size=16, epochs=2, val_every=4, optimizer="adam", lr=0.01, dropout=0.2,
                                     num_layers=2, progress="none", threads=1))
    train(cfg, run_dir=tmp_path / "whole", echo=lambda s: None)
    train(cfg.replace(epochs=None, max_steps=8), run_dir=tmp_path / "part", echo=lambda s: None)  # epoch 2, batch 3
    train(cfg, resume=tmp_path / "part", echo=lambda s: None)
    a = torch.load(tmp_path / "whole" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(tmp_path / "part" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
