"""Epochs: how many optimizer updates one pass over a task's training data is, and ``--epochs`` turned into
``max_steps`` (and ``--val-every none`` into once per epoch).

A stream task (language modelling) has one training batch per epoch, its ``(B, L)`` streams, and one
update per TBPTT window that scores a step: ``updates_per_epoch`` counts those windows. A task with a finite
training set of N sequences has ``ceil(N / B)`` batches per epoch under full BPTT. A generated task has no
epochs.
"""

from __future__ import annotations

import math
from typing import Any

from rnnzoo.train.config import TrainConfig
from rnnzoo.train.errors import ConfigError
from rnnzoo.train.tbptt import windows

__all__ = ["resolve_epochs", "tokens_per_epoch", "updates_per_epoch"]


def updates_per_epoch(cfg: TrainConfig, task: Any) -> int | None:
    """Optimizer updates in one epoch of ``task`` under ``cfg`` (None for a generated task)."""
    if getattr(task, "stream", False):
        steps = task.train_size // cfg.batch_size
        if steps < 2:
            raise ConfigError(f"--batch-size: the training stream of {task.train_size} tokens needs at least 2 "
                              f"tokens per stream, expected at most {task.train_size // 2}, got {cfg.batch_size}")
        if cfg.tbptt is None:
            return 1
        # next-token targets: every step but the last of each stream is scored
        return sum(1 for w in windows(steps, cfg.tbptt[0], cfg.tbptt[1]) if w.start < steps - 1)
    size = getattr(task, "train_size", None)
    if size is None:
        return None
    if cfg.tbptt is not None:  # whole sequences in windows: the batches are drawn, not visited in epochs
        return None
    return math.ceil(size / cfg.batch_size)


def tokens_per_epoch(cfg: TrainConfig, task: Any) -> int | None:
    """Input tokens (time steps x sequences) per epoch of a stream task, None otherwise."""
    if not getattr(task, "stream", False):
        return None
    return (task.train_size // cfg.batch_size) * cfg.batch_size


def resolve_epochs(cfg: TrainConfig, task: Any) -> TrainConfig:
    """``cfg`` with ``max_steps = epochs x updates per epoch`` when ``epochs`` is set and ``val_every`` None
    replaced by the updates per epoch. ConfigError names the flag when the task has no epochs."""
    needs = cfg.epochs is not None or cfg.val_every is None or cfg.schedule == "epoch_decay"
    if not needs:
        return cfg
    per = updates_per_epoch(cfg, task)
    if per is None and cfg.tbptt is not None and getattr(task, "train_size", None) is not None:
        raise ConfigError(f"--tbptt: epochs over task {task.name!r} (whole sequences) run under full BPTT, "
                          f"got --tbptt {','.join(map(str, cfg.tbptt))}")
    if per is None:
        flag = "--epochs" if cfg.epochs is not None else (
            "--val-every" if cfg.val_every is None else "--schedule")
        raise ConfigError(f"{flag}: task {task.name!r} generates its data and has no epochs; use --max-steps "
                          "(and --val-every N, a schedule other than epoch_decay)")
    changes: dict[str, Any] = {}
    if cfg.epochs is not None:
        changes["max_steps"] = cfg.epochs * per
    if cfg.val_every is None:
        changes["val_every"] = per
    return cfg.replace(**changes) if changes else cfg
