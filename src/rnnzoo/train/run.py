"""A training run end to end: run directory, Lightning Trainer, checkpoints, final evaluation, results.

A run directory holds::

    config.yaml          the fully resolved TrainConfig (``rnnzoo train --config`` repeats the run)
    checkpoints/last.ckpt  after every validation, at the end and on SIGINT/SIGTERM (resume point)
    checkpoints/best.ckpt  best monitored valid metric
    logs/version_*/        Lightning's CSVLogger; tensorboard/version_*/ the TensorBoardLogger
    metrics.csv          every CSV log of the run merged (one table across resumed segments)
    results.json         model, task, valid/test/baseline metrics, steps, wall_seconds, parameters

Several processes (``devices x num_nodes > 1``) train with DDP (NCCL on GPUs, gloo on CPU) or FSDP. Launched
from one command on one node, the processes are started with ``ddp_spawn``: the launching process keeps the run
directory, the configuration and the final evaluation, and only ``Trainer.fit`` runs in the workers.
Under ``torchrun``, ``srun`` or a manual multi-node launch every process runs :func:`train`, and only global
rank 0 writes the run directory (:mod:`rnnzoo.train.launch`; ``docs/distributed.md``).
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import torch
import yaml

from rnnzoo.tasks.structured import score_model
from rnnzoo.train._quiet import quiet_lightning
from rnnzoo.train.build import build_model, build_task, resolve_head
from rnnzoo.train.callbacks import GracefulStop, LastCheckpoint, ProgressLog
from rnnzoo.train.config import TrainConfig
from rnnzoo.train.curves import save_curves
from rnnzoo.train.epochs import resolve_epochs
from rnnzoo.train.errors import CheckpointError, ConfigError, RunDirError, TrainingDiverged
from rnnzoo.train.heads import SequenceModel
from rnnzoo.train.launch import require_run_dir, resolve_launch, strategy_for
from rnnzoo.train.metrics import HIGHER_IS_BETTER, SequenceMetrics, derived_baseline
from rnnzoo.train.module import CHECKPOINT_FORMAT, LitSequenceModel, TaskData
from rnnzoo.train.objective import make_targets
from rnnzoo.train.report import announce, check_resumable, merge_metrics_csv, stop_reason, summary
from rnnzoo.train.stream import stream_update
from rnnzoo.train.structured import WholeModel, batch_to, is_structured

__all__ = ["Interrupted", "evaluate_checkpoint", "evaluate_model", "load_checkpoint", "resolve_checkpoint",
           "summary", "train"]

Echo = Callable[[str], None]
_ARTIFACTS = ("config.yaml", "checkpoints", "logs", "tensorboard", "metrics.csv", "results.json")


class Interrupted(Exception):
    """Training stopped on SIGINT/SIGTERM after saving ``checkpoint`` (resume with ``--resume``)."""

    def __init__(self, signum: int, step: int, checkpoint: Path, run_dir: Path) -> None:
        self.signum, self.step, self.checkpoint, self.run_dir = signum, step, checkpoint, run_dir
        name = signal.Signals(signum).name
        try:
            saved = torch.load(checkpoint, map_location="cpu", weights_only=True).get("global_step", step)
            tail = f"checkpoint {checkpoint} (step {saved}). Continue with: rnnzoo train --resume {run_dir}"
        except Exception:  # no checkpoint yet, or one cut short by a hard abort
            tail = "no usable checkpoint was saved"
        super().__init__(f"{name}: training stopped at step {step}; {tail}")


# ---------------------------------------------------------------------------------------- helpers


def default_run_dir(cfg: TrainConfig, seq_len: int, root: str | Path = "runs") -> Path:
    """``runs/<model>-<task>-T<seq_len>-<timestamp>`` (a suffix keeps it new)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    base = Path(root) / f"{cfg.model}-{cfg.task}-T{seq_len}-{stamp}"
    path, n = base, 1
    while path.exists():
        path = base.with_name(f"{base.name}-{n}")
        n += 1
    return path


