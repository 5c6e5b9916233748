"""The built-in cells; importing this package registers them."""

from rnnzoo.cells.cnn_bilstm import CNNBiLSTM
from rnnzoo.cells.convlstm import ConvLSTMCell, ConvLSTMState
from rnnzoo.cells.elman import ElmanCell, ElmanState
from rnnzoo.cells.gru import GRUCell, GRUState
from rnnzoo.cells.highway import Highway, HighwayCell, HighwayState
from rnnzoo.cells.lstm import LSTMCell, LSTMState
from rnnzoo.cells.rhn import RHNCell, RHNState
from rnnzoo.cells.scrn import SCRNCell, SCRNState

__all__ = ["CNNBiLSTM", "ConvLSTMCell", "ConvLSTMState", "ElmanCell", "ElmanState",
           "GRUCell", "GRUState", "Highway", "HighwayCell", "HighwayState", "LSTMCell", "LSTMState",
           "RHNCell", "RHNState", "SCRNCell", "SCRNState"]
