"""The Elman network (simple recurrent network, SRNN)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

from rnnzoo.cells._torch_fused import run_fused
from rnnzoo.cells._torch_layout import TorchLayoutCell
from rnnzoo.cells.activations import get_activation
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import Paper, register
from rnnzoo.fused._common import compiling, lengths_mask
from rnnzoo.fused.elman import ACTIVATION_NAMES, elman_recurrence


class ElmanState(NamedTuple):
    """h: (B, H)."""

    h: Tensor


class ElmanCell(TorchLayoutCell):
    r"""Elman (1990) simple recurrent cell, 001 eqs (1)-(2)::

        o_t = weight_ih @ x_t + bias_ih + weight_hh @ h_{t-1} + bias_hh      # 001 eq (2)
        h_t = activation(o_t)                                                # 001 eq (1)

    The output layer of 001 eq (3), ``y_t = f_O(W_HO h_t + b_o)``, is a head on top (``rnnzoo.train``).
    ``activation`` is one of 001 fig. 2 / eqs (4)-(7): ``tanh``, ``sigmoid``, ``relu``, ``linear``,
    ``piecewise_linear`` (hard tanh), ``sine`` (sin until saturation at +-pi/2).

    Args:
        input_size: I. hidden_size: H. activation: as above. bias: learn ``bias_ih``/``bias_hh``.

    Shapes: x_t (B, I); state ``ElmanState(h)`` with h (B, H); output h_t (B, H).

    Parameters have torch.nn.RNN's names, shapes and initialisation U(-1/sqrt(H), 1/sqrt(H)); with
    ``tanh``/``relu`` the fused ``torch.nn.RNN`` kernel runs.

    Deviations: two bias vectors (torch's layout, for exact weight exchange) where 001 eq (2) has one
    ``b_h``; their sum plays its role.

    Paper: Elman (1990), Finding structure in time. Cognitive Science 14(2).
    """

    def __init__(self, input_size: int, hidden_size: int, *, activation: str = "tanh", bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.activation = get_activation(activation)
        self._make_weights(1, input_size, hidden_size, hidden_size, bias)
        self.reset_parameters()

    def initial_state(self, batch_size: int, *, device=None, dtype=None, input_shape=None) -> ElmanState:
        dtype = dtype or self.weight_hh.dtype
        return ElmanState(torch.zeros(batch_size, self.hidden_size, device=device, dtype=dtype))

    def project(self, x: Tensor) -> Tensor:
        """``weight_ih @ x + bias_ih + bias_hh`` for all steps at once: (..., I) -> (..., H)."""
        return self._input_product(x, self.bias_ih + self.bias_hh if self.bias else None)

    def step(self, u_t: Tensor, state: ElmanState) -> tuple[Tensor, ElmanState]:
        h = self.activation.fn(torch.addmm(u_t, state.h, self.weight_hh.t()))
        return h, ElmanState(h)

    def torch_weights(self) -> list[Tensor]:
        """Parameters in torch.nn.RNN's order."""
        w = [self.weight_ih, self.weight_hh]
        return w + [self.bias_ih, self.bias_hh] if self.bias else w

    @property
    def fused_kind(self) -> str | None:
        """The runner's fast path: ``"torch"`` (torch's fused RNN kernel) for tanh/relu, ``"rnnzoo"``
        (:func:`rnnzoo.fused.elman_recurrence`) for the other activations, None (the step loop) for an
        activation the Function does not implement."""
        if self.activation.name in ("tanh", "relu"):
            return "torch"
        return "rnnzoo" if self.activation.name in ACTIVATION_NAMES else None

    def fused(self, x: Tensor, state: ElmanState, lengths: Tensor | None) -> tuple[Tensor, ElmanState] | None:
        """Whole sequence ``x`` (B, T, I): torch's kernel or the fused recurrence of :mod:`rnnzoo.fused.elman`
        on the hoisted projection (same equations as ``step``), per ``fused_kind``."""
        kind = self.fused_kind
        if kind == "torch":
            out, (h,) = run_fused(f"rnn_{self.activation.name}", x, (state.h,), self.torch_weights(), self.bias,
                                  lengths)
            return out, ElmanState(h)
        if kind is None or compiling():
            return None
        u = self.project(x.transpose(0, 1))  # (T, B, H), time-major
        out, h = elman_recurrence(u, state.h, self.weight_hh, activation=self.activation.name,
                                  mask=lengths_mask(lengths, u.shape[0], x.device))
        return out.transpose(0, 1), ElmanState(h)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, activation={self.activation.name!r}, bias={self.bias}"



register(
    "elman",
    paper=Paper("Elman", 1990, "Finding structure in time"),
    seed_equations="001 eqs (1)-(7)",
    description="Simple recurrent network h = f(W x + U h + b), activation selectable (001 fig. 2)",
    capabilities=("unbatched", "lengths", "bidirectional", "fused_torch", "to_torch"),
)(ElmanCell)
