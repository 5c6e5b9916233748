"""The parity_lengths task (xLSTM's parity claim): labels against a brute-force count, lengths, padding, splits."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.tasks.registry import get_task, task_info


def _brute(x, lengths, encoding):
    one = 1.0
    out = []
    for seq, n in zip(x.tolist(), lengths.tolist(), strict=True):
        ones = 0
        for t, (v,) in enumerate(seq):
            if t >= n:
                assert v == 0.0  # padding
                continue
            assert v in ((0.0, 1.0) if encoding == "binary" else (-1.0, 1.0))
            ones += v == one
        out.append(ones % 2)
    return out


@pytest.mark.parametrize("encoding", ["binary", "signed"])
def test_labels_lengths_and_padding(encoding):
    task = get_task("parity_lengths", seq_len=9, encoding=encoding)
    batch = task.sample(300, torch.Generator().manual_seed(0))
    assert batch.x.shape == (300, 9, 1) and batch.y.dtype == torch.int64 and batch.lengths.dtype == torch.int64
    assert batch.y.tolist() == _brute(batch.x, batch.lengths, encoding)
    assert batch.lengths.min() == 1 and batch.lengths.max() == 9  # uniform over 1..9: both ends drawn in 300
    assert 0.35 < batch.y.float().mean() < 0.65


def test_valid_and_test_splits_are_full_length_and_fixed():
    task = get_task("parity_lengths", seq_len=7, valid_size=50, test_size=60)
    test = task.split("test")
    assert test.x.shape == (60, 7, 1) and (test.lengths == 7).all()
    assert test.y.tolist() == _brute(test.x, test.lengths, "signed")
    assert task.split("valid").x.shape[0] == 50
    again = get_task("parity_lengths", seq_len=7, valid_size=50, test_size=60).split("test")
    assert torch.equal(again.x, test.x) and not torch.equal(task.split("valid").x[:50], test.x[:50])


def test_registered_and_bad_options_named():
    assert task_info("parity_lengths") is not None
    with pytest.raises(ValueError, match="encoding"):
        get_task("parity_lengths", encoding="ternary")
    with pytest.raises(ValueError, match="seq_len"):
        get_task("parity_lengths", seq_len=0)
