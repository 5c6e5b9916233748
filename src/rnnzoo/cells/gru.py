"""Gated recurrent unit, in Cho et al.'s form and in the form torch and cuDNN compute."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnzoo.cells._torch_fused import run_fused
from rnnzoo.cells._torch_layout import TorchLayoutCell
from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.torch_equiv import TorchEquivalent
from rnnzoo.fused.gru import gru_recurrence

_RESETS = ("after", "before")


class GRUState(NamedTuple):
    """h: (B, H)."""

    h: Tensor


class GRUCell(TorchLayoutCell):
    r"""Gated recurrent unit (Cho et al. 2014, arXiv:1406.1078), 001 eqs (36)-(39)::

        r = sigmoid(W_r x_t + b_ir + U_r h_{t-1} + b_hr)                 # reset gate,  001 eq (39)
        z = sigmoid(W_z x_t + b_iz + U_z h_{t-1} + b_hz)                 # update gate, 001 eq (37)
        reset="before":  n = tanh(W_n x_t + b_in + U_n (r * h_{t-1}) + b_hn)   # 001 eq (38), Cho et al.
        reset="after":   n = tanh(W_n x_t + b_in + r * (U_n h_{t-1} + b_hn))   # torch.nn.GRU / cuDNN
        h_t = (1 - z) * n + z * h_{t-1}                                  # 001 eq (36) with z <-> 1 - z

    ``W = weight_ih`` (3H, I), ``U = weight_hh`` (3H, H), ``b_i* = bias_ih``, ``b_h* = bias_hh``,
    gates stacked in torch's order (r, z, n).

    Args:
        reset: ``"after"`` (default) applies the reset gate after the recurrent product, as torch
            and cuDNN do (Keras' ``reset_after=True``); ``"before"`` applies it to h_{t-1} before
            the product, as Cho et al. and 001 eq (38). The default is ``"after"`` because it is what
            every torch user's ``nn.GRU`` computes, so weights convert both ways exactly and the fused
            kernel runs; the two forms train to similar results (Chung et al. 2014 used "before").

    Shapes: x_t (B, I); state ``GRUState(h)`` with h (B, H); output h_t (B, H).
    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) as torch.nn.GRU.

    Deviations: 001 eq (36) writes ``h_t = (1 - z) h_{t-1} + z h~_t``; Cho et al. 2014 (their eq 7)
    and torch write ``h_t = z h_{t-1} + (1 - z) h~_t``. We follow Cho and torch: z here is 1 - z of
    the seed's eq (36) (the same family of functions, gate relabelled). The seed's eq (37) reads
    ``U_z g_{t-1}``, a typo for ``U_z h_{t-1}``. Two bias vectors, in torch's layout.
    """

    def __init__(self, input_size: int, hidden_size: int, *, reset: str = "after", bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        if reset not in _RESETS:
            raise ValueError(f"reset: expected one of {_RESETS}, got {reset!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.reset = reset
        self._make_weights(3, input_size, hidden_size, hidden_size, bias)
        self.reset_parameters()

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> GRUState:
        return GRUState(self._hidden_spec(batch_size))

    def project(self, x: Tensor) -> Tensor:
        """Input projections of all steps at once: (..., I) -> (..., 3H).

        ``weight_ih @ x + bias_ih``, plus ``bias_hh`` in the "before" form, where no bias is
        multiplied by r and all of them fold into one vector.
        """
        if not self.bias:
            return self._input_product(x, None)
        return self._input_product(x, self.bias_ih + self.bias_hh if self.reset == "before" else self.bias_ih)

    def step(self, u_t: Tensor, state: GRUState) -> tuple[Tensor, GRUState]:
        H = self.hidden_size
        h = state.h
        xr, xz, xn = u_t.chunk(3, 1)
        if self.reset == "after":
            hh = h @ self.weight_hh.t() if self.bias_hh is None else torch.addmm(self.bias_hh, h, self.weight_hh.t())
            hr, hz, hn = hh.chunk(3, 1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
        else:
            hr, hz = (h @ self.weight_hh[:2 * H].t()).chunk(2, 1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + (r * h) @ self.weight_hh[2 * H:].t())
        self.report("r", r, "sigmoid")
        self.report("z", z, "sigmoid")
        self.report("n", n, "tanh")
        h_new = n + z * (h - n)  # = (1 - z) * n + z * h
        return h_new, GRUState(h_new)

    @property
    def fused_kind(self) -> str:
        """The runner's fast path: ``"torch"`` (torch's fused GRU kernel) for reset="after", else
        ``"rnnzoo"`` (:func:`rnnzoo.fused.gru_recurrence`)."""
        return "torch" if self.reset == "after" else "rnnzoo"

    @property
    def fused_traceable(self) -> bool:  # type: ignore[override]
        """torch's GRU kernel runs under torch.compile; the rnnzoo Function does not (buffers)."""
        return self.fused_kind == "torch"

    def fused(self, steps: Steps, state: GRUState) -> tuple[Tensor, GRUState] | None:
        """Whole sequence: torch's kernel on the raw input (prefix masks only), or the fused
        recurrence of :mod:`rnnzoo.fused.gru` on the projection ``steps.u``, per ``fused_kind``."""
        if self.fused_kind == "torch":
            if not steps.prefix:
                return None
            out, (h,) = run_fused("gru", steps.x, (state.h,), self.torch_weights(), self.bias, steps.lengths)
            return out, GRUState(h)
        b_hh = self.bias_hh if self.reset == "after" else None  # "before" folds it into u
        out, h = gru_recurrence(steps.u, state.h, self.weight_hh, b_hh, reset=self.reset, mask=steps.mask)
        return out, GRUState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``weight_hh`` by gate (r, z, n)."""
        return gate_blocks(self.weight_hh, ("r", "z", "n"), ("sigmoid", "sigmoid", "tanh"))

    def torch_equivalent(self) -> TorchEquivalent | None:
        return self._equivalent("GRU") if self.reset == "after" else None

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, reset={self.reset!r}, bias={self.bias}"



register("gru", paper=Paper("Cho, van Merrienboer, Gulcehre, Bahdanau, Bougares, Schwenk & Bengio", 2014,
                             "Learning phrase representations using RNN encoder-decoder for statistical "
                             "machine translation", "1406.1078"),
         seed_equations="001 eqs (36)-(39)",
         description="Gated recurrent unit; reset gate after (torch/cuDNN, default) or before the product (Cho)",
         gated=True, family="gru", fast_path=FastPath.TORCH, torch_module="GRU")(GRUCell)
