"""Residual LSTM (Kim, El-Khamy & Lee 2017, "Residual LSTM: design of a deep recurrent architecture for distant
speech recognition", arXiv:1701.03360): a projected peephole LSTM whose output adds a shortcut from its input."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.cells.mut import identity_choice
from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Cell, Steps, linear_projection
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.res_lstm import res_lstm_recurrence


class ResLSTMState(NamedTuple):
    """h: (B, H) the output; c: (B, H) the memory cell."""

    h: Tensor
    c: Tensor


class ResLSTMCell(Cell):
    r"""Residual LSTM (Kim et al. 2017, arXiv:1701.03360, sec. 3.2), on the peephole LSTM with projection of its
    sec. 3.1 (001 eqs (16)-(20))::

        i_t = sigmoid(W_xi x_t + W_hi h_{t-1} + w_ci * c_{t-1} + b_i)
        f_t = sigmoid(W_xf x_t + W_hf h_{t-1} + w_cf * c_{t-1} + b_f)
        c_t = f_t * c_{t-1} + i_t * tanh(W_xc x_t + W_hc h_{t-1} + b_c)
        o_t = sigmoid(W_xo x_t + W_ho h_{t-1} + w_co * c_t + b_o)
        r_t = tanh(c_t)
        m_t = W_p r_t                                        # the output projection
        h_t = o_t * (m_t + W_h x_t)                          # the spatial shortcut; W_h = I when I == H

    In the code: ``weight_ih = [W_xi; W_xf; W_xc; W_xo]`` (4H, I), ``weight_hh = [W_hi; W_hf; W_hc; W_ho]`` (4H, H),
    ``peephole = [w_ci, w_cf, w_co]`` (3H,) (diagonal peepholes), ``weight_proj = W_p`` (H, H), ``weight_short =
    W_h`` (H, I) when it is not the identity, ``bias`` (4H,). The cell and the output have the same size H: the
    output gate ``o_t`` multiplies both ``m_t`` and ``W_h x_t``, and reads ``w_co * c_t`` unit by unit.

    Args:
        identity_shortcut: None (default): ``W_h = I`` when input_size == hidden_size (the paper: "W_h can be
            replaced by an identity matrix" when the dimensions match), else a learned (H, I) matrix; True/False force
            either.
        bias: the gate biases.

    Shapes: x_t (B, I); state ``ResLSTMState(h (B, H), c (B, H))``; output h (B, H).

    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every parameter (peepholes included).

    Fast path: :func:`rnnzoo.fused.res_lstm.res_lstm_recurrence` (``FastPath.RNNZOO``: the forward loop without
    autograd into buffers allocated once, a hand-written backward writing every cotangent of ``u`` into one buffer;
    the step loop is its reference twin). ``W_p`` multiplies ``tanh(c_t)`` after the update, a second product per
    step, so there is no PointwiseCell form. Train step at B = 32, T = 100, I = 64, H = 128, one thread, beside
    torchrecurrent's ``ResLSTM`` on a loaded machine (``benchmarks/peer_floor.py``): 1.7-2.9x, against 1.0-1.2x for
    the per-step autograd loop it replaces; 1.3-1.5x at the two larger sizes, where the matrix products dominate.

    Deviations: none with equal sizes. torchrecurrent's ``ResLSTM`` always learns ``W_h`` (the paper's identity
    shortcut, parameter-free, is what makes it "residual").
    """

    def __init__(self, input_size: int, hidden_size: int, *, identity_shortcut: bool | None = None,
                 bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.identity_shortcut = identity_choice("identity_shortcut", identity_shortcut, input_size, hidden_size)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        H = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * H, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * H, H))
        self.peephole = nn.Parameter(torch.empty(3 * H))
        self.weight_proj = nn.Parameter(torch.empty(H, H))
        self.weight_short = None if self.identity_shortcut else nn.Parameter(torch.empty(H, input_size))
        self.bias = nn.Parameter(torch.empty(4 * H)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> ResLSTMState:
        return ResLSTMState(TensorSpec((batch_size, self.hidden_size)), TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[W_x* x + b (4H), W_h x (H)]`` for all steps: (..., I) -> (..., 5H) (the shortcut is ``x`` itself
        when ``W_h = I``)."""
        if self.weight_short is None:
            return torch.cat([linear_projection(x, self.weight_ih, self.bias), x], -1)
        # one product with the bias padded by zeros: slicing u to add the bias to its first 4H columns made the
        # backward fill a zero tensor of u's full size twice (measured: 15% of the train step at the small size)
        bias = None if self.bias is None else torch.cat([self.bias, self.bias.new_zeros(self.hidden_size)])
        return linear_projection(x, torch.cat([self.weight_ih, self.weight_short]), bias)

    def update(self, u_t: Tensor, state: ResLSTMState, w_hh: Tensor, w_proj: Tensor
               ) -> tuple[ResLSTMState, tuple[Tensor, Tensor, Tensor]]:
        """One step from the transposed weights ``w_hh = weight_hh.T``, ``w_proj = weight_proj.T``: the new state
        and the gates ``(i, f, o)``."""
        H = self.hidden_size
        gi, gf, gc, go = torch.addmm(u_t[:, :4 * H], state.h, w_hh).chunk(4, -1)
        w_ci, w_cf, w_co = self.peephole.chunk(3)
        i = torch.sigmoid(gi + w_ci * state.c)
        f = torch.sigmoid(gf + w_cf * state.c)
        c = f * state.c + i * torch.tanh(gc)
        o = torch.sigmoid(go + w_co * c)
        h = o * torch.addmm(u_t[:, 4 * H:], torch.tanh(c), w_proj)
        return ResLSTMState(h, c), (i, f, o)

    def step(self, u_t: Tensor, state: ResLSTMState) -> tuple[Tensor, ResLSTMState]:
        new, (i, f, o) = self.update(u_t, state, self.weight_hh.t(), self.weight_proj.t())
        self.report("i", i, "sigmoid")
        self.report("f", f, "sigmoid")
        self.report("o", o, "sigmoid")
        return new.h, new

    fused_kind = "rnnzoo"
    """The runner's fast path: :meth:`fused`, the hand-written Function of :mod:`rnnzoo.fused.res_lstm`."""

    def fused(self, steps: Steps, state: ResLSTMState) -> tuple[Tensor, ResLSTMState] | None:
        """The whole sequence through :func:`rnnzoo.fused.res_lstm.res_lstm_recurrence` (raw-tensor forward,
        hand-written backward; the step loop is its reference twin); masked steps keep (h, c) and output zeros."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h, c = res_lstm_recurrence(steps.u, self.weight_hh, self.peephole, self.weight_proj, state.h, state.c,
                                        steps.mask)
        return out, ResLSTMState(h, c)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``weight_hh`` by gate (i, f, c, o)."""
        return gate_blocks(self.weight_hh, ("i", "f", "c", "o"), ("sigmoid", "sigmoid", "tanh", "sigmoid"))

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, identity_shortcut={self.identity_shortcut}, "
                f"bias={self.bias is not None}")


register("res_lstm", paper=Paper("Kim, El-Khamy & Lee", 2017, "Residual LSTM: design of a deep recurrent "
                                 "architecture for distant speech recognition", "1701.03360"),
         seed_equations="001 eqs (16)-(20) (the peephole LSTM it extends); the paper's sec. 3.2",
         description="Peephole LSTM with an output projection and a shortcut from the input: h = o * (W_p tanh(c) + x)",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.ResLSTM",))(ResLSTMCell)
