"""The LSTM with working memory connections (Landi, Baraldi, Cornia & Cucchiara 2021, "Working memory connections
for LSTM", Neural Networks 144, arXiv:2109.00020): the cell state enters the gates through a learned projection
squashed by tanh (the "protection" that raw peephole connections lack)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Cell, Steps, linear_projection
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.wmc_lstm import wmc_lstm_recurrence


class WMCLSTMState(NamedTuple):
    """h: (B, H) the hidden state (the output); c: (B, H) the memory cell."""

    h: Tensor
    c: Tensor


class WMCLSTMCell(Cell):
    r"""LSTM with working memory connections (Landi et al. 2021, arXiv:2109.00020)::

        g_t = tanh(W_g x_t + U_g h_{t-1} + b_g)                                   # candidate (as the LSTM's)
        i_t = sigmoid(W_i x_t + U_i h_{t-1} + b_i + tanh(V_i c_{t-1}))            # working memory connection
        f_t = sigmoid(W_f x_t + U_f h_{t-1} + b_f + tanh(V_f c_{t-1}))
        c_t = f_t * c_{t-1} + i_t * g_t
        o_t = sigmoid(W_o x_t + U_o h_{t-1} + b_o + tanh(V_o c_t))                # the NEW cell, as peepholes do
        h_t = o_t * tanh(c_t)

    ``weight_ih`` ``(4H, I)`` and ``weight_hh`` ``(4H, H)`` stack the blocks in torch.nn.LSTM's order i, f, g, o;
    ``weight_ch`` ``(3H, H)`` stacks ``[V_i; V_f; V_o]``; ``bias`` ``(4H)``.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias``.

    Shapes: x_t (B, I); state ``WMCLSTMState(h (B, H), c (B, H))``; output h (B, H).

    Fast path: :func:`rnnzoo.fused.wmc_lstm.wmc_lstm_recurrence` (``FastPath.RNNZOO``: forward without a graph
    per step, a hand-written backward); ``V_o c_t`` is a second recurrent product after the cell update, so torch's
    LSTM kernel and the generic LSTM Function do not fit.
    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every parameter (torch.nn.LSTM's).

    Deviations: none in the step. (torchrecurrent's WMCLSTM adds a bias inside each tanh, ``tanh(V c + b_c)``,
    which the paper does not have; see ``docs/torchrecurrent_typed.md``.)

    Example::

        >>> import torch, rnnzoo
        >>> rnnzoo.run(WMCLSTMCell(3, 4), torch.randn(2, 5, 3)).output.shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.weight_ch = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> WMCLSTMState:
        spec = TensorSpec((batch_size, self.hidden_size))
        return WMCLSTMState(spec, spec)

    def project(self, x: Tensor) -> Tensor:
        """``W x + b`` for all steps: ``(..., I) -> (..., 4H)`` (blocks i, f, g, o)."""
        return linear_projection(x, self.weight_ih, self.bias)

    def _weights(self) -> tuple[Tensor, Tensor, Tensor]:
        """``(U^T, [V_i; V_f]^T, V_o^T)``, sliced once per run (a slice per step would cost autograd a full-size
        gradient buffer per step)."""
        H = self.hidden_size
        return self.weight_hh.t(), self.weight_ch[:2 * H].t(), self.weight_ch[2 * H:].t()

    def _step(self, u_t: Tensor, state: WMCLSTMState, w: tuple[Tensor, Tensor, Tensor]
              ) -> tuple[Tensor, WMCLSTMState]:
        H = self.hidden_size
        u_hh, v_if, v_o = w
        pre = torch.addmm(u_t, state.h, u_hh)
        wm = torch.tanh(state.c @ v_if)
        pi, pf, pg, po = pre.split(H, -1)
        i = torch.sigmoid(pi + wm[:, :H])
        f = torch.sigmoid(pf + wm[:, H:])
        c = torch.addcmul(i * torch.tanh(pg), f, state.c)  # f * c + i * g
        o = torch.sigmoid(po + torch.tanh(c @ v_o))
        self.report("i", i, "sigmoid")
        self.report("f", f, "sigmoid")
        self.report("o", o, "sigmoid")
        h = o * torch.tanh(c)
        return h, WMCLSTMState(h, c)

    def step(self, u_t: Tensor, state: WMCLSTMState) -> tuple[Tensor, WMCLSTMState]:
        return self._step(u_t, state, self._weights())

    fused_kind = "rnnzoo"
    """The runner's fast path: :meth:`fused`, a Function with a hand-written backward."""

    def fused(self, steps: Steps, state: WMCLSTMState) -> tuple[Tensor, WMCLSTMState] | None:
        """The whole sequence through :func:`rnnzoo.fused.wmc_lstm.wmc_lstm_recurrence` (raw-tensor forward into
        buffers allocated once, hand-written backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h, c = wmc_lstm_recurrence(steps.u, self.weight_hh, self.weight_ch, state.h, state.c, steps.mask)
        return out, WMCLSTMState(h, c)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        H = self.hidden_size
        names = ("U_i", "U_f", "U_g", "U_o")
        acts = ("sigmoid", "sigmoid", "tanh", "sigmoid")
        return [RecurrentBlock(n, self.weight_hh[k * H:(k + 1) * H], a, True, "weight_hh")
                for k, (n, a) in enumerate(zip(names, acts, strict=True))]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


register("wmc_lstm", paper=Paper("Landi, Baraldi, Cornia & Cucchiara", 2021, "Working memory connections for LSTM",
                                 "2109.00020"),
         seed_equations="none (not in the seeds)",
         description="LSTM whose gates also read tanh(V c) of the cell state (working memory connections)",
         gated=True, fast_path=FastPath.RNNZOO, peers=("torchrecurrent.WMCLSTM",))(WMCLSTMCell)
