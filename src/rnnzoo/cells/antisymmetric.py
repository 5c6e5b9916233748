"""AntisymmetricRNN and its gated form (Chang, Chen, Haber & Chi 2019, arXiv:1902.09689): a forward-Euler step of
an ODE whose recurrent matrix is antisymmetric, so the Jacobian's eigenvalues sit near the imaginary axis."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Steps, linear_projection
from rnnzoo.core.checks import check_cell_args, real
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.antisymmetric import antisymmetric_recurrence


class AntisymmetricState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class _Antisymmetric(PointwiseCell):
    """What the plain and the gated cell share: sizes, options, ``W_h`` and the antisymmetric matrix built from it."""

    gates = 0
    """How many gates besides the candidate read the input (``weight_ih`` is ``(gates + 1) * H`` rows)."""

    def __init__(self, input_size: int, hidden_size: int, *, epsilon: float = 0.01, gamma: float = 0.01,
                 bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        epsilon = real("epsilon", epsilon)
        gamma = real("gamma", gamma)
        if epsilon <= 0:
            raise ValueError(f"epsilon: expected a step size > 0, got {epsilon!r}")
        if gamma < 0:
            raise ValueError(f"gamma: expected a diffusion strength >= 0, got {gamma!r}")
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.epsilon, self.gamma = epsilon, gamma
        n = self.gates + 1
        self.weight_ih = nn.Parameter(torch.empty(n * hidden_size, input_size))  # [V_z;] V_h
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # W_h
        self.bias = nn.Parameter(torch.empty(n * hidden_size)) if bias else None  # [b_z;] b_h
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``W_h ~ N(0, 1/H)`` (the paper's ``N(0, sigma_w^2/n)`` with ``sigma_w^2 = 1``); ``V`` U(-1/sqrt(I),
        1/sqrt(I)) (torch.nn.Linear's); ``b = 0``."""
        nn.init.normal_(self.weight_hh, 0.0, 1.0 / math.sqrt(self.hidden_size))
        k = 1.0 / math.sqrt(self.input_size)
        nn.init.uniform_(self.weight_ih, -k, k)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> AntisymmetricState:
        return AntisymmetricState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``V x + b`` for all steps: (..., I) -> (..., n*H) (gated: ``[V_z x + b_z, V_h x + b_h]``)."""
        return linear_projection(x, self.weight_ih, self.bias)

    def recurrent_weight(self) -> Tensor:
        """``A = W_h - W_h^T - gamma I`` (H, H), derived from ``weight_hh`` at every call (gradients flow to it)."""
        w = self.weight_hh
        eye = torch.eye(self.hidden_size, dtype=w.dtype, device=w.device)
        return w - w.t() - self.gamma * eye

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``A`` (read-only: a scheme written into it would not stay antisymmetric); weight drop masks ``weight_hh``."""
        return [RecurrentBlock("A = W_h - W_h^T - gamma I", self.recurrent_weight().detach(), "tanh",
                               writable=False, parameter="weight_hh")]

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.antisymmetric), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: AntisymmetricState) -> tuple[Tensor, AntisymmetricState] | None:
        """The whole sequence through :func:`rnnzoo.fused.antisymmetric.antisymmetric_recurrence` (raw-tensor
        forward, hand-written backward; the step loop is its reference twin). ``A`` is built here, once per run,
        outside the Function: autograd carries its gradient back to ``weight_hh``."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = antisymmetric_recurrence(steps.u, self.recurrent_weight(), state.h, steps.mask,
                                          epsilon=self.epsilon, gated=self.gates == 1)
        return out, AntisymmetricState(h)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, epsilon={self.epsilon}, gamma={self.gamma}, "
                f"bias={self.bias is not None}")


class AntisymmetricRNNCell(_Antisymmetric):
    r"""AntisymmetricRNN (Chang, Chen, Haber & Chi 2019, arXiv:1902.09689, sec. 4, the update with diffusion)::

        A   = weight_hh - weight_hh^T - gamma I                        # antisymmetric, minus a diffusion gamma I
        h_t = h_{t-1} + epsilon * tanh(A h_{t-1} + weight_ih x_t + bias)

    (the paper's ``h_t = h_{t-1} + eps tanh((W_h - W_h^T - gamma I) h_{t-1} + V_h x_t + b_h)``: ``weight_hh`` is
    ``W_h``, ``weight_ih`` is ``V_h``, ``bias`` is ``b_h``). Not in the seeds.

    Args:
        input_size: I. hidden_size: H.
        epsilon: the step size (> 0). gamma: the diffusion (>= 0). Defaults 0.01 and 0.01, a point of the
            paper's grids (eps in {1, 0.1, 0.01, 0.001}, gamma in {0.1, 0.01, 0.001}).
        bias: learn ``bias``.

    Initialisation: ``W_h ~ N(0, 1/H)`` (the paper's ``N(0, sigma_w^2 / n)``, sigma_w^2 = 1), ``V_h`` torch's
    Linear default, ``b_h = 0``.

    Shapes: x_t (B, I); state ``AntisymmetricState(h (B, H))``; output (B, H).

    Fast path: :func:`rnnzoo.fused.antisymmetric.antisymmetric_recurrence` (``FastPath.RNNZOO``: forward without a
    graph per step, closed-form backward; one product with ``A`` per step, ``A`` built once per run).

    Deviations: none in the update. torchrecurrent's cell adds a second bias ``b_hh`` (the same function with one
    redundant parameter) and defaults to ``epsilon = 1, gamma = 0`` (no diffusion).

    >>> import torch, rnnzoo
    >>> cell = AntisymmetricRNNCell(3, 8)
    >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
    torch.Size([2, 5, 8])
    """

    gates = 0

    def pointwise(self, u_t: Tensor, r_t: Tensor, state: AntisymmetricState) -> AntisymmetricState:
        return AntisymmetricState(state.h + self.epsilon * torch.tanh(u_t + r_t))


class GatedAntisymmetricRNNCell(_Antisymmetric):
    r"""Gated AntisymmetricRNN (Chang, Chen, Haber & Chi 2019, arXiv:1902.09689, sec. 4.1 "Gating mechanism")::

        A   = weight_hh - weight_hh^T - gamma I
        z_t = sigmoid(A h_{t-1} + V_z x_t + b_z)                        # the input gate
        h_t = h_{t-1} + epsilon * z_t * tanh(A h_{t-1} + V_h x_t + b_h)

    Gate and candidate share ``A`` (the paper's ``(W_h - W_h^T - gamma I)`` in both), so one product per step.
    ``weight_ih`` stacks ``[V_z; V_h]`` ``(2H, I)``, ``bias`` ``[b_z; b_h]``. Not in the seeds.

    Args: as :class:`AntisymmetricRNNCell`.

    Shapes: x_t (B, I); state ``AntisymmetricState(h (B, H))``; output (B, H).

    Fast path: :func:`rnnzoo.fused.antisymmetric.antisymmetric_recurrence` (``FastPath.RNNZOO``, as the plain cell;
    ``r_t = A h_{t-1}`` computed once per step and added to both halves).

    Deviations: none in the update. torchrecurrent's gate omits its recurrent bias (only the candidate has
    ``b_hh``): the same function family, with one redundant parameter.
    """

    gates = 1

    def pointwise(self, u_t: Tensor, r_t: Tensor, state: AntisymmetricState) -> AntisymmetricState:
        uz, uh = u_t.chunk(2, -1)
        z = torch.sigmoid(uz + r_t)
        self.report("z", z, "sigmoid")
        return AntisymmetricState(state.h + self.epsilon * z * torch.tanh(uh + r_t))


_PAPER = Paper("Chang, Chen, Haber & Chi", 2019, "AntisymmetricRNN: a dynamical system view on recurrent neural "
               "networks", "1902.09689")
register("antisymmetric_rnn", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="Euler step of an ODE with an antisymmetric recurrent matrix (minus diffusion): stable dynamics",
         fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.AntisymmetricRNN",))(AntisymmetricRNNCell)
register("gated_antisymmetric_rnn", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="AntisymmetricRNN with an input gate sharing the antisymmetric matrix",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.GatedAntisymmetricRNN",))(GatedAntisymmetricRNNCell)
