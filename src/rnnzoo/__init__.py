"""rnnzoo: the recurrent architectures of the literature behind one PyTorch API.

Public API (import from here, not from submodules)::

    import rnnzoo
    model = rnnzoo.create("lstm", input_size=8, hidden_size=32, num_layers=2, bidirectional=True)
    output, state = model(x, lengths=lengths)
"""

from rnnzoo.cells import (
    ConvLSTMCell,
    ConvLSTMState,
    ElmanCell,
    ElmanState,
    GRUCell,
    GRUState,
    LSTMCell,
    LSTMState,
    SCRNCell,
    SCRNState,
)
from rnnzoo.convert import from_torch, to_torch
from rnnzoo.core.cell import Cell
from rnnzoo.core.factory import Model, create
from rnnzoo.core.layers import Bidirectional, BidirectionalState, Recurrent, Stacked, StackedState
from rnnzoo.core.registry import ModelInfo, Paper, UnknownModelError, list_models, model_info, register
from rnnzoo.core.runner import RunOutput, run

__version__ = "0.1.0"

__all__ = [
    "Bidirectional", "BidirectionalState", "Cell", "ConvLSTMCell", "ConvLSTMState", "ElmanCell", "ElmanState",
    "GRUCell", "GRUState", "LSTMCell", "LSTMState", "Model", "ModelInfo", "Paper", "Recurrent", "RunOutput",
    "SCRNCell", "SCRNState", "Stacked", "StackedState", "UnknownModelError", "create", "from_torch",
    "list_models", "model_info", "register", "run", "to_torch",
]
