"""The built-in cells; importing this package registers them."""

from rnnzoo.cells.cnn_bilstm import CNNBiLSTM
from rnnzoo.cells.convlstm import ConvLSTMCell, ConvLSTMState
from rnnzoo.cells.drnn import DRNNCell, DRNNState
from rnnzoo.cells.elman import ElmanCell, ElmanState
from rnnzoo.cells.gru import GRUCell, GRUState
from rnnzoo.cells.lstm import LSTMCell, LSTMState
from rnnzoo.cells.mogrifier import MogrifierLSTMCell
from rnnzoo.cells.scrn import SCRNCell, SCRNState

__all__ = ["CNNBiLSTM", "ConvLSTMCell", "ConvLSTMState", "DRNNCell", "DRNNState", "ElmanCell", "ElmanState",
           "GRUCell", "GRUState", "LSTMCell", "LSTMState", "MogrifierLSTMCell", "SCRNCell", "SCRNState"]
