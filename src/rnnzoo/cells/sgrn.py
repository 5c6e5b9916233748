"""Simple gated recurrent network (SGRN): one forget gate, its complement as the input gate, a tanh on the blend."""

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
from rnnzoo.fused.sgrn import sgrn_recurrence


class SGRNState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class SGRNCell(PointwiseCell):
    r"""SGRN (Zu & Wei 2021, "A simple gated recurrent network for detection of power quality disturbances",
    IET Generation, Transmission & Distribution, doi:10.1049/gtd2.12056; no arXiv version)::

        a_t = weight_ih @ x_t + bias                               # the input's projection
        f_t = sigmoid(a_t + weight_hh @ h_{t-1} + bias_f)          # forget gate
        i_t = 1 - f_t                                              # input gate: the forget gate's complement
        h_t = tanh(i_t * a_t + f_t * h_{t-1})

    One recurrent product and an elementwise update per step: a :class:`~rnnzoo.core.pointwise.PointwiseCell`
    (the generic Function with ``use_function=True`` reads the closed-form derivatives below); the gate is reported
    as ``"f"``.

    Fast path: :func:`rnnzoo.fused.sgrn.sgrn_recurrence` (``FastPath.RNNZOO``: forward without a graph per step, a
    hand-written backward); ``pointwise`` stays the reference.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias`` and ``bias_f``.

    Shapes: x_t (B, I); state ``SGRNState(h (B, H))``; output (B, H).

    Initialisation: every parameter U(-1/sqrt(H), 1/sqrt(H)) (torch.nn.RNN's).

    Deviations / provenance: the paper (a journal article without an arXiv version) was not reachable from where
    this cell was written, so neither its equations nor its author list and title (given here for the DOI from
    memory) could be checked against the text: the equations above are the
    ones torchrecurrent 0.2.5 documents for its ``SGRNCell`` (with its two biases, ``bias`` = its ``b_ih``,
    entering the gate and the written value, and ``bias_f`` = its ``b_hh``, the gate only). The tests hold this
    cell to those equations and to torchrecurrent; they cannot tell whether the paper agrees.
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
        self.bias_f = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> SGRNState:
        return SGRNState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``a_t = weight_ih @ x_t + bias`` for all steps: (..., I) -> (..., H)."""
        return linear_projection(x, self.weight_ih, self.bias)

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor, state: SGRNState) -> SGRNState:
        pre = u_t + r_t if self.bias_f is None else u_t + r_t + self.bias_f
        f = torch.sigmoid(pre)
        self.report("f", f, "sigmoid")
        return SGRNState(torch.tanh(torch.lerp(u_t, state.h, f)))  # (1 - f) * a + f * h

    def _gate(self, u: Tensor, r: Tensor) -> Tensor:
        return torch.sigmoid(u + r if self.bias_f is None else u + r + self.bias_f)

    def pointwise_derivatives(self, u: Tensor, r: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Closed-form tables for the fast path's backward: with ``m = (1 - f) a + f h`` and ``d = 1 - tanh(m)^2``,
        ``dh'/dr = d (h - a) f (1 - f)``, ``dh'/dh = d f``."""
        f = self._gate(u, r)
        d = 1 - torch.tanh(torch.lerp(u, h, f)).square()
        return (d * (h - u) * f * (1 - f)).unsqueeze(1), d * f

    def pointwise_vjp(self, u: Tensor, r: Tensor, h: Tensor, g: Tensor, dr: Tensor) -> tuple[Tensor, dict]:
        """``du = g d (1 - f) + dr`` (``a`` is written and enters the gate as ``r`` does); ``d bias_f = sum dr``."""
        f = self._gate(u, r)
        d = 1 - torch.tanh(torch.lerp(u, h, f)).square()
        grads = {"bias_f": dr.sum(0)} if self.bias_f is not None else {}
        return torch.addcmul(dr, g * d, 1 - f), grads

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.sgrn), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: SGRNState) -> tuple[Tensor, SGRNState] | None:
        """The whole sequence through :func:`rnnzoo.fused.sgrn.sgrn_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = sgrn_recurrence(steps.u, self.weight_hh, self.bias_f, state.h, steps.mask)
        return out, SGRNState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``weight_hh`` (feeds the sigmoid gate)."""
        return [RecurrentBlock("weight_hh", self.weight_hh, "sigmoid", True, "weight_hh")]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


register("sgrn", paper=Paper("Zu & Wei", 2021, "A simple gated recurrent network for detection of power quality "
                                               "disturbances (IET Gener. Transm. Distrib., doi:10.1049/gtd2.12056)"),
         seed_equations="none (not in the seeds)",
         description="One forget gate and its complement blend the input projection with h_{t-1}, then tanh",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.SGRN",))(SGRNCell)
