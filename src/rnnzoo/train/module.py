"""The Lightning module and data module that train a :class:`SequenceModel` on a task.

Optimisation is manual (``automatic_optimization = False``) so that one code path serves full BPTT
and truncated BPTT (several updates per batch, :mod:`rnnzoo.train.tbptt`), and so that every update
is checked before it is applied: a NaN/inf loss or gradient raises
:class:`~rnnzoo.train.errors.TrainingDiverged` naming the step, without touching the weights.

Data: batch ``i`` is ``task.sample(batch_size, Generator().manual_seed(batch_seed(seed, i)))``; the
index ``i`` (``batches_done``) is a buffer of the module, so it is in every checkpoint and a resumed
run draws exactly the batches an uninterrupted one would. With ``N = devices x num_nodes`` processes every
process draws the same global batch and takes its N-th share, so the result does not depend on N (up to the
order of floating-point reductions; not with dropout, whose stream is seeded per process). The train
"dataloader" is only a clock: one tick per optimizer update (under
truncated BPTT one window of a batch, :class:`~rnnzoo.train.tbptt.Chunks`), so Lightning's steps, its
validation interval and its logged steps all count updates.
"""

from __future__ import annotations

import dataclasses
import itertools
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

import lightning as L
import torch
from torch import Tensor
from torch.utils.data import DataLoader, IterableDataset, TensorDataset

import rnnzoo
from rnnzoo.core.tree import tree_leaves, tree_map
from rnnzoo.tasks import Batch, Task
from rnnzoo.train._quiet import quiet_lightning
from rnnzoo.train.build import batch_seed, build_model, build_task, resolve_head
from rnnzoo.train.config import TrainConfig
from rnnzoo.train.epochs import tokens_per_epoch, updates_per_epoch
from rnnzoo.train.errors import TrainingDiverged
from rnnzoo.train.metrics import SequenceMetrics
from rnnzoo.train.objective import Targets, crf_loss, full_loss, make_targets
from rnnzoo.train.stream import stream_update
from rnnzoo.train.structured import StructuredMetrics, batch_to, is_structured, split_loader
from rnnzoo.train.tbptt import Chunks

CHECKPOINT_FORMAT = 1


