"""UnICORNN (Rusch & Mishra 2021, arXiv:2103.05487): undamped independent controlled oscillators, discretised by
symplectic Euler, so the recurrence is elementwise and invertible."""

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
from rnnzoo.fused.unicornn import unicornn_recurrence


class UnICORNNState(NamedTuple):
    """y: (B, H) the positions (the hidden state, also the output); z: (B, H) the velocities."""

    y: Tensor
    z: Tensor


class UnICORNNCell(PointwiseCell):
    r"""UnICORNN (Rusch & Mishra 2021, arXiv:2103.05487, eq (3), the symplectic-Euler step of the Hamiltonian ODE (2))::

        d_t = dt * sigmoid(c)                                                  # a time step per unit, in (0, dt)
        z_t = z_{t-1} - d_t * (tanh(w * y_{t-1} + V x_t + b) + alpha * y_{t-1})
        y_t = y_{t-1} + d_t * z_t

    ``w`` (``weight_hh``, ``(H,)``) is a diagonal recurrent weight, ``c`` (``(H,)``) the learned time-step logits,
    ``weight_ih`` is ``V`` ``(H, I)``, ``bias`` is ``b``. Not in the seeds.

    Args:
        input_size: I. hidden_size: H.
        dt: the largest time step (> 0). alpha: the restoring-force coefficient (>= 0). Defaults 0.19 and 30.65, the
            authors' permuted sequential MNIST setting.
        bias: learn ``bias``.

    Initialisation (the authors' code): ``w ~ U(0, 1)``, ``c ~ U(-0.1, 0.1)``, ``V`` kaiming-uniform with
    ``a = 8`` (U(-k, k), ``k = sqrt(6 / (65 I))``), ``b = 0``.

    Shapes: x_t (B, I); state ``UnICORNNState(y (B, H), z (B, H))``; output y (B, H).

    Fast path: :func:`rnnzoo.fused.unicornn.unicornn_recurrence`, a Function with a hand-written elementwise
    backward (the generic :class:`~rnnzoo.core.pointwise.PointwiseCell` path, whose ``step`` is the reference
    twin, builds derivative tables a cell this simple does not need).

    Deviations: the paper's network stacks several such layers with a linear map between them; this is one layer
    (``rnnzoo.create(..., num_layers=n)`` stacks them). The authors' CUDA kernel recomputes the states backwards in
    time (the scheme is invertible) instead of storing them; the fast path here stores them.

    >>> import torch, rnnzoo
    >>> cell = UnICORNNCell(3, 8)
    >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
    torch.Size([2, 5, 8])
    """

    fused_kind = "rnnzoo"  # its own Function (a hand-written backward), not PointwiseCell's default loop

    recurrent_fields = ("y",)
    output_field = "y"

    def __init__(self, input_size: int, hidden_size: int, *, dt: float = 0.19, alpha: float = 30.65,
                 bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        if real("dt", dt) <= 0:
            raise ValueError(f"dt: expected a time step > 0, got {dt!r}")
        if real("alpha", alpha) < 0:
            raise ValueError(f"alpha: expected a number >= 0, got {alpha!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.dt, self.alpha = float(dt), float(alpha)
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # V
        self.weight_hh = nn.Parameter(torch.empty(hidden_size))  # w
        self.c = nn.Parameter(torch.empty(hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = math.sqrt(6.0 / (65.0 * self.input_size))  # kaiming_uniform_(a=8, mode="fan_in")
        nn.init.uniform_(self.weight_ih, -k, k)
        nn.init.uniform_(self.weight_hh, 0.0, 1.0)
        nn.init.uniform_(self.c, -0.1, 0.1)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> UnICORNNState:
        return UnICORNNState(TensorSpec((batch_size, self.hidden_size)), TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``V x + b`` for all steps: (..., I) -> (..., H)."""
        flat = x.reshape(-1, x.shape[-1])
        out = flat @ self.weight_ih.t() if self.bias is None else torch.addmm(self.bias, flat, self.weight_ih.t())
        return out.view(*x.shape[:-1], self.hidden_size)

    def recurrent_weight(self) -> None:
        return None

    def pointwise(self, u_t: Tensor, r_t: None, state: UnICORNNState) -> UnICORNNState:
        d = self.dt * torch.sigmoid(self.c)
        z = state.z - d * (torch.tanh(torch.addcmul(u_t, self.weight_hh, state.y)) + self.alpha * state.y)
        return UnICORNNState(state.y + d * z, z)

    def fused(self, steps: Steps, state: UnICORNNState) -> tuple[Tensor, UnICORNNState] | None:
        """The whole sequence: ``u`` in one product (``steps.u``), then
        :func:`~rnnzoo.fused.unicornn.unicornn_recurrence`."""
        if not isinstance(steps.u, Tensor):
            return None
        out, y, z = unicornn_recurrence(steps.u, state.y, state.z, self.weight_hh, self.c, self.dt, self.alpha,
                                        steps.mask)
        return out, UnICORNNState(y, z)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``diag(w)`` (read-only: a dense scheme would not keep it diagonal)."""
        return [RecurrentBlock("weight_hh (diag)", torch.diag(self.weight_hh.detach()), "tanh", writable=False,
                               parameter="weight_hh")]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, dt={self.dt}, alpha={self.alpha}, bias={self.bias is not None}"


register("unicornn", paper=Paper("Rusch & Mishra", 2021, "UnICORNN: a recurrent model for learning very long time "
                                                         "dependencies", "2103.05487"),
         seed_equations="none (not in the seeds)",
         description="Undamped independent oscillators, learned per-unit time steps (symplectic Euler): elementwise",
         fast_path=FastPath.RNNZOO, recurrence=Recurrence.ELEMENTWISE,
         peers=("torchrecurrent.UnICORNN",))(UnICORNNCell)
