"""Variable-length sequence classification on a :class:`~rnnzoo.data.types.LabelledSequences` container
(sktime's JapaneseVowels and BasicMotions through :func:`rnnzoo.data.load`).

Training runs in epochs: epoch e visits the training set in the order of a permutation drawn from a
generator the trainer seeds from (seed, e), ``batch_size`` sequences at a time (the last batch of an epoch
may be smaller), so a training batch index maps to (epoch, slice) and a resumed run draws exactly the
batches it would have. Sequences are zero-padded to the longest in their batch and their ``lengths`` passed
to the model (the output is read at each sequence's last valid step; bidirectional models are allowed).
When the container has no ``valid`` split, a fixed 10% of the training sequences (a permutation seeded with
:data:`VALID_SEED`) is held out as one; the test split is the archive's. Features are used as given (no
standardisation).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rnnzoo.data.types import LabelledSequences

from .base import Batch, Task, check_generator, check_int

__all__ = ["SequenceClassificationTask", "pad"]

VALID_SEED = 20_141_209
VALID_FRACTION = 0.1

DEFAULTS: dict[str, Any] = {
    "seq_len": None, "head": "auto", "tbptt": None, "hidden_size": 64, "num_layers": 1, "bidirectional": True,
    "batch_size": 32, "optimizer": "adam", "lr": 3e-3, "clip_norm": 1.0, "epochs": 50, "val_every": None,
    "stop_at": None, "time_reduction": "mean", "schedule": "constant", "eval_batch_size": 512,
}


def pad(seqs: list[Tensor]) -> tuple[Tensor, Tensor]:
    """Zero-pad ``(T_i, F)`` tensors to ``x`` ``(N, max T_i, F)``; returns ``(x, lengths (N,) int64)``."""
    lengths = torch.tensor([s.shape[0] for s in seqs], dtype=torch.long)
    return torch.nn.utils.rnn.pad_sequence(seqs, batch_first=True), lengths


class ItemTask(Task):
    """A task over a fixed set of items (sequences, pieces, sentences), batched by padding: the shared
    epoch batching, random sampling and cached whole splits of the corpus tasks. A subclass gives
    :meth:`_rows` (items ``rows`` of a split as one padded :class:`Batch`) and :meth:`_split_size`, and sets
    ``train_size`` and ``_cache = {}``."""

    train_size: int
    _cache: dict[str, Batch]

    def _rows(self, split: str, rows: list[int]) -> Batch:
        raise NotImplementedError

    def _split_size(self, name: str) -> int:
        raise NotImplementedError

    def epoch_batch(self, generator: torch.Generator, part: int, batch_size: int) -> Batch:
        """Batch ``part`` of the epoch whose order ``generator`` draws (a permutation of the training items)."""
        check_generator(generator)
        check_int("batch_size", batch_size, 1)
        parts = math.ceil(self.train_size / batch_size)
        if not 0 <= part < parts:
            raise ValueError(f"part: expected 0 <= part < {parts} (batches per epoch), got {part}")
        order = torch.randperm(self.train_size, generator=generator)
        return self._rows("train", order[part * batch_size:(part + 1) * batch_size].tolist())

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` training items drawn uniformly with replacement by ``generator``."""
        check_generator(generator)
        check_int("batch_size", batch_size, 1)
        return self._rows("train", torch.randint(self.train_size, (batch_size,), generator=generator).tolist())

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        """The whole ``valid`` or ``test`` split, padded, with lengths."""
        self.check_split_name(name)
        if name not in self._cache:
            self._cache[name] = self._rows(name, list(range(self._split_size(name))))
        return self._cache[name]


