"""The future-context task: labels read D steps ahead, deterministic per seed; its analytic ceilings."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.tasks import get_task
from rnnzoo.tasks.future_context import FutureContextTask, best_accuracy


def test_labels_are_the_symbol_d_steps_ahead_or_none():
    task = FutureContextTask(seq_len=9, delay=2, num_classes=3)
    batch = task.sample(16, torch.Generator().manual_seed(0))
    assert batch.x.shape == (16, 9, 3) and batch.x.dtype == torch.float32
    assert batch.y.shape == (16, 9) and batch.y.dtype == torch.int64 and batch.lengths is None
    assert torch.equal(batch.x.sum(-1), torch.ones(16, 9))
    for b in range(16):
        symbols = [int(batch.x[b, t].nonzero()) for t in range(9)]
        expected = [symbols[t + 2] if t + 2 < 9 else 3 for t in range(9)]
        assert batch.y[b].tolist() == expected


def test_deterministic_per_seed_and_fixed_splits():
    task = get_task("future_context")
    a = task.sample(8, torch.Generator().manual_seed(3))
    b = task.sample(8, torch.Generator().manual_seed(3))
    c = task.sample(8, torch.Generator().manual_seed(4))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and not torch.equal(a.x, c.x)
    fresh = get_task("future_context")
    assert torch.equal(task.split("test").y, fresh.split("test").y)
    assert task.seq_len == 24 and task.output_size == 5 and task.target == "per_step"


def test_the_baseline_is_the_best_causal_predictor():
    task = get_task("future_context", seq_len=24, delay=3, num_classes=4)
    assert task.baseline()["accuracy"] == pytest.approx((21 / 4 + 3) / 24)
    measured = task.measured_baseline()
    assert measured["accuracy"] == pytest.approx(task.baseline()["accuracy"], abs=0.01)
    assert measured["cross_entropy"] == pytest.approx(task.baseline()["cross_entropy"], abs=1e-6)


def test_best_accuracy_counts_the_steps_whose_frame_t_plus_d_is_in_the_window():
    # T = 8, D = 2, chunk 2: windows [0, 2 + r), [2, 4 + r), ... ; t + 2 < 8 needs t <= 5
    assert best_accuracy(8, 2, 4, chunk=2, right=2) == 1.0  # N_r >= D
    # N_r = 1: in each chunk the second frame (t = 1, 3, 5) cannot see t + 2 -> 3 steps at 1/4
    assert best_accuracy(8, 2, 4, chunk=2, right=1) == pytest.approx((5 + 3 / 4) / 8)
    # N_r = 0: no step t <= 5 sees t + 2 -> 6 steps at 1/4, as the causal predictor
    assert best_accuracy(8, 2, 4, chunk=2, right=0) == pytest.approx(best_accuracy(8, 2, 4, causal=True))
    assert best_accuracy(8, 2, 4, causal=True) == pytest.approx((2 + 6 / 4) / 8)
    assert best_accuracy(8, 2, 4) == 1.0


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="delay"):
        FutureContextTask(delay=0)
    with pytest.raises(ValueError, match="seq_len"):
        FutureContextTask(seq_len=3, delay=3)
    with pytest.raises(ValueError, match="num_classes"):
        FutureContextTask(num_classes=1)
