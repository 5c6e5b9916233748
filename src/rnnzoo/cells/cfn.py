r"""The chaos-free network (CFN) of Laurent & von Brecht 2017, "A recurrent neural network without chaos"
(arXiv:1612.06212, ICLR 2017): a gated cell whose state, without input, decays monotonically to zero (no chaotic
attractor), shown to match the LSTM on word-level language modelling."""

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
from rnnzoo.fused.cfn import cfn_recurrence


class CFNState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class CFNCell(PointwiseCell):
    r"""Chaos-free network (Laurent & von Brecht 2017, arXiv:1612.06212, sec. 1, the CFN's defining equations)::

        theta_t = sigmoid(U_theta h_{t-1} + V_theta x_t + b_theta)     # the "horizontal" (forget) gate
        eta_t   = sigmoid(U_eta h_{t-1} + V_eta x_t + b_eta)           # the "vertical" (input) gate
        h_t     = theta_t * tanh(h_{t-1}) + eta_t * tanh(W x_t)        # no recurrent matrix inside the tanh

    ``weight_ih`` stacks ``[V_theta; V_eta; W]`` ``(3H, I)``; ``weight_hh`` stacks ``[U_theta; U_eta]``
    ``(2H, H)``; ``bias`` is ``[b_theta; b_eta]`` (the candidate ``tanh(W x_t)`` has none). One recurrent product
    per step and a unit-local update (a :class:`~rnnzoo.core.pointwise.PointwiseCell`).

    Args:
        input_size: I. hidden_size: H. bias: learn ``b_theta, b_eta``.

    Shapes: x_t (B, I); state ``CFNState(h (B, H))``; output (B, H).

    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias (``torch.nn.GRU``'s default; the paper
    gives no cell-level scheme beyond its language-model setups).

    Fast path: :func:`rnnzoo.fused.cfn.cfn_recurrence` (``FastPath.RNNZOO``: forward without a graph per step,
    every tanh as ``2 * sigmoid(2x) - 1`` into preallocated buffers, a hand-written backward); ``pointwise`` stays
    the reference.

    Deviations: none in the equations (``bias=False`` drops the gates' biases, which the paper has).

    Example:
        >>> import torch, rnnzoo
        >>> cell = rnnzoo.create("cfn", input_size=3, hidden_size=4).cell
        >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))  # [V_theta; V_eta; W]
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size))  # [U_theta; U_eta]
        self.bias = nn.Parameter(torch.empty(2 * hidden_size)) if bias else None  # [b_theta; b_eta]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> CFNState:
        return CFNState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[V_theta x + b_theta, V_eta x + b_eta, W x]``: (..., I) -> (..., 3H)."""
        bias = None if self.bias is None else torch.cat([self.bias, self.bias.new_zeros(self.hidden_size)])
        return linear_projection(x, self.weight_ih, bias)  # one product with the bias, no sequence-sized add

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: CFNState) -> CFNState:
        assert r_t is not None
        ut, ue, ux = u_t.chunk(3, -1)
        rt, re = r_t.chunk(2, -1)
        theta = torch.sigmoid(ut + rt)
        eta = torch.sigmoid(ue + re)
        self.report("f", theta, "sigmoid")  # theta_t: forget-like gate on tanh(h)
        self.report("i", eta, "sigmoid")  # eta_t: input-like gate
        return CFNState(theta * torch.tanh(state.h) + eta * torch.tanh(ux))

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.cfn), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: CFNState) -> tuple[Tensor, CFNState] | None:
        """The whole sequence through :func:`rnnzoo.fused.cfn.cfn_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = cfn_recurrence(steps.u, self.weight_hh, state.h, steps.mask)
        return out, CFNState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``U_theta`` and ``U_eta`` (both sigmoid)."""
        return gate_blocks(self.weight_hh, ("theta", "eta"), ("sigmoid", "sigmoid"))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


register("cfn", paper=Paper("Laurent & von Brecht", 2017, "A recurrent neural network without chaos", "1612.06212"),
         seed_equations="none (not in the seeds)",
         description="Chaos-free network: gated tanh(h) decay plus a gated tanh(W x); no matrix inside the tanh",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.CFN",))(CFNCell)
