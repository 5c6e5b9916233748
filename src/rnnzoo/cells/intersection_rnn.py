r"""The intersection RNN (+RNN) of Collins, Sohl-Dickstein & Sussillo 2017, "Capacity and trainability in
recurrent neural networks" (arXiv:1611.09913, ICLR 2017): a cell with separate gated paths for depth (the output
``y_t``, a highway on the input) and for time (the state ``h_t``)."""

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
from rnnzoo.fused.intersection_rnn import intersection_rnn_from_input, intersection_rnn_recurrence


class IntersectionState(NamedTuple):
    """h: (B, H) the recurrent state; y: (B, H) the last output (carried only so that it is a state field: no
    step reads it)."""

    h: Tensor
    y: Tensor


class IntersectionRNNCell(PointwiseCell):
    r"""Intersection RNN (Collins, Sohl-Dickstein & Sussillo 2017, arXiv:1611.09913, sec. 2.1 and appendix)::

        yin_t = ReLU(W_yx x_t + W_yh h_{t-1} + b_y)             # depth candidate
        hin_t = tanh(W_hx x_t + W_hh h_{t-1} + b_h)             # recurrent candidate
        gy_t  = sigmoid(W_gyx x_t + W_gyh h_{t-1} + b_gy)        # depth gate
        gh_t  = sigmoid(W_ghx x_t + W_ghh h_{t-1} + b_gh)        # recurrent gate
        y_t   = gy_t * x_t + (1 - gy_t) * yin_t                 # the output: a highway on the input
        h_t   = gh_t * h_{t-1} + (1 - gh_t) * hin_t             # the state

    ``weight_ih`` stacks ``[W_yx; W_hx; W_gyx; W_ghx]`` ``(4H, I)``, ``weight_hh`` the four ``W_*h`` ``(4H, H)``,
    ``bias`` the four biases. One recurrent product per step, unit-local update (``x_t`` enters the update as a
    fifth H-block of ``project``).

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias``.

    Shapes: x_t (B, I); state ``IntersectionState(h (B, H), y (B, H))``; output y (B, H).

    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias (rnnzoo's choice).

    Fast path: :mod:`rnnzoo.fused.intersection_rnn` (``FastPath.RNNZOO``: forward without a graph per step, a
    hand-written backward). From ``x`` itself (:func:`~rnnzoo.fused.intersection_rnn.intersection_rnn_from_input`)
    no ``(T, B, 5H)`` projection is made, and the depth path (``y``, ``gy``), read by no step, gets its update and
    its backward (but for the per-step recurrent product) once for all steps. ``pointwise`` stays the reference.

    Deviations: ``y_t = gy_t * x_t + ...`` needs ``I == H`` (the paper's stacks keep one width). For
    ``input_size != hidden_size`` the carried input is a learned projection ``weight_carry @ x_t`` (``(H, I)``,
    no bias; the highway network's remedy), so a first layer can take any input width; with ``I == H`` there is
    no ``weight_carry`` and the cell is the paper's exactly.

    Example:
        >>> import torch, rnnzoo
        >>> cell = rnnzoo.create("intersection_rnn", input_size=4, hidden_size=4).cell
        >>> rnnzoo.run(cell, torch.randn(2, 5, 4)).output.shape
        torch.Size([2, 5, 4])
    """

    output_field = "y"

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.weight_carry = (nn.Parameter(torch.empty(hidden_size, input_size)) if input_size != hidden_size
                             else None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> IntersectionState:
        spec = TensorSpec((batch_size, self.hidden_size))
        return IntersectionState(spec, spec)

    def project(self, x: Tensor) -> Tensor:
        """``[W_yx x + b_y, W_hx x + b_h, W_gyx x + b_gy, W_ghx x + b_gh, carry(x)]``: (..., I) -> (..., 5H)."""
        if self.weight_carry is None:
            return torch.cat([linear_projection(x, self.weight_ih, self.bias), x], -1)
        bias = None if self.bias is None else torch.cat([self.bias, self.bias.new_zeros(self.hidden_size)])
        return linear_projection(x, torch.cat([self.weight_ih, self.weight_carry]), bias)

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: IntersectionState) -> IntersectionState:
        assert r_t is not None
        uy, uh, ugy, ugh, carry = u_t.chunk(5, -1)
        ry, rh, rgy, rgh = r_t.chunk(4, -1)
        gy = torch.sigmoid(ugy + rgy)
        gh = torch.sigmoid(ugh + rgh)
        self.report("gy", gy, "sigmoid")
        self.report("z", gh, "sigmoid")  # the state's update gate, under the GRU's name
        y = gy * carry + (1.0 - gy) * torch.relu(uy + ry)
        h = gh * state.h + (1.0 - gh) * torch.tanh(uh + rh)
        return IntersectionState(h, y)

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.intersection_rnn), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: IntersectionState) -> tuple[Tensor, IntersectionState] | None:
        """The whole sequence through :func:`rnnzoo.fused.intersection_rnn.intersection_rnn_from_input` (from ``x``,
        when the runner has not projected it yet) or :func:`~rnnzoo.fused.intersection_rnn.intersection_rnn_recurrence`
        (from ``u``): raw-tensor forward, hand-written backward; the step loop is their reference twin. ``y`` feeds
        no step: the state's ``y`` is the output of the last valid step (``state.y`` where a row has none), read from
        the output."""
        x, mask = steps.x, steps.mask
        if (not steps.projected and type(self).project is IntersectionRNNCell.project and isinstance(x, Tensor)
                and x.dim() == 3):  # no (T, B, 5H) u made at all (a subclass's own project is honoured: the u path)
            carry = None if self.weight_carry is None else x @ self.weight_carry.t()
            y, h = intersection_rnn_from_input(x, self.weight_ih, self.bias, self.weight_hh, state.h, carry, mask)
        else:
            u = steps.u
            if not isinstance(u, Tensor):
                return None
            y, h = intersection_rnn_recurrence(u, self.weight_hh, state.h, mask)
        T, B, H = y.shape
        if T == 0:
            return y, IntersectionState(h, state.y)
        if mask is None:
            return y, IntersectionState(h, y[-1])
        steps_idx = torch.arange(1, T + 1, device=y.device).unsqueeze(1)
        last = (mask * steps_idx).amax(0)  # (B,): 1 + the last valid step, 0 where a row has none
        at = y.gather(0, (last - 1).clamp(min=0).view(1, B, 1).expand(1, B, H))[0]
        return y, IntersectionState(h, torch.where((last > 0).unsqueeze(1), at, state.y))

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``W_yh`` (relu), ``W_hh`` (tanh), ``W_gyh`` and ``W_ghh`` (sigmoid)."""
        return gate_blocks(self.weight_hh, ("y", "h", "gy", "gh"), ("relu", "tanh", "sigmoid", "sigmoid"))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


register("intersection_rnn", paper=Paper("Collins, Sohl-Dickstein & Sussillo", 2017,
                                         "Capacity and trainability in recurrent neural networks", "1611.09913"),
         seed_equations="none (not in the seeds)",
         description="Intersection RNN: a gated highway output (depth) beside a gated tanh state (time)",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.IntersectionRNN",))(IntersectionRNNCell)
