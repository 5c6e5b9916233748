"""A Lightning callback that watches gradients vanish (or recover) while a model trains.

Every ``every_n_steps`` optimizer steps (and once before training) it runs :func:`diagnose` on a
fixed batch of the module's task and writes the key numbers to every logger of the trainer (CSV,
TensorBoard, ...): the gradient norm at lags 1, 10, T/2 and T-1 (001 eq (15)) and their ratio to
lag 1, a NaN/inf flag, lambda_1 of each recurrent block (001 eq (14)) and the saturated fractions
of each gate. With a TensorBoard logger it also adds each gate's activation histogram.

The numbers go straight to ``trainer.loggers[i].log_metrics(..., step=trainer.global_step)``:
``pl_module.log`` from a callback is buffered and only flushed every ``log_every_n_steps``, which
would drop or average measurements taken at other steps. They are also kept in :attr:`history`.
"""

from __future__ import annotations

from typing import Any

import torch
from lightning.pytorch import Callback, LightningModule, Trainer

from rnnzoo.diagnostics.gradients import LossFn
from rnnzoo.diagnostics.report import ModelDiagnostics, diagnose


def resolve_attr(obj: Any, dotted: str) -> Any:
    """``resolve_attr(m, "model.backbone")`` is ``m.model.backbone``; raises naming the missing part."""
    cur = obj
    for i, part in enumerate(dotted.split(".")):
        if not hasattr(cur, part):
            have = ".".join(dotted.split(".")[:i]) or type(obj).__name__
            raise AttributeError(f"{dotted!r}: {have} has no attribute {part!r}")
        cur = getattr(cur, part)
    return cur


class DiagnosticsCallback(Callback):
    """Log the gradient-against-lag profile and friends every ``every_n_steps`` training steps.

    Args:
        every_n_steps: run when ``trainer.global_step`` reaches a new multiple of it.
        model_attr: dotted path of the rnnzoo model on the LightningModule (default ``"model.backbone"``).
        task_attr: dotted path of the task, which has ``sample(batch_size, generator)`` (default ``"task"``).
        batch_size: size of the fixed diagnostic batch, drawn once with ``torch.Generator().manual_seed(seed)``.
        seed: its seed. loss_fn: per-step losses for :func:`gradient_lag` (default a random projection).
        layer: the layer whose state is probed.
        jacobian: also measure the Jacobian products (slower; logs ``jac/lag_L``).
        at_start: also run once before the first step (step 0).
        prefix: prepended to every metric name (default ``"diag/"``).
        histograms: add gate histograms to TensorBoard loggers.

    Attributes:
        history: one dict per run, ``{"step": s, <metric>: value, ...}``.
        last: the last :class:`~rnnzoo.diagnostics.report.ModelDiagnostics`.
    """

    def __init__(self, every_n_steps: int = 100, *, model_attr: str = "model.backbone", task_attr: str = "task",
                 batch_size: int = 32, seed: int = 0, loss_fn: LossFn | None = None, layer: int = 0,
                 jacobian: bool = False, at_start: bool = True, prefix: str = "diag/",
                 histograms: bool = True) -> None:
        super().__init__()
        if isinstance(every_n_steps, bool) or not isinstance(every_n_steps, int) or every_n_steps < 1:
            raise ValueError(f"every_n_steps: expected a positive int, got {every_n_steps!r}")
        self.every_n_steps = every_n_steps
        self.model_attr = model_attr
        self.task_attr = task_attr
        self.batch_size = batch_size
        self.seed = seed
        self.loss_fn = loss_fn
        self.layer = layer
        self.jacobian = jacobian
        self.at_start = at_start
        self.prefix = prefix
        self.histograms = histograms
        self.history: list[dict[str, float]] = []
        self.last: ModelDiagnostics | None = None
        self._batch: Any = None
        self._period = -1

    def on_train_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self.at_start:
            self._period = trainer.global_step // self.every_n_steps
            self.measure(trainer, pl_module)

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        period = trainer.global_step // self.every_n_steps
        if period > self._period:  # crossed a multiple (TBPTT can take several steps per batch)
            self._period = period
            self.measure(trainer, pl_module)

    def measure(self, trainer: Trainer, pl_module: LightningModule) -> dict[str, float]:
        """Diagnose now, log to the trainer's loggers, append to :attr:`history`; returns the metrics."""
        if not trainer.is_global_zero:
            return {}
        model = resolve_attr(pl_module, self.model_attr)
        if self._batch is None:
            task = resolve_attr(pl_module, self.task_attr)
            self._batch = task.sample(self.batch_size, torch.Generator().manual_seed(self.seed))
        param = next(model.parameters())
        x = self._batch.x.to(param.device, param.dtype)
        lengths = getattr(self._batch, "lengths", None)
        diag = diagnose(model, x, lengths=lengths, loss_fn=self.loss_fn, layer=self.layer, jacobian=self.jacobian)
        self.last = diag
        metrics = {self.prefix + k: v for k, v in diag.scalars().items()}
        if diag.jacobian is not None:
            for lag, norm in zip(diag.jacobian.lag.tolist(), diag.jacobian.norm.tolist(), strict=True):
                metrics[f"{self.prefix}jac/lag_{lag}"] = norm
        step = trainer.global_step
        for logger in trainer.loggers:
            logger.log_metrics(metrics, step=step)
            experiment = getattr(logger, "experiment", None) if self.histograms else None
            if experiment is not None and hasattr(experiment, "add_histogram"):
                for s in diag.saturation:
                    if s.count:
                        # the stored histogram (bin counts; sums from the bin centres)
                        centres = (s.edges[1:] + s.edges[:-1]) / 2
                        experiment.add_histogram_raw(
                            f"{self.prefix}gates/{s.layer}.{s.gate}", min=float(s.edges[0]),
                            max=float(s.edges[-1]), num=int(s.counts.sum()), sum=float((centres * s.counts).sum()),
                            sum_squares=float((centres.pow(2) * s.counts).sum()),
                            bucket_limits=s.edges[1:].tolist(), bucket_counts=s.counts.tolist(), global_step=step)
        self.history.append({"step": float(step), **metrics})
        return metrics
