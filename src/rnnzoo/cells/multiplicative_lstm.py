"""Multiplicative LSTM (Krause, Lu, Murray & Renals 2016, "Multiplicative LSTM for sequence modelling",
arXiv:1609.07959): an LSTM whose gates read an input-dependent transition ``m_t`` of the previous output.

Not xLSTM's matrix-memory cell (``rnnzoo``'s ``mlstm``); this one is registered as ``multiplicative_lstm``."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Cell, Steps, linear_projection
from rnnzoo.core.checks import boolean, check_cell_args
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.multiplicative_lstm import multiplicative_lstm_recurrence


class MultiplicativeLSTMState(NamedTuple):
    """h: (B, H) the output; c: (B, H) the memory cell."""

    h: Tensor
    c: Tensor


class MultiplicativeLSTMCell(Cell):
    r"""Multiplicative LSTM (Krause et al. 2016, arXiv:1609.07959, sec. 3 "mLSTM", on the LSTM of its sec. 2)::

        m_t  = (W_mx x_t) * (W_mh h_{t-1})                  # the mRNN's input-dependent transition
        hh_t = W_hx x_t + W_hm m_t + b_h                    # the cell input (no tanh: the paper's LSTM variant)
        i_t  = sigmoid(W_ix x_t + W_im m_t + b_i)
        f_t  = sigmoid(W_fx x_t + W_fm m_t + b_f)
        o_t  = sigmoid(W_ox x_t + W_om m_t + b_o)
        c_t  = f_t * c_{t-1} + i_t * hh_t
        h_t  = tanh(c_t) * o_t

    In the code: ``weight_ih = [W_mx; W_ix; W_fx; W_hx; W_ox]`` (5H, I), ``weight_mh = W_mh`` (H, H),
    ``weight_m = [W_im; W_fm; W_hm; W_om]`` (4H, H), ``bias = [b_i, b_f, b_h, b_o]``; ``m_t`` has H units.

    Args:
        candidate_tanh: ``c_t = f_t * c_{t-1} + i_t * tanh(hh_t)`` (the common LSTM form, torchrecurrent's) instead
            of the paper's linear cell input (default False).
        bias: the biases b_i, b_f, b_h, b_o (the paper writes none; ``m_t`` has none either way).

    Shapes: x_t (B, I); state ``MultiplicativeLSTMState(h (B, H), c (B, H))``; output h (B, H).

    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every parameter.

    Fast path: :func:`rnnzoo.fused.multiplicative_lstm.multiplicative_lstm_recurrence` (``FastPath.RNNZOO``:
    forward without a graph per step, a hand-written backward): the gates' product ``W_*m m_t`` comes after the
    elementwise product with the input, a second recurrent product per step, so there is no PointwiseCell form.

    Deviations: biases on the four pre-activations (``bias=False`` is the paper's exact form). torchrecurrent's
    ``MultiplicativeLSTM`` applies tanh to the cell input and adds biases inside ``m_t``
    (``(W_mx x + b) * (W_mh h + b')``), see docs/torchrecurrent.md.
    """

    def __init__(self, input_size: int, hidden_size: int, *, candidate_tanh: bool = False, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.candidate_tanh = boolean("candidate_tanh", candidate_tanh)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(5 * hidden_size, input_size))
        self.weight_mh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.weight_m = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> MultiplicativeLSTMState:
        return MultiplicativeLSTMState(TensorSpec((batch_size, self.hidden_size)),
                                       TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[W_mx x, W_ix x + b_i, W_fx x + b_f, W_hx x + b_h, W_ox x + b_o]`` for all steps: (..., 5H)."""
        bias = None if self.bias is None else torch.cat([self.bias.new_zeros(self.hidden_size), self.bias])
        return linear_projection(x, self.weight_ih, bias)  # the bias inside the product: no whole-sequence temporary

    def update(self, u_t: Tensor, state: MultiplicativeLSTMState, w_mh: Tensor, w_m: Tensor
               ) -> tuple[MultiplicativeLSTMState, tuple[Tensor, Tensor, Tensor]]:
        """One step from the transposed weights ``w_mh = weight_mh.T``, ``w_m = weight_m.T``: the new state and
        the gates ``(i, f, o)``."""
        H = self.hidden_size
        m = u_t[:, :H] * (state.h @ w_mh)
        i, f, hh, o = torch.addmm(u_t[:, H:], m, w_m).chunk(4, -1)
        i, f, o = torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(o)
        if self.candidate_tanh:
            hh = torch.tanh(hh)
        c = f * state.c + i * hh
        return MultiplicativeLSTMState(torch.tanh(c) * o, c), (i, f, o)

    def step(self, u_t: Tensor, state: MultiplicativeLSTMState) -> tuple[Tensor, MultiplicativeLSTMState]:
        new, (i, f, o) = self.update(u_t, state, self.weight_mh.t(), self.weight_m.t())
        self.report("i", i, "sigmoid")
        self.report("f", f, "sigmoid")
        self.report("o", o, "sigmoid")
        return new.h, new

    fused_kind = "rnnzoo"
    """The runner's fast path: :meth:`fused`, a Function with a hand-written backward."""

    def fused(self, steps: Steps, state: MultiplicativeLSTMState
              ) -> tuple[Tensor, MultiplicativeLSTMState] | None:
        """The whole sequence through :func:`rnnzoo.fused.multiplicative_lstm.multiplicative_lstm_recurrence`
        (raw-tensor forward into buffers allocated once, hand-written backward; the step loop is its reference
        twin); masked steps keep (h, c) and output zeros."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h, c = multiplicative_lstm_recurrence(steps.u, self.weight_mh, self.weight_m, state.h, state.c,
                                                   candidate_tanh=self.candidate_tanh, mask=steps.mask)
        return out, MultiplicativeLSTMState(h, c)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``W_mh``, the only matrix applied to ``h_{t-1}`` (its effect is scaled by the input, ``W_mx x_t``)."""
        return [RecurrentBlock("weight_mh", self.weight_mh, "linear", True, "weight_mh")]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, candidate_tanh={self.candidate_tanh}, "
                f"bias={self.bias is not None}")


register("multiplicative_lstm",
         paper=Paper("Krause, Lu, Murray & Renals", 2016, "Multiplicative LSTM for sequence modelling", "1609.07959"),
         seed_equations="none (not in the seeds); the paper's mLSTM equations on 001 eqs (16)-(20) without peepholes",
         description="LSTM whose gates read m = (W x) * (W h): an input-dependent recurrent transition",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.MultiplicativeLSTM",))(MultiplicativeLSTMCell)
