"""Fused recurrences: whole-sequence autograd Functions for the cells torch has no kernel for.

Every cell splits a step into ``project(x)`` (input projections, hoisted out of the time loop) and
``step(u_t, state)``. For a configuration torch computes (the forget-gate LSTM, the reset-after GRU,
the tanh/relu Elman network) a cell's ``fused`` calls torch's kernel; for every other configuration
it calls one of the Functions here on ``u = cell.project(x)``:

* :func:`lstm_recurrence`: every :class:`~rnnzoo.cells.lstm.LSTMCell` variant (forget gate or not,
  coupled, peepholes, sigmoid input node, no cell activation, projection);
* :func:`convlstm_recurrence`: the ConvLSTM (the same pointwise part, convolutions in time);
* :func:`gru_recurrence`: both GRU forms (reset "after" and "before");
* :func:`layer_norm_lstm_recurrence`, :func:`layer_norm_gru_recurrence`: the layer-normalised LSTM and
  GRU (``layer_norm=True``, Ba, Kiros & Hinton 2016), with the LNs' backward written per step;
* :func:`elman_recurrence`: the Elman network with every activation (and SCRN's hidden layer);
* :func:`linear_scan`: elementwise linear recurrences (SCRN's context layer).

Each Function's forward runs the loop with raw tensor ops into preallocated buffers (no autograd
graph per step) and keeps what backward needs (gate activations and states); backward runs one
recurrent product per step and every recurrent-weight gradient as ONE product over all steps. The
input weights' gradients flow through ``cell.project``'s ordinary product. Inputs are time-major
``(T, B, ...)``; masks are ``(T, B)`` booleans, True = valid step (a masked step keeps the state and
outputs zero). The runner's step loop remains the reference: tests/fused holds every Function equal
to it in outputs and gradients.

:func:`compile_model` is the optional ``torch.compile`` route. docs/performance.md has the numbers.
"""

from rnnzoo.fused.compile import compile_model
from rnnzoo.fused.elman import ACTIVATION_NAMES, ElmanFunction, elman_recurrence
from rnnzoo.fused.gru import GRUFunction, gru_recurrence
from rnnzoo.fused.layer_norm_gru import LayerNormGRUFunction, layer_norm_gru_recurrence
from rnnzoo.fused.layer_norm_lstm import LayerNormLSTMFunction, layer_norm_lstm_recurrence
from rnnzoo.fused.lstm import LSTMFunction, LSTMSpec, convlstm_recurrence, lstm_recurrence
from rnnzoo.fused.scan import LinearScanFunction, linear_scan

__all__ = [
    "ACTIVATION_NAMES", "ElmanFunction", "GRUFunction", "LSTMFunction", "LSTMSpec", "LayerNormGRUFunction",
    "LayerNormLSTMFunction", "LinearScanFunction", "compile_model", "convlstm_recurrence", "elman_recurrence",
    "gru_recurrence", "layer_norm_gru_recurrence", "layer_norm_lstm_recurrence", "linear_scan",
    "lstm_recurrence",
]
