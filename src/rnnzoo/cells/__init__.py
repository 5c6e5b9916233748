"""The built-in cells; importing this package registers them."""

from rnnzoo.cells.antisymmetric import AntisymmetricRNNCell, AntisymmetricState, GatedAntisymmetricRNNCell
from rnnzoo.cells.atr import ATRCell, ATRState
from rnnzoo.cells.attention_decoder import AttentionDecoderCell, AttentionDecoderState
from rnnzoo.cells.bistable import BistableState, BRCell, NBRCell
from rnnzoo.cells.cfn import CFNCell, CFNState
from rnnzoo.cells.cnn_bilstm import CNNBiLSTM
from rnnzoo.cells.convlstm import ConvLSTMCell, ConvLSTMState
from rnnzoo.cells.cornn import CoRNNCell, CoRNNState
from rnnzoo.cells.dmn import DMN, DMNOutput
from rnnzoo.cells.drnn import DRNNCell, DRNNState
from rnnzoo.cells.elman import ElmanCell, ElmanState
from rnnzoo.cells.fastrnn import FastGRNNCell, FastRNNCell, FastRNNState
from rnnzoo.cells.fsmn import FSMNCell, FSMNLookaheadState, FSMNState
from rnnzoo.cells.ft_lstm import FTLSTMCell
from rnnzoo.cells.ggnn import GGNN, GGSNN, GraphBatch, graph_batch
from rnnzoo.cells.grid_lstm import GridLSTM, GridLSTMCell, GridState
from rnnzoo.cells.gru import GRUCell, GRUState
from rnnzoo.cells.highway import Highway, HighwayCell, HighwayState
from rnnzoo.cells.indrnn import IndRNNCell, IndRNNState
from rnnzoo.cells.intersection_rnn import IntersectionRNNCell, IntersectionState
from rnnzoo.cells.janet import JANETCell, JANETState
from rnnzoo.cells.lem import LEMCell, LEMState
from rnnzoo.cells.lg_lstm import LGLSTM, LGCell
from rnnzoo.cells.lightru import LightRUCell, LightRUState
from rnnzoo.cells.ligru import LiGRUCell, LiGRUState
from rnnzoo.cells.lstm import LSTMCell, LSTMState
from rnnzoo.cells.match_lstm import MatchCell, MatchLSTM, SentenceLSTM, SentencePair
from rnnzoo.cells.mc_lstm import MCLSTMCell, MCLSTMState
from rnnzoo.cells.mdlstm import MDLSTM, MDLSTMCell, RowLSTM
from rnnzoo.cells.memn2n import MemN2N
from rnnzoo.cells.memory_controller_lstm import MemoryControllerLSTMCell, MemoryControllerLSTMState
from rnnzoo.cells.mgu import MGUCell, MGUState
from rnnzoo.cells.minimal_rnn import MinimalRNNCell, MinimalRNNState
from rnnzoo.cells.minrnn import MinGRUCell, MinLSTMCell, MinRNNState
from rnnzoo.cells.miru import MiRU1Cell, MiRU2Cell, MiRUState
from rnnzoo.cells.mlstm import MLSTMCell, MLSTMState
from rnnzoo.cells.mogrifier import MogrifierLSTMCell
from rnnzoo.cells.multiplicative_lstm import MultiplicativeLSTMCell, MultiplicativeLSTMState
from rnnzoo.cells.mut import MUT1Cell, MUT2Cell, MUT3Cell, MUTState
from rnnzoo.cells.nas import NASCell, NASState
from rnnzoo.cells.ntm import NTMCell, NTMState
from rnnzoo.cells.pointer_net import PointerNet, PointerState
from rnnzoo.cells.ran import RANCell, RANState
from rnnzoo.cells.res_lstm import ResLSTMCell, ResLSTMState
from rnnzoo.cells.rhn import RHNCell, RHNState
from rnnzoo.cells.rmn import RMNCell, RMNState, RMRState
from rnnzoo.cells.s_lstm import SLSTM, SLSTMTreeCell
from rnnzoo.cells.scrn import SCRNCell, SCRNState
from rnnzoo.cells.seq2seq import Seq2Seq, Seq2SeqInput
from rnnzoo.cells.sgrn import SGRNCell, SGRNState
from rnnzoo.cells.sgu import DSGUCell, SGUCell, SGUState
from rnnzoo.cells.slstm import SLSTMCell, SLSTMState
from rnnzoo.cells.spatial_lstm import SpatialLSTM, SpatialLSTMCell
from rnnzoo.cells.sru import SRUCell, SRUState
from rnnzoo.cells.sru_pp import SRUppCell, SRUppState
from rnnzoo.cells.stack_lstm import StackCell, StackInput, StackLSTM, StackState
from rnnzoo.cells.star import STARCell, STARState
from rnnzoo.cells.tree_lstm import ChildSumTreeLSTMCell, NaryTreeLSTMCell, TreeLSTM, TreeSequenceLSTM
from rnnzoo.cells.typed_rnn import TGRUCell, TGRUState, TLSTMCell, TLSTMState, TRNNCell, TRNNState
from rnnzoo.cells.ugrnn import UGRNNCell, UGRNNState
from rnnzoo.cells.unicornn import UnICORNNCell, UnICORNNState
from rnnzoo.cells.wmc_lstm import WMCLSTMCell, WMCLSTMState

