"""Training any registered model on the long-range-dependency tasks (issue 3).

>>> from rnnzoo.train import SequenceModel
>>> import torch
>>> m = SequenceModel("gru", input_size=2, output_size=1, hidden_size=8, head="last")
>>> y, state = m(torch.zeros(4, 10, 2))
>>> tuple(y.shape)
(4, 1)

Pieces: :class:`SequenceModel` (backbone + linear head), :mod:`~rnnzoo.train.objective` (targets and
the loss, 001 eq (8)), :func:`tbptt` (truncated BPTT, Williams & Peng 1990), :class:`LitSequenceModel`
(the Lightning module: manual optimisation, gradient clipping by norm/value, NaN guard),
:func:`train` (a run directory end to end) and :func:`evaluate_checkpoint`. The command line is
``rnnzoo train`` (:mod:`rnnzoo.cli`).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rnnzoo.train.config import TrainConfig
    from rnnzoo.train.defaults import DEFAULT_JOB
    from rnnzoo.train.errors import CheckpointError, ConfigError, RunDirError, TrainingDiverged
    from rnnzoo.train.heads import SequenceModel, last_valid
    from rnnzoo.train.metrics import SequenceMetrics
    from rnnzoo.train.module import LitSequenceModel, TaskData
    from rnnzoo.train.objective import Targets, chunk_loss, full_loss, make_targets
    from rnnzoo.train.run import Interrupted, evaluate_checkpoint, evaluate_model, load_checkpoint, train

# imported now: the function would otherwise lose its name to the submodule rnnzoo.train.tbptt once that is
# imported (it needs torch and rnnzoo, which importing rnnzoo.train has loaded already, not Lightning)
from rnnzoo.train.tbptt import tbptt

#: where each public name lives. The package imports them on first use (PEP 562), so that
#: ``rnnzoo.train.config`` (all that ``rnnzoo --help`` needs) does not import Lightning (6 s cold).
_HOME = {
    "TrainConfig": "config", "DEFAULT_JOB": "defaults", "CheckpointError": "errors", "ConfigError": "errors",
    "RunDirError": "errors", "TrainingDiverged": "errors", "SequenceModel": "heads", "last_valid": "heads",
    "SequenceMetrics": "metrics", "LitSequenceModel": "module", "TaskData": "module", "Targets": "objective",
    "chunk_loss": "objective", "full_loss": "objective", "make_targets": "objective", "Interrupted": "run",
    "evaluate_checkpoint": "run", "evaluate_model": "run", "load_checkpoint": "run", "train": "run",
}

__all__ = [
    "DEFAULT_JOB", "CheckpointError", "ConfigError", "Interrupted", "LitSequenceModel", "RunDirError",
    "SequenceMetrics", "SequenceModel", "Targets", "TaskData", "TrainConfig", "TrainingDiverged", "chunk_loss",
    "evaluate_checkpoint", "evaluate_model", "full_loss", "last_valid", "load_checkpoint", "make_targets",
    "tbptt", "train",
]


def __getattr__(name: str) -> Any:
    home = _HOME.get(name)
    if home is None:
        raise AttributeError(f"module 'rnnzoo.train' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"rnnzoo.train.{home}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
