"""Addition-subtraction twin-gated recurrent network (ATR): two weight matrices, input and forget gates from their
sum and difference."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.atr import atr_recurrence


class ATRState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class ATRCell(PointwiseCell):
    r"""ATR (Zhang, Xiong, Su, Lin & Zhang 2018, "Simplifying neural machine translation with addition-subtraction
    twin-gated recurrent networks", EMNLP 2018, arXiv:1810.12546), as its authors correct the paper::

        p_t = weight_ih @ x_t                       # the input's projection (W)
        q_t = weight_hh @ h_{t-1} + bias            # the history's projection (U)
        i_t = sigmoid(p_t + q_t)                    # input gate: the addition
        f_t = sigmoid(p_t - q_t)                    # forget gate: the subtraction, input minus history
        h_t = i_t * p_t + f_t * h_{t-1}

    The paper prints the forget gate the other way round (history minus input, with ``p`` and ``q`` named the
    other way); the authors' README (github.com/bzhangGo/ATR) says that is a typo in the paper, that the order
    "is very important and sensitive" (the history must be subtracted so that it can hold the forget gate down and
    keep ``h`` from exploding), and their code (the Zero toolkit's ``rnns/atr.py``) computes the form above, with
    no bias on ``p`` and the linear layer's bias on ``q``. This cell follows the corrected form.

    One recurrent product and an elementwise update per step: a :class:`~rnnzoo.core.pointwise.PointwiseCell`
    (the generic Function with ``use_function=True`` reads the closed-form derivatives below);
    gates reported as ``"i"`` and ``"f"``.

    Fast path: :func:`rnnzoo.fused.atr.atr_recurrence` (``FastPath.RNNZOO``: forward without a graph per step,
    a hand-written backward); ``pointwise`` stays the reference.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias`` (on ``q_t``, as the authors' code).

    Shapes: x_t (B, I); state ``ATRState(h (B, H))``; output (B, H).

    Initialisation: every parameter U(-1/sqrt(H), 1/sqrt(H)) (torch.nn.RNN's; the paper states none).

    Deviations: the forget gate is the authors' correction of the printed equation (above), not the printed one.
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> ATRState:
        return ATRState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``p_t = weight_ih @ x_t`` for all steps: (..., I) -> (..., H)."""
        return x @ self.weight_ih.t()

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor, state: ATRState) -> ATRState:
        q = r_t if self.bias is None else r_t + self.bias
        i = torch.sigmoid(u_t + q)
        f = torch.sigmoid(u_t - q)
        self.report("i", i, "sigmoid")
        self.report("f", f, "sigmoid")
        return ATRState(i * u_t + f * state.h)

    def pointwise_derivatives(self, u: Tensor, r: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Closed-form tables for the fast path's backward: ``dh'/dq = p i (1 - i) - h f (1 - f)``, ``dh'/dh = f``."""
        q = r if self.bias is None else r + self.bias
        i, f = torch.sigmoid(u + q), torch.sigmoid(u - q)
        return (u * i * (1 - i) - h * f * (1 - f)).unsqueeze(1), f

    def pointwise_vjp(self, u: Tensor, r: Tensor, h: Tensor, g: Tensor, dr: Tensor) -> tuple[Tensor, dict]:
        """``du = g (i + p i (1 - i) + h f (1 - f))``; ``d bias = sum dr`` (the bias enters as ``r`` does)."""
        q = r if self.bias is None else r + self.bias
        i, f = torch.sigmoid(u + q), torch.sigmoid(u - q)
        grads = {"bias": dr.sum(0)} if self.bias is not None else {}
        return g * (i + u * i * (1 - i) + h * f * (1 - f)), grads

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.atr), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: ATRState) -> tuple[Tensor, ATRState] | None:
        """The whole sequence through :func:`rnnzoo.fused.atr.atr_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = atr_recurrence(steps.u, self.weight_hh, self.bias, state.h, steps.mask)
        return out, ATRState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``U`` (feeds both sigmoid gates)."""
        return [RecurrentBlock("weight_hh", self.weight_hh, "sigmoid", True, "weight_hh")]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


register("atr", paper=Paper("Zhang, Xiong, Su, Lin & Zhang", 2018,
                             "Simplifying neural machine translation with addition-subtraction twin-gated recurrent "
                             "networks", "1810.12546"),
         seed_equations="none (not in the seeds)",
         description="Two weight matrices; input and forget gates from the sum and difference of their products",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.ATR",))(ATRCell)
