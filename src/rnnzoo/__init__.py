"""rnnzoo: the recurrent architectures of the literature behind one PyTorch API.

Public API (import from here, not from submodules)::

    import rnnzoo
    model = rnnzoo.create("lstm", input_size=8, hidden_size=32, num_layers=2, bidirectional=True)
    output, state = model(x, lengths=lengths)

Importing the package registers the built-in cells (``rnnzoo.cells``); the registry itself imports no
model.
"""

from rnnzoo import attention, decode, nn  # nn: rnnzoo.nn.LSTM / GRU / RNN, the torch.nn drop-in
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
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.deep import DeepCell
from rnnzoo.core.factory import Model, create
from rnnzoo.core.layers import Bidirectional, BidirectionalState, Layer, Recurrent, Stacked, StackedState
from rnnzoo.core.registry import (
    FastPath,
    InputKind,
    ModelInfo,
    ModelKind,
    Paper,
    Recurrence,
    UnknownModelError,
    list_models,
    model_info,
    register,
)
from rnnzoo.core.runner import RunOutput, run
from rnnzoo.core.spec import TensorSpec
from rnnzoo.crf import CRF
from rnnzoo.wrappers import LayerNorm, VariationalDropout, WeightDrop, Wrapper, Zoneout

__version__ = "0.2.0"

__all__ = [
    "Bidirectional", "BidirectionalState", "CRF", "Cell", "ConvLSTMCell", "ConvLSTMState", "DeepCell", "ElmanCell",
    "ElmanState", "FastPath", "GRUCell", "GRUState", "InputKind", "LSTMCell", "LSTMState", "Layer", "LayerNorm",
    "Model", "ModelInfo", "ModelKind", "Paper", "Recurrence", "Recurrent", "RunOutput", "SCRNCell", "SCRNState",
    "Stacked", "StackedState", "Steps", "TensorSpec", "UnknownModelError", "VariationalDropout", "WeightDrop",
    "Wrapper", "Zoneout", "create", "from_torch", "list_models", "model_info", "nn", "register", "run", "to_torch",
    "attention", "decode",
]
