"""Mogrifier LSTM: the input and the previous hidden state gate each other for r rounds before an LSTM step."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.cells._torch_layout import TorchLayoutCell
from rnnzoo.cells.lstm import LSTMGates, LSTMState
from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args, real
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register


class MogrifierLSTMCell(TorchLayoutCell):
    r"""Mogrifier LSTM (Melis, Kocisky & Blunsom 2020, ICLR, arXiv:1909.01792; seed 003, recent innovations).

    Before the LSTM step, ``x`` and ``h_prev`` modulate each other for ``rounds`` = r rounds, with
    ``x^{-1} = x_t`` and ``h^0 = h_{t-1}`` (paper eqs (1)-(2))::

        x^i = 2 * sigmoid(Q^i @ h^{i-1}) * x^{i-2}      for odd i in 1..r   # eq (1); Q^i = mog_q[(i-1)//2]
        h^i = 2 * sigmoid(R^i @ x^{i-1}) * h^{i-2}      for even i in 1..r  # eq (2); R^i = mog_r[i//2 - 1]

    then the LSTM of ``rnnzoo``'s ``lstm`` (001 eqs (16)-(20) without peepholes) on the mogrified
    ``x^up`` (the highest-indexed x) and ``h^up`` (the highest-indexed h)::

        [i, f, g, o] = weight_ih @ x^up + bias_ih + weight_hh @ h^up + bias_hh   (torch's gate order)
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g);   h_t = sigmoid(o) * tanh(c_t)

    The first round gates x using h (the paper's order). Every round has its own matrix: ``mog_q``
    is (ceil(r/2), I, H), ``mog_r`` (floor(r/2), H, I). With ``rank`` k > 0 each is a product of two
    factors, ``Q^i = mog_q_left[j] @ mog_q_right[j]`` ((I, k) @ (k, H)), likewise R (the paper's
    low-rank factorisation, introduced with eqs (1)-(2)). ``rounds=0`` is exactly the LSTM (``lstm``)
    with the same weights.

    Args:
        rounds: r >= 0 (default 5, the paper's typical setting; its tuned values are 4-6).
        rank: 0 for full Q^i, R^i (default); k >= 1 for the factorised form.
        forget_bias: if given, initialise the forget gate's bias (b_f = bias_ih_f + bias_hh_f) to it.
        bias: the LSTM's biases (the mogrifier rounds have none in the paper, nor here).

    Shapes: x_t (B, I); state ``LSTMState(h (B, H), c (B, H))``; output h_t (B, H).

    Deviations: ``project`` is the identity: x_t is rescaled by h_{t-1} before ``weight_ih`` reads it,
    so no product of the input can be computed for all steps at once (nor is there an input-only term:
    Q^1 multiplies h). The fast path (:meth:`fused`) is a whole-sequence loop of plain autograd
    operations, not a Function with a hand-written backward. Initialisation: the LSTM's weights
    U(-1/sqrt(H), 1/sqrt(H)) as torch.nn.LSTM; each Q^i, R^i (or factor) U(-1/sqrt(fan_in),
    1/sqrt(fan_in)), so at initialisation ``2 sigmoid(.)`` is near 1 and the rounds start near the
    identity. The paper does not fix an initialisation here
    (its code, deepmind/lamb, uses its own matrix initialiser).
    """

    def __init__(self, input_size: int, hidden_size: int, *, rounds: int = 5, rank: int = 0,
                 forget_bias: float | None = None, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        if isinstance(rounds, bool) or not isinstance(rounds, int) or rounds < 0:
            raise ValueError(f"rounds: expected an int >= 0, got {rounds!r}")
        if isinstance(rank, bool) or not isinstance(rank, int) or rank < 0:
            raise ValueError(f"rank: expected an int >= 0 (0 = full-rank Q and R), got {rank!r}")
        forget_bias = real("forget_bias", forget_bias, optional=True)
        if forget_bias is not None and not bias:
            raise ValueError("forget_bias: needs bias=True")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.rounds = rounds
        self.rank = rank
        self.forget_bias = forget_bias
        self.gates = LSTMGates(forget_gate=True, coupled=False, input_activation="tanh", cell_activation=True)
        self._make_weights(4, input_size, hidden_size, hidden_size, bias)
        nq, nr = (rounds + 1) // 2, rounds // 2
        if rank:
            self.mog_q_left = nn.Parameter(torch.empty(nq, input_size, rank))
            self.mog_q_right = nn.Parameter(torch.empty(nq, rank, hidden_size))
            self.mog_r_left = nn.Parameter(torch.empty(nr, hidden_size, rank))
            self.mog_r_right = nn.Parameter(torch.empty(nr, rank, input_size))
        else:
            self.mog_q = nn.Parameter(torch.empty(nq, input_size, hidden_size))
            self.mog_r = nn.Parameter(torch.empty(nr, hidden_size, input_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for name, p in self.named_parameters():
            fan_in = p.shape[-1] if name.startswith("mog_") else None
            nn.init.uniform_(p, -1.0 / math.sqrt(fan_in) if fan_in else -k, 1.0 / math.sqrt(fan_in) if fan_in else k)
        if self.forget_bias is not None:
            self._set_forget_bias(self.forget_bias)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> LSTMState:
        return LSTMState(self._hidden_spec(batch_size), self._hidden_spec(batch_size))

    def round_matrices(self) -> tuple[list[Tensor], list[Tensor]]:
        """``([Q^1, Q^3, ...], [R^2, R^4, ...])``: Q^i (I, H), R^i (H, I), products of the factors with ``rank``."""
        if self.rank:
            qs = torch.bmm(self.mog_q_left, self.mog_q_right)
            rs = torch.bmm(self.mog_r_left, self.mog_r_right)
        else:
            qs, rs = self.mog_q, self.mog_r
        return list(qs.unbind(0)), list(rs.unbind(0))

    def mogrify(self, x: Tensor, h: Tensor) -> tuple[Tensor, Tensor]:
        """Eqs (1)-(2): the r rounds; (B, I), (B, H) -> (x^up (B, I), h^up (B, H))."""
        qs, rs = self.round_matrices()
        for i in range(1, self.rounds + 1):
            if i % 2:
                x = 2.0 * torch.sigmoid(h @ qs[(i - 1) // 2].t()) * x  # eq (1)
            else:
                h = 2.0 * torch.sigmoid(x @ rs[i // 2 - 1].t()) * h  # eq (2)
        return x, h

    def step(self, u_t: Tensor, state: LSTMState) -> tuple[Tensor, LSTMState]:
        x, h_prev = self.mogrify(u_t, state.h)
        pre = x @ self.weight_ih.t() + h_prev @ self.weight_hh.t()
        if self.bias:
            pre = pre + (self.bias_ih + self.bias_hh)
        h, c = self.gates(pre, state.c, None, self.report)
        return h, LSTMState(h, c)

    fused_kind = "autograd"
    """The runner's fast path: :meth:`fused`, a whole-sequence loop of plain autograd operations."""

    def fused(self, steps: Steps, state: LSTMState) -> tuple[Tensor, LSTMState] | None:
        """The whole sequence in one loop of plain autograd operations (the same equations as ``step``):
        the round matrices (and their factor products) formed once per run, not once per step, and the
        LSTM's two products as one, ``[x^up, h^up] @ [weight_ih, weight_hh]^T``. Masked steps keep
        (h, c) and output zeros."""
        xs = steps.u.unbind(0)  # T x (B, I) (project is the identity); one unbind: its backward is one stack
        qs, rs = self.round_matrices()
        qts, rts = [q.t() for q in qs], [r.t() for r in rs]
        w = torch.cat([self.weight_ih, self.weight_hh], 1).t()  # (I + H, 4H)
        b = self.bias_ih + self.bias_hh if self.bias else None
        h, c = state.h, state.c
        mask = steps.mask
        outs = []
        for t in range(steps.steps):
            x, hm = xs[t], h
            for i in range(1, self.rounds + 1):
                if i % 2:
                    x = 2.0 * torch.sigmoid(hm @ qts[(i - 1) // 2]) * x  # eq (1)
                else:
                    hm = 2.0 * torch.sigmoid(x @ rts[i // 2 - 1]) * hm  # eq (2)
            xh = torch.cat([x, hm], 1)
            pre = xh @ w if b is None else torch.addmm(b, xh, w)
            gi, gf, gg, go = pre.chunk(4, 1)
            c_new = torch.sigmoid(gf) * c + torch.sigmoid(gi) * torch.tanh(gg)
            h_new = torch.sigmoid(go) * torch.tanh(c_new)
            if mask is None:
                h, c = h_new, c_new
                outs.append(h_new)
            else:
                m = mask[t].unsqueeze(1)
                h, c = torch.where(m, h_new, h), torch.where(m, c_new, c)
                outs.append(torch.where(m, h_new, torch.zeros((), dtype=h_new.dtype, device=h_new.device)))
        return torch.stack(outs), LSTMState(h, c)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``weight_hh`` by gate (i, f, g, o): what multiplies the (mogrified) previous hidden state."""
        return gate_blocks(self.weight_hh, self.gates.names, self.gates.activations())

    def initialize(self, scheme: str, value: float | None = None, *,
                   generator: torch.Generator | None = None) -> bool:
        """The block schemes, and ``forget_bias`` (as the LSTM's)."""
        if scheme == "forget_bias":
            if not self.bias or value is None:
                return False
            self._set_forget_bias(float(value))
            return True
        return super().initialize(scheme, value, generator=generator)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, rounds={self.rounds}, rank={self.rank}, "
                f"bias={self.bias}")


register("mogrifier_lstm", paper=Paper("Melis, Kocisky & Blunsom", 2020, "Mogrifier LSTM", "1909.01792"),
         seed_equations="003 (recent innovations); paper eqs (1)-(2) on 001 eqs (16)-(20)",
         description="LSTM whose input and previous hidden state gate each other for r rounds (default 5)",
         gated=True, fast_path=FastPath.AUTOGRAD, recurrence=Recurrence.MATRIX,
         peers=())(MogrifierLSTMCell)
