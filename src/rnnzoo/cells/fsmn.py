"""Feedforward sequential memory network (FSMN): a learnable tapped-delay (FIR) memory block, no recurrence."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.spec import TensorSpec

MEMORIES = ("vector", "scalar")
ACTIVATIONS = {"relu": torch.relu, "sigmoid": torch.sigmoid, "tanh": torch.tanh}


class FSMNState(NamedTuple):
    """y: (B, H) the last output; taps: (B, K * I) the last K = lookback + lookahead inputs, oldest first,
    flattened (``taps.view(B, K, I)[:, -1]`` is the newest)."""

    y: Tensor
    taps: Tensor


class FSMNLookaheadState(NamedTuple):
    """As :class:`FSMNState`, plus pending: (B, lookahead, H), ``weight_ih @ x + bias`` of the inputs whose
    output is not yet emitted (the step emits the output of step t - lookahead)."""

    y: Tensor
    taps: Tensor
    pending: Tensor


def _nonnegative_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name}: expected an int >= 0, got {value!r}")
    return value


class FSMNCell(Cell):
    r"""FSMN layer (Zhang, Liu, Jiang, Wei, Dai & Hu 2015, arXiv:1512.08301; LM version arXiv:1510.02693;
    001 section 1, which names FSMN but writes no equation). With ``x`` the layer's input sequence (the
    hidden layer h^l of the paper, or the embeddings)::

        xm_t = sum_{i=0}^{N1} a_i * x_{t-i} + sum_{j=1}^{N2} c_j * x_{t+j}       # memory block h~^l_t
        y_t  = act(weight_ih @ x_t + weight_mh @ xm_t + bias)                       # h^{l+1}_t = f(W h + W~ h~ + b)

    with ``a_i = memory_back[N1 - i]`` and ``c_j = memory_ahead[j - 1]`` (vectors of size I for vFSMN,
    ``memory="vector"``, scalars for sFSMN, ``memory="scalar"``), N1 = ``lookback``, N2 = ``lookahead``.
    In the paper's numbering (as recalled, not checked against the PDF): sFSMN's memory block and next
    layer are eqs (1)-(2), vFSMN's look-back-only and look-back/look-ahead memory blocks eqs (5)-(6).

    What one cell is: the connection from layer l to layer l + 1 with the memory block on layer l.
    ``create("fsmn", I, H, num_layers=L)`` stacks L of them, so the memory block sits on the input (the
    embedding or the acoustic features) and on every hidden layer but the last; the head reads y = h^{L}.
    The paper's networks put memory on some hidden layers only: ``lookback=0, lookahead=0`` makes a
    layer without memory beyond ``a_0`` (the weight of the current input in ``weight_mh``'s path).

    Streaming: with ``lookahead=0`` (the default) the cell is causal and its state is the tap buffer
    (the last ``lookback`` inputs), so chunked runs equal one run. With ``lookahead=N2 > 0`` the cell is
    non-causal (``causal`` False, ``lookahead`` N2): the step emits the output of step ``t - N2`` (the
    state also holds the N2 projections still waiting for their look-ahead). :func:`rnnzoo.run` feeds N2
    zero steps after each sequence and shifts the outputs back, so a run gives ``y_t`` at position t;
    stepping the cell by hand gives the delayed outputs (the first N2 of them are from the zero state's
    padding). Bidirectional runs, truncated BPTT and a run from a given state (chunks: a run's final state holds
    the zero steps fed after its end) are refused for it (it already reads the future).

    Fast path: the memory block is a depthwise 1-D convolution (groups = I) over the whole sequence with
    the state's taps as the left context, then one matrix product for ``weight_mh @ xm`` of all steps;
    plain autograd ops, exportable with T symbolic. Masks with holes too: a masked step freezes the tap
    buffer, so the valid steps are moved to the front of each sequence before the convolution.

    Args:
        lookback: N1 >= 0, the taps on past inputs (the memory holds x_t .. x_{t-N1}). Default 10.
        lookahead: N2 >= 0, the taps on future inputs (non-causal when > 0). Default 0.
        memory: ``"vector"`` (vFSMN, one coefficient per feature and tap, the default) or ``"scalar"``
            (sFSMN, one per tap).
        activation: f, ``"relu"`` (default), ``"sigmoid"`` or ``"tanh"``.
        bias: a bias b.

    Shapes: x_t (B, I); state :class:`FSMNState` ``(y (B, H), taps (B, (N1 + N2) * I))`` (the inputs
    flattened, oldest first), with lookahead :class:`FSMNLookaheadState` adding ``pending (B, N2, H)``;
    output (B, H).

    Deviations: the paper's FSMN is a feedforward network run over whole sequences; here it is a cell
    (a one-step update of a tap buffer) so that it streams and stacks like the other cells, with the same
    numbers. The memory acts on the layer's input rather than on a hidden layer inside the cell, so that
    L stacked cells are L of the paper's memory-augmented layers. Defaults are ours: lookback 10, ReLU,
    vector memory; initialisation U(-1/sqrt(H), 1/sqrt(H)) for weight_ih, weight_mh and bias and
    U(-1/sqrt(N1 + N2 + 1), ...) for the memory coefficients (the paper's initialisation is not used).
    ``weight_drop`` (DropConnect on the recurrent weights) drops memory coefficients: FSMN has no recurrent
    matrix, its taps are what connects the steps. The state keeps the last output ``y`` so that
    ``output(state)`` is ``y_t``; the initial ``y`` never reaches a later output.

    Known issue: ``torch.onnx.export`` of a model whose cells take the runner's scan (with a ``zoneout`` or
    ``layer_norm`` wrapper, which have no fast path) fails in torch's scan decomposition ("'SymInt' object has
    no attribute 'unsqueeze'"); the plain cell exports through its convolution, and ``torch.export`` works.
    """

    def __init__(self, input_size: int, hidden_size: int, *, lookback: int = 10, lookahead: int = 0,
                 memory: str = "vector", activation: str = "relu", bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        _nonnegative_int("lookback", lookback)
        _nonnegative_int("lookahead", lookahead)
        if memory not in MEMORIES:
            raise ValueError(f"memory: expected one of {MEMORIES}, got {memory!r}")
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {tuple(ACTIVATIONS)}, got {activation!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.lookback, self.lookahead = lookback, lookahead
        self.causal = lookahead == 0
        self.memory, self.activation = memory, activation
        width = input_size if memory == "vector" else 1
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # W
        self.weight_mh = nn.Parameter(torch.empty(hidden_size, input_size))  # W~
        self.bias = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.memory_back = nn.Parameter(torch.empty(lookback + 1, width))  # a_{N1}, ..., a_0 (oldest first)
        self.memory_ahead = nn.Parameter(torch.empty(lookahead, width)) if lookahead else None  # c_1, ..., c_{N2}
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in (self.weight_ih, self.weight_mh, self.bias):
            if p is not None:
                nn.init.uniform_(p, -k, k)
        m = 1.0 / math.sqrt(self.lookback + self.lookahead + 1)
        for p in (self.memory_back, self.memory_ahead):
            if p is not None:
                nn.init.uniform_(p, -m, m)

    @property
    def taps(self) -> int:
        """K = lookback + lookahead: the past inputs the state keeps."""
        return self.lookback + self.lookahead

    def filter(self) -> Tensor:
        """The memory block's coefficients in time order, oldest input first: ``(K + 1, I or 1)``, i.e.
        ``[a_{N1}, ..., a_0, c_1, ..., c_{N2}]`` against ``[x_{s-N1}, ..., x_s, ..., x_{s+N2}]``."""
        if self.memory_ahead is None:
            return self.memory_back
        return torch.cat([self.memory_back, self.memory_ahead], 0)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> FSMNState | FSMNLookaheadState:
        y = TensorSpec((batch_size, self.hidden_size))
        taps = TensorSpec((batch_size, self.taps * self.input_size))
        if self.lookahead:
            return FSMNLookaheadState(y, taps, TensorSpec((batch_size, self.lookahead, self.hidden_size)))
        return FSMNState(y, taps)

    def project(self, x: Tensor) -> Tensor:
        """``[weight_ih @ x + bias, x]`` for all steps: (..., I) -> (..., H + I) (the memory needs x itself)."""
        return torch.cat([F.linear(x, self.weight_ih, self.bias), x], -1)

    def step(self, u_t: Tensor, state: FSMNState | FSMNLookaheadState) -> tuple[Tensor, Any]:
        wx, x = u_t[:, :self.hidden_size], u_t[:, self.hidden_size:]
        f, k, size = self.filter(), self.taps, self.input_size
        # the memory block of position s = t - lookahead over x_{t-K} .. x_t: the window (B, (K + 1) * I) times
        # the stacked diagonals diag(f_j) ((K + 1) * I, I); no reshape of a batch-sized tensor (an ONNX Scan
        # body cannot take its symbolic size) and no per-tap loop
        window = torch.cat([state.taps, x], 1)
        diagonals = (f.unsqueeze(-1) * torch.eye(size, dtype=f.dtype, device=f.device)).reshape((k + 1) * size, size)
        xm = window @ diagonals
        if self.lookahead:
            pending = torch.cat([state.pending, wx.unsqueeze(1)], 1)
            wx, pending = pending[:, 0], pending[:, 1:]
        y = ACTIVATIONS[self.activation](torch.addmm(wx, xm, self.weight_mh.t()))
        taps = window[:, size:]
        new = FSMNLookaheadState(y, taps, pending) if self.lookahead else FSMNState(y, taps)
        return y, new

    def output(self, state: FSMNState | FSMNLookaheadState) -> Tensor:
        """``y_t`` (the state's first field)."""
        return state.y

    fused_kind = "autograd"
    """The runner's fast path: the memory block as a depthwise convolution (plain autograd ops)."""
    fused_traceable = True
    fused_exportable = True

    def fused(self, steps: Steps, state: FSMNState | FSMNLookaheadState) -> tuple[Tensor, Any]:
        """Whole sequence: the memory block of every step as one depthwise convolution over
        ``[taps, x_0 .. x_{T-1}]``, then ``weight_mh @ xm`` of all steps in one product.

        Masks (any, holes included): a masked step freezes the tap buffer, so each sequence's valid steps
        are first moved to the front in order (a scatter by the running count of valid steps), convolved
        as a prefix, and the outputs gathered back to their positions (zeros at masked steps)."""
        u = steps.u  # (T, B, H + I), time-major
        t_len, batch = u.shape[0], u.shape[1]
        hid, k = self.hidden_size, self.taps
        wx, x = u[..., :hid], u[..., hid:]
        mask = steps.mask
        if mask is not None:
            # compacted position of each valid step; masked steps go to a dump row T
            index = torch.where(mask, torch.cumsum(mask.long(), 0) - 1, torch.full_like(mask, t_len, dtype=torch.long))
            count = mask.long().sum(0)  # (B,) valid steps per sequence

            def compact(v: Tensor) -> Tensor:
                dump = v.new_zeros((t_len + 1, batch, v.shape[-1]))
                return dump.scatter(0, index.unsqueeze(-1).expand_as(v), v)[:t_len]

            wx, x = compact(wx), compact(x)
        seq = torch.cat([state.taps.view(batch, k, self.input_size).transpose(0, 1), x], 0)  # (K + T, B, I)
        weight = self.filter().t().expand(self.input_size, k + 1).unsqueeze(1)  # (I, 1, K + 1)
        xm = F.conv1d(seq.permute(1, 2, 0), weight, groups=self.input_size).permute(2, 0, 1)  # (T, B, I)
        wx_all = torch.cat([state.pending.transpose(0, 1), wx], 0) if self.lookahead else wx  # (N2 + T, B, H)
        pre = torch.addmm(wx_all[:t_len].reshape(-1, hid), xm.reshape(-1, self.input_size), self.weight_mh.t())
        out = ACTIVATIONS[self.activation](pre).view(t_len, batch, hid)
        if mask is None:
            y, taps = out[-1], seq[t_len:].transpose(0, 1).reshape(batch, k * self.input_size)
            pending = wx_all[t_len:].transpose(0, 1) if self.lookahead else None
        else:
            padded = torch.cat([out, out.new_zeros((1, batch, hid))], 0)
            last = padded.gather(0, (count - 1).clamp(min=0).view(1, batch, 1).expand(1, batch, hid))[0]
            y = torch.where((count > 0).unsqueeze(1), last, state.y)
            out = padded.gather(0, index.unsqueeze(-1).expand(t_len, batch, hid))
            rows = (count.unsqueeze(0) + torch.arange(k, device=u.device).unsqueeze(1))  # (K, B): rows n .. n + K - 1
            taps = seq.gather(0, rows.unsqueeze(-1).expand(k, batch, self.input_size))
            taps = taps.transpose(0, 1).reshape(batch, k * self.input_size)
            pending = None
            if self.lookahead:
                rows = count.unsqueeze(0) + torch.arange(self.lookahead, device=u.device).unsqueeze(1)
                pending = wx_all.gather(0, rows.unsqueeze(-1).expand(self.lookahead, batch, hid)).transpose(0, 1)
        if self.lookahead:
            return out, FSMNLookaheadState(y, taps, pending)
        return out, FSMNState(y, taps)

    def recurrent_weights(self) -> list[str]:
        """The weights that connect steps: the memory coefficients (what ``weight_drop`` masks, DropConnect on
        the taps); FSMN has no recurrent matrix, so ``recurrent_blocks()`` is empty."""
        return ["memory_back"] + (["memory_ahead"] if self.lookahead else [])

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, lookback={self.lookback}, lookahead={self.lookahead}, "
                f"memory={self.memory!r}, activation={self.activation!r}, bias={self.bias is not None}")


register("fsmn", paper=Paper("Zhang, Liu, Jiang, Wei, Dai & Hu", 2015,
                              "Feedforward sequential memory networks: a new structure to learn long-term dependency",
                              "1512.08301"),
         seed_equations="001 section 1 (named, no equations)",
         description="Feedforward layer with a learnable tapped-delay memory block (vFSMN, look-back 10)",
         fast_path=FastPath.AUTOGRAD)(FSMNCell)
