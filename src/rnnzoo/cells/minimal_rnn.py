"""MinimalRNN: the input mapped once into the latent space, one update gate blending it into the state."""

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
from rnnzoo.fused.minimal_rnn import minimal_rnn_recurrence


class MinimalRNNState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class MinimalRNNCell(PointwiseCell):
    r"""MinimalRNN (Chen 2017, "MinimalRNN: toward more interpretable and trainable recurrent neural networks",
    arXiv:1711.06788), the paper's definition of the cell (its equation numbers were not checked here: the PDF was
    not reachable)::

        z_t = Phi(x_t) = tanh(weight_ih @ x_t + bias_z)                 # the input in the latent space
        u_t = sigmoid(weight_hh @ h_{t-1} + weight_hz @ z_t + bias_u)   # update gate (U_h, U_z, b_u)
        h_t = u_t * h_{t-1} + (1 - u_t) * z_t

    ``z_t`` reads only ``x_t``, so ``project`` computes ``z_t`` and ``weight_hz @ z_t + bias_u`` for all steps at
    once; the step is one product ``weight_hh @ h_{t-1}`` and an elementwise update (a
    :class:`~rnnzoo.core.pointwise.PointwiseCell`; the generic Function with ``use_function=True`` reads the
    closed-form derivatives below).
    The gate ``u_t`` multiplies ``h_{t-1}`` as a GRU's ``z`` does in torch's convention and is reported as ``"z"``.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias_z`` and ``bias_u``.

    Shapes: x_t (B, I); state ``MinimalRNNState(h (B, H))``; output (B, H).

    Initialisation: every parameter U(-1/sqrt(H), 1/sqrt(H)) (torch.nn.RNN's). The paper's mean-field
    (critical) initialisation is not reproduced; ``cell.initialize(scheme)``'s block schemes act on ``weight_hh``.

    Fast path: :func:`rnnzoo.fused.minimal_rnn.minimal_rnn_recurrence` (``FastPath.RNNZOO``: forward without a
    graph per step, a hand-written backward); ``pointwise`` stays the reference.

    Deviations: ``Phi`` is the one-layer ``tanh(W x + b)`` encoder (the paper allows any encoder, including the
    identity or a deeper network; a deeper encoder is a layer in front of this cell).
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hz = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias_z = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.bias_u = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> MinimalRNNState:
        return MinimalRNNState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[z_t, weight_hz @ z_t + bias_u]`` for all steps: (..., I) -> (..., 2H)."""
        flat = x.reshape(-1, x.shape[-1])
        pre = flat @ self.weight_ih.t() if self.bias_z is None else torch.addmm(self.bias_z, flat, self.weight_ih.t())
        z = torch.tanh(pre)
        a = z @ self.weight_hz.t() if self.bias_u is None else torch.addmm(self.bias_u, z, self.weight_hz.t())
        return torch.cat([z, a], -1).view(*x.shape[:-1], 2 * self.hidden_size)

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor, state: MinimalRNNState) -> MinimalRNNState:
        z, a = u_t.chunk(2, -1)
        gate = torch.sigmoid(a + r_t)
        self.report("z", gate, "sigmoid")
        return MinimalRNNState(torch.lerp(z, state.h, gate))  # u * h + (1 - u) * z

    def pointwise_derivatives(self, u: Tensor, r: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Closed-form tables for the fast path's backward: ``dh'/dr = (h - z) u (1 - u)``, ``dh'/dh = u``."""
        z, a = u.chunk(2, -1)
        gate = torch.sigmoid(a + r)
        return ((h - z) * gate * (1 - gate)).unsqueeze(1), gate

    def pointwise_vjp(self, u: Tensor, r: Tensor, h: Tensor, g: Tensor, dr: Tensor) -> tuple[Tensor, dict]:
        """``du = [g (1 - u_t), dr]`` (``z`` is blended in, ``a`` enters as ``r``); no parameter in ``pointwise``."""
        z, a = u.chunk(2, -1)
        gate = torch.sigmoid(a + r)
        return torch.cat([g * (1 - gate), dr], -1), {}

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.minimal_rnn), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: MinimalRNNState) -> tuple[Tensor, MinimalRNNState] | None:
        """The whole sequence through :func:`rnnzoo.fused.minimal_rnn.minimal_rnn_recurrence` (raw-tensor forward,
        hand-written backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = minimal_rnn_recurrence(steps.u, self.weight_hh, state.h, steps.mask)
        return out, MinimalRNNState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``U_h`` (feeds the sigmoid gate)."""
        return [RecurrentBlock("weight_hh", self.weight_hh, "sigmoid", True, "weight_hh")]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias_z is not None}"


register("minimal_rnn", paper=Paper("Chen", 2017, "MinimalRNN: toward more interpretable and trainable recurrent "
                                                  "neural networks", "1711.06788"),
         seed_equations="none (not in the seeds)",
         description="Input encoded once to the latent space; one update gate blends it with h_{t-1}",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.MinimalRNN",))(MinimalRNNCell)
