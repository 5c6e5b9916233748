"""Minimal gated unit (MGU): a GRU with one gate, the forget gate doing the work of both."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Cell, Steps, linear_projection
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.mgu import mgu_recurrence


class MGUState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class MGUCell(Cell):
    r"""MGU (Zhou, Wu, Zhang & Zhou 2016, "Minimal gated unit for recurrent neural networks", arXiv:1603.09420;
    Int. J. Automation and Computing 13(3)), the paper's MGU equations (the GRU with its update and reset gates
    merged into one forget gate; the paper's equation numbers were not checked here, its PDF was not reachable)::

        f_t  = sigmoid(W_f x_t + U_f h_{t-1} + b_f)                  # the one gate
        hc_t = tanh(W_h x_t + U_h (f_t * h_{t-1}) + b_h)             # candidate: f_t also acts as the reset gate
        h_t  = (1 - f_t) * h_{t-1} + f_t * hc_t

    The paper writes the products on the concatenation ``[h_{t-1}, x_t]``; here ``weight_ih = [W_f; W_h]``
    ``(2H, I)``, ``weight_hh = [U_f; U_h]`` ``(2H, H)``, ``bias = [b_f; b_h]`` ``(2H,)`` (one bias per gate, as
    the paper has). The gate is reported as ``"f"``.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias`` (the paper has it).

    Shapes: x_t (B, I); state ``MGUState(h (B, H))``; output (B, H).

    Initialisation: every parameter U(-1/sqrt(H), 1/sqrt(H)) (torch.nn.GRU's; the paper states none).

    Fast path: :func:`rnnzoo.fused.mgu.mgu_recurrence` (``FastPath.RNNZOO``: forward without a graph per step, a
    hand-written backward). The candidate's recurrent product ``U_h (f_t * h_{t-1})`` comes after the gate, a second
    product per step that reads the gate of every unit, so the cell is not a
    :class:`~rnnzoo.core.pointwise.PointwiseCell`; ``project`` hoists ``W x + b`` out of the loop.

    Deviations: none in the computation. (torchrecurrent's ``MGUCell`` computes the same function with a second,
    redundant bias ``b_hh`` beside ``b_ih``; ``docs/torchrecurrent_gated.md``.)
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

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> MGUState:
        return MGUState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[W_f x + b_f, W_h x + b_h]`` for all steps: (..., I) -> (..., 2H)."""
        return linear_projection(x, self.weight_ih, self.bias)

    def step(self, u_t: Tensor, state: MGUState) -> tuple[Tensor, MGUState]:
        H = self.hidden_size
        h = state.h
        uf, uh = u_t.split(H, -1)
        f = torch.sigmoid(torch.addmm(uf, h, self.weight_hh[:H].t()))
        self.report("f", f, "sigmoid")
        hc = torch.tanh(torch.addmm(uh, f * h, self.weight_hh[H:].t()))
        new = torch.lerp(h, hc, f)  # (1 - f) * h + f * hc
        return new, MGUState(new)

    fused_kind = "rnnzoo"

    def fused(self, steps: Steps, state: MGUState) -> tuple[Tensor, MGUState] | None:
        """The whole sequence through :func:`rnnzoo.fused.mgu.mgu_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = mgu_recurrence(steps.u, self.weight_hh, state.h, steps.mask)
        return out, MGUState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``U_f`` (sigmoid) and ``U_h`` (tanh; it multiplies ``f_t * h_{t-1}``)."""
        return gate_blocks(self.weight_hh, ("f", "h"), ("sigmoid", "tanh"))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


register("mgu", paper=Paper("Zhou, Wu, Zhang & Zhou", 2016, "Minimal gated unit for recurrent neural networks",
                             "1603.09420"),
         seed_equations="none (not in the seeds)",
         description="GRU with a single forget gate that also resets the candidate's recurrent input",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.MGU",))(MGUCell)
