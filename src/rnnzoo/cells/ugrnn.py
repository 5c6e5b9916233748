"""Update-gate RNN (UGRNN): a vanilla RNN candidate and one update gate that interpolates it with h_{t-1}."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Steps, linear_projection
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.ugrnn import ugrnn_recurrence


class UGRNNState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class UGRNNCell(PointwiseCell):
    r"""UGRNN (Collins, Sohl-Dickstein & Sussillo 2017, "Capacity and trainability in recurrent neural networks",
    ICLR 2017, arXiv:1611.09913), the paper's definition of the update-gate RNN (its equation numbers were not
    checked here: the PDF was not reachable)::

        c_t = tanh(W_ch h_{t-1} + W_cx x_t + b_c)          # candidate: a vanilla RNN step
        g_t = sigmoid(W_gh h_{t-1} + W_gx x_t + b_g)       # update gate
        h_t = g_t * h_{t-1} + (1 - g_t) * c_t

    ``weight_ih = [W_cx; W_gx]`` ``(2H, I)``, ``weight_hh = [W_ch; W_gh]`` ``(2H, H)``, ``bias = [b_c; b_g]``.
    One recurrent product and an elementwise update per step: a :class:`~rnnzoo.core.pointwise.PointwiseCell`
    (the generic Function with ``use_function=True`` reads the closed-form derivatives below).
    ``g_t`` multiplies ``h_{t-1}`` as a GRU's
    ``z`` does in torch's convention and is reported as ``"z"``.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias``.

    Shapes: x_t (B, I); state ``UGRNNState(h (B, H))``; output (B, H).

    Initialisation: every parameter U(-1/sqrt(H), 1/sqrt(H)) (torch.nn.GRU's; the paper tunes initialisation
    scales per task in its hyperparameter search, no default to copy).

    Fast path: :func:`rnnzoo.fused.ugrnn.ugrnn_recurrence` (``FastPath.RNNZOO``: forward without a graph per step,
    a hand-written backward); ``pointwise`` stays the reference.

    Deviations: none in the computation. TensorFlow's ``contrib.rnn.UGRNNCell`` adds a ``forget_bias`` of 1.0 inside
    the gate's sigmoid; the paper's equations have none, and neither has this cell (set ``bias[H:]`` to move the
    gate's operating point).
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(2 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> UGRNNState:
        return UGRNNState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[W_cx x + b_c, W_gx x + b_g]`` for all steps: (..., I) -> (..., 2H)."""
        return linear_projection(x, self.weight_ih, self.bias)

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor, state: UGRNNState) -> UGRNNState:
        uc, ug = u_t.chunk(2, -1)
        rc, rg = r_t.chunk(2, -1)
        c = torch.tanh(uc + rc)
        g = torch.sigmoid(ug + rg)
        self.report("z", g, "sigmoid")
        return UGRNNState(torch.lerp(c, state.h, g))  # g * h + (1 - g) * c

    def pointwise_derivatives(self, u: Tensor, r: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Closed-form tables for the fast path's backward: ``dh'/dr_c = (1 - g)(1 - c^2)``,
        ``dh'/dr_g = (h - c) g (1 - g)``, ``dh'/dh = g`` (rows ``(N, ...)``)."""
        a = u + r
        c = torch.tanh(a[:, :self.hidden_size])
        g = torch.sigmoid(a[:, self.hidden_size:])
        return torch.stack([(1 - g) * (1 - c * c), (h - c) * g * (1 - g)], 1), g

    def pointwise_vjp(self, u: Tensor, r: Tensor, h: Tensor, g: Tensor, dr: Tensor) -> tuple[Tensor, dict]:
        """``u`` enters exactly as ``r`` does: ``du = dr``; ``pointwise`` reads no parameter."""
        return dr, {}

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.ugrnn), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: UGRNNState) -> tuple[Tensor, UGRNNState] | None:
        """The whole sequence through :func:`rnnzoo.fused.ugrnn.ugrnn_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = ugrnn_recurrence(steps.u, self.weight_hh, state.h, steps.mask)
        return out, UGRNNState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``W_ch`` (tanh) and ``W_gh`` (sigmoid)."""
        return gate_blocks(self.weight_hh, ("c", "g"), ("tanh", "sigmoid"))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


register("ugrnn", paper=Paper("Collins, Sohl-Dickstein & Sussillo", 2017,
                               "Capacity and trainability in recurrent neural networks", "1611.09913"),
         seed_equations="none (not in the seeds)",
         description="Vanilla-RNN candidate interpolated with h_{t-1} by one update gate",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.UGRNN",))(UGRNNCell)
