"""The built-in cells; importing this package registers them."""

from rnnzoo.cells.cnn_bilstm import CNNBiLSTM
from rnnzoo.cells.convlstm import ConvLSTMCell, ConvLSTMState
from rnnzoo.cells.drnn import DRNNCell, DRNNState
from rnnzoo.cells.elman import ElmanCell, ElmanState
from rnnzoo.cells.fsmn import FSMNCell, FSMNLookaheadState, FSMNState
from rnnzoo.cells.gru import GRUCell, GRUState
from rnnzoo.cells.highway import Highway, HighwayCell, HighwayState
from rnnzoo.cells.indrnn import IndRNNCell, IndRNNState
from rnnzoo.cells.lstm import LSTMCell, LSTMState
from rnnzoo.cells.minrnn import MinGRUCell, MinLSTMCell, MinRNNState
from rnnzoo.cells.mlstm import MLSTMCell, MLSTMState
from rnnzoo.cells.mogrifier import MogrifierLSTMCell
from rnnzoo.cells.rhn import RHNCell, RHNState
from rnnzoo.cells.rmn import RMNCell, RMNState, RMRState
from rnnzoo.cells.scrn import SCRNCell, SCRNState
from rnnzoo.cells.slstm import SLSTMCell, SLSTMState
from rnnzoo.cells.sru import SRUCell, SRUState
from rnnzoo.cells.sru_pp import SRUppCell, SRUppState

__all__ = [
    "CNNBiLSTM", "ConvLSTMCell", "ConvLSTMState", "DRNNCell", "DRNNState", "ElmanCell", "ElmanState", "FSMNCell",
    "FSMNLookaheadState", "FSMNState", "GRUCell", "GRUState", "Highway", "HighwayCell", "HighwayState", "IndRNNCell",
    "IndRNNState", "LSTMCell", "LSTMState", "MLSTMCell", "MLSTMState", "MinGRUCell", "MinLSTMCell", "MinRNNState",
    "MogrifierLSTMCell", "RHNCell", "RHNState", "RMNCell", "RMNState", "RMRState", "SCRNCell", "SCRNState",
    "SLSTMCell", "SLSTMState", "SRUCell", "SRUState", "SRUppCell", "SRUppState",
]
