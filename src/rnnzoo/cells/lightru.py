r"""The light recurrent unit (LightRU) of Ye, Zhang, Liu, Li, Chang & Zheng 2024, "Light recurrent unit: towards an
interpretable recurrent neural network for modeling long-range dependency" (Electronics 13(16):3204,
doi:10.3390/electronics13163204; no arXiv version): one forget gate over ``h_{t-1}`` and an input-only
candidate."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.lightru import lightru_recurrence


class LightRUState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class LightRUCell(PointwiseCell):
    r"""LightRU (Ye et al. 2024, Electronics 13(16):3204, doi:10.3390/electronics13163204, sec. 3)::

        hc_t = tanh(W_h x_t)                                   # candidate, from the input only (no bias)
        f_t  = sigmoid(W_f x_t + U_f h_{t-1} + b_f)            # the one gate
        h_t  = (1 - f_t) * h_{t-1} + f_t * hc_t

    ``weight_ih`` stacks ``[W_h; W_f]`` ``(2H, I)``; ``weight_hh`` is ``U_f`` ``(H, H)``; ``bias`` is ``b_f``.
    One recurrent product per step, unit-local update.

    Fast path: :func:`rnnzoo.fused.lightru.lightru_recurrence` (``FastPath.RNNZOO``: forward without a graph per
    step, every tanh as ``2 * sigmoid(2x) - 1`` into preallocated buffers, a hand-written backward).

    Args:
        input_size: I. hidden_size: H. bias: learn ``b_f``.

    Shapes: x_t (B, I); state ``LightRUState(h (B, H))``; output (B, H).

    Initialisation: Glorot-uniform ``W_h, W_f, U_f`` (per gate), zero ``b_f``.

    Deviations: the equations are the published cell's as catalogued by RecurrentLayers.jl (the journal text was
    not available here to check equation numbers); the gate's activation is the logistic sigmoid. The paper's
    "stack recurrent cell" (its modified activation for stacked layers) is a model-level option, not implemented.
    No arXiv version exists, so the registry entry's ``arxiv`` is empty.

    Example:
        >>> import torch, rnnzoo
        >>> cell = rnnzoo.create("lightru", input_size=3, hidden_size=4).cell
        >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))  # [W_h; W_f]
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # U_f
        self.bias = nn.Parameter(torch.empty(hidden_size)) if bias else None  # b_f
        self.reset_parameters()

    def reset_parameters(self) -> None:
        H, I = self.hidden_size, self.input_size
        k = math.sqrt(6.0 / (I + H))
        nn.init.uniform_(self.weight_ih, -k, k)
        k = math.sqrt(6.0 / (2 * H))
        nn.init.uniform_(self.weight_hh, -k, k)
        if self.bias is not None:
            nn.init.zeros_(self.bias)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> LightRUState:
        return LightRUState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[W_h x, W_f x + b_f]``: (..., I) -> (..., 2H) (one product, the bias added inside it)."""
        flat = x.reshape(-1, x.shape[-1])
        if self.bias is None:
            u = flat @ self.weight_ih.t()
        else:
            u = torch.addmm(torch.cat([self.bias.new_zeros(self.hidden_size), self.bias]), flat, self.weight_ih.t())
        return u.view(*x.shape[:-1], u.shape[-1])

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: LightRUState) -> LightRUState:
        assert r_t is not None
        uh, uf = u_t.chunk(2, -1)
        f = torch.sigmoid(uf + r_t)
        self.report("f", f, "sigmoid")
        return LightRUState((1.0 - f) * state.h + f * torch.tanh(uh))

    fused_kind = "rnnzoo"

    def fused(self, steps: Steps, state: LightRUState) -> tuple[Tensor, LightRUState] | None:
        """The whole sequence through :func:`rnnzoo.fused.lightru.lightru_recurrence` (raw-tensor forward,
        hand-written backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor) or steps.steps == 0:
            return None
        out, h = lightru_recurrence(steps.u, self.weight_hh, state.h, steps.mask)
        return out, LightRUState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``U_f`` (sigmoid)."""
        return [RecurrentBlock("weight_hh[f]", self.weight_hh, "sigmoid", True, "weight_hh")]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


register("lightru", paper=Paper("Ye, Zhang, Liu, Li, Chang & Zheng", 2024,
                                "Light recurrent unit: towards an interpretable recurrent neural network for "
                                "modeling long-range dependency"),
         seed_equations="none (not in the seeds)",
         description="Light recurrent unit: one forget gate blending h with an input-only tanh candidate",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.LightRU",)
         )(LightRUCell)