__all__ = [
    "ATRCell", "ATRState", "AntisymmetricRNNCell", "AntisymmetricState", "AttentionDecoderCell",
    "AttentionDecoderState", "BRCell", "BistableState", "CFNCell", "CFNState", "CNNBiLSTM", "ChildSumTreeLSTMCell",
    "CoRNNCell", "CoRNNState", "ConvLSTMCell", "ConvLSTMState", "DMN", "DMNOutput", "DRNNCell", "DRNNState",
    "DSGUCell", "ElmanCell", "ElmanState", "FSMNCell", "FSMNLookaheadState", "FSMNState", "FTLSTMCell",
    "FastGRNNCell", "FastRNNCell", "FastRNNState", "GGNN", "GGSNN", "GRUCell", "GRUState",
    "GatedAntisymmetricRNNCell", "GraphBatch", "GridLSTM", "GridLSTMCell", "GridState", "Highway", "HighwayCell",
    "HighwayState", "IndRNNCell", "IndRNNState", "IntersectionRNNCell", "IntersectionState", "JANETCell",
    "JANETState", "LEMCell", "LEMState", "LGCell", "LGLSTM", "LSTMCell", "LSTMState", "LiGRUCell", "LiGRUState",
    "LightRUCell", "LightRUState", "MCLSTMCell", "MCLSTMState", "MDLSTM", "MDLSTMCell", "MGUCell", "MGUState",
    "MLSTMCell", "MLSTMState", "MUT1Cell", "MUT2Cell", "MUT3Cell", "MUTState", "MatchCell", "MatchLSTM", "MemN2N",
    "MemoryControllerLSTMCell", "MemoryControllerLSTMState", "MiRU1Cell", "MiRU2Cell", "MiRUState", "MinGRUCell",
    "MinLSTMCell", "MinRNNState", "MinimalRNNCell", "MinimalRNNState", "MogrifierLSTMCell",
    "MultiplicativeLSTMCell", "MultiplicativeLSTMState", "NASCell", "NASState", "NBRCell", "NTMCell", "NTMState",
    "NaryTreeLSTMCell", "PointerNet", "PointerState", "RANCell", "RANState", "RHNCell", "RHNState", "RMNCell",
    "RMNState", "RMRState", "ResLSTMCell", "ResLSTMState", "RowLSTM", "SCRNCell", "SCRNState", "SGRNCell",
    "SGRNState", "SGUCell", "SGUState", "SLSTM", "SLSTMCell", "SLSTMState", "SLSTMTreeCell", "SRUCell", "SRUState",
    "SRUppCell", "SRUppState", "STARCell", "STARState", "SentenceLSTM", "SentencePair", "Seq2Seq", "Seq2SeqInput",
    "SpatialLSTM", "SpatialLSTMCell", "StackCell", "StackInput", "StackLSTM", "StackState", "TGRUCell", "TGRUState",
    "TLSTMCell", "TLSTMState", "TRNNCell", "TRNNState", "TreeLSTM", "TreeSequenceLSTM", "UGRNNCell", "UGRNNState",
    "UnICORNNCell", "UnICORNNState", "WMCLSTMCell", "WMCLSTMState", "graph_batch",
]
