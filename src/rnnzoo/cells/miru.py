"""Minion recurrent units MiRU1 and MiRU2 (Zyarah & Kudithipudi 2025, "Minion gated recurrent unit for continual
learning", arXiv:2503.06175, Neurocomputing 2026, doi:10.1016/j.neucom.2026.132847): a GRU whose update gate (and in
MiRU2 also the reset gate) is replaced by a fixed scaling coefficient.

Source of the equations: the paper's abstract (the gates replaced by scaling coefficients that regulate the update
of the hidden state and the historical context: an update coefficient lambda and a reset coefficient beta) and
torchrecurrent 0.2.5's transcription of its equations; the paper's full text was not reachable from this
project, so its equation numbers are not cited (see ``docs/torchrecurrent_typed.md``).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.miru import miru2_recurrence
from rnnzoo.fused.miru1 import miru1_recurrence


class MiRUState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


def _coefficient(name: str, value: Any, *, low_open: bool) -> float:
    """``value`` as a float in [0, 1) (``low_open``: (0, 1]) or raise naming the argument."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) and math.isfinite(float(value))
    if ok:
        v = float(value)
        ok = (0.0 < v <= 1.0) if low_open else (0.0 <= v < 1.0)
    if not ok:
        span = "(0, 1]" if low_open else "[0, 1)"
        raise ValueError(f"{name}: expected a number in {span}, got {value!r}")
    return float(value)


class _MiRU:
    """Shared construction: ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, H), ``bias`` (G*H), the coefficients."""

    def _build(self, cell: nn.Module, input_size: int, hidden_size: int, blocks: int, bias: bool,
               update_coefficient: float) -> None:
        check_cell_args(input_size, hidden_size, bias=bias)
        cell.input_size, cell.hidden_size, cell.output_size = input_size, hidden_size, hidden_size
        cell.update_coefficient = _coefficient("update_coefficient", update_coefficient, low_open=False)
        cell.weight_ih = nn.Parameter(torch.empty(blocks * hidden_size, input_size))
        cell.weight_hh = nn.Parameter(torch.empty(blocks * hidden_size, hidden_size))
        cell.bias = nn.Parameter(torch.empty(blocks * hidden_size)) if bias else None


def _reset(cell: nn.Module) -> None:
    """U(-1/sqrt(H), 1/sqrt(H)) (torch.nn.GRUCell's default; the paper's initialisation is not known here)."""
    k = 1.0 / math.sqrt(cell.hidden_size)
    for p in cell.parameters():
        nn.init.uniform_(p, -k, k)


def _project(cell: nn.Module, x: Tensor) -> Tensor:
    flat = x.reshape(-1, x.shape[-1])
    out = flat @ cell.weight_ih.t() if cell.bias is None else torch.addmm(cell.bias, flat, cell.weight_ih.t())
    return out.view(*x.shape[:-1], out.shape[-1])


