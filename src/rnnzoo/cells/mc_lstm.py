"""The mass-conserving LSTM (MC-LSTM; Hoedt, Kratzert, Klotz, Halmich, Holzleitner, Nearing, Hochreiter & Klambauer
2021, "MC-LSTM: Mass-conserving LSTM", ICML 2021, arXiv:2101.05186).

The cells hold mass; at every step the mass inputs are distributed over the cells, the cells' mass is redistributed
among them, and part of it leaves as the output. Every distribution is a column of a softmax, so the mass in the
cells plus the mass out equals the mass in the cells before plus the mass in, exactly (up to rounding; tested).

How the two kinds of input enter through rnnzoo's one input tensor: ``x_t = [m_t, a_t]``, the first ``mass_size``
features are the mass inputs ``m_t`` (M, the paper's ``x^t``), the rest the auxiliary inputs ``a_t`` (L = I - M, the
paper's ``a^t``) that only steer the gates. ``input_size = M + L``; ``mass_size = input_size`` (no auxiliary input)
is allowed (the gates then read the cells only).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args, positive_int
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.loop import step_loop


class MCLSTMState(NamedTuple):
    """h: (B, K) the mass leaving at this step (the output); c: (B, K) the mass in the cells."""

    h: Tensor
    c: Tensor


class MCLSTMCell(Cell):
    r"""MC-LSTM (Hoedt et al. 2021, arXiv:2101.05186, sec. 2; K = hidden_size cells)::

        n_{t-1} = c_{t-1} / (||c_{t-1}||_1 + eps)                        # the gates see the cells' shares
        i_t     = softmax_k(W_i a_t + U_i n_{t-1} + b_i)      (B, M, K)  # where each mass input goes
        R_t     = softmax_k(W_r a_t + U_r n_{t-1} + B_r)      (B, K, K)  # R_t[j, k]: share of cell j -> cell k
        o_t     = sigmoid(W_o a_t + U_o n_{t-1} + b_o)        (B, K)     # the share that leaves
        mtot_t  = sum_j c_{t-1}[j] R_t[j, :] + sum_m m_t[m] i_t[m, :]
        c_t     = (1 - o_t) * mtot_t
        h_t     = o_t * mtot_t

    so ``sum(c_t) + sum(h_t) = sum(c_{t-1}) + sum(m_t)`` (each row of ``i_t`` and ``R_t`` sums to one). The paper
    writes ``R_t`` as a column-stochastic ``K x K`` matrix with ``mtot = R c``; here a row ``R_t[j, :]`` is what
    the paper's column j is. ``weight_ih`` ``(M*K + K*K + K, L)`` stacks ``[W_i; W_r; W_o]`` (row blocks in that
    order; ``W_i``'s rows ``m*K + k``, ``W_r``'s ``j*K + k``), ``weight_hh`` ``(M*K + K*K + K, K)`` the ``U``'s,
    ``bias`` ``[b_i; B_r; b_o]``.

    Args:
        input_size: I = M + L. hidden_size: K, the number of cells.
        mass_size: M, how many of the leading input features are mass (default 1; 1 <= M <= I).
        eps: added to ``||c||_1`` in the gates' normalisation (so the empty start ``c_0 = 0`` gives ``n = 0``).

    Shapes: x_t (B, M + L); state ``MCLSTMState(h (B, K), c (B, K))``; output h (B, K).

    Fast path: "autograd" (the step looped in plain autograd operations, :mod:`rnnzoo.fused.loop`; no fused
    Function): the normalisation by ``||c||_1`` and the softmaxes mix the units, and the
    redistribution is a matrix per example.

    Initialisation (after the authors' code): weights U(-1/sqrt(K), 1/sqrt(K)); ``b_i = 0``; ``B_r = 3`` on the
    diagonal and 0 elsewhere (mass mostly stays in its cell at first); ``b_o = -3`` (little mass leaves at first).

    Deviations: ``eps`` (the paper divides by ``||c||_1``, undefined at ``c = 0``; the authors' code adds 1e-5);
    the output is the outgoing mass ``h_t`` (the paper's models add a head; the "mass out" a task sums is
    ``h_t.sum(-1)``).

    Example::

        >>> import torch, rnnzoo
        >>> cell = MCLSTMCell(3, 4, mass_size=1)          # 1 mass input, 2 auxiliary inputs, 4 cells
        >>> x = torch.rand(2, 6, 3, dtype=torch.float64)
        >>> res = rnnzoo.run(cell.double(), x)
        >>> torch.allclose(res.state.c.sum(-1) + res.output.sum((1, 2)), x[..., 0].sum(1))
        True
    """

    def __init__(self, input_size: int, hidden_size: int, *, mass_size: int = 1, eps: float = 1e-5) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size)
        positive_int("mass_size", mass_size)
        if mass_size > input_size:
            raise ValueError(f"mass_size: expected at most input_size ({input_size}) mass inputs, got {mass_size}")
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not 0.0 < float(eps) < math.inf:
            raise ValueError(f"eps: expected a positive number, got {eps!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.mass_size = mass_size
        self.aux_size = input_size - mass_size
        self.eps = float(eps)
        K, M = hidden_size, mass_size
        n = M * K + K * K + K
        self.weight_ih = nn.Parameter(torch.empty(n, self.aux_size))
        self.weight_hh = nn.Parameter(torch.empty(n, K))
        self.bias = nn.Parameter(torch.empty(n))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        K, M = self.hidden_size, self.mass_size
        k = 1.0 / math.sqrt(K)
        nn.init.uniform_(self.weight_ih, -k, k)
        nn.init.uniform_(self.weight_hh, -k, k)
        with torch.no_grad():
            self.bias.zero_()
            self.bias[M * K:M * K + K * K].view(K, K).fill_diagonal_(3.0)
            self.bias[M * K + K * K:].fill_(-3.0)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> MCLSTMState:
        spec = TensorSpec((batch_size, self.hidden_size))
        return MCLSTMState(spec, spec)

    def project(self, x: Tensor) -> Tensor:
        """``[m, W a + b]`` for all steps: ``(..., M + L) -> (..., M + M*K + K*K + K)``."""
        m, a = x.split([self.mass_size, self.aux_size], -1)
        flat = a.reshape(math.prod(x.shape[:-1]), self.aux_size)
        g = torch.addmm(self.bias, flat, self.weight_ih.t()).view(*x.shape[:-1], -1)
        return torch.cat([m, g], -1)

    def gates(self, u_t: Tensor, c: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        """``(m_t, i_t (B, M, K), R_t (B, K, K), o_t (B, K))`` from ``u_t = project(x_t)`` and ``c_{t-1}``."""
        K, M = self.hidden_size, self.mass_size
        m, g = u_t.split([M, u_t.shape[-1] - M], -1)
        n = c / (c.abs().sum(-1, keepdim=True) + self.eps)
        g = g + n @ self.weight_hh.t()
        gi, gr, go = g.split([M * K, K * K, K], -1)
        i = torch.softmax(gi.view(-1, M, K), -1)
        r = torch.softmax(gr.view(-1, K, K), -1)
        o = torch.sigmoid(go)
        return m, i, r, o

    def step(self, u_t: Tensor, state: MCLSTMState) -> tuple[Tensor, MCLSTMState]:
        m, i, r, o = self.gates(u_t, state.c)
        self.report("i", i.flatten(1), "attention")
        self.report("r", r.flatten(1), "attention")
        self.report("o", o, "sigmoid")
        mtot = (m.unsqueeze(1) @ i).squeeze(1) + (state.c.unsqueeze(1) @ r).squeeze(1)
        h = o * mtot
        return h, MCLSTMState(h, (1 - o) * mtot)

    fused_kind = "autograd"
    """The runner's fast path: :func:`~rnnzoo.fused.loop.step_loop`, this cell's ``step`` in one loop of plain
    autograd operations over the projected inputs (no fused Function fits; see "Fast path")."""

    def fused(self, steps: Steps, state: Any) -> tuple[Tensor, Any] | None:
        return step_loop(self.step, steps, state)

    def recurrent_weights(self) -> list[str]:
        """``weight_hh``: the gates' weights on the normalised cells (what ``weight_drop`` masks)."""
        return ["weight_hh"]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, mass_size={self.mass_size}, eps={self.eps}"


register("mc_lstm", paper=Paper("Hoedt, Kratzert, Klotz, Halmich, Holzleitner, Nearing, Hochreiter & Klambauer", 2021,
                                "MC-LSTM: Mass-conserving LSTM", "2101.05186"),
         seed_equations="none (not in the seeds)",
         description="Mass-conserving LSTM: softmax input/redistribution gates, mass in = mass in cells + mass out",
         gated=True, fast_path=FastPath.AUTOGRAD)(MCLSTMCell)
