"""The generated salient-change task: labels follow the burst's timing and sign, as the module docstring says."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.tasks.registry import get_task
from rnnzoo.tasks.salient_change import SalientChangeTask


def test_salient_change_labels_follow_the_burst():
    task = SalientChangeTask(seq_len=40, channels=2, width=2, amplitude=5.0, noise=0.01)
    batch = task.sample(256, torch.Generator().manual_seed(0))
    assert batch.x.shape == (256, 40, 2) and batch.x.dtype == torch.float32 and batch.y.dtype == torch.int64
    dx = torch.diff(batch.x[:, :, 0], dim=1, prepend=torch.zeros(256, 1))
    # with a tiny noise the burst is where |dx| is large; recover (timing, sign) from the data alone
    big = dx.abs() > 2.5
    first = big.float().argmax(1)
    assert big.sum(1).eq(2).all()
    sign = dx.gather(1, first[:, None]).squeeze(1) > 0
    expected = 2 * (first >= 20).long() + sign.long()
    assert torch.equal(batch.y, expected)
    assert set(batch.y.tolist()) == {0, 1, 2, 3}
    assert (first >= 4).all() and (first <= 36 - 2).all()


def test_salient_change_is_registered_and_checks_its_arguments():
    task = get_task("salient_change", seq_len=50)
    assert task.input_size == 3 and task.output_size == 4 and task.target == "last"
    assert task.baseline()["accuracy"] == pytest.approx(0.25)
    with pytest.raises(ValueError, match="width"):
        SalientChangeTask(seq_len=20, width=6)
    with pytest.raises(ValueError, match="amplitude"):
        SalientChangeTask(amplitude=-1.0)
    with pytest.raises(ValueError, match="seq_len"):
        SalientChangeTask(seq_len=5)
