"""Whole-image digits: scikit-learn's 8x8 digits as ONE step of 64 features (a feed-forward classification).

The task of highway networks' depth experiment (Srivastava, Greff & Schmidhuber 2015, Fig. 1, on MNIST): a
network of many layers applied to the whole image at once. Here it is the ``digits`` task (same images, same
stratified 1,257 / 180 / 360 split by ``split_seed``) with ``x`` ``(B, 1, 64)`` float32 in [0, 1] instead of
``(B, 64, 1)``: a per-step model (the ``highway`` cell) sees every pixel in its single step; ``y`` ``(B,)``
int64, predicted from the (only, last) step.
"""

from __future__ import annotations

from .base import Batch
from .images import ImageSequenceTask, make_digits_task

__all__ = ["FlatDigitsTask", "flat_digits"]


class FlatDigitsTask(ImageSequenceTask):
    """The digits task with every image as one step: ``x`` ``(B, 1, 64)``, ``y`` ``(B,)``."""

    input_size = 64

    def __init__(self, pixel_task: ImageSequenceTask) -> None:
        self.name = "digits_flat"
        self.indices = pixel_task.indices
        self.metrics = list(pixel_task.metrics)
        self.seq_len = 1
        self.permutation = None
        self._splits = {name: Batch(b.x.reshape(b.x.shape[0], 1, -1).contiguous(), b.y)
                        for name, b in pixel_task._splits.items()}
        self.train_prior = pixel_task.train_prior


def flat_digits(seq_len: int | None = None, split_seed: int = 0) -> FlatDigitsTask:
    """Digits as one step of 64 features; ``seq_len`` is fixed at 1."""
    if seq_len is not None and seq_len != 1:
        raise ValueError(f"seq_len of task 'digits_flat' is fixed at 1 (the whole image in one step), got {seq_len!r}")
    return FlatDigitsTask(make_digits_task(permuted=False)(split_seed=split_seed))
