"""Structurally constrained recurrent network (SCRN): a fast hidden layer beside a slow context layer."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.elman import elman_recurrence
from rnnzoo.fused.scan import linear_scan


class SCRNState(NamedTuple):
    """h: (B, H) the hidden (fast) units; s: (B, S) the context (slow) units."""

    h: Tensor
    s: Tensor


class SCRNCell(Cell):
    r"""SCRN (Mikolov, Joulin, Chopra, Mathieu & Ranzato 2014, arXiv:1412.7753), 001 eqs (32)-(35)::

        s_t = (1 - alpha) * (context_ih @ x_t) + alpha * s_{t-1}                      # 001 eq (32), B = context_ih
        h_t = sigmoid(weight_ch @ s_t + weight_ih @ x_t + weight_hh @ h_{t-1} + bias)  # 001 eq (33), P, A, R
        y_t = [h_t, s_t]                                                              # fed to 001 eq (35)

    The output layer ``y = softmax(U h_t + V s_t)`` of 001 eq (35) is one linear head on the
    concatenation ``[h_t, s_t]``, so the cell outputs that concatenation (output_size = H + S).

    Args:
        context_size: S, the number of context units (default: hidden_size).
        alpha: the context layer's self-connection weight (001: "normally set to 0.95").
        learn_alpha: learn one alpha per context unit ("adaptive context features" of the paper),
            parametrised as ``alpha = sigmoid(alpha_logit)`` so it stays in (0, 1), initialised at ``alpha``.
        bias: a bias in eq (33).

    Shapes: x_t (B, I); state ``SCRNState(h (B, H), s (B, S))``; output (B, H + S).

    Deviations: the paper's hidden layer has no bias; ``bias=True`` (default) adds one, as every other
    cell here has (``bias=False`` is the paper's exact form). Initialisation U(-1/sqrt(H), 1/sqrt(H)).
    """

    def __init__(self, input_size: int, hidden_size: int, *, context_size: int | None = None,
                 alpha: float = 0.95, learn_alpha: bool = False, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, learn_alpha=learn_alpha, bias=bias)
        context_size = hidden_size if context_size is None else context_size
        if isinstance(context_size, bool) or not isinstance(context_size, int) or context_size < 1:
            raise ValueError(f"context_size: expected a positive int, got {context_size!r}")
        if not isinstance(alpha, (int, float)) or not 0.0 < float(alpha) < 1.0:
            raise ValueError(f"alpha: expected a number in (0, 1), got {alpha!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.context_size = context_size
        self.output_size = hidden_size + context_size
        self.alpha_init = float(alpha)
        self.learn_alpha = learn_alpha
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # A
        self.context_ih = nn.Parameter(torch.empty(context_size, input_size))  # B
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # R
        self.weight_ch = nn.Parameter(torch.empty(hidden_size, context_size))  # P
        self.bias = nn.Parameter(torch.empty(hidden_size)) if bias else None
        if learn_alpha:
            self.alpha_logit = nn.Parameter(torch.empty(context_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for name, p in self.named_parameters():
            if name != "alpha_logit":
                nn.init.uniform_(p, -k, k)
        if self.learn_alpha:
            with torch.no_grad():
                self.alpha_logit.fill_(math.log(self.alpha_init / (1.0 - self.alpha_init)))

    @property
    def alpha(self) -> Tensor | float:
        """alpha: the Python float given (exact in any dtype), or ``(S,)`` when learned."""
        return torch.sigmoid(self.alpha_logit) if self.learn_alpha else self.alpha_init

    def _load_from_state_dict(self, state_dict: dict[str, Any], prefix: str, *args: Any, **kwargs: Any) -> None:
        # checkpoints from rnnzoo 0.1.0 hold the fixed alpha as a float32 buffer; it is now a constant
        stale = state_dict.pop(prefix + "alpha_value", None)
        if stale is not None and not torch.isclose(
                stale.double(), torch.tensor(self.alpha_init, dtype=torch.float64, device=stale.device), atol=1e-6):
            raise ValueError(f"alpha: the checkpoint's alpha {float(stale)} differs from this cell's {self.alpha_init}")
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> SCRNState:
        return SCRNState(TensorSpec((batch_size, self.hidden_size)), TensorSpec((batch_size, self.context_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[weight_ih @ x + bias, context_ih @ x]`` for all steps: (..., I) -> (..., H + S)."""
        w = torch.cat([self.weight_ih, self.context_ih], 0)
        flat = x.reshape(-1, x.shape[-1])
        if self.bias is None:
            out = flat @ w.t()
        else:
            b = torch.cat([self.bias, self.bias.new_zeros(self.context_size)])
            out = torch.addmm(b, flat, w.t())
        return out.view(*x.shape[:-1], out.shape[-1])

    def step(self, u_t: Tensor, state: SCRNState) -> tuple[Tensor, SCRNState]:
        ax, bx = u_t.split([self.hidden_size, self.context_size], 1)
        s = torch.lerp(bx, state.s, self.alpha)  # (1 - alpha) * bx + alpha * s_prev
        h = torch.sigmoid(torch.addmm(ax, s, self.weight_ch.t()) + state.h @ self.weight_hh.t())
        self.report("h", h, "sigmoid")
        return torch.cat([h, s], 1), SCRNState(h, s)

    def output(self, state: SCRNState) -> Tensor:
        """``y_t = [h_t, s_t]`` (what 001 eq (35)'s output layer reads)."""
        return torch.cat([state.h, state.s], -1)

    fused_kind = "rnnzoo"
    """The runner's fast path: always the rnnzoo Functions (no torch kernel computes this cell)."""

    def fused(self, steps: Steps, state: SCRNState) -> tuple[Tensor, SCRNState] | None:
        """Whole sequence in three parts: the context layer, eq (32), an elementwise linear recurrence
        (:func:`rnnzoo.fused.linear_scan`); its contribution ``weight_ch @ s_t`` to eq (33) for all
        steps in one product; the hidden layer, a sigmoid Elman recurrence
        (:func:`rnnzoo.fused.elman_recurrence`)."""
        u = steps.u  # (T, B, H + S), time-major
        ax, bx = u.split([self.hidden_size, self.context_size], 2)
        alpha = self.alpha
        if not isinstance(alpha, Tensor):
            alpha = u.new_full((self.context_size,), alpha)
        s_out, s = linear_scan(bx, state.s, alpha.to(u.dtype), mask=steps.mask)
        uh = torch.addmm(ax.reshape(-1, self.hidden_size), s_out.reshape(-1, self.context_size),
                         self.weight_ch.t()).view(ax.shape)
        h_out, h = elman_recurrence(uh, state.h, self.weight_hh, activation="sigmoid", mask=steps.mask)
        return torch.cat([h_out, s_out], 2), SCRNState(h, s)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """R of 001 eq (33) (sigmoid) and the context layer's ``alpha I`` of eq (32) (linear, read-only)."""
        alpha = self.alpha
        alpha = alpha.detach() if isinstance(alpha, Tensor) else self.weight_hh.new_tensor(alpha)
        return [RecurrentBlock("weight_hh", self.weight_hh, "sigmoid", True, "weight_hh"),
                RecurrentBlock("context (alpha I)", torch.diag(alpha.expand(self.context_size)), "linear",
                               writable=False)]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, context_size={self.context_size}, "
                f"alpha={self.alpha_init}, learn_alpha={self.learn_alpha}, bias={self.bias is not None}")



register("scrn", paper=Paper("Mikolov, Joulin, Chopra, Mathieu & Ranzato", 2014,
                              "Learning longer memory in recurrent neural networks", "1412.7753"),
         seed_equations="001 eqs (32)-(35)",
         description="Sigmoid hidden layer plus a slowly changing linear context layer (alpha = 0.95)",
         fast_path=FastPath.RNNZOO, peers=("torchrecurrent.SCRN",))(SCRNCell)
