"""The symbol seq2seq tasks: targets against plain Python, fixed splits, the loss's masking, the metrics."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rnnzoo.cells.seq2seq import END, PAD, START
from rnnzoo.decode import Beams
from rnnzoo.tasks.registry import get_task

REFERENCE = {"seq_reverse": lambda s: s[::-1], "seq_sort": sorted, "seq_copy": list}


@pytest.mark.parametrize("name", sorted(REFERENCE))
def test_targets_are_the_reversed_sorted_or_copied_source(name: str) -> None:
    task = get_task(name, vocab=6, seq_len=7, min_length=2)
    batch = task.sample(50, torch.Generator().manual_seed(0))
    x, y = batch.x, batch.y
    assert task.model_options == {"vocab_size": 9}
    for b in range(50):
        n = int(x.source_lengths[b])
        assert 2 <= n <= 7 and int(x.target_lengths[b]) == n + 1
        src = x.source[b, :n].tolist()
        assert all(3 <= s < 9 for s in src) and x.source[b, n:].eq(PAD).all()
        ref = REFERENCE[name](src)
        assert y[b, :n].tolist() == ref and int(y[b, n]) == END and y[b, n + 1:].eq(PAD).all()
        assert x.target[b, :n + 1].tolist() == [START, *ref] and x.target[b, n + 1:].eq(PAD).all()


def test_splits_are_fixed_and_the_length_buckets_exact() -> None:
    a = get_task("seq_reverse", seq_len=8, test_lengths=(12, 14), test_size=40)
    b = get_task("seq_reverse", seq_len=8, test_lengths=(12, 14), test_size=40)
    assert a.split_names == ("valid", "test", "len12", "len14")
    for name in a.split_names:
        assert torch.equal(a.split(name).x.source, b.split(name).x.source)
    assert set(a.split("test").x.source_lengths.tolist()) == {12, 14}
    assert a.split("len14").x.source_lengths.eq(14).all()
    assert int(a.split("valid").x.source_lengths.max()) <= 8
    assert not torch.equal(a.split("valid").x.source[:, :1], a.sample(500, torch.Generator().manual_seed(0))
                           .x.source[:, :1])
    with pytest.raises(ValueError, match="split"):
        a.split("len3")


def test_the_loss_ignores_padded_target_positions_and_averages_per_example() -> None:
    task = get_task("seq_copy", vocab=4, seq_len=5)
    batch = task.sample(6, torch.Generator().manual_seed(1))
    logits = torch.randn(6, batch.y.shape[1], 7, requires_grad=True)
    loss = task.loss_of(logits, batch)
    loss.backward()
    pad = torch.arange(batch.y.shape[1]) >= batch.x.target_lengths.unsqueeze(1)
    assert logits.grad[pad].eq(0).all() and logits.grad[~pad].abs().sum() > 0
    nll = -torch.log_softmax(logits.detach(), -1).gather(2, batch.y.unsqueeze(2)).squeeze(2)
    per = [float(nll[b, :int(batch.x.target_lengths[b])].mean()) for b in range(6)]
    assert float(loss.detach()) == pytest.approx(sum(per) / 6, rel=1e-6)


class Oracle(nn.Module):
    """Decodes the reference, with one wrong token in the first ``wrong`` examples."""

    def __init__(self, y: torch.Tensor, wrong: int) -> None:
        super().__init__()
        self.y, self.wrong = y, wrong

    def generate(self, x, *, width: int = 1, max_steps: int | None = None) -> Beams:
        tokens = self.y.clone()
        tokens[:self.wrong, 0] = 3 + (tokens[:self.wrong, 0] - 2) % 4  # another symbol
        return Beams(tokens.unsqueeze(1), torch.zeros(len(tokens), 1), x.target_lengths.unsqueeze(1))


def test_sequence_and_token_accuracy() -> None:
    task = get_task("seq_reverse", vocab=4, seq_len=5, min_length=3)
    batch = task.split("valid")
    n = batch.y.shape[0]
    scores = task.score(Oracle(batch.y, 0), batch)
    assert float(scores["sequence_accuracy"][0]) == n and float(scores["token_accuracy"][0]) == pytest.approx(n)
    scores = task.score(Oracle(batch.y, 10), batch)
    assert float(scores["sequence_accuracy"][0]) == n - 10
    lengths = batch.x.target_lengths[:10].double()
    expect = (n - 10) + float(((lengths - 1) / lengths).sum())
    assert float(scores["token_accuracy"][0]) == pytest.approx(expect)
    assert float(scores["token_accuracy"][1]) == n
    assert task.baseline()["token_accuracy"] == pytest.approx(0.25)


def test_bad_options_raise_naming_them() -> None:
    with pytest.raises(ValueError, match="test_lengths"):
        get_task("seq_sort", test_lengths=())
    with pytest.raises(ValueError, match="min_length"):
        get_task("seq_sort", seq_len=3, min_length=0)
