"""Common types of the benchmark tasks: :class:`Batch`, :class:`Task`, :class:`TaskInfo`.

Conventions shared by every task:

* ``x`` is float32 of shape ``(B, T, input_size)``.
* ``y`` is float32 ``(B, output_size)`` for regression from the last step (``loss == "mse"``),
  int64 ``(B,)`` for classification from the last step (``target == "last"``, ``loss == "cross_entropy"``)
  and int64 ``(B, T)`` for per-step labels (``target == "per_step"``).
* ``lengths`` is ``None``: every task here produces full-length sequences.
* Randomness only ever comes from a ``torch.Generator`` passed in (or created from a documented seed);
  global RNG state is neither read nor modified.
"""

from __future__ import annotations

import abc
import math
from dataclasses import dataclass, field
from typing import Any, Literal, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnzoo.core.registry import InputKind

__all__ = ["HIGHER_IS_BETTER", "Batch", "TaskInfo", "Task", "GeneratedTask", "evaluate"]

TargetKind = Literal["last", "per_step"]

#: metric names that are maximised (every other metric is minimised): the trainer's monitor, early stopping
#: and the claims' verdicts read this one set
HIGHER_IS_BETTER = frozenset({"accuracy", "sequence_accuracy", "exact_match", "token_accuracy", "shifted_accuracy"})
LossKind = Literal["mse", "cross_entropy"]


class Batch(NamedTuple):
    """One batch of sequences.

    x: float32 ``(B, T, input_size)``.
    y: float32 ``(B, output_size)`` (regression), int64 ``(B,)`` (last-step class) or int64 ``(B, T)``
       (per-step labels).
    lengths: int64 ``(B,)`` true lengths, or ``None`` when every sequence has length ``T``.
    """

    x: Tensor
    y: Tensor
    lengths: Tensor | None = None


@dataclass(frozen=True)
class TaskInfo:
    """Registry entry: task name, one-line description, description of its trivial baseline, and what its
    sequence length ``T`` (``seq_len``, ``rnnzoo train --seq-len``) is by default."""

    name: str
    description: str
    baseline: str
    seq_len: str = ""
    train_defaults: dict[str, Any] = field(default_factory=dict)
    """Training settings ``rnnzoo train`` uses for this task unless given (e.g. the paper's batch size)."""


# --------------------------------------------------------------------------- argument checks


def check_int(name: str, value: object, minimum: int, context: str = "") -> int:
    """Return ``value`` if it is an ``int >= minimum`` (bools rejected), else raise ``ValueError``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        where = f" for {context}" if context else ""
        raise ValueError(f"{name} must be an integer >= {minimum}{where}, got {value!r}")
    return value


def check_choice(name: str, value: object, allowed: tuple, context: str = "") -> object:
    """Return ``value`` if it is one of ``allowed``, else raise ``ValueError``."""
    if isinstance(value, bool) or value not in allowed:
        where = f" for {context}" if context else ""
        raise ValueError(f"{name} must be one of {list(allowed)}{where}, got {value!r}")
    return value


def check_generator(generator: object) -> torch.Generator:
    if not isinstance(generator, torch.Generator):
        raise TypeError(
            f"generator must be a torch.Generator (e.g. torch.Generator().manual_seed(0)), "
            f"got {type(generator).__name__}"
        )
    if generator.device.type != "cpu":
        raise ValueError(f"generator must be a CPU torch.Generator, got device {generator.device}")
    return generator


# --------------------------------------------------------------------------- metrics


def evaluate(output: Tensor, y: Tensor, metrics: list[str]) -> dict[str, float]:
    """Compute ``metrics`` of a model ``output`` against targets ``y``.

    output: regression ``(B, output_size)`` for ``"mse"``; logits or log-probabilities
            ``(B, C)`` / ``(B, T, C)`` for ``"accuracy"`` and ``"cross_entropy"``.
    y: as in :class:`Batch`.
    Returns a dict metric name -> mean over all examples (and steps, for per-step labels).
    """
    out: dict[str, float] = {}
    for metric in metrics:
        if metric == "mse":
            out["mse"] = F.mse_loss(output.float(), y.float()).item()
        elif metric == "accuracy":
            out["accuracy"] = (output.argmax(dim=-1) == y).double().mean().item()
        elif metric == "cross_entropy":
            logits = output.reshape(-1, output.shape[-1]).double()
            out["cross_entropy"] = F.cross_entropy(logits, y.reshape(-1)).item()
        else:
            raise ValueError(f"metric must be one of ['mse', 'accuracy', 'cross_entropy'], got {metric!r}")
    return out


# --------------------------------------------------------------------------- tasks


class Task(abc.ABC):
    """A long-range-dependency benchmark task.

    Attributes:
        name: registry name.
        input_size: features per time step.
        output_size: regression dimension (``loss == "mse"``) or number of classes.
        target: ``"last"`` (loss on the output at the last step) or ``"per_step"`` (at every step).
        loss: ``"mse"`` or ``"cross_entropy"``.
        seq_len: ``T``, the length of every sequence.
        metrics: names of the metrics reported for this task, e.g. ``["mse"]``.
        input_kind: what the task gives a model (:class:`~rnnzoo.core.registry.InputKind`); a model
            must read the same kind (``rnnzoo train`` refuses a mismatch, naming both).
        input_vocab: V when ``x`` holds int64 token ids ``(B, T)`` (the trainer embeds them), else None.
        stream: True when one training batch is one epoch of B contiguous streams of a corpus
            (language modelling, Zaremba et al. 2014): trained in TBPTT windows, evaluated as one stream.
        train_size: training sequences (tokens for a stream task) when the training set is finite, else None.
        model_options: extra keyword arguments the model's factory needs (e.g. vocabulary sizes).
    """

    input_kind: InputKind = InputKind.VECTOR_SEQUENCE
    input_vocab: int | None = None
    stream: bool = False
    train_size: int | None = None
    model_options: dict[str, Any] = {}  # noqa: RUF012 (read-only class default; tasks assign their own)
    name: str
    input_size: int
    output_size: int
    target: TargetKind
    loss: LossKind
    seq_len: int
    metrics: list[str]
    split_names: tuple[str, ...]

    @abc.abstractmethod
    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """A training batch drawn with ``generator``: ``x`` ``(batch_size, T, input_size)``."""

    @abc.abstractmethod
    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        """The full fixed split ``name`` (see :attr:`split_names`) as one :class:`Batch`.

        The tensors are cached and shared between calls: clone them before modifying in place.
        """

    @abc.abstractmethod
    def baseline(self) -> dict[str, float]:
        """Analytic (expected) metrics of the trivial predictor, e.g. ``{"mse": 1/6}``."""

    @abc.abstractmethod
    def baseline_output(self, x: Tensor) -> Tensor:
        """Output of the trivial predictor for inputs ``x`` ``(B, T, input_size)``.

        Returns predictions ``(B, output_size)`` for regression, log-probabilities ``(B, C)`` for
        last-step classification or ``(B, T, C)`` for per-step labels. It never looks at the targets.
        """

    def evaluate(self, output: Tensor, y: Tensor) -> dict[str, float]:
        """This task's :attr:`metrics` of ``output`` against ``y`` (see :func:`evaluate`)."""
        return evaluate(output, y, self.metrics)

    def measured_baseline(self, split: str = "test") -> dict[str, float]:
        """The trivial predictor's metrics measured on the fixed split ``split``."""
        batch = self.split(split)
        return self.evaluate(self.baseline_output(batch.x), batch.y)

    def check_split_name(self, name: str) -> str:
        return str(check_choice("split", name, self.split_names, f"task {self.name!r}"))

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(name={self.name!r}, seq_len={self.seq_len}, "
            f"input_size={self.input_size}, output_size={self.output_size}, "
            f"target={self.target!r}, loss={self.loss!r})"
        )


