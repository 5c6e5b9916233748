"""The training configuration: one flat, validated record that fully describes a run.

A run's ``config.yaml`` is :meth:`TrainConfig.to_dict` written as YAML; ``rnnzoo train --config
RUN_DIR/config.yaml`` repeats the run. Values are layered: the embedded default job
(:data:`rnnzoo.train.defaults.DEFAULT_JOB`) <- a ``--config`` file <- command-line flags.

Every check raises :class:`~rnnzoo.train.errors.ConfigError` with one line naming the flag, what is
allowed and what came, e.g. ``--lr: expected a number > 0, got -1``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
from dataclasses import dataclass, field
from typing import Any

from rnnzoo.train.errors import ConfigError

HEADS = ("auto", "last", "per_step", "next_token")
OPTIMIZERS = ("sgd", "adam", "rmsprop")
SCHEDULES = ("constant", "cosine", "step", "epoch_decay")
TIME_REDUCTIONS = ("mean", "sum")
#: ``bf16-true``/``16-true`` (weights and optimizer state in 16 bits) are left out on purpose: an update smaller
#: than 2**-8 (bf16) or 2**-11 (fp16) of a weight rounds away, and the mixed forms keep float32 weights
PRECISIONS = ("32-true", "64-true", "bf16-mixed", "16-mixed")
ACCELERATORS = ("auto", "cpu", "gpu")
STRATEGIES = ("auto", "ddp", "fsdp")
PROGRESS = ("auto", "bar", "log", "none")


#: the keys whose flag takes ``none`` (also in a config file: ``none``, ``null``, ``~`` or ``off``)
NULLABLE = ("seq_len", "variational_dropout", "zoneout", "weight_drop", "init", "clip_norm", "clip_value", "tbptt",
            "threads", "early_stopping", "monitor", "stop_at", "diagnose_every", "epochs", "embedding_size",
            "val_every")
NONE_WORDS = ("none", "null", "off")


def flag(key: str) -> str:
    """The command-line flag of a config key: ``clip_norm`` -> ``--clip-norm``, ``options`` -> ``--option``."""
    return {"options": "--option", "task_options": "--task-option"}.get(key, "--" + key.replace("_", "-"))


def _null(value: Any) -> Any:
    """None for the words that mean none on the command line (``none``, ``null``, ``off``), else ``value``."""
    return None if isinstance(value, str) and value.strip().lower() in NONE_WORDS else value


def _int(key: str, value: Any, minimum: int, *, optional: bool = False) -> int | None:
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        allowed = f"an integer >= {minimum}" + (" or null" if optional else "")
        raise ConfigError(f"{flag(key)}: expected {allowed}, got {value!r}")
    return value


def _float(key: str, value: Any, *, low: float, high: float = math.inf, low_open: bool = False,
           high_open: bool = True, optional: bool = False) -> float | None:
    if value is None and optional:
        return None
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(float(value))
    if ok:
        v = float(value)
        ok = (v > low if low_open else v >= low) and (v < high if high_open else v <= high)
    if not ok:
        lo = f"{'>' if low_open else '>='} {low:g}"
        hi = "" if high == math.inf else f" and {'<' if high_open else '<='} {high:g}"
        allowed = f"a number {lo}{hi}" + (" or null" if optional else "")
        raise ConfigError(f"{flag(key)}: expected {allowed}, got {value!r}")
    return float(value)


def _choice(key: str, value: Any, allowed: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in allowed:
        raise ConfigError(f"{flag(key)}: expected one of {', '.join(allowed)}, got {value!r}")
    return value


def _bool(key: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise ConfigError(f"{flag(key)}: expected true or false, got {value!r}")
    return value


def _options(key: str, value: Any) -> dict[str, Any]:
    if _null(value) is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
        raise ConfigError(f"{flag(key)}: expected a mapping of option names to values, got {value!r}")
    return dict(value)


def _rates(key: str, value: Any, parts: tuple[str, ...] | None) -> float | dict[str, float] | None:
    """None, a probability in [0, 1), or a mapping of names (``parts`` if given) to probabilities."""
    if value is None:
        return None
    if isinstance(value, dict):
        names = f"keys among {', '.join(parts)}" if parts else "state field names"
        if not value or not all(isinstance(k, str) and (parts is None or k in parts) for k in value):
            raise ConfigError(f"{flag(key)}: expected a probability in [0, 1) or a mapping of {names} to "
                              f"probabilities, got {value!r}")
        return {k: _float(key, v, low=0.0, high=1.0) for k, v in value.items()}
    return _float(key, value, low=0.0, high=1.0)


def parse_tbptt(text: Any) -> list[int] | None:
    """``"K1"`` or ``"K1,K2"`` (or a list) -> ``[k1, k2]`` with ``1 <= k1 <= k2``; None/"none"/"" -> None."""
    if text is None or (isinstance(text, str) and text.strip().lower() in ("", "none", "null", "off")):
        return None
    if isinstance(text, int) and not isinstance(text, bool):
        parts: list[Any] = [text]
    elif isinstance(text, str):
        parts = [p.strip() for p in text.split(",")]
    elif isinstance(text, (list, tuple)):
        parts = list(text)
    else:
        parts = [text]
    try:
        if len(parts) not in (1, 2) or any(isinstance(p, bool) for p in parts):
            raise ValueError
        ks = [int(p) for p in parts]
        if any(str(p).strip() != str(k) for p, k in zip(parts, ks, strict=True)):
            raise ValueError
    except (TypeError, ValueError):
        raise ConfigError(f"--tbptt: expected K1 or K1,K2 (integers, 1 <= K1 <= K2), got {text!r}") from None
    k1, k2 = ks[0], ks[-1]
    if k1 < 1 or k2 < k1:
        raise ConfigError(f"--tbptt: expected K1 or K1,K2 with 1 <= K1 <= K2, got {text!r}")
    return [k1, k2]


@dataclass
class TrainConfig:
    """Everything that defines a training run (see ``rnnzoo train --help`` for each field's flag).

    Model: ``model`` (registry name), ``hidden_size``, ``num_layers``, ``bidirectional``, ``dropout``,
    the regularisers of :func:`rnnzoo.create` (``variational_dropout``: a probability or a mapping of
    ``input``/``output``/``state`` to probabilities; ``zoneout``: a rate or a mapping of state fields to
    rates; ``weight_drop``: DropConnect on the recurrent weights; ``layer_norm``),
    ``options`` (the cell's own options, ``--option key=value``), ``init`` (an initialisation spec for
    :func:`rnnzoo.diagnostics.apply_init`, e.g. ``spectral_radius=1.2``; None = the cell's own),
    ``head`` (``auto`` = the task's target: ``last`` or ``per_step``; ``next_token`` = the output at
    step t predicts the label at t+1), ``crf`` (a linear-chain CRF over the per-step head's emissions,
    :class:`~rnnzoo.crf.CRF`: trained by its sentence negative log-likelihood, evaluated by its Viterbi
    path; per-step classification only, full BPTT only).
    Task: ``task``, ``seq_len`` (None = the task's default), ``task_options``.
    Optimisation: ``optimizer``, ``lr``, ``momentum`` (SGD momentum / RMSprop momentum), ``weight_decay``,
    ``schedule`` (constant, cosine to 0 at ``max_steps``, or step: times ``gamma`` every ``step_size``
    steps) after ``warmup_steps`` of linear warm-up, ``max_steps`` optimizer updates (with ``tbptt``
    each window of a batch is one update, and one step of the trainer: a run may stop, validate or be
    checkpointed between two windows of a batch), ``clip_norm``
    (global gradient norm, Pascanu et al. 2013), ``clip_value`` (per element), ``tbptt`` ([k1, k2],
    None = full BPTT).
    Epochs and papers' settings: ``epochs`` (None: train ``max_steps`` updates; an integer replaces
    ``max_steps`` by ``epochs`` x the task's updates per epoch; a stream task's epoch is one pass over its
    B streams, one update per TBPTT window), ``schedule: epoch_decay`` (the rate times
    ``gamma ** max(0, epoch - lr_decay_start)`` in 1-based epoch ``epoch``: Zaremba et al. 2014 use
    ``lr_decay_start`` 4, ``gamma`` 0.5), ``time_reduction`` (``mean``: the loss is the mean over the
    update's scored steps, for a stream task its window's; ``sum``: summed over the update's steps and
    averaged over the batch, Zaremba's ``reduce_sum(loss) / batch_size``), ``embedding_size`` (token tasks;
    None = ``hidden_size``) and ``tie_weights`` (Press & Wolf 2017).
    Run: ``seed``, ``accelerator`` (``auto``: a GPU when CUDA is available, else the CPU), ``devices`` (processes
    per node: GPUs, or CPU processes), ``num_nodes``, ``strategy`` (``auto``/``ddp``: DDP when there is more than
    one process, NCCL on GPUs and gloo on CPU; ``fsdp``: Lightning's FSDPStrategy, GPUs only), ``precision``
    (``16-mixed``: GPUs only), ``deterministic``,
    ``threads`` (torch intra-op threads per process, None = torch's default), ``val_every`` (updates; None
    = once per epoch, which needs ``epochs``),
    ``early_stopping`` (patience in validations), ``monitor`` (valid metric; None = the task's first),
    ``stop_at`` (stop once the monitored valid metric is this good), ``diagnose_every``, ``log_every``,
    ``progress``.
    """

    model: str = "lstm"
    task: str = "adding"
    seq_len: int | None = 100
    hidden_size: int = 64
    num_layers: int = 1
    bidirectional: bool = False
    dropout: float = 0.0
    variational_dropout: float | dict[str, float] | None = None
    zoneout: float | dict[str, float] | None = None
    weight_drop: float | None = None
    layer_norm: bool = False
    options: dict[str, Any] = field(default_factory=dict)
    init: str | None = None
    task_options: dict[str, Any] = field(default_factory=dict)
    head: str = "auto"
    crf: bool = False
    batch_size: int = 64
    eval_batch_size: int = 512
    optimizer: str = "adam"
    lr: float = 1e-3
    momentum: float = 0.9
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_steps: int = 0
    step_size: int = 1000
    gamma: float = 0.5
    max_steps: int = 1000
    epochs: int | None = None
    lr_decay_start: int = 4
    time_reduction: str = "mean"
    embedding_size: int | None = None
    tie_weights: bool = False
    clip_norm: float | None = None
    clip_value: float | None = None
    tbptt: list[int] | None = None
    seed: int = 0
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str = "32-true"
    deterministic: bool = False
    compile: bool = False
    threads: int | None = None
    val_every: int | None = 100
    early_stopping: int | None = None
    monitor: str | None = None
    stop_at: float | None = None
    diagnose_every: int | None = None
    log_every: int = 10
    progress: str = "auto"

    @classmethod
    def keys(cls) -> list[str]:
        return [f.name for f in dataclasses.fields(cls)]

    @classmethod
    def from_dict(cls, values: dict[str, Any], *, source: str = "") -> TrainConfig:
        """Build and validate from a mapping (unknown keys are an error naming the closest key)."""
        if not isinstance(values, dict):
            where = f" in {source}" if source else ""
            raise ConfigError(f"config{where}: expected a mapping of keys to values, got {type(values).__name__}")
        known = cls.keys()
        for key in values:
            if key not in known:
                close = difflib.get_close_matches(str(key), known, n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                where = f" in {source}" if source else ""
                raise ConfigError(f"config{where}: unknown key {key!r}{hint}; known keys: {', '.join(known)}")
        cfg = cls(**values)
        cfg.validate()
        return cfg

    def to_dict(self) -> dict[str, Any]:
        """Plain YAML-able values (a fresh copy)."""
        out = dataclasses.asdict(self)
        out["options"] = dict(self.options)
        out["task_options"] = dict(self.task_options)
        out["tbptt"] = list(self.tbptt) if self.tbptt is not None else None
        for key in ("variational_dropout", "zoneout"):
            value = getattr(self, key)
            out[key] = dict(value) if isinstance(value, dict) else value
        return out

    def replace(self, **changes: Any) -> TrainConfig:
        return TrainConfig.from_dict({**self.to_dict(), **changes})

    def validate(self) -> None:
        """Check types and ranges (not the registries: see :func:`rnnzoo.train.run.build`)."""
        for key in NULLABLE:
            setattr(self, key, _null(getattr(self, key)))
        for key in ("model", "task"):
            value = getattr(self, key)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{flag(key)}: expected a registered name, got {value!r}")
        self.seq_len = _int("seq_len", self.seq_len, 1, optional=True)
        self.hidden_size = _int("hidden_size", self.hidden_size, 1)
        self.num_layers = _int("num_layers", self.num_layers, 1)
        self.bidirectional = _bool("bidirectional", self.bidirectional)
        self.dropout = _float("dropout", self.dropout, low=0.0, high=1.0)
        self.variational_dropout = _rates("variational_dropout", self.variational_dropout, ("input", "output", "state"))
        self.zoneout = _rates("zoneout", self.zoneout, None)
        self.weight_drop = _float("weight_drop", self.weight_drop, low=0.0, high=1.0, optional=True)
        self.layer_norm = _bool("layer_norm", self.layer_norm)
        self.options = _options("options", self.options)
        if self.init is not None and (not isinstance(self.init, str) or not self.init.strip()):
            raise ConfigError(f"--init: expected a spec such as spectral_radius=1.1 or orthogonal, got {self.init!r}")
        self.task_options = _options("task_options", self.task_options)
        self.head = _choice("head", self.head, HEADS)
        self.crf = _bool("crf", self.crf)
        self.batch_size = _int("batch_size", self.batch_size, 1)
        self.eval_batch_size = _int("eval_batch_size", self.eval_batch_size, 1)
        self.optimizer = _choice("optimizer", self.optimizer, OPTIMIZERS)
        self.lr = _float("lr", self.lr, low=0.0, low_open=True)
        self.momentum = _float("momentum", self.momentum, low=0.0, high=1.0)
        self.weight_decay = _float("weight_decay", self.weight_decay, low=0.0)
        self.schedule = _choice("schedule", self.schedule, SCHEDULES)
        self.warmup_steps = _int("warmup_steps", self.warmup_steps, 0)
        self.step_size = _int("step_size", self.step_size, 1)
        self.gamma = _float("gamma", self.gamma, low=0.0, high=1.0, low_open=True, high_open=False)
        self.max_steps = _int("max_steps", self.max_steps, 1)
        self.epochs = _int("epochs", self.epochs, 1, optional=True)
        self.lr_decay_start = _int("lr_decay_start", self.lr_decay_start, 0)
        self.time_reduction = _choice("time_reduction", self.time_reduction, TIME_REDUCTIONS)
        self.embedding_size = _int("embedding_size", self.embedding_size, 1, optional=True)
        self.tie_weights = _bool("tie_weights", self.tie_weights)
        self.clip_norm = _float("clip_norm", self.clip_norm, low=0.0, low_open=True, optional=True)
        self.clip_value = _float("clip_value", self.clip_value, low=0.0, low_open=True, optional=True)
        self.tbptt = parse_tbptt(self.tbptt)
        self.seed = _int("seed", self.seed, 0)
        self.accelerator = _choice("accelerator", self.accelerator, ACCELERATORS)
        self.devices = _int("devices", self.devices, 1)
        self.num_nodes = _int("num_nodes", self.num_nodes, 1)
        self.strategy = _choice("strategy", self.strategy, STRATEGIES)
        self.precision = _choice("precision", str(self.precision), PRECISIONS)
        check_hardware(self, self.accelerator)
        self.deterministic = _bool("deterministic", self.deterministic)
        self.compile = _bool("compile", self.compile)
        self.threads = _int("threads", self.threads, 1, optional=True)
        self.val_every = _int("val_every", self.val_every, 1, optional=True)
        if self.val_every is None and self.epochs is None:
            raise ConfigError("--val-every: none (once per epoch) needs --epochs, got --epochs none")
        if self.schedule == "epoch_decay" and self.epochs is None:
            raise ConfigError("--schedule: epoch_decay needs --epochs (it decays per epoch), got --epochs none")
        self.early_stopping = _int("early_stopping", self.early_stopping, 1, optional=True)
        if self.monitor is not None and not isinstance(self.monitor, str):
            raise ConfigError(f"--monitor: expected a metric name, got {self.monitor!r}")
        self.stop_at = _float("stop_at", self.stop_at, low=-math.inf, optional=True)
        self.diagnose_every = _int("diagnose_every", self.diagnose_every, 1, optional=True)
        self.log_every = _int("log_every", self.log_every, 1)
        self.progress = _choice("progress", self.progress, PROGRESS)
        if self.tbptt is not None and self.bidirectional:
            raise ConfigError(
                f"--tbptt: truncated BPTT needs a causal model, got --bidirectional (tbptt {self.tbptt})"
            )
        if self.crf and self.tbptt is not None:
            raise ConfigError(f"--crf: the CRF scores whole sentences (full BPTT), got --tbptt {self.tbptt}; "
                              "drop one of --crf and --tbptt")
        if self.crf and self.head in ("last", "next_token"):
            raise ConfigError(f"--crf: needs a per-step classification head (--head auto or per_step), got "
                              f"--head {self.head}")
        world = self.devices * self.num_nodes
        if self.batch_size % world:
            raise ConfigError(
                f"--batch-size: expected a multiple of --devices {self.devices} x --num-nodes {self.num_nodes} = "
                f"{world} (the global batch is split evenly across processes), got {self.batch_size}"
            )

    @property
    def world_size(self) -> int:
        """Training processes in all: ``devices x num_nodes``."""
        return self.devices * self.num_nodes


def check_hardware(cfg: TrainConfig, accelerator: str) -> None:
    """The combinations Lightning 2.6 refuses or silently changes, as ConfigError naming the flag.

    ``accelerator`` is ``cfg.accelerator`` (``auto`` passes: checked again once resolved) or the resolved one.
    ``16-mixed`` needs a GPU (Lightning would silently run ``bf16-mixed`` on CPU); ``fsdp`` needs a GPU (Lightning's
    FSDPStrategy refuses the CPU accelerator) and a precision FSDP has (not ``64-true``)."""
    how = "" if accelerator == cfg.accelerator else " (--accelerator auto found no CUDA device)"
    if cfg.precision == "16-mixed" and accelerator == "cpu":
        raise ConfigError(f"--precision: 16-mixed (float16 autocast with a gradient scaler) needs a GPU; on CPU use "
                          f"bf16-mixed, got --accelerator cpu{how}")
    if cfg.strategy == "fsdp":
        if accelerator == "cpu":
            raise ConfigError(f"--strategy: fsdp needs GPUs (Lightning's FSDPStrategy refuses the CPU accelerator); "
                              f"on CPU use ddp, got --accelerator cpu{how}")
        if cfg.precision == "64-true":
            raise ConfigError("--precision: FSDP trains in 32-true, bf16-mixed or 16-mixed, got 64-true with "
                              "--strategy fsdp")


def task_defaults(task: Any) -> dict[str, Any]:
    """The training settings registered with ``task`` (:attr:`rnnzoo.tasks.TaskInfo.train_defaults`), or {}."""
    if not isinstance(task, str):
        return {}
    from rnnzoo.tasks.registry import task_info

    info = task_info(task)
    return dict(info.train_defaults) if info is not None else {}


def layer(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``base`` updated with ``new``. A change of task first applies the new task's registered training
    defaults (e.g. ``ptb_word``: Zaremba's batch 20, TBPTT 35, SGD lr 1), which ``new`` may override.
    The default job's cell options belong to its model and its sequence length, task options and
    ``stop_at`` threshold to its task (and monitored metric): changing the model (task, monitor) drops
    them unless ``new`` gives them too. Options given in ``new`` are merged into those kept."""
    out = dict(base)
    if "model" in new and new["model"] != base.get("model"):
        out["options"] = {}
    if "task" in new and new["task"] != base.get("task"):
        if "seq_len" not in new:
            out["seq_len"] = None
        out["task_options"] = {}
        if "stop_at" not in new:  # a threshold on the old task's metric
            out["stop_at"] = None
        out.update(task_defaults(new["task"]))  # the task's own settings (a paper's), under ``new``
    if "monitor" in new and new["monitor"] != base.get("monitor") and "stop_at" not in new:
        out["stop_at"] = None
    for key, value in new.items():
        if key in ("options", "task_options"):
            out[key] = {**(out.get(key) or {}), **_options(key, value)}
        else:
            out[key] = value
    return out
