r"""The STAckable Recurrent cell (STAR) of Turkoglu, D'Aronco, Wegner & Schindler 2021, "Gating revisited: deep
multi-layer RNNs that can be trained" (arXiv:1911.11033, IEEE TPAMI): one gate, built so that gradients neither
vanish nor explode along the depth of a deep stack."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Steps, linear_projection
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.star import star_recurrence


class STARState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class STARCell(PointwiseCell):
    r"""STAR (Turkoglu et al. 2021, arXiv:1911.11033, sec. 4, "STAckable Recurrent (STAR) unit")::

        z_t = tanh(W_z x_t + b_z)                               # the new input, from x only
        k_t = sigmoid(W_x x_t + W_h h_{t-1} + b_k)              # the one gate
        h_t = tanh((1 - k_t) * h_{t-1} + k_t * z_t)

    ``weight_ih`` stacks ``[W_z; W_x]`` ``(2H, I)``; ``weight_hh`` is ``W_h`` ``(H, H)``; ``bias`` is
    ``[b_z; b_k]``. One recurrent product per step, unit-local update.

    Args:
        input_size: I. hidden_size: H. bias: learn ``b_z, b_k``.

    Shapes: x_t (B, I); state ``STARState(h (B, H))``; output (B, H).

    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) for the weights, zero biases (rnnzoo's choice; the paper's code also
    offers a chrono initialisation of ``b_k``, not reproduced here).

    Fast path: :func:`rnnzoo.fused.star.star_recurrence` (``FastPath.RNNZOO``: forward without a graph per step,
    every tanh as ``2 * sigmoid(2x) - 1`` into preallocated buffers, a hand-written backward); ``pointwise`` stays
    the reference.

    Deviations: none in the equations (``bias=False`` drops ``b_z, b_k``). The paper's deep stacks sometimes add
    batch normalisation between layers (its "bn-star"): a model-level choice, not the cell's.

    Example:
        >>> import torch, rnnzoo
        >>> cell = rnnzoo.create("star", input_size=3, hidden_size=4).cell
        >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))  # [W_z; W_x]
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # W_h
        self.bias = nn.Parameter(torch.empty(2 * hidden_size)) if bias else None  # [b_z; b_k]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -k, k)
        nn.init.uniform_(self.weight_hh, -k, k)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> STARState:
        return STARState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[W_z x + b_z, W_x x + b_k]``: (..., I) -> (..., 2H)."""
        return linear_projection(x, self.weight_ih, self.bias)

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: STARState) -> STARState:
        assert r_t is not None
        uz, uk = u_t.chunk(2, -1)
        k = torch.sigmoid(uk + r_t)
        self.report("z", k, "sigmoid")  # k_t, the update gate, under the GRU's name
        return STARState(torch.tanh((1.0 - k) * state.h + k * torch.tanh(uz)))

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.star), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: STARState) -> tuple[Tensor, STARState] | None:
        """The whole sequence through :func:`rnnzoo.fused.star.star_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = star_recurrence(steps.u, self.weight_hh, state.h, steps.mask)
        return out, STARState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``W_h`` (sigmoid, the gate's)."""
        return [RecurrentBlock("weight_hh[k]", self.weight_hh, "sigmoid", True, "weight_hh")]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


register("star", paper=Paper("Turkoglu, D'Aronco, Wegner & Schindler", 2021,
                             "Gating revisited: deep multi-layer RNNs that can be trained", "1911.11033"),
         seed_equations="none (not in the seeds)",
         description="STAckable Recurrent unit: one gate blending h and tanh(W x) under a tanh, for deep stacks",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.STAR",)
         )(STARCell)
