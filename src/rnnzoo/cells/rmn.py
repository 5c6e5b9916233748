"""Recurrent memory network (RM and RMR): an LSTM whose output attends over the embeddings of the last n inputs."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.profiler import record_function

from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import boolean, check_cell_args, positive_int
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.lstm import lstm_recurrence

_PAPER = Paper("Tran, Bisazza & Monz", 2016, "Recurrent memory networks for language modeling", "1601.01272")


class RMNState(NamedTuple):
    """y: (B, H) the step's output (RM: the memory block's; RMR: the top LSTM's hidden state); h, c: (B, H) the
    bottom LSTM's hidden and cell state; mem_m, mem_c: (B, n, H) the memory embeddings ``M x_i`` and ``C x_i`` of
    the last n inputs, oldest first, newest last; filled: (B, n) 1.0 where a slot holds an input of this sequence,
    else 0."""

    y: Tensor
    h: Tensor
    c: Tensor
    mem_m: Tensor
    mem_c: Tensor
    filled: Tensor


class RMRState(NamedTuple):
    """:class:`RMNState`'s fields (``y`` is the top LSTM's hidden state), then c_top: (B, H) the top LSTM's cell
    state."""

    y: Tensor
    h: Tensor
    c: Tensor
    mem_m: Tensor
    mem_c: Tensor
    filled: Tensor
    c_top: Tensor


def _lstm(pre: Tensor, c_prev: Tensor) -> tuple[Tensor, Tensor]:
    """The LSTM update from the stacked pre-activations (i, f, g, o): (B, 4H), (B, H) -> h_t, c_t."""
    i, f, g, o = pre.chunk(4, 1)
    c = torch.sigmoid(f) * c_prev + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


class RMNCell(Cell):
    r"""Recurrent memory network (Tran, Bisazza & Monz 2016, "Recurrent memory networks for language modeling",
    NAACL, arXiv:1601.01272, Section 3, the Memory Block; seed 003 describes memory networks, not this model). RM is
    an LSTM followed by the Memory Block (MB); RMR (``top_lstm=True``) puts a second LSTM on the MB's output::

        h_t, c_t = LSTM(x_t; h_{t-1}, c_{t-1})               # weight_ih (4H, I), weight_hh (4H, H), bias (4H,)
        m_i = M x_i + T_M[k],  c_i = C x_i + T_C[k]          # i = t-n+1 .. t, k its slot (newest k = n-1)
        p_t = softmax_i(m_i . h_t)                           # the paper's p_t = softmax(M_t h_t), n slots
        s_t = sum_i p_t[i] c_i                               # s_t = C_t p_t
        z_t = sigmoid(W_z s_t + U_z h_t + b_z)               # the GRU-like gating
        r_t = sigmoid(W_r s_t + U_r h_t + b_r)
        hh_t = tanh(W s_t + U (r_t * h_t) + b)
        y_t = z_t * hh_t + (1 - z_t) * h_t                   # RM's output
        y_t, c'_t = LSTM_top(y_t; y_{t-1}, c'_{t-1})         # RMR only

    with ``M = weight_m`` and ``C = weight_c`` (H, I) (the memory's own embeddings of the inputs, apart from the
    LSTM's), ``T_M = time_m`` and ``T_C = time_c`` (n, H) the temporal matrices, ``[W_z; W_r; W] = weight_gs``
    (3H, H), ``[U_z; U_r; U] = weight_gh`` (3H, H), ``[b_z; b_r; b] = bias_g`` (3H,).

    The memory holds the last n *inputs* (not hidden states: attending over hidden states is ordinary attention,
    the mistake RESEARCH.md lists), the current one included, as the authors' code feeds ``x[t-n+1 .. t]``. At
    the start of a sequence fewer than n inputs exist: the empty slots are masked with -inf before the softmax
    (never attended as zero padding; the authors' code likewise grows the window from 1 to n). The temporal
    vector of a slot depends on its distance from the newest input (the authors' time index ``n+1-t .. n``).

    Args:
        memory_size: n, the inputs in the memory (the authors' default 15).
        top_lstm: RMR (a second LSTM on the MB's output) instead of RM.
        temporal: add the temporal matrices (the default; False drops them, the authors' code's ``-time false``).

    Shapes: x_t (B, I); state :class:`RMNState` (RMR: :class:`RMRState`); output y_t (B, H). Reports
    ``"attention"`` p_t (B, n) of kind ``"attention"`` (slot n-1 is x_t), and the gates ``"z"``, ``"r"`` (sigmoid).

    Fast path: the bottom LSTM does not depend on the Memory Block, so a whole sequence runs the LSTM through
    rnnzoo's fused LSTM Function, then the Memory Block of every step at once (one shifted slice of the state's slots
    and the sequence per window slot), then RMR's top LSTM through the same Function; the step loop stays the
    reference (tests/fused holds the two equal).

    Streaming: the memory embeddings of the last n inputs are fields of the state, so a sequence fed in chunks,
    step by step or with truncated BPTT computes what one run computes; a masked (padded) step keeps the state.

    Deviations: the paper's inputs are words and M, C are lookup tables (|V| x d); this cell reads vectors (the
    trainer embeds tokens), so ``M x_i``, ``C x_i`` are linear maps of the input vectors (a lookup when x is
    one-hot; with the trainer's embedding E, M E is a lookup table of rank <= I). The paper's full text was not
    at hand here (its abstract and the authors' code were): where the text might differ, this cell follows the
    authors' code (github.com/ketranm/RMN, ``model/MemBlockG.lua``): a temporal matrix added to each of M and C,
    the GRU-like gate, one hop (``nhop=1``). The gate has one bias per gate (the code has two, redundant); the
    code's non-gated Memory Block (``-gate false``) is not offered. Initialisation: every weight U(-1/sqrt(H),
    1/sqrt(H)) as torch.nn.LSTM (the authors' code: U(-0.05, 0.05) and forget bias 1).

    Example:
        >>> import torch, rnnzoo
        >>> from rnnzoo.cells.rmn import RMNCell
        >>> cell = RMNCell(8, 6, memory_size=4)
        >>> rnnzoo.run(cell, torch.randn(2, 5, 8)).output.shape
        torch.Size([2, 5, 6])
    """

    def __init__(self, input_size: int, hidden_size: int, *, memory_size: int = 15, top_lstm: bool = False,
                 temporal: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, top_lstm=top_lstm, temporal=temporal)
        boolean("top_lstm", top_lstm)
        boolean("temporal", temporal)
        self.memory_size = positive_int("memory_size", memory_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.top_lstm = top_lstm
        self.temporal = temporal
        H, n = hidden_size, self.memory_size
        self.weight_ih = nn.Parameter(torch.empty(4 * H, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * H, H))
        self.bias = nn.Parameter(torch.empty(4 * H))
        self.weight_m = nn.Parameter(torch.empty(H, input_size))
        self.weight_c = nn.Parameter(torch.empty(H, input_size))
        self.time_m = nn.Parameter(torch.empty(n, H)) if temporal else None
        self.time_c = nn.Parameter(torch.empty(n, H)) if temporal else None
        self.weight_gs = nn.Parameter(torch.empty(3 * H, H))
        self.weight_gh = nn.Parameter(torch.empty(3 * H, H))
        self.bias_g = nn.Parameter(torch.empty(3 * H))
        if top_lstm:
            self.weight_ih_top = nn.Parameter(torch.empty(4 * H, H))
            self.weight_hh_top = nn.Parameter(torch.empty(4 * H, H))
            self.bias_top = nn.Parameter(torch.empty(4 * H))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        bound = 1.0 / math.sqrt(self.hidden_size)
        with torch.no_grad():
            for p in self.parameters():
                p.uniform_(-bound, bound)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> RMNState | RMRState:
        B, H, n = batch_size, self.hidden_size, self.memory_size
        fields = (TensorSpec((B, H)), TensorSpec((B, H)), TensorSpec((B, H)), TensorSpec((B, n, H)),
                  TensorSpec((B, n, H)), TensorSpec((B, n)))
        return RMRState(*fields, TensorSpec((B, H))) if self.top_lstm else RMNState(*fields)

    def project(self, x: Tensor) -> Tensor:
        """Every input-only product for all steps at once: ``[W_ih x + b, M x, C x]``, (..., I) -> (..., 6H)."""
        w = torch.cat([self.weight_ih, self.weight_m, self.weight_c], 0)
        b = torch.cat([self.bias, self.bias.new_zeros(2 * self.hidden_size)])
        return torch.addmm(b, x.reshape(-1, x.shape[-1]), w.t()).reshape(*x.shape[:-1], 6 * self.hidden_size)

    def step(self, u_t: Tensor, state: RMNState | RMRState) -> tuple[Tensor, RMNState | RMRState]:
        H, n = self.hidden_size, self.memory_size
        pre, m_t, c_t = u_t.split([4 * H, H, H], 1)
        h, c = _lstm(torch.addmm(pre, state.h, self.weight_hh.t()), state.c)
        # the window: drop the oldest slot, append this input's embeddings (split, not slicing, as sru_pp: the
        # export's scan cannot stack a slice's symbolic batch size)
        mem_m = torch.cat([state.mem_m.split([1, n - 1], 1)[1], m_t.unsqueeze(1)], 1)  # (B, n, H), newest last
        mem_c = torch.cat([state.mem_c.split([1, n - 1], 1)[1], c_t.unsqueeze(1)], 1)
        oldest, rest = state.filled.split([1, n - 1], 1)
        filled = torch.cat([rest, torch.ones_like(oldest)], 1)
        keys = mem_m + self.time_m if self.temporal else mem_m
        values = mem_c + self.time_c if self.temporal else mem_c
        scores = (keys * h.unsqueeze(1)).sum(2)  # (B, n): M_t h_t
        p = torch.softmax(scores.masked_fill(filled <= 0, float("-inf")), 1)  # slot n-1 (x_t) is always filled
        self.report("attention", p, "attention")
        s = (p.unsqueeze(2) * values).sum(1)  # (B, H): C_t p_t
        gs = s @ self.weight_gs.t() + self.bias_g
        gz, gr, gn = gs.split(H, 1)
        uz, ur, un = self.weight_gh.split(H, 0)
        z = torch.sigmoid(gz + h @ uz.t())
        r = torch.sigmoid(gr + h @ ur.t())
        self.report("z", z, "sigmoid")
        self.report("r", r, "sigmoid")
        y = z * torch.tanh(gn + (r * h) @ un.t()) + (1 - z) * h
        if not self.top_lstm:
            return y, RMNState(y, h, c, mem_m, mem_c, filled)
        pre_top = torch.addmm(self.bias_top, y, self.weight_ih_top.t())
        y, c_top = _lstm(torch.addmm(pre_top, state.y, self.weight_hh_top.t()), state.c_top)
        return y, RMRState(y, h, c, mem_m, mem_c, filled, c_top)

    fused_kind = "rnnzoo"
    """The runner's fast path: the LSTM (RMR: both LSTMs) through :func:`rnnzoo.fused.lstm.lstm_recurrence`, the
    Memory Block of all steps at once (the LSTM does not depend on it)."""

    def fused(self, steps: Steps, state: RMNState | RMRState) -> tuple[Tensor, RMNState | RMRState] | None:
        """Whole sequence: the bottom LSTM first, then every step's attention over its window (the state's slots
        and the sequence's, unfolded), the gate, and for RMR the top LSTM. Masks whose valid steps are a prefix
        of each row (lengths) are exact, the padding coming after every valid step; a mask with holes returns
        None (the step loop runs)."""
        if not steps.prefix:
            return None
        H, n = self.hidden_size, self.memory_size
        u = steps.u  # (T, B, 6H)
        T, B = u.shape[0], u.shape[1]
        pre, m, cm = u.split([4 * H, H, H], 2)
        with record_function("rmn/lstm"):
            h, h_T, c_T = lstm_recurrence(pre, state.h, state.c, self.weight_hh, mask=steps.mask)  # h: (T, B, H)
        keys = torch.cat([state.mem_m.transpose(0, 1), m], 0)  # (n + T, B, H): global slot n + t is step t
        values = torch.cat([state.mem_c.transpose(0, 1), cm], 0)
        filled = torch.cat([state.filled.t(), state.filled.new_ones(T, B)], 0)  # (n + T, B)
        with record_function("rmn/memory"):
            y = self._memory_block(h, keys, values, filled, steps.mask)
        if steps.mask is None:
            last = torch.full((B,), T, dtype=torch.long, device=u.device)
        else:
            last = steps.mask.sum(0).to(u.device)  # (B,) valid steps (a prefix)
        idx = last.view(1, B) + torch.arange(n, device=u.device).view(n, 1)  # (n, B): the window after the last
        mem_m = keys.gather(0, idx.unsqueeze(2).expand(n, B, H)).transpose(0, 1)
        mem_c = values.gather(0, idx.unsqueeze(2).expand(n, B, H)).transpose(0, 1)
        new_filled = filled.gather(0, idx).t()
        if self.top_lstm:
            with record_function("rmn/top_lstm"):
                y, y_T, c_top = lstm_recurrence(y @ self.weight_ih_top.t() + self.bias_top, state.y,
                                                state.c_top, self.weight_hh_top, mask=steps.mask)
            return y, RMRState(y_T, h_T, c_T, mem_m, mem_c, new_filled, c_top)
        y_last = y.gather(0, (last - 1).clamp(min=0).view(1, B, 1).expand(1, B, H)).squeeze(0)
        y_last = torch.where((last > 0).unsqueeze(1), y_last, state.y)
        return y, RMNState(y_last, h_T, c_T, mem_m, mem_c, new_filled)

    def _memory_block(self, h: Tensor, keys: Tensor, values: Tensor, filled: Tensor, mask: Tensor | None) -> Tensor:
        """The Memory Block of every step at once: h (T, B, H) time-major; keys ``M x``, values ``C x`` (n + T, B,
        H) and filled (n + T, B) over the state's n slots then the sequence -> y (T, B, H), zero at masked steps."""
        H, n = self.hidden_size, self.memory_size
        # step t's window is global slots t + 1 .. t + n (its slot k is global t + 1 + k): windows as strided views
        # (unfold, no copy of the sequence), one batched product over all steps and slots
        win_k = keys[1:].unfold(0, n, 1)  # (T, B, H, n)
        scores = torch.einsum("tbhn,tbh->tbn", win_k, h)
        if self.temporal:
            scores = scores + h @ self.time_m.t()
        fw = filled[1:].unfold(0, n, 1)  # (T, B, n)
        p = torch.softmax(scores.masked_fill(fw <= 0, float("-inf")), 2)
        s = torch.einsum("tbn,tbhn->tbh", p, values[1:].unfold(0, n, 1))  # (T, B, H)
        if self.temporal:
            s = s + p @ self.time_c
        gz, gr, gn = (s @ self.weight_gs.t() + self.bias_g).split(H, 2)
        uz, ur, un = self.weight_gh.split(H, 0)
        z = torch.sigmoid(gz + h @ uz.t())
        r = torch.sigmoid(gr + h @ ur.t())
        y = z * torch.tanh(gn + (r * h) @ un.t()) + (1 - z) * h
        if mask is not None:
            y = y * mask.to(y.device).unsqueeze(2).to(y.dtype)  # a masked step outputs zero
        return y

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """The bottom LSTM's ``weight_hh`` by gate (i, f, g, o), and the top LSTM's for RMR."""
        acts = ("sigmoid", "sigmoid", "tanh", "sigmoid")
        blocks = gate_blocks(self.weight_hh, ("i", "f", "g", "o"), acts)
        if self.top_lstm:
            blocks += gate_blocks(self.weight_hh_top, ("i", "f", "g", "o"), acts, parameter="weight_hh_top")
        return blocks

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, memory_size={self.memory_size}, top_lstm={self.top_lstm}, "
                f"temporal={self.temporal}")


register("rmn", paper=_PAPER, seed_equations="none (003 covers memory networks generally)",
         description="RM: an LSTM whose output attends over its own embeddings of the last n inputs (the Memory "
                     "Block), merged by a GRU-like gate",
         gated=True, fast_path=FastPath.RNNZOO)(RMNCell)
register("rmr", paper=_PAPER, seed_equations="none (003 covers memory networks generally)",
         description="RMR: LSTM -> Memory Block over the last n inputs -> LSTM", gated=True,
         fast_path=FastPath.RNNZOO,
         defaults={"top_lstm": True})(RMNCell)
