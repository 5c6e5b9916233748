"""Differential RNN (dRNN): an LSTM whose gates read the derivatives of its internal state (DoS)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.cells._torch_layout import TorchLayoutCell
from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec


class DRNNState(NamedTuple):
    """h: (B, H) the output; s: (B, H) the internal state s_t; past: (B, order * H) the earlier internal
    states ``[s_{t-1}, ..., s_{t-order}]`` (the DoS at t-1 of order R reads s_{t-1-R}; order 0 keeps none)."""

    h: Tensor
    s: Tensor
    past: Tensor


_COEFFS = ((1.0,), (1.0, -1.0), (1.0, -2.0, 1.0))  # d^r s_t = sum_k coeff[k] * s_{t-k}


class DRNNCell(TorchLayoutCell):
    r"""Differential RNN (Veeriah, Zhuang & Qi 2015, ICCV, arXiv:1504.06678; 001 section 4.6, eqs (29)-(31)).

    The derivatives of states (DoS) of the internal state s, by backward differences::

        d^0 s_t = s_t;   d^1 s_t = s_t - s_{t-1};   d^2 s_t = s_t - 2 s_{t-1} + s_{t-2}
        D_t = [d^0 s_t, ..., d^R s_t]                                   (B, (R+1) H), R = ``order``

    The input and forget gates see the DoS at t-1, the output gate the DoS at t, after the cell
    update (the paper's Figure; 001 eqs (29)-(31))::

        i = sigmoid(W_i x_t + U_i h_{t-1} + V_i D_{t-1} + b_i)          # 001 eq (29)
        f = sigmoid(W_f x_t + U_f h_{t-1} + V_f D_{t-1} + b_f)          # 001 eq (30)
        g = tanh(W_g x_t + U_g h_{t-1} + b_g)
        s_t = f * s_{t-1} + i * g
        o = sigmoid(W_o x_t + U_o h_{t-1} + V_o D_t + b_o)              # 001 eq (31)
        h_t = o * tanh(s_t)

    with ``W = weight_ih`` (4H, I), ``U = weight_hh`` (4H, H) in torch's gate order (i, f, g, o),
    ``b = bias_ih + bias_hh``, ``[V_i; V_f] = weight_dos_if`` (2H, (R+1) H) and ``V_o = weight_dos_o``
    (H, (R+1) H): one full matrix W^(r) per gate and order, as the paper's sum over r = 0..R. The
    state carries ``s_{t-1}, ..., s_{t-R}`` beside s_t (zeros before the first step), so a sequence
    cut into chunks, or trained by truncated BPTT, computes exactly what the whole sequence does.

    Args:
        order: R in {0, 1, 2} (default 2, the paper's best model: KTH 93.96%, MSR Action3D 92.03%).
            Order 0 keeps only the d^0 s = s terms (the peephole LSTM with full peephole matrices),
            so orders 1 and 2 differ from it by the derivative terms alone. Unverified: the sum from
            r = 0 follows 001's text; if the paper's own sum starts at r = 1, its baseline is the plain
            LSTM (``lstm``), not this order 0.
        bias: the biases b.

    Shapes: x_t (B, I); state ``DRNNState(h (B, H), s (B, H), past (B, R*H))``; output h_t (B, H).

    Deviations: 001 writes the DoS of h (``d^r h_{t-1}/dt^r``) and y_{t-1} for the recurrent input,
    its own notation for the LSTM's internal state and output; the paper differentiates the internal
    state s, which this cell follows (the DoS of h would be a different model). The paper's
    derivatives are the discrete differences above. g has no DoS term (the paper gates only i, f, o).
    Equation numbers are the seed's (001 eqs (29)-(31), with the sum over r = 0..R); the paper's own
    numbering was not available offline to cite.
    Initialisation: every weight U(-1/sqrt(H), 1/sqrt(H)) as torch.nn.LSTM. The fast path
    (:meth:`fused`) is a whole-sequence loop of plain autograd operations, not a Function with a
    hand-written backward.
    """

    def __init__(self, input_size: int, hidden_size: int, *, order: int = 2, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        if type(order) is not int or order not in (0, 1, 2):
            raise ValueError(f"order: expected 0, 1 or 2 (the highest derivative of s), got {order!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.order = order
        self._make_weights(4, input_size, hidden_size, hidden_size, bias)
        self.weight_dos_if = nn.Parameter(torch.empty(2 * hidden_size, (order + 1) * hidden_size))
        self.weight_dos_o = nn.Parameter(torch.empty(hidden_size, (order + 1) * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> DRNNState:
        H = self.hidden_size
        return DRNNState(TensorSpec((batch_size, H)), TensorSpec((batch_size, H)),
                         TensorSpec((batch_size, self.order * H)))

    def project(self, x: Tensor) -> Tensor:
        """``weight_ih @ x + bias_ih + bias_hh`` for all steps at once: (..., I) -> (..., 4H)."""
        return self._input_product(x, self.bias_ih + self.bias_hh if self.bias else None)

    def dos(self, history: list[Tensor]) -> Tensor:
        """``D = [d^0 s, ..., d^R s]`` (B, (R+1) H) from ``history = [s_t, s_{t-1}, ..., s_{t-R}]``."""
        out = []
        for r in range(self.order + 1):
            d = history[0]
            for k in range(1, r + 1):
                d = d + _COEFFS[r][k] * history[k]
            out.append(d)
        return torch.cat(out, -1)

    def step(self, u_t: Tensor, state: DRNNState) -> tuple[Tensor, DRNNState]:
        H, R = self.hidden_size, self.order
        past = list(state.past.split(H, -1)) if R else []
        history_prev = [state.s, *past]  # s_{t-1}, s_{t-2}, ..., s_{t-1-R}
        pre = torch.addmm(u_t, state.h, self.weight_hh.t())
        i, f, g, o = pre.chunk(4, 1)
        dif = self.dos(history_prev) @ self.weight_dos_if.t()  # eqs (29)-(30): DoS at t-1
        di, df = dif.chunk(2, 1)
        i = torch.sigmoid(i + di)
        f = torch.sigmoid(f + df)
        g = torch.tanh(g)
        s = f * state.s + i * g
        history = [s, *history_prev[:R]]  # s_t, ..., s_{t-R}
        o = torch.sigmoid(o + self.dos(history) @ self.weight_dos_o.t())  # eq (31): DoS at t
        self.report("i", i, "sigmoid")
        self.report("f", f, "sigmoid")
        self.report("o", o, "sigmoid")
        h = o * torch.tanh(s)
        new_past = torch.cat(history_prev[:R], -1) if R else state.past
        return h, DRNNState(h, s, new_past)

    def lag_matrices(self, weight: Tensor) -> list[Tensor]:
        """``V D_t = sum_k A_k s_{t-k}``: the DoS weights ``weight`` (G, (R+1) H) regrouped by lag k = 0..R,
        ``A_k = sum_{r >= k} coeff(r, k) W^(r)`` with the backward differences' coefficients."""
        blocks = weight.chunk(self.order + 1, 1)  # W^(r), r = 0..R
        return [sum(_COEFFS[r][k] * blocks[r] for r in range(k, self.order + 1)) for k in range(self.order + 1)]

    fused_kind = "autograd"
    """The runner's fast path: :meth:`fused`, a whole-sequence loop of plain autograd operations."""

    def fused(self, steps: Steps, state: DRNNState) -> tuple[Tensor, DRNNState] | None:
        """The whole sequence in one loop of plain autograd operations (the same equations as ``step``).

        The DoS terms are linear in the past states, so they regroup by lag (:meth:`lag_matrices`):
        everything a step reads from before it, ``U h_{t-1}``, eqs (29)-(30)'s DoS at t-1 and the part of
        eq (31)'s DoS at t in s_{t-1}, ..., s_{t-R}, is one product ``[h_{t-1}, s_{t-1}, ..., s_{t-1-R}] @ M``;
        after the cell update only ``A_o0 s_t`` remains. Masked steps keep the state and output zeros."""
        H, R = self.hidden_size, self.order
        zero = self.weight_hh.new_zeros(H, H)
        a_if = self.lag_matrices(self.weight_dos_if)  # (2H, H) per lag of [s_{t-1}, ..., s_{t-1-R}]
        a_o = self.lag_matrices(self.weight_dos_o)  # (H, H) per lag of [s_t, ..., s_{t-R}]
        u_if, u_g, u_o = self.weight_hh.split([2 * H, H, H], 0)
        rows_if = torch.cat([u_if, *a_if], 1)
        rows_g = torch.cat([u_g, *[zero] * (R + 1)], 1)
        rows_o = torch.cat([u_o, *a_o[1:], zero], 1)  # s_{t-1-j} is lag j + 1 of the DoS at t
        m_t = torch.cat([rows_if, rows_g, rows_o], 0).t()  # (H + (R+1) H, 4H)
        a_o0 = a_o[0].t()
        u = steps.u.unbind(0)  # T x (B, 4H); unbound once: its backward is one stack, not T zero-filled copies
        h, s = state.h, state.s
        past = list(state.past.split(H, -1)) if R else []
        mask = steps.mask
        outs = []
        for t in range(steps.steps):
            pre = torch.addmm(u[t], torch.cat([h, s, *past], 1), m_t)
            gi, gf, gg, go = pre.chunk(4, 1)
            s_new = torch.sigmoid(gf) * s + torch.sigmoid(gi) * torch.tanh(gg)
            h_new = torch.sigmoid(torch.addmm(go, s_new, a_o0)) * torch.tanh(s_new)
            new_past = [s, *past[:-1]] if R else []
            if mask is None:
                h, s, past = h_new, s_new, new_past
                outs.append(h_new)
            else:
                m = mask[t].unsqueeze(1)
                h, s = torch.where(m, h_new, h), torch.where(m, s_new, s)
                past = [torch.where(m, a, b) for a, b in zip(new_past, past, strict=True)]
                outs.append(torch.where(m, h_new, torch.zeros((), dtype=h_new.dtype, device=h_new.device)))
        return torch.stack(outs), DRNNState(h, s, torch.cat(past, 1) if R else state.past)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``weight_hh`` by gate (i, f, g, o), each with the activation it feeds."""
        return gate_blocks(self.weight_hh, ("i", "f", "g", "o"), ("sigmoid", "sigmoid", "tanh", "sigmoid"))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, order={self.order}, bias={self.bias}"


register("drnn", paper=Paper("Veeriah, Zhuang & Qi", 2015, "Differential recurrent neural networks for action "
                              "recognition", "1504.06678"),
         seed_equations="001 section 4.6, eqs (29)-(31)",
         description="LSTM whose input/forget gates read the derivatives of s at t-1 and output gate at t",
         gated=True, fast_path=FastPath.AUTOGRAD, recurrence=Recurrence.MATRIX)(DRNNCell)
