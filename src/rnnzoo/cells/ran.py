r"""The recurrent additive network (RAN) of Lee, Levy & Zettlemoyer 2017, "Recurrent additive networks"
(arXiv:1705.07393): an LSTM-like cell whose memory is a gated sum of linear projections of the inputs (no
recurrent matrix inside the content), so ``c_t`` is a component-wise weighted sum of the ``W_cx x_k``."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.ran import ran_recurrence

ACTIVATIONS = ("tanh", "identity")


class RANState(NamedTuple):
    """h: (B, H) the output ``g(c_t)``; c: (B, H) the memory."""

    h: Tensor
    c: Tensor


class RANCell(PointwiseCell):
    r"""RAN (Lee, Levy & Zettlemoyer 2017, arXiv:1705.07393, sec. 2; the paper's equations in its order)::

        ct_t = W_cx x_t                                         # the content layer: linear, no bias
        i_t  = sigmoid(W_ih h_{t-1} + W_ix x_t + b_i)           # input gate
        f_t  = sigmoid(W_fh h_{t-1} + W_fx x_t + b_f)           # forget gate
        c_t  = i_t * ct_t + f_t * c_{t-1}
        h_t  = g(c_t)                                           # g = tanh ("tanh RAN") or identity

    ``weight_ih`` stacks ``[W_cx; W_ix; W_fx]`` ``(3H, I)``; ``weight_hh`` stacks ``[W_ih; W_fh]`` ``(2H, H)``;
    ``bias`` is ``[b_i; b_f]``. One recurrent product per step (the gates'), unit-local update.

    Args:
        input_size: I. hidden_size: H. bias: learn ``b_i, b_f``.
        activation: ``g`` of the output equation, ``"tanh"`` (default) or ``"identity"`` (the paper's two variants).

    Shapes: x_t (B, I); state ``RANState(h (B, H), c (B, H))``; output h (B, H).

    Fast path: :func:`rnnzoo.fused.ran.ran_recurrence` (``FastPath.RNNZOO``: forward without a graph per step,
    a hand-written backward); ``pointwise`` stays the reference.

    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias (``torch.nn.LSTM``'s default).

    Deviations: none in the equations. The paper's language models feed the embedding directly as the content
    (``W_cx = I``) when the sizes match; here ``W_cx`` is always a learned matrix (set it to the identity and freeze
    it for that variant).

    Example:
        >>> import torch, rnnzoo
        >>> cell = rnnzoo.create("ran", input_size=3, hidden_size=4).cell
        >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, activation: str = "tanh") -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.activation = activation
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))  # [W_cx; W_ix; W_fx]
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size))  # [W_ih; W_fh]
        self.bias = nn.Parameter(torch.empty(2 * hidden_size)) if bias else None  # [b_i; b_f]
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> RANState:
        spec = TensorSpec((batch_size, self.hidden_size))
        return RANState(spec, spec)

    def project(self, x: Tensor) -> Tensor:
        """``[W_cx x, W_ix x + b_i, W_fx x + b_f]``: (..., I) -> (..., 3H)."""
        u = x @ self.weight_ih.t()
        if self.bias is not None:
            u = u + torch.cat([self.bias.new_zeros(self.hidden_size), self.bias])
        return u

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: RANState) -> RANState:
        assert r_t is not None
        uc, ui, uf = u_t.chunk(3, -1)
        ri, rf = r_t.chunk(2, -1)
        i = torch.sigmoid(ui + ri)
        f = torch.sigmoid(uf + rf)
        self.report("i", i, "sigmoid")
        self.report("f", f, "sigmoid")
        c = i * uc + f * state.c
        return RANState(torch.tanh(c) if self.activation == "tanh" else c, c)

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.ran), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: RANState) -> tuple[Tensor, RANState] | None:
        """The whole sequence through :func:`rnnzoo.fused.ran.ran_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h, c = ran_recurrence(steps.u, self.weight_hh, state.h, state.c, steps.mask,
                                   activation=self.activation)
        return out, RANState(h, c)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``W_ih`` and ``W_fh`` (both sigmoid)."""
        return gate_blocks(self.weight_hh, ("i", "f"), ("sigmoid", "sigmoid"))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}, activation={self.activation!r}"


register("ran", paper=Paper("Lee, Levy & Zettlemoyer", 2017, "Recurrent additive networks", "1705.07393"),
         seed_equations="none (not in the seeds)",
         description="Recurrent additive network: gated sums of linear input projections, h = tanh(c)",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.RAN",))(RANCell)
