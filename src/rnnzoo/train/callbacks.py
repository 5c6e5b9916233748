"""Lightning callbacks of a training run: graceful stop on signals, the ``last.ckpt`` checkpoint and
one-line progress reports."""

from __future__ import annotations

import multiprocessing
import os
import signal
import sys
import threading
import time
from pathlib import Path
from typing import Any

import lightning as L
from lightning.pytorch.callbacks import Callback

_SIGNALS = (signal.SIGINT, signal.SIGTERM)
_REPEAT_SECONDS = 2.0


class GracefulStop(Callback):
    """SIGINT or SIGTERM during training: finish the current batch, save ``last.ckpt``, stop.

    A second SIGINT (after 2 s) aborts at once (``KeyboardInterrupt``). :meth:`install` (in the launching process,
    around ``Trainer.fit``) catches the signal outside the training loop too and forwards it to DDP
    worker processes; in every training process the handler is (re)installed at ``on_train_start``,
    over Lightning's own SIGTERM handler, which would otherwise stop the run without a checkpoint.
    With several processes the decision to stop is shared (any process that got a signal stops all),
    so every process saves and stops at the same batch.

    ``requested`` holds the signal number once one was received (in the process that got it) and
    ``stopped_at`` the global step at which training stopped. The checkpoint is written by
    :class:`LastCheckpoint` at ``on_train_end``.
    """

    def __init__(self) -> None:
        self.requested: int | None = None
        self.stopped_at: int | None = None
        self._first = 0.0
        self._old: dict[int, Any] = {}
        self._forward = False

    def __getstate__(self) -> dict[str, Any]:  # ddp_spawn pickles callbacks: handlers stay behind
        state = self.__dict__.copy()
        state["_old"] = {}
        state["_forward"] = False
        return state

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested is not None:
            # a DDP worker gets Ctrl-C twice (from the terminal and forwarded by the launcher): a repeat
            # within a few seconds is the same request; a later SIGINT aborts at once
            if signum == signal.SIGINT and time.time() - self._first > _REPEAT_SECONDS:
                raise KeyboardInterrupt
            return
        self.requested = signum
        self._first = time.time()
        if self._forward:
            for child in multiprocessing.active_children():
                if child.pid is not None:
                    os.kill(child.pid, signum)
        elif os.environ.get("LOCAL_RANK", "0") == "0":
            name = signal.Signals(signum).name
            print(f"\n{name} received: stopping after this batch and saving a checkpoint "
                  "(Ctrl-C again aborts at once)", file=sys.stderr, flush=True)

    def install(self, forward_to_children: bool = False) -> None:
        """Install the handlers in this (main) thread; ``forward_to_children`` for a DDP launcher."""
        if threading.current_thread() is not threading.main_thread():
            return
        self._forward = forward_to_children
        for sig in _SIGNALS:
            if sig not in self._old:
                self._old[sig] = signal.getsignal(sig)
            signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        """Restore the handlers that :meth:`install` replaced."""
        if threading.current_thread() is not threading.main_thread():
            return
        for sig, old in self._old.items():
            signal.signal(sig, old if old is not None else signal.SIG_DFL)
        self._old = {}

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        # after Lightning's _SignalConnector.register_signal_handlers (which runs after on_fit_start)
        self._forward = False
        if threading.current_thread() is threading.main_thread():
            for sig in _SIGNALS:
                signal.signal(sig, self._handle)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        stop = self.requested is not None
        if trainer.world_size > 1:
            stop = trainer.strategy.reduce_boolean_decision(stop, all=False)
        if stop and self.stopped_at is None:
            self.stopped_at = trainer.global_step
            if self.requested is None:
                self.requested = signal.SIGTERM
            trainer.should_stop = True  # LastCheckpoint saves at on_train_end


class LastCheckpoint(Callback):
    """Save ``last.ckpt`` after every validation and at the end of training (atomically: a kill
    while saving leaves the previous checkpoint)."""

    def __init__(self, checkpoint_path: str | Path) -> None:
        self.path = Path(checkpoint_path)
        self._saved_step = -1

    def _save(self, trainer: L.Trainer) -> None:
        if trainer.sanity_checking or trainer.global_step == self._saved_step:
            return
        if trainer.is_global_zero:  # the other processes write nothing (another node may not share the disk)
            self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(self.path.name + ".tmp")
        trainer.save_checkpoint(tmp)
        if trainer.is_global_zero:
            os.replace(tmp, self.path)
        trainer.strategy.barrier("rnnzoo_last_checkpoint")
        self._saved_step = trainer.global_step

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.state.fn == "fit":
            self._save(trainer)

    def on_train_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._save(trainer)


class ProgressLog(Callback):
    """One line per validation on rank 0: step, mean training loss since the last line, the
    monitored valid metric, elapsed seconds. With ``tokens_per_step`` (a language model: B x k tokens per
    update) also the training perplexity ``exp(loss)`` and tokens per second since the last line."""

    def __init__(self, monitor: str, max_steps: int, every: int | None = None, *,
                 tokens_per_step: int | None = None) -> None:
        self.monitor = monitor
        self.max_steps = max_steps
        self.every = every
        self.tokens_per_step = tokens_per_step
        self._last = (0, time.time())
        self._val_started: float | None = None
        self._losses: list[float] = []
        self._t0 = time.time()

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._t0 = time.time()
        self._last = (trainer.global_step, self._t0)

    def on_train_batch_end(self, trainer: L.Trainer, pl_module: L.LightningModule, outputs: Any, batch: Any,
                           batch_idx: int) -> None:
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        if loss is not None:
            self._losses.append(float(loss))
        if self.every and trainer.global_step % self.every == 0:
            self._line(trainer, "")

    def on_validation_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._val_started = time.time()  # tokens/s counts training time only

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking or trainer.state.fn != "fit":
            return
        value = trainer.callback_metrics.get(f"valid/{self.monitor}")
        tail = f"  valid {self.monitor} {float(value):.4g}" if value is not None else ""
        self._line(trainer, tail)

    def _line(self, trainer: L.Trainer, tail: str) -> None:
        if not trainer.is_global_zero:
            return
        import math

        if not self._losses and tail:  # a validation right after a progress line: nothing trained since
            self._last = (trainer.global_step, time.time())
            self._val_started = None
            elapsed = time.time() - self._t0
            print(f"step {trainer.global_step:>6}/{self.max_steps} {tail}  ({elapsed:.0f} s)", flush=True)
            return
        loss = sum(self._losses) / len(self._losses) if self._losses else float("nan")
        self._losses = []
        now = time.time()
        elapsed = now - self._t0
        speed = ""
        if self.tokens_per_step:
            steps, then = self._last
            stop = self._val_started if self._val_started is not None and self._val_started > then else now
            rate = (trainer.global_step - steps) * self.tokens_per_step / max(stop - then, 1e-9)
            speed = f" (ppl {math.exp(min(loss, 50.0)):.4g}), {rate:,.0f} tokens/s"
        self._last = (trainer.global_step, now)
        self._val_started = None
        print(f"step {trainer.global_step:>6}/{self.max_steps}  train loss {loss:.4g}{speed}{tail}  ({elapsed:.0f} s)",
              flush=True)