class GeneratedTask(Task):
    """A task whose sequences are generated on the fly.

    Training batches come from :meth:`sample` with the caller's generator. The ``"valid"`` and
    ``"test"`` splits have fixed sizes (default 1,000 and 2,560 sequences; 2,560 is the test-set size
    of Hochreiter & Schmidhuber 1997) and are generated from their own seeds,
    :attr:`SPLIT_SEEDS` (``valid``: 2_718_281_828, ``test``: 3_141_592_653), so they are reproducible
    and do not share an RNG stream with training generators seeded in the usual small range.
    """

    SPLIT_SEEDS: dict[str, int] = {"valid": 2_718_281_828, "test": 3_141_592_653}
    split_names = ("valid", "test")

    def __init__(self, valid_size: int = 1000, test_size: int = 2560) -> None:
        self.split_sizes = {
            "valid": check_int("valid_size", valid_size, 1),
            "test": check_int("test_size", test_size, 1),
        }
        self._split_cache: dict[tuple[str, int], Batch] = {}

    @abc.abstractmethod
    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        """Draw ``batch_size`` fresh sequences using only ``generator``."""

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` fresh sequences drawn with ``generator``; shapes as in :class:`Batch`."""
        check_int("batch_size", batch_size, 1)
        return self._generate(batch_size, check_generator(generator))

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        """The fixed ``"valid"`` or ``"test"`` split.

        generator_seed: seed of the split's generator; ``None`` uses ``SPLIT_SEEDS[name]``.
        The result is cached per ``(name, seed)``.
        """
        self.check_split_name(name)
        seed = (
            self.SPLIT_SEEDS[name]
            if generator_seed is None
            else check_int("generator_seed", generator_seed, 0)
        )
        key = (name, seed)
        if key not in self._split_cache:
            generator = torch.Generator().manual_seed(seed)
            self._split_cache[key] = self._generate(self.split_sizes[name], generator)
        return self._split_cache[key]


def constant_class_output(batch_size: int, num_classes: int) -> Tensor:
    """Uniform log-probabilities ``(batch_size, num_classes)``; argmax is class 0 (ties -> first index)."""
    return torch.full((batch_size, num_classes), -math.log(num_classes))


def balanced_classification_baseline(num_classes: int) -> dict[str, float]:
    """Constant predictor on balanced classes: accuracy 1/C, cross-entropy ln C (uniform prediction)."""
    return {"accuracy": 1.0 / num_classes, "cross_entropy": math.log(num_classes)}
