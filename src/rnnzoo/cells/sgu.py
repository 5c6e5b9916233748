"""Simple gated unit (SGU) and deep simple gated unit (DSGU): one multiplicative gate path and one update gate."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Cell, Steps, linear_projection
from rnnzoo.core.checks import check_cell_args, real
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.sgu import sgu_recurrence


class SGUState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


def hard_sigmoid(x: Tensor, slope: float) -> Tensor:
    """``clamp(slope * x + 0.5, 0, 1)``: Theano's and Keras's hard sigmoid with ``slope`` 0.2, torch's
    ``Hardsigmoid`` with 1/6."""
    return torch.clamp(x * slope + 0.5, 0.0, 1.0)


class SGUCell(Cell):
    r"""SGU (Gao & Glowacka 2016, "Deep gate recurrent neural network", ACML 2016, PMLR 63, arXiv:1604.02910), the
    paper's SGU equations (as its PMLR version prints them; equation numbers not checked here)::

        x_g   = W_xh x_t + b_g                                  # the input's gate path
        z_g   = tanh(W_zxh (x_g * h_{t-1}))                     # sigma_1: input and state multiplied, then mixed
        z_out = softplus(z_g * h_{t-1})                         # sigma_2: multiplied by the state once more
        z_t   = hard_sigmoid(W_xz x_t + b_z + W_hz h_{t-1})     # sigma_3: the update gate
        h_t   = (1 - z_t) * h_{t-1} + z_t * z_out

    ``weight_ih = [W_xh; W_xz]`` ``(2H, I)``, ``bias = [b_g; b_z]``, ``weight_hg = W_zxh`` ``(H, H)``,
    ``weight_hz = W_hz`` ``(H, H)``. The gate ``z_t`` is reported as ``"z"``.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias`` (``b_g`` and ``b_z``, the paper's two biases).
        hard_slope: the hard sigmoid's slope (default 0.2, the hard sigmoid of Theano and Keras, the frameworks
            of the paper's time; torch's ``Hardsigmoid`` is slope 1/6).

    Shapes: x_t (B, I); state ``SGUState(h (B, H))``; output (B, H).

    Initialisation: every parameter U(-1/sqrt(H), 1/sqrt(H)) (torch.nn.GRU's; the paper states none).

    Fast path: :func:`rnnzoo.fused.sgu.sgu_recurrence` (``FastPath.RNNZOO``: forward without a graph per step, a
    hand-written backward). ``W_zxh`` multiplies ``x_g * h_{t-1}``, a product of the state modulated by the input,
    so the cell is not a :class:`~rnnzoo.core.pointwise.PointwiseCell`; ``project`` hoists ``W x + b`` out of the loop
    and the two state products ``W_hz h`` and ``W_zxh (x_g h)`` are taken at each step.

    Deviations / provenance: the paper names the activations sigma_1, sigma_2, sigma_3; tanh, softplus and the
    hard sigmoid are the reading of its figures that torchrecurrent also takes (the PDF's text was not reachable
    here to re-check them). The hard sigmoid's slope is the one point where that reading and torchrecurrent
    differ (torch's 1/6 there); ``hard_slope`` selects either.
    """

    output_activation = "softplus"
    deep = False

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, hard_slope: float = 0.2) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        slope = real("hard_slope", hard_slope)
        if slope <= 0:
            raise ValueError(f"hard_slope: expected a positive slope, got {hard_slope!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.hard_slope = slope
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))
        self.weight_hg = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.weight_hz = nn.Parameter(torch.empty(hidden_size, hidden_size))
        if self.deep:
            self.weight_go = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(2 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> SGUState:
        return SGUState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[W_xh x + b_g, W_xz x + b_z]`` for all steps: (..., I) -> (..., 2H)."""
        return linear_projection(x, self.weight_ih, self.bias)

    def gated_output(self, zh: Tensor) -> Tensor:
        """``z_out`` from ``z_g * h_{t-1}``: SGU's softplus."""
        return F.softplus(zh)

    def step(self, u_t: Tensor, state: SGUState) -> tuple[Tensor, SGUState]:
        h = state.h
        xg, xz = u_t.chunk(2, -1)
        zg = torch.tanh((xg * h) @ self.weight_hg.t())
        zout = self.gated_output(zg * h)
        z = hard_sigmoid(torch.addmm(xz, h, self.weight_hz.t()), self.hard_slope)
        self.report("z", z, "sigmoid")
        new = torch.lerp(h, zout, z)  # (1 - z) * h + z * z_out
        return new, SGUState(new)

    fused_kind = "rnnzoo"

    def fused(self, steps: Steps, state: SGUState) -> tuple[Tensor, SGUState] | None:
        """The whole sequence through :func:`rnnzoo.fused.sgu.sgu_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        Wo = self.weight_go if self.deep else None
        out, h = sgu_recurrence(steps.u, self.weight_hg, self.weight_hz, Wo, state.h, self.hard_slope, steps.mask)
        return out, SGUState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``W_hz`` (the hard-sigmoid gate; listed as "sigmoid", whose gamma 1/4 bounds the slope 0.2 or 1/6 from
        above) and ``W_zxh`` (tanh; it multiplies ``x_g * h_{t-1}``)."""
        return [RecurrentBlock("weight_hz", self.weight_hz, "sigmoid", True, "weight_hz"),
                RecurrentBlock("weight_hg", self.weight_hg, "tanh", True, "weight_hg")]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}, "
                f"hard_slope={self.hard_slope}")


class DSGUCell(SGUCell):
    r"""DSGU, the deep simple gated unit of the same paper (Gao & Glowacka 2016, arXiv:1604.02910): SGU with a
    learned projection before the output activation::

        x_g   = W_xh x_t + b_g
        z_g   = tanh(W_zxh (x_g * h_{t-1}))
        z_out = sigmoid(W_go (z_g * h_{t-1}))                   # the "deep" step: one more matrix, sigmoid
        z_t   = hard_sigmoid(W_xz x_t + b_z + W_hz h_{t-1})
        h_t   = (1 - z_t) * h_{t-1} + z_t * z_out

    ``weight_go = W_go`` ``(H, H)`` (no bias, as the paper); the rest as :class:`SGUCell`.

    Args, Shapes, Initialisation, Fast path (the same Function, with ``W_go``) and Deviations: as
    :class:`SGUCell`.
    """

    deep = True

    def gated_output(self, zh: Tensor) -> Tensor:
        """``z_out = sigmoid(W_go (z_g * h_{t-1}))``."""
        return torch.sigmoid(zh @ self.weight_go.t())

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """SGU's blocks and ``W_go`` (sigmoid)."""
        return [*super().recurrent_blocks(), RecurrentBlock("weight_go", self.weight_go, "sigmoid", True, "weight_go")]


_PAPER = Paper("Gao & Glowacka", 2016, "Deep gate recurrent neural network", "1604.02910")
register("sgu", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="One multiplicative input-state path (softplus) and one hard-sigmoid update gate",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.SGU",))(SGUCell)
register("dsgu", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="SGU with a learned projection and a sigmoid on the multiplicative path",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.DSGU",))(DSGUCell)
