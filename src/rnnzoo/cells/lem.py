"""Long expressive memory (LEM; Rusch, Mishra, Erichson & Mahoney 2022, arXiv:2110.04744): a two-time-scale ODE
discretised with learned, input-dependent time steps."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Cell, Steps, linear_projection
from rnnzoo.core.checks import check_cell_args, real
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.lem import lem_recurrence


class LEMState(NamedTuple):
    """y: (B, H) the fast state (the hidden state, also the output); z: (B, H) the slow state."""

    y: Tensor
    z: Tensor


class LEMCell(Cell):
    r"""LEM (Rusch, Mishra, Erichson & Mahoney 2022, arXiv:2110.04744, eq (3))::

        dt_t    = dt * sigmoid(W1 y_{t-1} + V1 x_t + b1)                       # the time step of z
        dtbar_t = dt * sigmoid(W2 y_{t-1} + V2 x_t + b2)                       # the time step of y
        z_t     = (1 - dt_t) * z_{t-1} + dt_t * tanh(Wz y_{t-1} + Vz x_t + bz)
        y_t     = (1 - dtbar_t) * y_{t-1} + dtbar_t * tanh(Wy z_t + Vy x_t + by)   # z_t: the NEW slow state

    ``weight_ih`` stacks ``[V1; V2; Vz; Vy]`` ``(4H, I)``, ``weight_hh`` stacks ``[W1; W2; Wz]`` ``(3H, H)`` (the
    products with ``y_{t-1}``), ``weight_zy`` is ``Wy`` ``(H, H)``, ``bias`` stacks ``[b1; b2; bz; by]``. Not in the
    seeds.

    Args:
        input_size: I. hidden_size: H.
        dt: the largest time step, in (0, 1] (the update is a convex combination for dt <= 1). Default 1, the
            authors' code's default (their adding problem at T = 10,000 uses 0.0242).
        bias: learn ``bias``.

    Initialisation: every parameter U(-1/sqrt(H), 1/sqrt(H)) (the authors' code).

    Shapes: x_t (B, I); state ``LEMState(y (B, H), z (B, H))``; output y (B, H).

    Fast path: :func:`rnnzoo.fused.lem.lem_recurrence` (``FastPath.RNNZOO``: the forward loop without autograd into
    buffers allocated once, a hand-written backward writing every cotangent of ``u`` into one buffer; the step loop
    is its reference twin). A step makes two dependent products (``Wy z_t`` reads the z just computed), so LEM is
    not a :class:`~rnnzoo.core.pointwise.PointwiseCell`.

    Deviations: none from eq (3). The authors' code has three bias vectors where eq (3) has one per block (the
    same function); here eq (3)'s. torchrecurrent computes ``Wy z_{t-1}`` (the OLD slow state) in y's update,
    which is not eq (3).

    >>> import torch, rnnzoo
    >>> cell = LEMCell(3, 8)
    >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
    torch.Size([2, 5, 8])
    """

    def __init__(self, input_size: int, hidden_size: int, *, dt: float = 1.0, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        if not 0.0 < real("dt", dt) <= 1.0:
            raise ValueError(f"dt: expected a time step in (0, 1], got {dt!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.dt = float(dt)
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size))  # V1, V2, Vz, Vy
        self.weight_hh = nn.Parameter(torch.empty(3 * hidden_size, hidden_size))  # W1, W2, Wz
        self.weight_zy = nn.Parameter(torch.empty(hidden_size, hidden_size))  # Wy
        self.bias = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> LEMState:
        return LEMState(TensorSpec((batch_size, self.hidden_size)), TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[V1; V2; Vz; Vy] x + b`` for all steps: (..., I) -> (..., 4H)."""
        return linear_projection(x, self.weight_ih, self.bias)

    def _update(self, u_t: Tensor, state: LEMState, w_hh_t: Tensor, w_zy_t: Tensor) -> LEMState:
        H = self.hidden_size
        r = state.y @ w_hh_t  # (B, 3H)
        g = torch.sigmoid(u_t[:, :2 * H] + r[:, :2 * H])
        self.report("z", g[:, :H], "sigmoid")  # z's time-step gate
        self.report("y", g[:, H:], "sigmoid")  # y's time-step gate
        dt, dtbar = self.dt * g[:, :H], self.dt * g[:, H:]
        z = torch.lerp(state.z, torch.tanh(u_t[:, 2 * H:3 * H] + r[:, 2 * H:]), dt)
        y = torch.lerp(state.y, torch.tanh(torch.addmm(u_t[:, 3 * H:], z, w_zy_t)), dtbar)
        return LEMState(y, z)

    def step(self, u_t: Tensor, state: LEMState) -> tuple[Tensor, LEMState]:
        new = self._update(u_t, state, self.weight_hh.t(), self.weight_zy.t())
        return new.y, new

    fused_kind = "rnnzoo"
    """The runner's fast path: :meth:`fused`, the hand-written Function of :mod:`rnnzoo.fused.lem`."""

    def fused(self, steps: Steps, state: LEMState) -> tuple[Tensor, LEMState] | None:
        """The whole sequence through :func:`rnnzoo.fused.lem.lem_recurrence` (``u`` in one product, a raw-tensor
        forward, a hand-written backward; the step loop is its reference twin); a masked step keeps the state and
        outputs zero."""
        if not isinstance(steps.u, Tensor):
            return None
        out, y, z = lem_recurrence(steps.u, self.weight_hh, self.weight_zy, state.y, state.z, self.dt, steps.mask)
        return out, LEMState(y, z)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``W1``, ``W2`` (sigmoid), ``Wz`` (tanh) reading y, and ``Wy`` (tanh) reading z."""
        return [*gate_blocks(self.weight_hh, ("dt", "dtbar", "z"), ("sigmoid", "sigmoid", "tanh")),
                RecurrentBlock("weight_zy", self.weight_zy, "tanh", True, "weight_zy")]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, dt={self.dt}, bias={self.bias is not None}"


register("lem", paper=Paper("Rusch, Mishra, Erichson & Mahoney", 2022, "Long expressive memory for sequence modeling",
                            "2110.04744"),
         seed_equations="none (not in the seeds)",
         description="Two-time-scale ODE (slow z, fast y) with learned input-dependent time steps",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.LEM",))(LEMCell)