class MiRU1Cell(Cell, _MiRU):
    r"""MiRU1 (Zyarah & Kudithipudi 2025, arXiv:2503.06175): a GRU with the update gate replaced by ``lambda``::

        r_t  = sigmoid(W_r x_t + U_r h_{t-1} + b_r)                 # the reset gate (kept)
        hc_t = tanh(W_h x_t + U_h (r_t * h_{t-1}) + b_h)             # candidate
        h_t  = lambda * h_{t-1} + (1 - lambda) * hc_t                # fixed update coefficient

    ``weight_ih`` stacks ``[W_r; W_h]`` ``(2H, I)``, ``weight_hh`` ``[U_r; U_h]`` ``(2H, H)``, ``bias``
    ``[b_r; b_h]``.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias``.
        update_coefficient: lambda in [0, 1) (default 0.5, torchrecurrent's).

    Shapes: x_t (B, I); state ``MiRUState(h (B, H))``; output (B, H).

    Fast path: :func:`rnnzoo.fused.miru1.miru1_recurrence` (``FastPath.RNNZOO``: forward without a graph per
    step, a hand-written backward; ``U_h`` multiplies ``r_t * h_{t-1}``, a second recurrent product after a gate,
    which :class:`~rnnzoo.core.pointwise.PointwiseCell` does not cover); ``step`` stays the reference.

    Initialisation: U(-1/sqrt(H), 1/sqrt(H)).

    Deviations: one bias per pre-activation (torchrecurrent adds a second, redundant one); lambda is a fixed
    hyperparameter (as in torchrecurrent; the paper's full text, which would settle whether it is learned, was
    not reachable).
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True,
                 update_coefficient: float = 0.5) -> None:
        super().__init__()
        self._build(self, input_size, hidden_size, 2, bias, update_coefficient)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset(self)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> MiRUState:
        return MiRUState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[W_r x + b_r, W_h x + b_h]`` for all steps: ``(..., I) -> (..., 2H)``."""
        return _project(self, x)

    def _weights(self) -> tuple[Tensor, Tensor]:
        """``(U_r^T, U_h^T)``, sliced once per run."""
        H = self.hidden_size
        return self.weight_hh[:H].t(), self.weight_hh[H:].t()

    def _step(self, u_t: Tensor, state: MiRUState, w: tuple[Tensor, Tensor]) -> tuple[Tensor, MiRUState]:
        H = self.hidden_size
        h = state.h
        ur, uh = u_t.split(H, -1)
        r = torch.sigmoid(torch.addmm(ur, h, w[0]))
        self.report("r", r, "sigmoid")
        hc = torch.tanh(torch.addmm(uh, r * h, w[1]))
        new = torch.lerp(hc, h, self.update_coefficient)  # lambda * h + (1 - lambda) * hc
        return new, MiRUState(new)

    def step(self, u_t: Tensor, state: MiRUState) -> tuple[Tensor, MiRUState]:
        return self._step(u_t, state, self._weights())

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.miru1), not the autograd step loop

    def fused(self, steps: Steps, state: MiRUState) -> tuple[Tensor, MiRUState] | None:
        """The whole sequence through :func:`rnnzoo.fused.miru1.miru1_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = miru1_recurrence(steps.u, self.weight_hh, state.h, steps.mask, lam=self.update_coefficient)
        return out, MiRUState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        H = self.hidden_size
        return [RecurrentBlock("U_r", self.weight_hh[:H], "sigmoid", True, "weight_hh"),
                RecurrentBlock("U_h", self.weight_hh[H:], "tanh", True, "weight_hh")]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}, "
                f"update_coefficient={self.update_coefficient}")


class MiRU2Cell(PointwiseCell, _MiRU):
    r"""MiRU2 (Zyarah & Kudithipudi 2025, arXiv:2503.06175): both GRU gates replaced by coefficients::

        hc_t = tanh(W_h x_t + U_h (beta * h_{t-1}) + b_h)            # fixed reset coefficient beta
        h_t  = lambda * h_{t-1} + (1 - lambda) * hc_t                # fixed update coefficient lambda

    computed as ``tanh(W_h x_t + b_h + beta * (U_h h_{t-1}))`` (beta is a scalar, so the same numbers).

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias``.
        update_coefficient: lambda in [0, 1) (default 0.5). reset_coefficient: beta in (0, 1] (default 0.5).

    Shapes: x_t (B, I); state ``MiRUState(h (B, H))``; output (B, H).

    Fast path: :func:`rnnzoo.fused.miru.miru2_recurrence`, one Function with a hand-written backward (the cell is
    also a :class:`~rnnzoo.core.pointwise.PointwiseCell`: one recurrent product ``U_h h_{t-1}`` per step).
    Initialisation: U(-1/sqrt(H), 1/sqrt(H)).

    Deviations: one bias (torchrecurrent adds a second, redundant one); lambda and beta are fixed hyperparameters
    (see :class:`MiRU1Cell`).
    """

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.miru), not PointwiseCell's default loop

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, update_coefficient: float = 0.5,
                 reset_coefficient: float = 0.5) -> None:
        super().__init__()
        self._build(self, input_size, hidden_size, 1, bias, update_coefficient)
        self.reset_coefficient = _coefficient("reset_coefficient", reset_coefficient, low_open=True)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        _reset(self)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> MiRUState:
        return MiRUState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``W_h x + b_h`` for all steps: ``(..., I) -> (..., H)``."""
        return _project(self, x)

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: MiRUState) -> MiRUState:
        hc = torch.tanh(u_t + self.reset_coefficient * r_t)
        return MiRUState(torch.lerp(hc, state.h, self.update_coefficient))

    def fused(self, steps: Steps, state: MiRUState) -> tuple[Tensor, MiRUState] | None:
        """The whole sequence through :func:`rnnzoo.fused.miru.miru2_recurrence` (a hand-written backward)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = miru2_recurrence(steps.u, state.h, self.weight_hh, lam=self.update_coefficient,
                                  beta=self.reset_coefficient, mask=steps.mask)
        return out, MiRUState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        return [RecurrentBlock("U_h", self.weight_hh, "tanh", True, "weight_hh")]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}, "
                f"update_coefficient={self.update_coefficient}, reset_coefficient={self.reset_coefficient}")


_PAPER = Paper("Zyarah & Kudithipudi", 2025, "Minion gated recurrent unit for continual learning", "2503.06175")
register("miru1", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="GRU with the update gate replaced by a fixed coefficient lambda (reset gate kept)",
         gated=True, fast_path=FastPath.RNNZOO, peers=("torchrecurrent.MiRU1",))(MiRU1Cell)
register("miru2", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="GRU with both gates replaced by fixed coefficients (lambda update, beta reset)",
         fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.MiRU2",))(MiRU2Cell)
