"""Training on structured tasks (issue 12): whole models on :class:`~rnnzoo.tasks.structured.StructuredTask`.

The sequence tasks give ``(x, y, lengths)`` tensors that the trainer scores itself (:mod:`rnnzoo.train.objective`);
a structured task gives a :class:`~rnnzoo.tasks.base.Batch` whose ``x`` and ``y`` are structures only the task
understands, so the task computes the loss (:meth:`StructuredTask.loss_of`) and the metrics
(:meth:`StructuredTask.score`, sums and counts). This module holds the few pieces the Lightning module, the run and
the evaluation use for them: the model wrapper, the metric accumulator, the split loader and the device move.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader
from torchmetrics.aggregation import MeanMetric

import rnnzoo
from rnnzoo.core.tree import tree_map
from rnnzoo.tasks.base import Batch
from rnnzoo.tasks.structured import StructuredTask

__all__ = ["StructuredMetrics", "WholeModel", "batch_to", "is_structured", "split_loader"]


def is_structured(task: Any) -> bool:
    return isinstance(task, StructuredTask)


class WholeModel(nn.Module):
    """A registered whole model (``kind=ModelKind.MODEL``) as the trainer holds it (attribute ``net``).

    ``rnnzoo.create(model, hidden_size=..., **options)``: ``options`` are the task's ``model_options`` (vocabulary
    and feature sizes) under the user's ``--option`` values. ``config`` rebuilds it (:meth:`from_config`); ``crf`` is
    None and ``head_kind`` ``"structured"``, so code written for :class:`~rnnzoo.train.heads.SequenceModel` can ask.
    """

    head_kind = "structured"
    crf = None

    def __init__(self, model: str, *, hidden_size: int, options: dict[str, Any] | None = None) -> None:
        super().__init__()
        options = dict(options or {})
        self.net = rnnzoo.create(model, hidden_size=hidden_size, **options)
        self.config = {"structured": True, "model": model, "hidden_size": hidden_size, "options": options}

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> WholeModel:
        cfg = dict(config)
        cfg.pop("structured", None)
        return cls(cfg.pop("model"), **cfg)

    def forward(self, x: Any) -> Any:
        return self.net(x)


def batch_to(batch: Batch, device: torch.device, dtype: torch.dtype) -> Batch:
    """``batch`` with every tensor on ``device`` and every floating one in ``dtype`` (ids and masks keep theirs)."""

    def move(t: Tensor) -> Tensor:
        return t.to(device, dtype) if t.is_floating_point() else t.to(device)

    return Batch(tree_map(move, batch.x), tree_map(move, batch.y), None)


class StructuredMetrics(nn.Module):
    """The task's metrics as weighted means over examples, summed across processes (torchmetrics ``MeanMetric``).

    ``update(task, model, batch)`` runs :meth:`StructuredTask.score` (eval mode, no gradients) and adds its sums;
    ``compute()`` returns ``{metric: mean}``."""

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.metrics = nn.ModuleDict({name: MeanMetric() for name in names})

    @property
    def names(self) -> list[str]:
        return list(self.metrics)

    @torch.no_grad()
    def update(self, task: StructuredTask, model: nn.Module, batch: Batch) -> None:
        was_training = model.training
        model.eval()
        try:
            scores = task.score(model, batch)
        finally:
            model.train(was_training)
        missing = sorted(set(self.metrics) - set(scores))
        if missing:
            raise ValueError(f"score: task {task.name!r} returned no {missing} (its metrics are {self.names})")
        for name, metric in self.metrics.items():
            total, count = scores[name]
            count = torch.as_tensor(count, dtype=torch.float64)
            if float(count) > 0:
                metric.update(torch.as_tensor(total, dtype=torch.float64) / count, count)

    def compute(self) -> dict[str, float]:
        return {name: float(m.compute()) for name, m in self.metrics.items()}

    def reset(self) -> None:
        for m in self.metrics.values():
            m.reset()


def split_loader(task: StructuredTask, name: str, batch_size: int, *, world: int = 1, rank: int = 0) -> DataLoader:
    """Batches of the fixed split ``name`` (this process's share: every ``world``-th example from ``rank``),
    collated by :meth:`StructuredTask.select`."""
    data = task.split(name)
    index = torch.arange(task.size(data))[rank::world]

    def collate(rows: list[Tensor]) -> Batch:
        return task.select(data, torch.stack(rows))

    return DataLoader(index, batch_size=batch_size, shuffle=False, collate_fn=collate)
