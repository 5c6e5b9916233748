"""sLSTM: the scalar-memory cell of xLSTM, with exponential gating, a normaliser and a stabiliser state."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args, positive_int
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.slstm import slstm_recurrence

FORGET_GATES = ("sigmoid", "exp")


def check_heads(hidden_size: int, num_heads: Any) -> int:
    """``num_heads`` if it is a positive int dividing ``hidden_size``."""
    positive_int("num_heads", num_heads)
    if hidden_size % num_heads:
        raise ValueError(f"num_heads: expected a divisor of hidden_size={hidden_size}, got {num_heads}")
    return num_heads


def check_forget_gate(forget_gate: Any) -> str:
    if forget_gate not in FORGET_GATES:
        raise ValueError(f"forget_gate: expected one of {FORGET_GATES}, got {forget_gate!r}")
    return forget_gate


def log_forget(f_raw: Tensor, forget_gate: str) -> Tensor:
    """``log f``: ``logsigmoid(f_raw)`` for a sigmoid forget gate, ``f_raw`` for an exponential one."""
    return F.logsigmoid(f_raw) if forget_gate == "sigmoid" else f_raw


class SLSTMState(NamedTuple):
    """h: (B, H) the output; c: (B, H) the cell; n: (B, H) the normaliser; m: (B, H) the stabiliser."""

    h: Tensor
    c: Tensor
    n: Tensor
    m: Tensor


class SLSTMCell(Cell):
    r"""sLSTM (Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory", arXiv:2405.04517, section 2.2,
    eqs (8)-(17)) with ``u_t = weight_ih @ x_t + bias`` (project) and ``r_t = R h_{t-1}`` where ``R`` is
    block-diagonal with one ``(4 d, d)`` block ``weight_hh[k]`` per head (``d = H / num_heads``)::

        [i_raw, f_raw, z_raw, o_raw] = u_t + R h_{t-1}         # pre-activations, gate order i f z o
        log i = i_raw                                          # eq (12): i = exp(i_raw)
        log_f = logsigmoid(f_raw)  (forget_gate="exp": f_raw)  # eq (13): f = sigmoid or exp
        m_t = max(log_f + m_{t-1}, i_raw)                      # eq (15)
        i' = exp(i_raw - m_t);  f' = exp(log_f + m_{t-1} - m_t)   # eqs (16), (17)
        c_t = f' * c_{t-1} + i' * tanh(z_raw)                  # eqs (8), (11)
        n_t = f' * n_{t-1} + i'                                # eq (9)
        h_t = sigmoid(o_raw) * c_t / n_t                       # eqs (10), (14)

    The stabiliser only rescales ``c`` and ``n`` together (``c_t exp(m_t)`` and ``n_t exp(m_t)`` are the
    unstabilised states), so ``h`` is the paper's eq (10) exactly (equation numbers of arXiv:2405.04517v2).
    The seeds predate xLSTM (no seed equation numbers). Memory mixing happens only within a head (section 2.2,
    "multiple heads").

    Args:
        num_heads: heads of the block-diagonal recurrent matrix (must divide hidden_size).
        forget_gate: ``"sigmoid"`` (default, as the ``xlstm`` package) or ``"exp"``.

    Shapes: x_t (B, I); u_t (B, 4H), gate-major ``[i | f | z | o]``, each head-major; state
    ``SLSTMState(h, c, n, m)``, each (B, H); output h (B, H).

    Deviations: this is the recurrent cell with its input projection, not the xLSTM sLSTM block (its causal
    convolution, head-wise input projections, group norm, gated MLP and residual are layers around the cell);
    the input weights are one dense ``(4H, I)`` matrix as in eqs (10)-(13). ``num_heads=1`` by default (the
    paper's equations without heads; the package's default is 4). Initialisation: weights U(-1/sqrt(H),
    1/sqrt(H)) as torch's LSTM (the package zeroes the recurrent weights); biases zero except the forget
    gate's, linearly spaced from 3 to 6 over each head's units (the package's ``bias_init="small_init"``),
    so the cell starts remembering. The zero state has ``m = 0``; the package instead sets ``m_1 = i_raw``
    at the first step of a zero state, which changes the stabiliser but not ``h`` (the package's
    ``min(., 1)`` on ``i'`` and ``f'`` is a no-op under eq (15)).

    Example:
        >>> cell = SLSTMCell(3, 8, num_heads=2)
        >>> y, state = cell(torch.randn(5, 3))
        >>> y.shape, state.m.shape
        (torch.Size([5, 8]), torch.Size([5, 8]))
    """

    def __init__(self, input_size: int, hidden_size: int, *, num_heads: int = 1, forget_gate: str = "sigmoid",
                 bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = self.output_size = hidden_size
        self.num_heads = check_heads(hidden_size, num_heads)
        self.head_size = hidden_size // num_heads
        self.forget_gate = check_forget_gate(forget_gate)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(num_heads, 4 * self.head_size, self.head_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -k, k)
        nn.init.uniform_(self.weight_hh, -k, k)
        if self.bias is not None:
            with torch.no_grad():
                self.bias.zero_()
                f = self.bias[self.hidden_size:2 * self.hidden_size].view(self.num_heads, self.head_size)
                f.copy_(torch.linspace(3.0, 6.0, self.head_size).expand_as(f))

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> SLSTMState:
        s = TensorSpec((batch_size, self.hidden_size))
        return SLSTMState(s, s, s, s)

    def project(self, x: Tensor) -> Tensor:
        """``weight_ih @ x + bias`` for all steps: (..., I) -> (..., 4H)."""
        return F.linear(x, self.weight_ih, self.bias)

    def recurrent(self, h: Tensor) -> Tensor:
        """``R h``, block-diagonal per head: (B, H) -> (B, 4H) gate-major."""
        if self.num_heads == 1:
            return h @ self.weight_hh[0].t()
        hh = h.view(-1, self.num_heads, self.head_size).transpose(0, 1)  # (NH, B, d)
        r = torch.bmm(hh, self.weight_hh.transpose(1, 2))  # (NH, B, 4d)
        r = r.view(self.num_heads, -1, 4, self.head_size).permute(1, 2, 0, 3)  # (B, 4, NH, d)
        return r.reshape(h.shape[0], 4 * self.hidden_size)

    def step(self, u_t: Tensor, state: SLSTMState) -> tuple[Tensor, SLSTMState]:
        i_raw, f_raw, z_raw, o_raw = (u_t + self.recurrent(state.h)).chunk(4, 1)
        log_f = log_forget(f_raw, self.forget_gate)
        m = torch.maximum(log_f + state.m, i_raw)
        i = torch.exp(i_raw - m)
        f = torch.exp(log_f + state.m - m)
        o = torch.sigmoid(o_raw)
        self.report("i", i, "exp")
        self.report("f", f, "exp")
        self.report("o", o, "sigmoid")
        c = f * state.c + i * torch.tanh(z_raw)
        n = f * state.n + i
        h = o * (c / n)
        return h, SLSTMState(h, c, n, m)

    fused_kind = "rnnzoo"
    """The runner's fast path: :func:`rnnzoo.fused.slstm.slstm_recurrence` (hand-written backward)."""

    def fused(self, steps: Steps, state: SLSTMState) -> tuple[Tensor, SLSTMState]:
        """The whole sequence with the fused Function on ``u = project(x)`` (T, B, 4H)."""
        out, final = slstm_recurrence(steps.u, state, self.weight_hh, exp_forget=self.forget_gate == "exp",
                                      mask=steps.mask)
        return out, SLSTMState(*final)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """One block per gate: a view of ``weight_hh`` with one head, else the block-diagonal matrix (read-only).

        Activations by their slope bound: the stabilised ``i' = exp(i_raw - m_t) <= 1`` (and an exp forget
        gate's ``f'``) have slope at most 1, which is "linear"'s bound."""
        d, H = self.head_size, self.hidden_size
        acts = {"i": "linear", "f": "sigmoid" if self.forget_gate == "sigmoid" else "linear", "z": "tanh",
                "o": "sigmoid"}
        blocks = []
        for g, name in enumerate("ifzo"):
            act = acts[name]
            if self.num_heads == 1:
                blocks.append(RecurrentBlock(f"weight_hh[{name}]", self.weight_hh[0, g * d:(g + 1) * d], act, True,
                                             "weight_hh"))
            else:
                mat = torch.block_diag(*self.weight_hh.detach()[:, g * d:(g + 1) * d])
                blocks.append(RecurrentBlock(f"weight_hh[{name}]", mat.view(H, H), act, False))
        return blocks

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_heads={self.num_heads}, "
                f"forget_gate={self.forget_gate!r}, bias={self.bias is not None}")


XLSTM = Paper("Beck, Poeppel, Spanring, Auer, Prudnikova, Kopp, Klambauer, Brandstetter & Hochreiter", 2024,
              "xLSTM: Extended Long Short-Term Memory", "2405.04517")
"""The xLSTM paper (sLSTM and mLSTM)."""

register("slstm", paper=XLSTM,
         seed_equations="none (after the seeds); xLSTM eqs (8)-(17)",
         description="Exponential input gate with stabiliser m and normaliser n; block-diagonal recurrence per head",
         gated=True, recurrence=Recurrence.MATRIX, fast_path=FastPath.RNNZOO, peers=("xlstm.sLSTMCell",))(SLSTMCell)
