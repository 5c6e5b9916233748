"""Tasks with structured inputs (issue 12): sequence pairs, point sets, stories and questions, graphs.

A :class:`StructuredTask` is trained by ``rnnzoo train`` like every task, with a whole model (registry
``kind=ModelKind.MODEL``, :class:`~rnnzoo.core.model.StructuredModel`) of the same :class:`InputKind`. What
differs from the sequence tasks of :mod:`rnnzoo.tasks.base` is that the task, not the trainer, knows what its
batches look like and how a prediction is scored:

* :class:`~rnnzoo.tasks.base.Batch` ``x`` is the model's input structure (a NamedTuple of tensors, every leaf
  batch first) and ``y`` the targets (a tensor or a NamedTuple, batch first); ``lengths`` is None (lengths, where
  there are any, are leaves of ``x``);
* :meth:`StructuredTask.loss_of` is the training objective of ``model(batch.x)`` (teacher forcing for a decoder);
* :meth:`StructuredTask.score` evaluates a model on a batch the way the paper does (greedy or beam decoding of
  a tour, the exact match of a hull, the answer of a question) and returns, per metric, the *sum* over the
  batch's examples and their *count*; the trainer adds them up over batches and processes, so every metric is a
  mean over examples.

Metric names are shared with the rest of rnnzoo: those in :data:`~rnnzoo.tasks.base.HIGHER_IS_BETTER` are
maximised (``accuracy``, ``sequence_accuracy``, ``exact_match``); every other (``tour_length``, ``bit_error``,
``cross_entropy``) is minimised. The first of :attr:`metrics` is the monitored one unless ``--monitor`` says.

Splits: ``valid`` and ``test`` are fixed, generated from their own seeds (as :class:`GeneratedTask`'s) or read
from files; training batches are drawn with the generator the trainer passes (:meth:`sample`), or taken from a
finite training set in seeded epochs (``epoch_batch``, as the corpus tasks do).
"""

from __future__ import annotations

import abc
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.core.model import select_rows
from rnnzoo.core.tree import tree_leaves

from .base import Batch, Task, check_generator, check_int

__all__ = ["StructuredTask", "batch_size_of"]


def batch_size_of(batch: Batch) -> int:
    """The number of examples in a structured batch (the first axis of its first target leaf)."""
    leaves = tree_leaves(batch.y) or tree_leaves(batch.x)
    if not leaves:
        raise ValueError("batch: a structured batch needs at least one tensor in y or x")
    return int(leaves[0].shape[0])


class StructuredTask(Task):
    """A task whose inputs are a structure (see the module docstring).

    Subclasses set ``name``, ``input_kind``, ``metrics``, ``seq_len`` (the length a user varies with
    ``--seq-len``, e.g. the number of points; 0 where none applies), ``model_options`` (the sizes the model's
    factory needs: vocabularies, feature sizes) and implement :meth:`sample`, :meth:`split`, :meth:`loss_of`,
    :meth:`score` and :meth:`baseline`.
    """

    target = "structured"  # type: ignore[assignment]  (the trainer dispatches on it)
    loss = "structured"  # type: ignore[assignment]  (the task computes its own: loss_of)
    input_size = 0
    output_size = 0
    split_names: tuple[str, ...] = ("valid", "test")

    @abc.abstractmethod
    def loss_of(self, output: Any, batch: Batch) -> Tensor:
        """The scalar training loss of ``output = model(batch.x)`` (a mean over the batch's examples)."""

    @abc.abstractmethod
    def score(self, model: nn.Module, batch: Batch) -> dict[str, tuple[Tensor, Tensor]]:
        """``{metric: (sum over the batch's examples, number of examples)}`` for every name in :attr:`metrics`.

        Called in eval mode under ``torch.no_grad()``; runs whatever prediction the metric needs (decoding)."""

    def select(self, batch: Batch, index: Tensor) -> Batch:
        """The examples ``index`` (int64 ``(b,)``) of ``batch`` (default: rows of every leaf of x and y)."""
        return Batch(select_rows(batch.x, index), select_rows(batch.y, index), None)

    def size(self, batch: Batch) -> int:
        return batch_size_of(batch)

    def draw(self, train: Batch, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` examples of the finite training set ``train`` drawn without replacement with ``generator``
        (all of them, shuffled, when the set is smaller): what a task with a small fixed training set samples."""
        check_int("batch_size", batch_size, 1)
        order = torch.randperm(self.size(train), generator=check_generator(generator))[:batch_size]
        return self.select(train, order)

    def baseline_output(self, x: Tensor) -> Tensor:
        raise NotImplementedError(f"task {self.name!r}: a structured task reports its baseline analytically "
                                  "(baseline()), it has no baseline model output")

    def measured_baseline(self, split: str = "test") -> dict[str, float]:
        return self.baseline()

    def evaluate(self, output: Tensor, y: Tensor) -> dict[str, float]:
        raise NotImplementedError(f"task {self.name!r}: evaluate a model with score(model, batch)")


def score_model(task: StructuredTask, model: nn.Module, batch: Batch, *, batch_size: int = 512
                ) -> dict[str, float]:
    """The task's metrics of ``model`` on ``batch`` (one process), in chunks of ``batch_size`` examples."""
    was_training = model.training
    model.eval()
    sums: dict[str, list[Tensor]] = {}
    n = task.size(batch)
    try:
        with torch.no_grad():
            for start in range(0, n, batch_size):
                part = task.select(batch, torch.arange(start, min(n, start + batch_size)))
                for name, (total, count) in task.score(model, part).items():
                    acc = sums.setdefault(name, [torch.zeros((), dtype=torch.float64),
                                                 torch.zeros((), dtype=torch.float64)])
                    acc[0] += total.detach().double().cpu()
                    acc[1] += torch.as_tensor(count).double().cpu()
    finally:
        model.train(was_training)
    return {name: float(s / c) if float(c) > 0 else float("nan") for name, (s, c) in sums.items()}


class LabelTask(StructuredTask):
    """A structured task with one class label per example: ``batch.y`` int64 ``(B,)``, the model's output logits
    ``(B, num_classes)`` (or a NamedTuple with ``.logits``); cross-entropy loss, accuracy and summed cross-entropy."""

    num_classes: int

    def logits_of(self, output: Any) -> Tensor:
        """The ``(B, num_classes)`` logits of a model's output (raises naming what came otherwise)."""
        logits = getattr(output, "logits", output)
        if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[1] != self.num_classes:
            got = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
            raise ValueError(f"output: expected logits of shape (B, {self.num_classes}) (or a NamedTuple with "
                             f".logits), got {got}")
        return logits

    def loss_of(self, output: Any, batch: Batch) -> Tensor:
        return F.cross_entropy(self.logits_of(output), batch.y)

    def score(self, model: nn.Module, batch: Batch) -> dict[str, tuple[Tensor, Tensor]]:
        logits = self.logits_of(model(batch.x))
        n = torch.tensor(float(batch.y.shape[0]))
        correct = (logits.argmax(-1) == batch.y).double().sum()
        ce = F.cross_entropy(logits.double(), batch.y, reduction="sum")
        return {"accuracy": (correct, n), "cross_entropy": (ce, n)}
