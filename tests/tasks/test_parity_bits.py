"""parity_bits: deterministic per seed, labels right (counted bit by bit in Python), fixed splits, trainer wiring."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.core.order import GridInput
from rnnzoo.tasks import get_task
from rnnzoo.tasks.registry import task_info


def test_deterministic_per_seed() -> None:
    task = get_task("parity_bits", bits=12)
    a = task.sample(16, torch.Generator().manual_seed(3))
    b = task.sample(16, torch.Generator().manual_seed(3))
    c = task.sample(16, torch.Generator().manual_seed(4))
    assert torch.equal(a.x.grid, b.x.grid) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x.grid, c.x.grid)


@pytest.mark.parametrize("encoding", ["signed", "binary"])
def test_labels_are_the_parity_of_the_bits(encoding: str) -> None:
    task = get_task("parity_bits", bits=9, encoding=encoding)
    batch = task.sample(64, torch.Generator().manual_seed(0))
    assert isinstance(batch.x, GridInput) and batch.x.sizes is None
    assert tuple(batch.x.grid.shape) == (64, 9) and batch.x.grid.dtype == torch.float32
    one = 1.0
    zero = -1.0 if encoding == "signed" else 0.0
    assert set(batch.x.grid.unique().tolist()) <= {zero, one}
    for row, label in zip(batch.x.grid.tolist(), batch.y.tolist(), strict=True):
        ones = 0
        for v in row:
            if v == one:
                ones += 1
        assert label == ones % 2
    assert 0.3 < batch.y.float().mean() < 0.7  # both classes occur


def test_splits_are_fixed_and_differ() -> None:
    task = get_task("parity_bits", bits=7, valid_size=50, test_size=60)
    v, t = task.split("valid"), task.split("test")
    assert v.x.grid.shape[0] == 50 and t.x.grid.shape[0] == 60
    again = get_task("parity_bits", bits=7, valid_size=50, test_size=60).split("valid")
    assert torch.equal(v.x.grid, again.x.grid) and torch.equal(v.y, again.y)
    assert not torch.equal(v.x.grid[:50], t.x.grid[:50])


def test_score_and_loss_of_a_perfect_and_a_coin_model() -> None:
    task = get_task("parity_bits", bits=5)
    batch = task.sample(32, torch.Generator().manual_seed(1))

    class Oracle(torch.nn.Module):
        def forward(self, x: GridInput) -> torch.Tensor:
            y = ((x.grid > 0).sum(1) % 2)
            return torch.nn.functional.one_hot(y, 2).float() * 20

    perfect = task.score(Oracle(), batch)
    assert float(perfect["accuracy"][0]) == 32 and float(perfect["accuracy"][1]) == 32
    coin = task.loss_of(torch.zeros(32, 2), batch)
    assert math.isclose(float(coin), math.log(2), rel_tol=1e-6)
    assert task.baseline() == {"accuracy": 0.5, "cross_entropy": math.log(2)}
    with pytest.raises(ValueError, match=r"output: expected logits of shape \(B, 2\)"):
        task.loss_of(torch.zeros(32, 3), batch)


def test_registered_without_a_sequence_length_and_fits_grid_lstm_1d() -> None:
    info = task_info("parity_bits")
    assert info is not None and info.train_defaults == {"seq_len": None}
    task = get_task("parity_bits", bits=6)
    assert task.input_kind is rnnzoo.model_info("grid_lstm_1d").input_kind
    model = rnnzoo.create("grid_lstm_1d", hidden_size=4, depth=2, **task.model_options)
    batch = task.sample(3, torch.Generator().manual_seed(2))
    assert tuple(model(batch.x).shape) == (3, 2)
    with pytest.raises(ValueError, match="bits"):
        get_task("parity_bits", bits=0)
    with pytest.raises(ValueError, match="encoding"):
        get_task("parity_bits", encoding="gray")