def check_run_dir(run_dir: Path, *, overwrite: bool) -> None:
    """Refuse a directory holding a run (finished or not) unless ``overwrite``; then clear its artifacts."""
    if run_dir.exists() and not run_dir.is_dir():
        raise RunDirError(f"--run-dir: {run_dir} exists and is not a directory")
    if not run_dir.exists():
        return
    finished = (run_dir / "results.json").exists()
    started = (run_dir / "checkpoints").exists() or (run_dir / "config.yaml").exists()
    if (finished or started) and not overwrite:
        what = "a finished run (results.json)" if finished else "an unfinished run"
        hint = "" if finished else f"; continue it with --resume {run_dir}, or"
        raise RunDirError(f"--run-dir: {run_dir} already holds {what}{hint} pass --overwrite to replace it, "
                          "or choose another --run-dir")
    if overwrite:
        for name in _ARTIFACTS:
            target = run_dir / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_config(cfg: TrainConfig, path: Path) -> None:
    _write_atomic(path, yaml.safe_dump(cfg.to_dict(), sort_keys=False))


def resolve_checkpoint(path: str | Path) -> Path:
    """A checkpoint file, or a run directory (its ``checkpoints/last.ckpt``)."""
    p = Path(path)
    if p.is_dir():
        p = p / "checkpoints" / "last.ckpt"
    if not p.exists():
        raise CheckpointError(f"checkpoint: no such file: {p}")
    return p


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """Load and check an rnnzoo training checkpoint; CheckpointError says what is wrong with it."""
    p = resolve_checkpoint(path)
    if p.stat().st_size == 0:
        raise CheckpointError(f"checkpoint: {p} is empty (truncated)")
    try:
        ckpt = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises RuntimeError, EOFError, UnpicklingError, ... for bad files
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise CheckpointError(
            f"checkpoint: {p} is truncated, corrupt or not a PyTorch checkpoint ({type(err).__name__}: {first})"
        ) from None
    if not isinstance(ckpt, dict) or "rnnzoo" not in ckpt or "state_dict" not in ckpt:
        keys = sorted(ckpt)[:6] if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"checkpoint: {p} is not an rnnzoo training checkpoint (no 'rnnzoo' entry; found {keys})")
    meta = ckpt["rnnzoo"]
    if not isinstance(meta, dict) or meta.get("format") != CHECKPOINT_FORMAT or "config" not in meta:
        raise CheckpointError(f"checkpoint: {p} has an unsupported rnnzoo checkpoint format {meta.get('format')!r}"
                              if isinstance(meta, dict) else f"checkpoint: {p} has a malformed 'rnnzoo' entry")
    try:
        TrainConfig.from_dict(dict(meta["config"]))
    except ConfigError as err:
        raise CheckpointError(f"checkpoint: {p} holds an invalid configuration: {err}") from None
    return ckpt


