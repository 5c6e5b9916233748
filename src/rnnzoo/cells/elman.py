"""The Elman network (simple recurrent network, SRNN)."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.cells._torch_fused import run_fused
from rnnzoo.cells._torch_layout import TorchLayoutCell
from rnnzoo.cells.activations import get_activation
from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.torch_equiv import TorchEquivalent
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

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> ElmanState:
        return ElmanState(self._hidden_spec(batch_size))

    def project(self, x: Tensor) -> Tensor:
        """``weight_ih @ x + bias_ih + bias_hh`` for all steps at once: (..., I) -> (..., H)."""
        return self._input_product(x, self.bias_ih + self.bias_hh if self.bias else None)

    def step(self, u_t: Tensor, state: ElmanState) -> tuple[Tensor, ElmanState]:
        h = self.activation.fn(torch.addmm(u_t, state.h, self.weight_hh.t()))
        self.report("h", h, self.activation.name)
        return h, ElmanState(h)

    @property
    def fused_kind(self) -> str | None:
        """The runner's fast path: ``"torch"`` (torch's fused RNN kernel) for tanh/relu, ``"rnnzoo"``
        (:func:`rnnzoo.fused.elman_recurrence`) for the other activations, None (the step loop) for an
        activation the Function does not implement."""
        if self.activation.name in ("tanh", "relu"):
            return "torch"
        return "rnnzoo" if self.activation.name in ACTIVATION_NAMES else None

    @property
    def fused_traceable(self) -> bool:  # type: ignore[override]
        """torch's RNN kernel runs under torch.compile; the rnnzoo Function does not (buffers)."""
        return self.fused_kind == "torch"

    def fused(self, steps: Steps, state: ElmanState) -> tuple[Tensor, ElmanState] | None:
        """Whole sequence: torch's kernel on the raw input (prefix masks only), or the fused
        recurrence of :mod:`rnnzoo.fused.elman` on the projection ``steps.u``, per ``fused_kind``."""
        kind = self.fused_kind
        if kind == "torch":
            if not steps.prefix:
                return None
            out, (h,) = run_fused(f"rnn_{self.activation.name}", steps.x, (state.h,), self.torch_weights(),
                                  self.bias, steps.lengths)
            return out, ElmanState(h)
        if kind is None:
            return None
        out, h = elman_recurrence(steps.u, state.h, self.weight_hh, activation=self.activation.name, mask=steps.mask)
        return out, ElmanState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``weight_hh``, feeding the cell's activation (001 eq (14) with its gamma)."""
        return [RecurrentBlock("weight_hh", self.weight_hh, self.activation.name, True, "weight_hh")]

    def initialize(self, scheme: str, value: float | None = None, *,
                   generator: torch.Generator | None = None) -> bool:
        """The block schemes; ``identity`` also zeroes the biases: the IRNN of Le, Jaitly & Hinton 2015
        (arXiv:1504.00941) with ``activation="relu"``."""
        done = super().initialize(scheme, value, generator=generator)
        if done and scheme == "identity" and self.bias:
            with torch.no_grad():
                self.bias_ih.zero_()
                self.bias_hh.zero_()
        return done

    def torch_equivalent(self) -> TorchEquivalent | None:
        if self.fused_kind != "torch":
            return None
        return self._equivalent("RNN", nonlinearity=self.activation.name)

    @classmethod
    def torch_options(cls, module: nn.Module) -> dict[str, Any]:
        return {"activation": module.nonlinearity}

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, activation={self.activation.name!r}, bias={self.bias}"



register(
    "elman",
    paper=Paper("Elman", 1990, "Finding structure in time"),
    seed_equations="001 eqs (1)-(7)",
    description="Simple recurrent network h = f(W x + U h + b), activation selectable (001 fig. 2)",
    family="elman", fast_path=FastPath.TORCH, torch_module="RNN",
)(ElmanCell)
