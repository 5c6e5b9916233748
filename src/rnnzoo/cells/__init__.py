"""The built-in cells; importing this package registers them."""

from rnnzoo.cells.cnn_bilstm import CNNBiLSTM
from rnnzoo.cells.convlstm import ConvLSTMCell, ConvLSTMState
from rnnzoo.cells.elman import ElmanCell, ElmanState
from rnnzoo.cells.fsmn import FSMNCell, FSMNLookaheadState, FSMNState
from rnnzoo.cells.gru import GRUCell, GRUState
from rnnzoo.cells.lstm import LSTMCell, LSTMState
from rnnzoo.cells.scrn import SCRNCell, SCRNState

__all__ = ["CNNBiLSTM", "ConvLSTMCell", "ConvLSTMState", "ElmanCell", "ElmanState", "FSMNCell", "FSMNLookaheadState",
           "FSMNState", "GRUCell", "GRUState", "LSTMCell", "LSTMState", "SCRNCell", "SCRNState"]
