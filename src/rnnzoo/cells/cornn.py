"""Coupled oscillatory RNN (coRNN; Rusch & Mishra 2021, arXiv:2010.00951): an implicit-explicit discretisation of a
network of damped, driven nonlinear oscillators, whose states and gradients stay bounded."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args, real
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.cornn import cornn_recurrence


class CoRNNState(NamedTuple):
    """y: (B, H) the oscillators' positions (the hidden state, also the output); z: (B, H) their velocities."""

    y: Tensor
    z: Tensor


class CoRNNCell(PointwiseCell):
    r"""coRNN (Rusch & Mishra 2021, arXiv:2010.00951, eq (3), the IMEX discretisation of the oscillator ODE (1))::

        s_t = tanh(W y_{t-1} + Wz z_{t-1} + V x_t + b)                                 # [W, Wz] = weight_hh (H, 2H)
        z_t = z_{t-1} + dt * s_t - dt * gamma * y_{t-1} - dt * epsilon * z_t           # eq (3): damping implicit
            = (z_{t-1} + dt * (s_t - gamma * y_{t-1})) / (1 + dt * epsilon)
        y_t = y_{t-1} + dt * z_t

    ``weight_ih`` is ``V`` ``(H, I)``, ``weight_hh`` is ``[W, Wz]`` (the product reads ``concat(y, z)``), ``bias``
    is ``b``. Not in the seeds.

    Args:
        input_size: I. hidden_size: H.
        dt: the time step (> 0). gamma: the oscillators' stiffness (> 0). epsilon: their damping (> 0).
            Defaults 0.076, 0.4, 8.0: the authors' permuted sequential MNIST setting (their sequential MNIST uses
            0.042, 2.7, 4.7; their adding problem at T = 100 0.06, 66, 15).
        bias: learn ``bias``.

    Initialisation: every parameter U(-k, k), ``k = 1/sqrt(I + 2H)``: the authors' code, one torch.nn.Linear on
    ``concat(x, z, y)``.

    Shapes: x_t (B, I); state ``CoRNNState(y (B, H), z (B, H))``; output y (B, H).

    Fast path: :func:`rnnzoo.fused.cornn.cornn_recurrence`, one product with ``[W, Wz]`` per step and a
    hand-written backward (the :class:`~rnnzoo.core.pointwise.PointwiseCell` step loop is its reference twin).

    Deviations: none from eq (3). The authors' released code (and torchrecurrent) damp with the OLD velocity,
    ``- dt * epsilon * z_{t-1}`` (explicit Euler), which is a different map for the same weights; here the
    paper's implicit term, the one its energy and gradient bounds are proved for.

    >>> import torch, rnnzoo
    >>> cell = CoRNNCell(3, 8)
    >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
    torch.Size([2, 5, 8])
    """

    fused_kind = "rnnzoo"  # its own Function (a hand-written backward), not PointwiseCell's default loop

    recurrent_fields = ("y", "z")
    output_field = "y"

    def __init__(self, input_size: int, hidden_size: int, *, dt: float = 0.076, gamma: float = 0.4,
                 epsilon: float = 8.0, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        for name, value in (("dt", dt), ("gamma", gamma), ("epsilon", epsilon)):
            if real(name, value) <= 0:
                raise ValueError(f"{name}: expected a number > 0, got {value!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.dt, self.gamma, self.epsilon = float(dt), float(gamma), float(epsilon)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # V
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, 2 * hidden_size))  # [W, Wz]
        self.bias = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.input_size + 2 * self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> CoRNNState:
        return CoRNNState(TensorSpec((batch_size, self.hidden_size)), TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``V x + b`` for all steps: (..., I) -> (..., H)."""
        flat = x.reshape(-1, x.shape[-1])
        out = flat @ self.weight_ih.t() if self.bias is None else torch.addmm(self.bias, flat, self.weight_ih.t())
        return out.view(*x.shape[:-1], self.hidden_size)

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor, state: CoRNNState) -> CoRNNState:
        c = 1.0 / (1.0 + self.dt * self.epsilon)  # z_t = c z_{t-1} + c dt (s_t - gamma y_{t-1}): eq (3) solved for z_t
        s = torch.tanh(u_t + r_t)
        z = torch.add(state.z * c, s.sub(state.y, alpha=self.gamma), alpha=c * self.dt)
        return CoRNNState(torch.add(state.y, z, alpha=self.dt), z)

    def fused(self, steps: Steps, state: CoRNNState) -> tuple[Tensor, CoRNNState] | None:
        """The whole sequence: ``u`` in one product (``steps.u``), then :func:`~rnnzoo.fused.cornn.cornn_recurrence`."""
        if not isinstance(steps.u, Tensor):
            return None
        out, y, z = cornn_recurrence(steps.u, state.y, state.z, self.weight_hh, self.dt, self.gamma, self.epsilon,
                                     steps.mask)
        return out, CoRNNState(y, z)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``W`` (reads y) and ``Wz`` (reads z), both feeding the tanh."""
        H = self.hidden_size
        return [RecurrentBlock("weight_hh[W]", self.weight_hh[:, :H], "tanh", True, "weight_hh"),
                RecurrentBlock("weight_hh[Wz]", self.weight_hh[:, H:], "tanh", True, "weight_hh")]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, dt={self.dt}, gamma={self.gamma}, epsilon={self.epsilon}, "
                f"bias={self.bias is not None}")


_PAPER = Paper("Rusch & Mishra", 2021, "Coupled oscillatory recurrent neural network (coRNN): an accurate and "
               "(gradient) stable architecture for learning long time dependencies", "2010.00951")
register("cornn", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="Damped driven nonlinear oscillators (position y, velocity z), IMEX-discretised",
         fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.coRNN",))(CoRNNCell)