class Schedule:
    """Learning-rate factor per optimizer step: linear warm-up to 1 over ``warmup`` steps, then
    ``constant``, ``cosine`` (to 0 at ``total``), ``step`` (times ``gamma`` every ``step_size``) or
    ``epoch_decay`` (times ``gamma ** max(0, epoch - decay_start)`` in 1-based epoch ``epoch`` of
    ``per_epoch`` updates: Zaremba et al. 2014's halving after epoch 4)."""

    def __init__(self, kind: str, warmup: int, total: int, step_size: int, gamma: float, *,
                 per_epoch: int | None = None, decay_start: int = 0) -> None:
        self.kind, self.warmup, self.total = kind, warmup, total
        self.step_size, self.gamma = step_size, gamma
        self.per_epoch, self.decay_start = per_epoch, decay_start
        if kind == "epoch_decay" and not per_epoch:
            raise ValueError(f"per_epoch: the epoch_decay schedule needs the updates per epoch, got {per_epoch!r}")

    def __call__(self, step: int) -> float:
        if self.warmup and step < self.warmup:
            return (step + 1) / self.warmup
        t = step - self.warmup
        if self.kind == "cosine":
            span = max(1, self.total - self.warmup)
            return 0.5 * (1.0 + math.cos(math.pi * min(t, span) / span))
        if self.kind == "step":
            return self.gamma ** (t // self.step_size)
        if self.kind == "epoch_decay":
            assert self.per_epoch is not None
            epoch = step // self.per_epoch + 1
            return self.gamma ** max(0, epoch - self.decay_start)
        return 1.0


class _Clock(IterableDataset):
    """An endless stream of ``0``: one item per training batch (the batches themselves are drawn
    in :meth:`LitSequenceModel.training_step` from the batch index)."""

    def __iter__(self) -> Iterator[int]:
        return itertools.repeat(0)


def _batch_tensors(batch: Batch) -> tuple[Tensor, ...]:
    return (batch.x, batch.y) if batch.lengths is None else (batch.x, batch.y, batch.lengths)


class TaskData(L.LightningDataModule):
    """Training clock + the task's fixed ``valid``/``test`` splits, each process taking its share."""

    def __init__(self, task: Task, eval_batch_size: int) -> None:
        super().__init__()
        self.task = task
        self.eval_batch_size = eval_batch_size

    def train_dataloader(self) -> DataLoader:
        return DataLoader(_Clock(), batch_size=None)

    def _split_loader(self, name: str) -> DataLoader:
        world = self.trainer.world_size if self.trainer is not None else 1
        rank = self.trainer.global_rank if self.trainer is not None else 0
        if is_structured(self.task):
            return split_loader(self.task, name, self.eval_batch_size, world=world, rank=rank)
        tensors = _batch_tensors(self.task.split(name))
        if world > 1 and tensors[0].shape[0] >= world:
            tensors = tuple(t[rank::world] for t in tensors)
        # else (a language model's one stream): every process evaluates all of it, and the synced metrics are
        # its metrics (Lightning needs a batch on every process)
        return DataLoader(TensorDataset(*tensors), batch_size=self.eval_batch_size, shuffle=False)

    def val_dataloader(self) -> DataLoader:
        return self._split_loader("valid")

    def test_dataloader(self) -> DataLoader:
        return self._split_loader("test")


class LitSequenceModel(L.LightningModule):
    """Trains ``SequenceModel`` (attribute ``model``) on ``task`` as ``config`` says.

    Args:
        config: a :meth:`TrainConfig.to_dict` mapping (stored as the checkpoint's hyper-parameters,
            so ``LitSequenceModel.load_from_checkpoint(path)`` rebuilds the module).

    Logged: ``train/loss`` (the batch's mean loss; with ``crf``, the mean sentence NLL), ``train/grad_norm``
    (global norm before clipping, largest over the batch's updates), ``train/lr``, ``valid/<metric>`` at each
    validation, with ``valid/wall_seconds`` (training wall time so far, :meth:`wall_seconds`; read by the
    speed-to-loss claims, :func:`rnnzoo.reproduce.runner.seconds_to`).
    """

    def __init__(self, config: dict[str, Any]) -> None:
        super().__init__()
        self.save_hyperparameters({"config": config})
        self.cfg = TrainConfig.from_dict(dict(config))
        self.task = build_task(self.cfg)
        self.head_kind = resolve_head(self.cfg, self.task)
        self.model = build_model(self.cfg, self.task)
        self.structured = is_structured(self.task)
        self.loss_kind = self.task.loss
        self.stream = bool(getattr(self.task, "stream", False))
        self.per_epoch = updates_per_epoch(self.cfg, self.task)
        self.epoch_tokens = tokens_per_epoch(self.cfg, self.task)
        #: wall seconds of each finished epoch (stream tasks; kept in checkpoints)
        self.epoch_seconds: list[float] = []
        self._epoch_started: float | None = None
        self._step_clock: float | None = None
        self.automatic_optimization = False
        self.register_buffer("batches_done", torch.zeros((), dtype=torch.long))
        self.register_buffer("updates_done", torch.zeros((), dtype=torch.long))
        self.val_metrics: SequenceMetrics | StructuredMetrics = (
            StructuredMetrics(list(self.task.metrics)) if self.structured
            else SequenceMetrics(self.loss_kind, self.task.output_size, crf=self.cfg.crf))
        self.wall_offset = 0.0
        self._fit_started: float | None = None
        # TBPTT: the next window of batch ``batches_done``, the state carried into it, that batch's windows
        self.chunk_next = 0
        self._carry: Any = None
        self._saved_carry: list[Tensor] | None = None
        self._batch: tuple[int, Chunks] | None = None

    def __setstate__(self, state: dict[str, Any]) -> None:
        quiet_lightning()  # unpickled in a ddp_spawn worker: quiet it like the launching process
        super().__setstate__(state)

    # ------------------------------------------------------------------ optimisation

    def configure_optimizers(self) -> Any:
        cfg = self.cfg
        params = self.model.parameters()
        if cfg.optimizer == "sgd":
            opt: torch.optim.Optimizer = torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum,
                                                         weight_decay=cfg.weight_decay)
        elif cfg.optimizer == "rmsprop":
            opt = torch.optim.RMSprop(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay)
        else:
            opt = torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        schedule = Schedule(cfg.schedule, cfg.warmup_steps, cfg.max_steps, cfg.step_size, cfg.gamma,
                            per_epoch=self.per_epoch, decay_start=cfg.lr_decay_start)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, schedule)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def train_batch(self, index: int) -> Any:
        """Training batch ``index`` (this process's share): ``x`` ``(B, T, I)``, ``y``, ``lengths``. A task with
        a finite training set (``epoch_batch``) gives slice ``index mod per_epoch`` of epoch ``index // per_epoch``."""
        epoch_batch = getattr(self.task, "epoch_batch", None)
        if epoch_batch is not None and self.per_epoch:  # epochs of a seeded shuffle: index -> (epoch, slice)
            epoch, part = divmod(index, self.per_epoch)
            gen = torch.Generator().manual_seed(batch_seed(self.cfg.seed, "epoch", epoch))
            batch = epoch_batch(gen, part, self.cfg.batch_size)
        else:
            gen = torch.Generator().manual_seed(batch_seed(self.cfg.seed, index))
            batch = self.task.sample(self.cfg.batch_size, gen)
        world = self.trainer.world_size if self._trainer is not None else 1
        if self.structured:  # the task knows its structure: its rows, moved as a whole
            if world > 1:
                share = self.cfg.batch_size // world
                batch = self.task.select(batch, torch.arange(self.global_rank * share, (self.global_rank + 1) * share))
            return batch_to(batch, self.device, next(self.model.parameters()).dtype)
        x, y, lengths = batch.x, batch.y, batch.lengths
        if world > 1:
            share = self.cfg.batch_size // world
            rows = slice(self.global_rank * share, (self.global_rank + 1) * share)
            x, y = x[rows], y[rows]
            lengths = lengths[rows] if lengths is not None else None
        dtype = next(self.model.parameters()).dtype
        x = x.to(self.device, dtype) if x.is_floating_point() else x.to(self.device)  # token ids stay int64
        y = y.to(self.device, dtype) if y.is_floating_point() else y.to(self.device)
        return x, y, lengths

    def _grad_norm(self) -> Tensor:
        """The global 2-norm of the model's gradients (float32 or wider), with torch's foreach kernels; under
        FSDP, where each process holds a shard of every gradient, summed over the processes."""
        grads = [p.grad for p in self.model.parameters() if p.grad is not None]
        norm = torch.nn.utils.get_total_norm(grads, 2.0) if grads else torch.zeros((), device=self.device)
        norm = norm if norm.dtype == torch.float64 else norm.float()
        if self._trainer is not None and self.trainer.world_size > 1 and self._sharded():
            squares = norm.to(self.device).square()
            torch.distributed.all_reduce(squares)
            norm = squares.sqrt()
        return norm

    def _sharded(self) -> bool:
        from lightning.pytorch.strategies import FSDPStrategy

        return isinstance(self.trainer.strategy, FSDPStrategy)

    def _grad_scale(self) -> float | None:
        """``16-mixed``: the gradient scaler's current scale (gradients are scaled until its step), else None."""
        scaler = getattr(self.trainer.precision_plugin, "scaler", None) if self._trainer is not None else None
        return float(scaler.get_scale()) if scaler is not None else None

    def training_step(self, batch: Any, batch_idx: int) -> Tensor:
        """One optimizer update: a whole batch under full BPTT, one window of a batch under TBPTT (the
        training loop's batches, ``global_step``, ``--val-every`` and ``metrics.csv`` then all count updates)."""
        cfg = self.cfg
        opt = self.optimizers()
        sched = self.lr_schedulers()
        norms: list[float] = []
        self._step_clock = time.time()
        if self._epoch_started is None:
            self._epoch_started = self._step_clock
        if cfg.tbptt is None:
            index = int(self.batches_done)
            # dropout (the only other randomness) also follows the batch index: resume stays exact
            torch.manual_seed(batch_seed(cfg.seed, index, "dropout", self.global_rank))
            if self.structured:
                whole = self.train_batch(index)
            else:
                x, y, lengths = self.train_batch(index)
                local = make_targets(self.head_kind, y, lengths, x.shape[1], self.loss_kind)
                targets = self._global_count(local)

        def update(loss: Tensor, chunk: int) -> None:
            opt.zero_grad(set_to_none=True)
            self.manual_backward(loss)
            scale = self._grad_scale()  # 16-mixed: the gradients are scaled by it until the optimizer step
            norm = self._grad_norm() / (scale or 1.0)
            # under a gradient scaler a non-finite gradient is an fp16 overflow: its step skips the update and
            # lowers the scale; without one, or with a non-finite loss, the run diverged
            bad = not bool(torch.isfinite(loss.detach())) or (scale is None and not bool(torch.isfinite(norm)))
            if self.trainer.world_size > 1:
                bad = self.trainer.strategy.reduce_boolean_decision(bad, all=False)
            if bad:
                opt.zero_grad(set_to_none=True)
                raise TrainingDiverged(self.trainer.global_step, float(loss.detach()), float(norm),
                                       clipped=cfg.clip_norm is not None or cfg.clip_value is not None)
            if bool(torch.isfinite(norm)):
                norms.append(float(norm))
            params = self.model.parameters
            if cfg.clip_value is not None:
                torch.nn.utils.clip_grad_value_(params(), cfg.clip_value * (scale or 1.0))
                if cfg.clip_norm is not None:  # the norm changed: compute it again
                    torch.nn.utils.clip_grads_with_norm_(params(), cfg.clip_norm,
                                                         self._grad_norm() / (scale or 1.0))
            elif cfg.clip_norm is not None:  # the norm just checked, not a second pass over the gradients (issue 10)
                torch.nn.utils.clip_grads_with_norm_(params(), cfg.clip_norm, norm)
            opt.step()
            sched.step()
            self.updates_done += 1

        if cfg.tbptt is not None:
            total, size = self._tbptt_step(update)
        elif self.structured:  # the task scores the whole model's own outputs
            total = self.task.loss_of(self.model(whole.x), whole)
            update(total, 0)
            total = total.detach()
            self.batches_done += 1
            size = self.task.size(whole)
        else:
            pred, _ = self.model(x, lengths=lengths)
            if self.model.crf is not None:  # the sentence NLL averaged over the batch (crf_loss)
                total = crf_loss(self.model.crf, pred, targets)
                update(total, 0)
            else:
                total = full_loss(pred, local, self.loss_kind)  # this process's token mean (logged)
                # the update's loss: sum / count over the global batch, whichever process scores how many tokens
                update(total * (local.count / x.shape[0]) if cfg.time_reduction == "sum"
                       else total * (local.count / targets.count), 0)
            total = total.detach()
            self.batches_done += 1
            size = x.shape[0]
        self.log("train/loss", total, prog_bar=True, batch_size=size)
        self._log_speed(total, size)
        if norms:
            self.log("train/grad_norm", max(norms), batch_size=size)
        self.log("train/lr", sched.get_last_lr()[0], batch_size=size)
        return total

    def _global_count(self, targets: Targets) -> Targets:
        """``targets`` with ``count`` = the global batch's scored elements / the process count, where processes score
        different numbers of elements (variable-length per-step targets under DDP): each process's loss is then its
        sum over ``count``, and DDP's mean of the processes' gradients is the gradient of the global batch's token
        mean, as one process computes it. Otherwise (one process, or equal counts by construction) unchanged."""
        world = self.trainer.world_size if self._trainer is not None else 1
        if world == 1 or targets.mask is None:
            return targets
        total = self.trainer.strategy.reduce(torch.tensor(float(targets.count), device=self.device), reduce_op="sum")
        return dataclasses.replace(targets, count=float(total) / world)

    def _chunks(self, index: int) -> Chunks:
        if self._batch is None or self._batch[0] != index:
            x, y, lengths = self.train_batch(index)
            targets = self._global_count(make_targets(self.head_kind, y, lengths, x.shape[1], self.loss_kind))
            k1, k2 = self.cfg.tbptt  # type: ignore[misc]
            self._batch = (index, Chunks(self.model, x, targets, k1, k2, loss=self.loss_kind, lengths=lengths))
        return self._batch[1]

    def _tbptt_step(self, update: Callable[[Tensor, int], None]) -> tuple[Tensor, int]:
        """Run the windows of the current batch up to and including its next scored one, whose update this
        is; returns (the mean loss of that window's scored steps, batch size). The state carried to the next
        window and the window's index are kept between steps (and in checkpoints: resume stays exact)."""
        while True:
            index = int(self.batches_done)
            chunks = self._chunks(index)
            first = self.chunk_next
            state = self._restore_carry(chunks) if first else None
            loss_c = None
            j = first
            while j <= chunks.last_scored:
                # dropout follows (batch, window): a validation between two windows draws nothing from it
                torch.manual_seed(batch_seed(self.cfg.seed, index, "dropout", self.global_rank, j))
                loss_c, state = chunks.loss(j, state)
                j += 1
                if loss_c is not None:
                    update(self._window_objective(chunks, j - 1, loss_c), j - 1)
                    break
            if j > chunks.last_scored:  # the batch is done: the next step starts the next one
                self._end_epoch()
                self.batches_done += 1
                self.chunk_next, self._carry, self._batch = 0, None, None
            else:
                self.chunk_next, self._carry = j, state
            if loss_c is not None:
                return loss_c.detach() / chunks.fraction(j - 1), chunks.x.shape[0]

    def _window_objective(self, chunks: Chunks, index: int, share: Tensor) -> Tensor:
        """What window ``index`` back-propagates, from its share of the batch loss (``sum / count``):
        ``time_reduction: sum``: the sum over its scored steps / B (Zaremba et al. 2014); ``mean``: for a
        stream task the mean over its own scored steps (each window is an update of its own), else the share
        (the chunk losses of a batch add up to its mean loss)."""
        if self.cfg.time_reduction == "sum":
            return share * (chunks.targets.count / chunks.x.shape[0])
        if self.stream:
            return share / chunks.fraction(index)
        return share

    def _end_epoch(self) -> None:
        if self.stream and self._epoch_started is not None:
            self.epoch_seconds.append(time.time() - self._epoch_started)
        self._epoch_started = None  # the next training step starts the next epoch (validation excluded)

    def _log_speed(self, loss: Tensor, size: int) -> None:
        """Tokens per second (stream tasks: B x k per update) and the training perplexity, in the progress bar."""
        now = time.time()
        if self.stream and self.cfg.tbptt is not None:
            if self._step_clock is not None and now > self._step_clock:
                rate = size * self.cfg.tbptt[0] / (now - self._step_clock)  # this update's compute
                self.log("train/tokens_per_s", rate, prog_bar=True, batch_size=size)
            self.log("train/ppl", torch.exp(loss.detach().float().clamp(max=50.0)), prog_bar=True, batch_size=size)

    def _restore_carry(self, chunks: Chunks) -> Any:
        if self._carry is None and self._saved_carry is not None:  # resumed between two windows of a batch
            leaves = self._saved_carry
            world = self.trainer.world_size if self._trainer is not None else 1
            if world > 1:
                share = leaves[0].shape[0] // world
                leaves = [leaf[self.global_rank * share:(self.global_rank + 1) * share] for leaf in leaves]
            it = iter(leaf.to(self.device) for leaf in leaves)
            self._carry = tree_map(lambda _: next(it), chunks.template())
            self._saved_carry = None
        return self._carry

    def _carry_to_save(self) -> list[Tensor]:
        """The carried state's leaves for the whole global batch (gathered from every process, in rank order)."""
        leaves = [leaf.detach().contiguous() for leaf in tree_leaves(self._carry)] if self._carry is not None else []
        world = self.trainer.world_size
        if world > 1 and leaves:
            gathered = []
            for leaf in leaves:
                parts = [torch.empty_like(leaf) for _ in range(world)]
                torch.distributed.all_gather(parts, leaf)
                gathered.append(torch.cat(parts, 0))
            leaves = gathered
        return [leaf.cpu() for leaf in leaves]

    # ------------------------------------------------------------------ validation

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        if self.structured:
            self.val_metrics.update(self.task, self.model.net,
                                    batch_to(batch, self.device, next(self.model.parameters()).dtype))
            return
        x, y = batch[0], batch[1]
        lengths = batch[2] if len(batch) > 2 else None
        if self.stream:  # one long stream: in windows carrying the state, never all its logits at once
            stream_update(self.model, self.val_metrics, x, y, self.head_kind, self.loss_kind)
            return
        dtype = next(self.model.parameters()).dtype
        pred, _ = self.model(x.to(dtype) if x.is_floating_point() else x, lengths=lengths)
        self.val_metrics.update(pred, make_targets(self.head_kind, y, lengths, x.shape[1], self.loss_kind),
                                crf=self.model.crf)

    def on_validation_epoch_end(self) -> None:
        values = self.val_metrics.compute()
        self.val_metrics.reset()
        sync = self.trainer.world_size > 1
        shown = self.cfg.monitor or self.task.metrics[0]  # the monitored metric, also in the progress bar
        if shown not in values:  # --crf: no per-step cross-entropy, the Viterbi accuracy is monitored
            shown = "accuracy"
        for k, v in values.items():
            self.log(f"valid/{k}", v, sync_dist=sync, prog_bar=k == shown)
        if not self.trainer.sanity_checking:  # training wall seconds at this validation (speed-to-loss claims)
            self.log("valid/wall_seconds", self.wall_seconds(), sync_dist=sync)

    # ------------------------------------------------------------------ checkpoints

    def on_fit_start(self) -> None:
        self._fit_started = time.time()

    def wall_seconds(self) -> float:
        """Training wall time so far, over every resumed segment."""
        running = time.time() - self._fit_started if self._fit_started is not None else 0.0
        return self.wall_offset + running

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["rnnzoo"] = {
            "format": CHECKPOINT_FORMAT,
            "version": rnnzoo.__version__,
            "config": self.cfg.to_dict(),
            "model_config": dict(self.model.config),
            "batches": int(self.batches_done),
            "updates": int(self.updates_done),
            "wall_seconds": self.wall_seconds(),
            "epoch_seconds": list(self.epoch_seconds),
        }
        if self.cfg.tbptt is not None:  # between two windows of a batch: where, and the state carried
            checkpoint["rnnzoo"]["tbptt"] = {"window": self.chunk_next, "carry": self._carry_to_save()}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        meta = checkpoint.get("rnnzoo", {})
        self.wall_offset = float(meta.get("wall_seconds", 0.0))
        self.epoch_seconds = [float(v) for v in meta.get("epoch_seconds", [])]
        chunk = meta.get("tbptt") or {}
        self.chunk_next = int(chunk.get("window", 0))
        self._carry, self._batch = None, None
        self._saved_carry = list(chunk.get("carry") or []) if self.chunk_next else None
