"""JANET (van der Westhuizen & Lasenby 2018, "The unreasonable effectiveness of the forget gate",
arXiv:1804.04849): an LSTM with only its forget gate, the input gate tied to it, no output gate."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Steps, linear_projection
from rnnzoo.core.checks import check_cell_args, real
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.janet import janet_recurrence


class JANETState(NamedTuple):
    """c: (B, H) the memory cell, which is also the output (``h_t = c_t``)."""

    c: Tensor


class JANETCell(PointwiseCell):
    r"""JANET (van der Westhuizen & Lasenby 2018, arXiv:1804.04849, sec. 3 "JANET")::

        s_t  = U_f h_{t-1} + W_f x_t + b_f                        # the forget gate's pre-activation
        cc_t = tanh(U_c h_{t-1} + W_c x_t + b_c)                  # the candidate
        c_t  = sigmoid(s_t) * c_{t-1} + (1 - sigmoid(s_t - beta)) * cc_t
        h_t  = c_t

    In the code: ``[W_f; W_c] = weight_ih`` (2H, I), ``[U_f; U_c] = weight_hh`` (2H, H), ``[b_f; b_c] = bias``.
    The input gate is ``1 - sigmoid(s_t - beta)``: tied to the forget gate, shifted by the fixed hyperparameter
    ``beta`` (the paper: "beta = 1 ... works well"), so a little more is let in than the forget gate alone would
    allow. The state is the cell alone (``h_t = c_t``; there is no output gate and no tanh on the output).

    Args:
        beta: the shift of the input gate (a fixed number, as in the paper; default 1.0).
        t_max: when given, the paper's chrono initialisation of the forget bias (sec. 3.1 after Tallec & Ollivier
            2018): ``b_f ~ log(U(1, t_max - 1))``, ``b_c = 0``; the paper sets ``t_max`` to the sequence length
            (784 on pixel MNIST). None (default): every parameter U(-1/sqrt(H), 1/sqrt(H)).
        bias: the biases ``b_f, b_c``.

    Shapes: x_t (B, I); state ``JANETState(c (B, H))``; output (B, H).

    Fast path: :func:`rnnzoo.fused.janet.janet_recurrence` (``FastPath.RNNZOO``: forward without a graph per step, a
    hand-written backward). The cell is a :class:`~rnnzoo.core.pointwise.PointwiseCell` (one recurrent product
    ``c @ weight_hh.T``, then unit-local gates); ``pointwise`` stays the reference.

    Deviations: the paper's Keras code initialises the weights Glorot-uniform; here U(-1/sqrt(H), 1/sqrt(H)) as
    every rnnzoo cell (the chrono bias, the paper's own contribution to JANET's initialisation, is ``t_max``).
    torchrecurrent's ``JANET`` learns ``beta`` as a parameter; the paper fixes it, and so does this cell.
    """

    recurrent_fields = ("c",)
    output_field = "c"

    def __init__(self, input_size: int, hidden_size: int, *, beta: float = 1.0, t_max: float | None = None,
                 bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.beta = real("beta", beta)
        t_max = real("t_max", t_max, optional=True)
        if t_max is not None and t_max <= 2.0:
            raise ValueError(f"t_max: expected a sequence length > 2 for the chrono initialisation, got {t_max!r}")
        self.t_max = t_max
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(2 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)
        if self.t_max is not None and self.bias is not None:
            with torch.no_grad():
                H = self.hidden_size
                self.bias[:H].uniform_(1.0, self.t_max - 1.0).log_()
                self.bias[H:].zero_()

    def initialize(self, scheme: str, value: float | None = None, *,
                   generator: torch.Generator | None = None) -> bool:
        """``chrono`` (value: t_max): the paper's forget bias ``log(U(1, t_max - 1))``, ``b_c = 0``; else the
        block schemes of :meth:`rnnzoo.core.cell.Cell.initialize`."""
        if scheme == "chrono":
            if self.bias is None or value is None or value <= 2.0:
                raise ValueError(f"value: chrono needs a bias and a t_max > 2, got bias={self.bias is not None}, "
                                 f"value={value!r}")
            with torch.no_grad():
                H = self.hidden_size
                draw = torch.empty(H, dtype=torch.float64)  # cpu: the caller's CPU generator draws; copy_ moves it
                self.bias[:H].copy_(draw.uniform_(1.0, value - 1.0, generator=generator).log())
                self.bias[H:].zero_()
            return True
        return super().initialize(scheme, value, generator=generator)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> JANETState:
        return JANETState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[W_f x + b_f, W_c x + b_c]`` for all steps: (..., I) -> (..., 2H)."""
        return linear_projection(x, self.weight_ih, self.bias)

    def recurrent_weight(self) -> Tensor:
        """``[U_f; U_c]`` (2H, H)."""
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: JANETState) -> JANETState:
        assert r_t is not None
        s = u_t + r_t
        s_f, s_c = s.chunk(2, -1)
        f = torch.sigmoid(s_f)
        i = 1.0 - torch.sigmoid(s_f - self.beta)
        cc = torch.tanh(s_c)
        self.report("f", f, "sigmoid")
        return JANETState(f * state.c + i * cc)

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.janet), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: JANETState) -> tuple[Tensor, JANETState] | None:
        """The whole sequence through :func:`rnnzoo.fused.janet.janet_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, c = janet_recurrence(steps.u, self.weight_hh, state.c, self.beta, steps.mask)
        return out, JANETState(c)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``weight_hh`` by part (f, c)."""
        return gate_blocks(self.weight_hh, ("f", "c"), ("sigmoid", "tanh"))

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, beta={self.beta}, t_max={self.t_max}, "
                f"bias={self.bias is not None}")


register("janet", paper=Paper("van der Westhuizen & Lasenby", 2018, "The unreasonable effectiveness of the forget gate",
                               "1804.04849"),
         seed_equations="none (not in the seeds); the paper's sec. 3 on 001 eqs (16)-(20) without i and o gates",
         description="Forget-gate-only LSTM: input gate 1 - sigmoid(s - beta) tied to the forget gate, h = c",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.JANET",))(JANETCell)