class SequenceClassificationTask(ItemTask):
    """One class per variable-length multivariate sequence (module docstring).

    Args:
        data: the container (splits ``train``, ``test``, optionally ``valid``), features float32 ``(T_i, F)``.
        name: the task name (default ``data.name``).
        seq_len: must be None (the lengths are the data's).

    Batches: ``x`` float32 ``(B, T_max, F)`` zero-padded, ``y`` int64 ``(B,)``, ``lengths`` int64 ``(B,)``.
    Baseline: the train-majority class (accuracy on test) and the train class prior (cross-entropy on test).
    """

    target = "last"
    loss = "cross_entropy"
    split_names = ("valid", "test")

    def __init__(self, data: LabelledSequences, *, name: str | None = None, seq_len: int | None = None) -> None:
        if not isinstance(data, LabelledSequences):
            raise TypeError(f"data: expected a rnnzoo.data.LabelledSequences, got {type(data).__name__}")
        if seq_len is not None:
            raise ValueError(f"seq_len: a sequence-classification task keeps its sequences' lengths, expected "
                             f"none, got {seq_len!r}")
        for split in ("train", "test"):
            if split not in data.splits or split not in data.labels:
                raise ValueError(f"data: expected splits train and test (valid optional), got {sorted(data.splits)}")
        splits = {k: list(v) for k, v in data.splits.items()}
        labels = dict(data.labels)
        if "valid" not in splits:
            n = len(splits["train"])
            perm = torch.randperm(n, generator=torch.Generator().manual_seed(VALID_SEED))
            held = max(1, round(VALID_FRACTION * n))
            keep, valid = sorted(perm[held:].tolist()), sorted(perm[:held].tolist())
            splits["valid"] = [splits["train"][i] for i in valid]
            labels["valid"] = labels["train"][valid]
            splits["train"] = [splits["train"][i] for i in keep]
            labels["train"] = labels["train"][keep]
        features = len(data.feature_names)
        for split, seqs in splits.items():
            bad = [tuple(s.shape) for s in seqs if s.dim() != 2 or s.shape[1] != features or s.shape[0] < 1]
            if bad:
                raise ValueError(f"data.splits[{split!r}]: expected (T_i, {features}) sequences, got {bad[0]}")
            if labels[split].shape != (len(seqs),):
                raise ValueError(f"data.labels[{split!r}]: expected shape ({len(seqs)},), got "
                                 f"{tuple(labels[split].shape)}")
        self.data, self.name = data, name or data.name
        self._splits, self._labels = splits, labels
        self.input_size = features
        self.output_size = len(data.classes)
        self.train_size = len(splits["train"])
        self.seq_len = max(s.shape[0] for seqs in splits.values() for s in seqs)
        self.metrics = ["accuracy", "cross_entropy"]
        self._cache: dict[str, Batch] = {}

    def _rows(self, split: str, rows: list[int]) -> Batch:
        x, lengths = pad([self._splits[split][i] for i in rows])
        return Batch(x, self._labels[split][rows], lengths)

    def _split_size(self, name: str) -> int:
        return len(self._splits[name])

    def prior(self) -> Tensor:
        """Log of the training class frequencies ``(C,)`` (add-one smoothed)."""
        counts = torch.bincount(self._labels["train"], minlength=self.output_size).double() + 1.0
        return (counts / counts.sum()).log()

    def baseline(self) -> dict[str, float]:
        """The train-majority class and the train prior, measured on the test split."""
        y = self._labels["test"]
        prior = self.prior()
        return {"accuracy": float((y == int(prior.argmax())).double().mean()),
                "cross_entropy": float(-prior[y].mean())}

    def baseline_output(self, x: Tensor) -> Tensor:
        """The train prior's log-probabilities ``(B, C)`` for every sequence."""
        return self.prior().float().expand(x.shape[0], -1)


def _factory(dataset: str) -> Callable[..., Task]:
    def factory(seq_len: int | None = None, root: str | None = None, download: bool = False) -> Task:
        from rnnzoo.data import load  # the loader (and sktime) only when the task is built

        return SequenceClassificationTask(load(dataset, root=root, download=download), name=dataset,
                                          seq_len=seq_len)

    factory.__name__ = f"{dataset}_task"
    return factory


def register(register_task: Callable[..., None], describe_defaults: Callable[[dict[str, Any]], str]) -> None:
    """Register ``japanese_vowels`` and ``basic_motions`` (called by :mod:`rnnzoo.tasks.corpus`)."""

    baseline = "train-majority class (accuracy) and train class prior (cross-entropy), on test"
    for name, what in (
        ("japanese_vowels", "JapaneseVowels (UEA/UCR archive via sktime): 9 speakers from 7-29 frames x 12 LPC "
                            "coefficients; needs rnnzoo[timeseries]"),
        ("basic_motions", "BasicMotions (UEA archive via sktime): 4 activities from 6-channel motion; needs "
                          "rnnzoo[timeseries]"),
    ):
        register_task(name, _factory(name), what, baseline,
                      "variable lengths, epochs of a seeded shuffle; " + describe_defaults(DEFAULTS), DEFAULTS)
