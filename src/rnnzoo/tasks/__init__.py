"""Long-range-dependency benchmark tasks.

>>> import torch
>>> from rnnzoo.tasks import get_task
>>> task = get_task("adding", seq_len=50)
>>> batch = task.sample(32, torch.Generator().manual_seed(0))
>>> batch.x.shape, batch.y.shape
(torch.Size([32, 50, 2]), torch.Size([32, 1]))
>>> round(task.baseline()["mse"], 4)
0.1667

Every task draws randomness only from a ``torch.Generator`` passed in; fixed valid/test splits come from
:meth:`Task.split`, and :meth:`Task.baseline` / :meth:`Task.measured_baseline` report the trivial
predictor analytically and on a split. See :func:`list_tasks` for the registered names.
"""

# issues 12's and 13's generated tasks register themselves on import (after the registry, which never imports them)
from . import (  # noqa: F401
    babi,
    babi_symbolic,
    dyck,
    entailment,
    future_context,
    graph_paths,
    grid_digits,
    listops,
    parity_bits,
    pointer,
    shapes,
    symbols,
)
from .arithmetic import AddingTask, MarkedPairTask, MultiplicationTask
from .base import Batch, GeneratedTask, Task, TaskInfo, evaluate
from .copy_memory import CopyTask
from .images import ImageSequenceTask, load_mnist_idx, read_idx
from .parity import ParityTask
from .registry import UnknownTaskError, get_task, list_tasks, register_task
from .temporal_order import TemporalOrderTask

__all__ = [
    "AddingTask",
    "Batch",
    "CopyTask",
    "GeneratedTask",
    "ImageSequenceTask",
    "MarkedPairTask",
    "MultiplicationTask",
    "ParityTask",
    "Task",
    "TaskInfo",
    "TemporalOrderTask",
    "UnknownTaskError",
    "evaluate",
    "get_task",
    "list_tasks",
    "load_mnist_idx",
    "read_idx",
    "register_task",
]
