"""The built-in cells; importing this package registers them."""

from rnnzoo.cells.cnn_bilstm import CNNBiLSTM
from rnnzoo.cells.convlstm import ConvLSTMCell, ConvLSTMState
from rnnzoo.cells.elman import ElmanCell, ElmanState
from rnnzoo.cells.gru import GRUCell, GRUState
from rnnzoo.cells.lstm import LSTMCell, LSTMState
from rnnzoo.cells.mlstm import MLSTMCell, MLSTMState
from rnnzoo.cells.scrn import SCRNCell, SCRNState
from rnnzoo.cells.slstm import SLSTMCell, SLSTMState

__all__ = ["CNNBiLSTM", "ConvLSTMCell", "ConvLSTMState", "ElmanCell", "ElmanState",
           "GRUCell", "GRUState", "LSTMCell", "LSTMState", "MLSTMCell", "MLSTMState", "SCRNCell", "SCRNState",
           "SLSTMCell", "SLSTMState"]
