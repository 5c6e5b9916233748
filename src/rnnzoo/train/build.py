"""From a :class:`~rnnzoo.train.config.TrainConfig` to a task and a :class:`SequenceModel`, with the
registries' errors turned into one-line :class:`~rnnzoo.train.errors.ConfigError` messages."""

from __future__ import annotations

import hashlib

import torch

import rnnzoo
from rnnzoo.core.registry import UnknownModelError
from rnnzoo.tasks import Task, UnknownTaskError, get_task
from rnnzoo.train.config import TrainConfig, flag
from rnnzoo.train.errors import ConfigError
from rnnzoo.train.heads import SequenceModel
from rnnzoo.train.structured import WholeModel, is_structured
from rnnzoo.wrappers import REGULARISERS

"""The TrainConfig keys passed to :func:`rnnzoo.create` as its regulariser arguments."""


def build_task(cfg: TrainConfig) -> Task:
    """``get_task(cfg.task, seq_len=cfg.seq_len, **cfg.task_options)``."""
    try:
        return get_task(cfg.task, seq_len=cfg.seq_len, **cfg.task_options)
    except UnknownTaskError as err:
        raise ConfigError(f"--task: {err}") from None
    except (ValueError, TypeError, ImportError, FileNotFoundError) as err:
        raise ConfigError(f"--task {cfg.task} (--seq-len/--task-option): {err}") from None


def resolve_head(cfg: TrainConfig, task: Task) -> str:
    """``cfg.head``, with ``"auto"`` meaning the task's target (``"last"`` or ``"per_step"``; ``"structured"`` for
    a structured task, whose model has its own outputs)."""
    if is_structured(task):
        if cfg.head != "auto":
            raise ConfigError(f"--head: task {task.name!r} is scored by the task on the whole model's own outputs "
                              f"(allowed: auto), got {cfg.head!r}")
        return "structured"
    if cfg.head == "auto":
        return task.target
    if cfg.head in ("per_step", "next_token") and task.target != "per_step":
        raise ConfigError(
            f"--head: task {task.name!r} has one target per sequence (allowed: auto, last), got {cfg.head!r}"
        )
    if cfg.head == "last" and task.target != "last":
        raise ConfigError(
            f"--head: task {task.name!r} has a label per step (allowed: auto, per_step, next_token), got 'last'"
        )
    return cfg.head


def build_model(cfg: TrainConfig, task: Task) -> SequenceModel | WholeModel:
    """The :class:`SequenceModel` for ``cfg`` on ``task`` (input and output sizes from the task); on a structured
    task, the :class:`~rnnzoo.train.structured.WholeModel` (the registered whole model, sizes from the task)."""
    try:
        info = rnnzoo.model_info(cfg.model)
    except UnknownModelError as err:
        msg = str(err)
        raise ConfigError(f"--model: {msg.removeprefix('model: ')}") from None
    if info.input_kind != task.input_kind:
        fitting = rnnzoo.list_models(input_kind=task.input_kind)
        raise ConfigError(
            f"--model: task {task.name!r} gives {task.input_kind} inputs, got {cfg.model!r}, which reads "
            f"{info.input_kind}. Models that read {task.input_kind}: {', '.join(fitting) or 'none'}"
        )
    if cfg.tbptt is not None and not info.chunkable:
        raise ConfigError(f"--tbptt: {cfg.model!r} cannot be fed in chunks carrying its state (its registry entry "
                          "has chunkable=False); use full BPTT (no --tbptt)")
    head = resolve_head(cfg, task)
    if head == "structured":
        return _build_whole(cfg, task)
    if cfg.crf and (head != "per_step" or task.loss != "cross_entropy"):
        raise ConfigError(f"--crf: needs a task with one class label per step (per_step head, cross-entropy), got "
                          f"task {task.name!r} with head {head!r} and loss {task.loss!r}")
    regularisers = {k: getattr(cfg, k) for k in REGULARISERS}
    try:
        model = SequenceModel(cfg.model, input_size=task.input_size, output_size=task.output_size,
                              hidden_size=cfg.hidden_size, head=head, num_layers=cfg.num_layers,
                              bidirectional=cfg.bidirectional, dropout=cfg.dropout,
                              options={**task.model_options, **cfg.options}, input_vocab=task.input_vocab,
                              embedding_size=cfg.embedding_size, tie_weights=cfg.tie_weights, crf=cfg.crf,
                              **regularisers)
    except (TypeError, ValueError) as err:
        key = str(err).partition(":")[0].partition("[")[0]
        if key in ("tie_weights", "embedding_size"):
            raise ConfigError(f"{flag(key)}: {str(err).partition(': ')[2]}") from None
        if key in REGULARISERS:  # create names its argument: name the flag (--zoneout: ...)
            raise ConfigError(f"{flag(key)} (model {cfg.model!r}): {str(err).partition(': ')[2]}") from None
        raise ConfigError(f"--option (model {cfg.model!r}, options {cfg.options}): {err}") from None
    if cfg.init is not None:
        apply_init(model, cfg.init, seed=cfg.seed)
    if cfg.compile:
        # torch.compile in place: parameters and checkpoints are unchanged (rnnzoo.create(compile=True))
        model.backbone.compile(dynamic=False)
    return model


def _build_whole(cfg: TrainConfig, task: Task) -> WholeModel:
    """The whole model of a structured task: ``--hidden-size`` and ``--option`` over the task's model options."""
    unused = {flag(k): getattr(cfg, k) for k in ("bidirectional", "crf", "tie_weights", "layer_norm")
              if getattr(cfg, k)}
    unused |= {flag(k): getattr(cfg, k) for k in ("embedding_size", "variational_dropout", "zoneout", "weight_drop",
                                                   "init") if getattr(cfg, k) is not None}
    if cfg.num_layers != 1:
        unused["--num-layers"] = cfg.num_layers
    if cfg.dropout:
        unused["--dropout"] = cfg.dropout
    if unused:
        key = next(iter(unused))
        raise ConfigError(f"{key}: task {task.name!r} trains the whole model {cfg.model!r}, which takes its structure "
                          f"from its own options (--option), got {unused}")
    try:
        model = WholeModel(cfg.model, hidden_size=cfg.hidden_size, options={**task.model_options, **cfg.options})
    except (TypeError, ValueError) as err:
        raise ConfigError(f"--option (model {cfg.model!r}, options {cfg.options}): {err}") from None
    if cfg.compile:
        model.net.compile(dynamic=False)
    return model


def apply_init(model: SequenceModel, spec: str, *, seed: int) -> None:
    """Initialise the backbone's recurrent weights by ``spec`` (:func:`rnnzoo.diagnostics.apply_init`),
    with a generator seeded from ``seed``. ``uniform=A`` is Zaremba et al.'s scheme for every parameter:
    it applies to the whole model (embedding and output layer included), the others to the backbone."""
    try:
        from rnnzoo.diagnostics import apply_init as _apply
    except ImportError as err:
        raise ConfigError(f"--init: needs rnnzoo.diagnostics.apply_init, not available here ({err})") from None
    try:
        target = model if spec.strip().startswith("uniform") else model.backbone
        _apply(target, spec, generator=torch.Generator().manual_seed(batch_seed(seed, "init")))
    except ValueError as err:
        raise ConfigError(f"--init: {str(err).removeprefix('init: ')}") from None


def batch_seed(*parts: object) -> int:
    """A 63-bit seed from any parts, e.g. ``batch_seed(seed, batch_index)``: every training batch
    is drawn from its own generator, so a resumed run draws exactly the batches it would have."""
    digest = hashlib.blake2b(":".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1