def model_from_checkpoint(ckpt: dict[str, Any]) -> SequenceModel | WholeModel:
    """The trained :class:`SequenceModel` (a :class:`WholeModel` for a structured task) of a loaded checkpoint."""
    config = ckpt["rnnzoo"]["model_config"]
    model = (WholeModel if config.get("structured") else SequenceModel).from_config(config)
    state = {k[len("model."):]: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise CheckpointError(f"checkpoint: weights do not fit the model: {str(err).splitlines()[0]}") from None
    return model


@torch.no_grad()
def evaluate_model(model: SequenceModel | WholeModel, task: Any, split: str, *,
                   batch_size: int = 512) -> dict[str, float]:
    """Metrics of ``model`` on the task's fixed split ``split`` (one process, eval mode)."""
    if is_structured(task):
        data = task.split(split)
        return score_model(task, model.net, batch_to(data, torch.device("cpu"), next(model.parameters()).dtype),
                           batch_size=batch_size)
    was_training = model.training
    model.eval()
    data = task.split(split)
    metrics = SequenceMetrics(task.loss, task.output_size, crf=model.crf is not None)
    if getattr(task, "stream", False):  # one long stream, in windows carrying the state
        stream_update(model, metrics, data.x, data.y, model.head_kind, task.loss)
        model.train(was_training)
        return metrics.compute()
    dtype = next(model.parameters()).dtype
    n = data.x.shape[0]
    for start in range(0, n, batch_size):
        x = data.x[start:start + batch_size]
        x = x.to(dtype) if x.is_floating_point() else x
        y = data.y[start:start + batch_size]
        lengths = data.lengths[start:start + batch_size] if data.lengths is not None else None
        pred, _ = model(x, lengths=lengths)
        targets = make_targets(model.head_kind, y, lengths, x.shape[1], task.loss)
        metrics.update(pred.float(), targets, crf=model.crf)
    model.train(was_training)
    return metrics.compute()


def _diagnostics_callback(every: int) -> Any:
    try:
        from rnnzoo.diagnostics import DiagnosticsCallback  # type: ignore[attr-defined]
    except ImportError as err:
        raise ConfigError(f"--diagnose-every: needs rnnzoo.diagnostics.DiagnosticsCallback, which is not "
                          f"available in this installation ({err})") from None
    return DiagnosticsCallback(every_n_steps=every)


def monitor_of(cfg: TrainConfig, task: Any) -> str:
    """The valid metric to monitor: ``cfg.monitor`` or the task's first metric (with ``crf``, where that one is
    a per-step likelihood the CRF does not have, ``accuracy`` of the Viterbi path)."""
    names = (list(task.metrics) if is_structured(task)
             else SequenceMetrics(task.loss, task.output_size, crf=cfg.crf).names)
    monitor = cfg.monitor or (task.metrics[0] if task.metrics[0] in names or not cfg.crf else "accuracy")
    if monitor not in names:
        crf = " with --crf" if cfg.crf else ""
        raise ConfigError(f"--monitor: expected one of {', '.join(names)} for task {task.name!r}{crf}, "
                          f"got {monitor!r}")
    return monitor


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    old = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _worker_error(err: BaseException) -> BaseException:
    """A ddp_spawn worker's TrainingDiverged arrives as ProcessRaisedException: recover it."""
    if isinstance(err, TrainingDiverged):
        return err
    text = str(err)
    for line in reversed(text.strip().splitlines()):
        if "TrainingDiverged: " in line:
            return RuntimeError(line.split("TrainingDiverged: ", 1)[1])
    return err


# ---------------------------------------------------------------------------------------- training


def train(cfg: TrainConfig, run_dir: str | Path | None = None, *, resume: str | Path | None = None,
          overwrite: bool = False, echo: Echo = print, runs_root: str | Path = "runs") -> dict[str, Any]:
    """Train as ``cfg`` says and write the run directory; returns the results dict.

    Args:
        cfg: the configuration (when resuming: the checkpoint's, with the allowed changes applied).
        run_dir: where to write (default :func:`default_run_dir` under ``runs_root``; when resuming,
            the checkpoint's run directory; required when every process runs ``train``: torchrun, srun, or
            several nodes launched by hand, :mod:`rnnzoo.train.launch`).
        resume: a checkpoint file or a run directory to continue from (exactly: same batches, same
            weights as an uninterrupted run).
        overwrite: replace a run directory that already holds a run.
        echo: where progress lines go.

    Returns:
        The results dict (what ``results.json`` holds) in the process that owns the run directory (the only
        process of a one-process run, the launching process of a spawned one, global rank 0 of a launched
        one). In the other processes of a launched run (global rank > 0), which train and write nothing:
        ``{"rank": global rank, "world_size": processes, "run_dir": str, "steps": updates trained}``.

    Raises:
        ConfigError, RunDirError, CheckpointError: nothing was written.
        TrainingDiverged: a NaN/inf loss or gradient (the last checkpoint stays valid).
        Interrupted: SIGINT/SIGTERM; ``last.ckpt`` was saved.
    """
    import lightning as L
    from lightning.pytorch.callbacks import EarlyStopping, ModelCheckpoint
    from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

    quiet_lightning()
    started = time.time()
    # everything that can fail on bad input happens before anything is written
    task = build_task(cfg)
    cfg = resolve_epochs(cfg, task)
    build_model(cfg, task)
    monitor = monitor_of(cfg, task)
    launch = resolve_launch(cfg)
    require_run_dir(launch, run_dir, resume)
    ckpt_path: Path | None = None
    resumed_at: int | None = None
    if resume is not None:
        ckpt_path = resolve_checkpoint(resume)
        ckpt = load_checkpoint(ckpt_path)
        home = ckpt_path.parent.parent if ckpt_path.parent.name == "checkpoints" else ckpt_path.parent
        resumed_at = check_resumable(cfg, ckpt, home)
        if launch.writes and run_dir is not None and Path(run_dir).resolve() != home.resolve():
            check_run_dir(Path(run_dir), overwrite=overwrite)  # continuing into another directory
        run_dir = Path(run_dir) if run_dir is not None else home
    else:
        run_dir = Path(run_dir) if run_dir is not None else default_run_dir(cfg, task.seq_len, runs_root)
        if launch.writes:  # the other processes of a launched run write nothing (rank 0 may be clearing it)
            check_run_dir(run_dir, overwrite=overwrite)
    diag = _diagnostics_callback(cfg.diagnose_every) if cfg.diagnose_every else None

    ckpt_dir = run_dir / "checkpoints"
    if launch.writes:
        run_dir.mkdir(parents=True, exist_ok=True)
        write_config(cfg, run_dir / "config.yaml")

    L.seed_everything(cfg.seed, workers=True, verbose=False)
    module = LitSequenceModel(cfg.to_dict())
    data = TaskData(module.task, cfg.eval_batch_size)
    n_params = sum(p.numel() for p in module.model.parameters())
    mode = "max" if HIGHER_IS_BETTER.get(monitor, False) else "min"
    progress = cfg.progress
    if progress == "auto":
        import sys
        progress = "bar" if sys.stderr.isatty() and launch.writes else "log"

    stop = GracefulStop()
    last = LastCheckpoint(ckpt_dir / "last.ckpt")
    callbacks: list[Any] = [stop, last]
    best = ModelCheckpoint(dirpath=ckpt_dir, filename="best", monitor=f"valid/{monitor}", mode=mode,
                           save_top_k=1, save_last=False, auto_insert_metric_name=False,
                           enable_version_counter=False)
    callbacks.append(best)
    if cfg.early_stopping is not None or cfg.stop_at is not None:
        callbacks.append(EarlyStopping(monitor=f"valid/{monitor}", mode=mode,
                                       patience=cfg.early_stopping or 10**9, stopping_threshold=cfg.stop_at,
                                       check_on_train_epoch_end=False, verbose=False))
    if progress == "log":
        tokens = cfg.batch_size * cfg.tbptt[0] if getattr(task, "stream", False) and cfg.tbptt else None
        every = max(1, cfg.val_every // 10) if tokens else None  # a language model: ~10 lines per epoch
        callbacks.append(ProgressLog(monitor, cfg.max_steps, every, tokens_per_step=tokens))
    if diag is not None:
        callbacks.append(diag)
    loggers: Any = [CSVLogger(run_dir, name="logs"),
                    TensorBoardLogger(run_dir, name="tensorboard", default_hp_metric=False)] if launch.writes else False
    trainer = L.Trainer(
        accelerator=launch.accelerator, devices=cfg.devices, num_nodes=cfg.num_nodes,
        strategy=strategy_for(cfg, launch), precision=cfg.precision,
        max_steps=cfg.max_steps, max_epochs=-1, val_check_interval=cfg.val_every, check_val_every_n_epoch=None,
        num_sanity_val_steps=0, logger=loggers, callbacks=callbacks, enable_model_summary=False,
        enable_progress_bar=progress == "bar", deterministic=cfg.deterministic, log_every_n_steps=cfg.log_every,
        default_root_dir=run_dir, use_distributed_sampler=False,
    )
    if launch.writes:
        echo(announce(cfg, task, n_params, monitor, run_dir, resumed_at=resumed_at, launch=launch.record()))

    stop.install(forward_to_children=launch.mode == "spawn")
    try:
        with _threads(cfg.threads):
            trainer.fit(module, datamodule=data, ckpt_path=str(ckpt_path) if ckpt_path else None,
                        weights_only=True)
    except TrainingDiverged:
        raise
    except KeyboardInterrupt:
        raise Interrupted(signal.SIGINT, int(module.updates_done), ckpt_dir / "last.ckpt", run_dir) from None
    except SystemExit as err:
        from lightning.pytorch.utilities.exceptions import SIGTERMException

        # Lightning's SIGTERMException (if its handler ran before ours was installed), or its
        # sys.exit(1) after a KeyboardInterrupt (a second Ctrl-C: abort at once)
        if isinstance(err, SIGTERMException):
            raise Interrupted(signal.SIGTERM, int(module.updates_done), ckpt_dir / "last.ckpt", run_dir) from None
        if isinstance(err.__context__, KeyboardInterrupt):
            raise Interrupted(signal.SIGINT, int(module.updates_done), ckpt_dir / "last.ckpt", run_dir) from None
        raise
    except Exception as err:
        worker = _worker_error(err)
        if worker is not err:
            raise worker from None
        raise
    finally:
        stop.uninstall()
        if launch.writes:
            merge_metrics_csv(run_dir)
        if launch.external and torch.distributed.is_available() and torch.distributed.is_initialized():
            # the training processes part here: rank 0's final evaluation is its own (torchmetrics would
            # otherwise wait for the others to sync its metrics)
            torch.distributed.destroy_process_group()
    steps = int(module.updates_done)
    if stop.requested is not None:
        raise Interrupted(stop.requested, steps, ckpt_dir / "last.ckpt", run_dir)
    if not launch.writes:
        return {"rank": launch.global_rank, "world_size": launch.world_size, "run_dir": str(run_dir), "steps": steps}

    last_valid = trainer.callback_metrics.get(f"valid/{monitor}")
    results = _final_results(cfg, task, module, run_dir, monitor,
                             last_valid=float(last_valid) if last_valid is not None else None,
                             wall=time.time() - started, resumed_from=ckpt_path)
    results["launch"] = launch.record()
    _write_atomic(run_dir / "results.json", json.dumps(results, indent=2) + "\n")
    return results


def epoch_seconds(module: Any, last: Path) -> list[float]:
    """The seconds of each training epoch: the module's own list, or, when the training ran in processes spawned by
    this one (``--devices 2`` on one machine without a launcher: Lightning's ddp_spawn sends back the weights and
    buffers, not the module's Python attributes), the list rank 0 saved in ``last.ckpt`` at the end of training."""
    if module.epoch_seconds or not last.exists():
        return list(module.epoch_seconds)
    meta = torch.load(last, map_location="cpu", weights_only=True).get("rnnzoo", {})
    return [float(v) for v in meta.get("epoch_seconds", [])]


def _final_results(cfg: TrainConfig, task: Any, module: LitSequenceModel, run_dir: Path, monitor: str, *,
                   last_valid: float | None, wall: float, resumed_from: Path | None) -> dict[str, Any]:
    """The final evaluation (valid and test, one process) and the results dict of a finished run."""
    ckpt_dir = run_dir / "checkpoints"
    steps = int(module.updates_done)
    rule, reason = stop_reason(cfg, monitor, steps, last_valid)
    weights = "final"
    model = module.model
    if cfg.early_stopping is not None and (ckpt_dir / "best.ckpt").exists():
        model = model_from_checkpoint(torch.load(ckpt_dir / "best.ckpt", map_location="cpu", weights_only=True))
        weights = "best"
    elif cfg.strategy == "fsdp":  # the module's parameters are this rank's shards: the checkpoint has them all
        model = model_from_checkpoint(torch.load(ckpt_dir / "last.ckpt", map_location="cpu", weights_only=True))
    model = model.float() if cfg.precision != "64-true" else model
    with _threads(cfg.threads):
        valid = evaluate_model(model, task, "valid", batch_size=cfg.eval_batch_size)
        test = evaluate_model(model, task, "test", batch_size=cfg.eval_batch_size)
    prior = 0.0
    if resumed_from is not None:
        prior = float(torch.load(resumed_from, map_location="cpu", weights_only=True)["rnnzoo"].get("wall_seconds",
                                                                                                     0.0))
    results = {
        "model": cfg.model,
        "task": task.name,
        "seq_len": task.seq_len,
        "valid": valid,
        "test": test,
        "baseline": derived_baseline(task.baseline()),
        "steps": steps,
        "batches": int(module.batches_done),
        "stopped": "max_steps" if steps >= cfg.max_steps else "early",
        "stop_rule": rule,
        "stop_reason": reason,
        "weights": weights,
        "wall_seconds": round(prior + wall, 3),
        "parameters": sum(p.numel() for p in module.model.parameters()),
        "monitor": monitor,
        "run_dir": str(run_dir),
        "checkpoint": str(ckpt_dir / ("best.ckpt" if weights == "best" else "last.ckpt")),
        "config": cfg.to_dict(),
    }
    if cfg.epochs is not None:
        results["epochs"] = cfg.epochs
        results["updates_per_epoch"] = module.per_epoch
    if module.stream:
        seconds = epoch_seconds(module, ckpt_dir / "last.ckpt")
        results["epoch_seconds"] = [round(v, 3) for v in seconds]
        per_epoch_tokens = module.epoch_tokens or 0
        results["tokens_per_second"] = [round(per_epoch_tokens / v, 1) for v in seconds if v > 0]
    curves = save_curves(run_dir, monitor)
    if curves is not None:
        results["curves"] = str(curves)
    return results


def evaluate_checkpoint(path: str | Path, split: str = "test", *, out: str | Path | None = None,
                        batch_size: int | None = None, plots: int = 0) -> dict[str, Any]:
    """Evaluate a checkpoint (or a run directory's ``last.ckpt``) on ``split``; writes JSON to ``out``
    (default ``<checkpoint stem>.<split>.json`` next to the checkpoint) and returns it.

    ``plots``: draw the attention heatmaps (every report of kind ``"attention"``,
    :mod:`rnnzoo.diagnostics.attention`) of the split's first ``plots`` examples into
    ``<checkpoint stem>.<split>.attention/example<i>.png`` (listed under ``"plots"``; empty for a model that reports
    no attention)."""
    ckpt_file = resolve_checkpoint(path)
    ckpt = load_checkpoint(ckpt_file)
    cfg = TrainConfig.from_dict(dict(ckpt["rnnzoo"]["config"]))
    task = build_task(cfg)
    if split not in task.split_names:
        raise ConfigError(f"--split: expected one of {', '.join(task.split_names)}, got {split!r}")
    model = model_from_checkpoint(ckpt)
    resolve_head(cfg, task)
    with _threads(cfg.threads):
        metrics = evaluate_model(model.float(), task, split, batch_size=batch_size or cfg.eval_batch_size)
    result = {
        "model": cfg.model, "task": task.name, "seq_len": task.seq_len, "split": split,
        "metrics": metrics, "baseline": derived_baseline(task.baseline()),
        "steps": int(ckpt["rnnzoo"].get("updates", 0)), "checkpoint": str(ckpt_file),
    }
    target = Path(out) if out is not None else ckpt_file.with_name(f"{ckpt_file.stem}.{split}.json")
    if plots:
        from rnnzoo.diagnostics.attention import plot_split

        result["plots"] = plot_split(model.float(), task, split, plots,
                                     ckpt_file.with_name(f"{ckpt_file.stem}.{split}.attention"))
    target.parent.mkdir(parents=True, exist_ok=True)
    _write_atomic(target, json.dumps(result, indent=2) + "\n")
    result["out"] = str(target)
    return result
