"""The built-in cells; importing this package registers them."""

from rnnzoo.cells.antisymmetric import AntisymmetricRNNCell, AntisymmetricState, GatedAntisymmetricRNNCell  # noqa: F401 (issue 15: __all__ merged by the lead)
from rnnzoo.cells.attention_decoder import AttentionDecoderCell, AttentionDecoderState
from rnnzoo.cells.cnn_bilstm import CNNBiLSTM
from rnnzoo.cells.convlstm import ConvLSTMCell, ConvLSTMState
from rnnzoo.cells.cornn import CoRNNCell, CoRNNState  # noqa: F401 (issue 15: __all__ merged by the lead)
from rnnzoo.cells.dmn import DMN, DMNOutput
from rnnzoo.cells.drnn import DRNNCell, DRNNState
from rnnzoo.cells.elman import ElmanCell, ElmanState
from rnnzoo.cells.fastrnn import FastGRNNCell, FastRNNCell, FastRNNState  # noqa: F401 (issue 15: __all__ merged by the lead)
from rnnzoo.cells.fsmn import FSMNCell, FSMNLookaheadState, FSMNState
from rnnzoo.cells.ft_lstm import FTLSTMCell
from rnnzoo.cells.ggnn import GGNN, GGSNN, GraphBatch, graph_batch
from rnnzoo.cells.grid_lstm import GridLSTM, GridLSTMCell, GridState
from rnnzoo.cells.gru import GRUCell, GRUState
from rnnzoo.cells.highway import Highway, HighwayCell, HighwayState
from rnnzoo.cells.indrnn import IndRNNCell, IndRNNState
from rnnzoo.cells.lem import LEMCell, LEMState  # noqa: F401 (issue 15: __all__ merged by the lead)
from rnnzoo.cells.lg_lstm import LGLSTM, LGCell
from rnnzoo.cells.lstm import LSTMCell, LSTMState
from rnnzoo.cells.match_lstm import MatchCell, MatchLSTM, SentenceLSTM, SentencePair
from rnnzoo.cells.mdlstm import MDLSTM, MDLSTMCell, RowLSTM
from rnnzoo.cells.memn2n import MemN2N
from rnnzoo.cells.minrnn import MinGRUCell, MinLSTMCell, MinRNNState
from rnnzoo.cells.mlstm import MLSTMCell, MLSTMState
from rnnzoo.cells.mogrifier import MogrifierLSTMCell
from rnnzoo.cells.ntm import NTMCell, NTMState
from rnnzoo.cells.pointer_net import PointerNet, PointerState
from rnnzoo.cells.rhn import RHNCell, RHNState
from rnnzoo.cells.rmn import RMNCell, RMNState, RMRState
from rnnzoo.cells.s_lstm import SLSTM, SLSTMTreeCell
from rnnzoo.cells.scrn import SCRNCell, SCRNState
from rnnzoo.cells.seq2seq import Seq2Seq, Seq2SeqInput
from rnnzoo.cells.slstm import SLSTMCell, SLSTMState
from rnnzoo.cells.spatial_lstm import SpatialLSTM, SpatialLSTMCell
from rnnzoo.cells.sru import SRUCell, SRUState
from rnnzoo.cells.sru_pp import SRUppCell, SRUppState
from rnnzoo.cells.stack_lstm import StackCell, StackInput, StackLSTM, StackState
from rnnzoo.cells.tree_lstm import ChildSumTreeLSTMCell, NaryTreeLSTMCell, TreeLSTM, TreeSequenceLSTM
from rnnzoo.cells.unicornn import UnICORNNCell, UnICORNNState  # noqa: F401 (issue 15: __all__ merged by the lead)

__all__ = [
    "AttentionDecoderCell", "AttentionDecoderState", "CNNBiLSTM", "ChildSumTreeLSTMCell", "ConvLSTMCell",
    "ConvLSTMState", "DMN", "DMNOutput", "DRNNCell", "DRNNState", "ElmanCell", "ElmanState", "FSMNCell",
    "FSMNLookaheadState", "FSMNState", "FTLSTMCell", "GGNN", "GGSNN", "GRUCell", "GRUState", "GraphBatch",
    "GridLSTM", "GridLSTMCell", "GridState", "Highway", "HighwayCell", "HighwayState", "IndRNNCell", "IndRNNState",
    "LGCell", "LGLSTM", "LSTMCell", "LSTMState", "MDLSTM", "MDLSTMCell", "MLSTMCell", "MLSTMState", "MatchCell",
    "MatchLSTM", "MemN2N", "MinGRUCell", "MinLSTMCell", "MinRNNState", "MogrifierLSTMCell", "NTMCell", "NTMState",
    "NaryTreeLSTMCell", "PointerNet", "PointerState", "RHNCell", "RHNState", "RMNCell", "RMNState", "RMRState",
    "RowLSTM", "SCRNCell", "SCRNState", "SLSTM", "SLSTMCell", "SLSTMState", "SLSTMTreeCell", "SRUCell", "SRUState",
    "SRUppCell", "SRUppState", "SentenceLSTM", "SentencePair", "Seq2Seq", "Seq2SeqInput", "SpatialLSTM",
    "SpatialLSTMCell", "StackCell", "StackInput", "StackLSTM", "StackState", "TreeLSTM", "TreeSequenceLSTM",
    "graph_batch",
]
