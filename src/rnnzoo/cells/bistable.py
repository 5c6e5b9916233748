r"""The bistable recurrent cell (BRC) and its neuromodulated form (nBRC) of Vecoven, Ernst & Drion 2021,
"A bio-inspired bistable recurrent cell allows for long-lasting memory" (arXiv:2006.05252, PLoS ONE 16(6)):
a GRU-like cell whose feedback ``a_t`` can exceed 1, so each unit can latch one of two stable states.

Both are :class:`~rnnzoo.core.pointwise.PointwiseCell`\ s: BRC's recurrence is elementwise (two per-unit weight
vectors, no recurrent matrix), nBRC's is one product with ``[W_a; W_c]``; one hand-written Function
(:mod:`rnnzoo.fused.bistable`) runs either.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Steps, linear_projection
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.bistable import bistable_recurrence


class BistableState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class _Bistable(PointwiseCell):
    """What BRC and nBRC share: the input projection (``[U_a; U_c; U_x]``), the state and the update."""

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(3 * hidden_size, input_size))  # [U_a; U_c; U_x]
        self.bias = nn.Parameter(torch.empty(2 * hidden_size)) if bias else None  # [b_a; b_c]
        self._make_recurrent()
        self.reset_parameters()

    def _make_recurrent(self) -> None:
        raise NotImplementedError

    def _init_recurrent(self) -> None:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """The authors' code: Glorot-uniform ``U_a, U_c, U_x`` (per gate), zero biases, and the recurrent
        weights of :meth:`_init_recurrent`."""
        H, I = self.hidden_size, self.input_size
        k = math.sqrt(6.0 / (I + H))
        nn.init.uniform_(self.weight_ih, -k, k)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        self._init_recurrent()

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> BistableState:
        return BistableState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[U_a x + b_a, U_c x + b_c, U_x x]``: (..., I) -> (..., 3H) (the candidate has no bias)."""
        bias = None if self.bias is None else torch.cat([self.bias, self.bias.new_zeros(self.hidden_size)])
        return linear_projection(x, self.weight_ih, bias)  # one product with the bias, no sequence-sized add

    def _feedback(self, r: Tensor | None, h: Tensor) -> tuple[Tensor, Tensor]:
        """``(w_a h, w_c h)`` or ``(W_a h, W_c h)``: the recurrent parts of the two gates."""
        raise NotImplementedError

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: BistableState) -> BistableState:
        ua, uc, ux = u_t.chunk(3, -1)
        h = state.h
        ra, rc = self._feedback(r_t, h)
        a = 1.0 + torch.tanh(ua + ra)
        c = torch.sigmoid(uc + rc)
        self.report("z", c, "sigmoid")  # c_t, the update gate, under the GRU's name
        return BistableState(c * h + (1.0 - c) * torch.tanh(ux + a * h))

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.bistable), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: BistableState) -> tuple[Tensor, BistableState] | None:
        """The whole sequence through :func:`rnnzoo.fused.bistable.bistable_recurrence` (raw-tensor forward,
        hand-written backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = bistable_recurrence(steps.u, self.weight_hh, state.h, steps.mask)
        return out, BistableState(h)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


class BRCell(_Bistable):
    r"""Bistable recurrent cell, BRC (Vecoven, Ernst & Drion 2021, arXiv:2006.05252, sec. "Bistable recurrent
    cell (BRC)")::

        a_t = 1 + tanh(U_a x_t + w_a * h_{t-1} + b_a)          # the feedback, in (0, 2): > 1 makes a unit bistable
        c_t = sigmoid(U_c x_t + w_c * h_{t-1} + b_c)           # the update gate
        h_t = c_t * h_{t-1} + (1 - c_t) * tanh(U_x x_t + a_t * h_{t-1})

    ``*`` is elementwise: ``w_a``, ``w_c`` are per-unit vectors (each neuron's only feedback is its own state, the
    paper's "cellular" memory), so the recurrence is elementwise (``Recurrence.ELEMENTWISE``, no matrix product in
    time). ``weight_ih`` stacks ``[U_a; U_c; U_x]`` ``(3H, I)``; ``weight_hh`` stacks ``[w_a; w_c]`` ``(2H,)``;
    ``bias`` is ``[b_a; b_c]`` (the candidate has none).

    Args:
        input_size: I. hidden_size: H. bias: learn ``b_a, b_c``.

    Shapes: x_t (B, I); state ``BistableState(h (B, H))``; output (B, H).

    Initialisation (the authors' code, github.com/nvecoven/BRC): Glorot-uniform ``weight_ih``, ``w_a = w_c = 1``,
    zero biases.

    Fast path: :func:`rnnzoo.fused.bistable.bistable_recurrence` (``FastPath.RNNZOO``: forward without a graph per
    step, a hand-written backward, ``[dw_a; dw_c]`` accumulated per step); ``pointwise`` stays the reference.

    Deviations: the paper's equations have no biases; its code (and rnnzoo with ``bias=True``) adds ``b_a, b_c``;
    ``bias=False`` is the equations' exact form.

    Example:
        >>> import torch, rnnzoo
        >>> cell = rnnzoo.create("br", input_size=3, hidden_size=4).cell
        >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
        torch.Size([2, 5, 4])
    """

    def _make_recurrent(self) -> None:
        self.weight_hh = nn.Parameter(torch.empty(2 * self.hidden_size))  # [w_a; w_c]

    def _init_recurrent(self) -> None:
        nn.init.ones_(self.weight_hh)

    def recurrent_weight(self) -> None:
        return None

    def _feedback(self, r: Tensor | None, h: Tensor) -> tuple[Tensor, Tensor]:
        wa, wc = self.weight_hh.chunk(2)
        return wa * h, wc * h

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``diag(w_a)`` (tanh) and ``diag(w_c)`` (sigmoid), read-only; ``weight_hh`` is what weight drop masks."""
        wa, wc = self.weight_hh.detach().chunk(2)
        return [RecurrentBlock("weight_hh[a] (diag)", torch.diag(wa), "tanh", writable=False, parameter="weight_hh"),
                RecurrentBlock("weight_hh[c] (diag)", torch.diag(wc), "sigmoid", writable=False,
                               parameter="weight_hh")]


class NBRCell(_Bistable):
    r"""Neuromodulated bistable recurrent cell, nBRC (Vecoven, Ernst & Drion 2021, arXiv:2006.05252, sec.
    "Recurrently neuromodulated bistable recurrent cell (nBRC)")::

        a_t = 1 + tanh(U_a x_t + W_a h_{t-1} + b_a)            # the feedback now reads the whole layer
        c_t = sigmoid(U_c x_t + W_c h_{t-1} + b_c)
        h_t = c_t * h_{t-1} + (1 - c_t) * tanh(U_x x_t + a_t * h_{t-1})

    The BRC with the per-unit feedback vectors replaced by matrices (the neuromodulation of ``a`` and ``c`` by the
    other neurons); the candidate still reads only the unit's own state. ``weight_ih`` stacks ``[U_a; U_c; U_x]``
    ``(3H, I)``; ``weight_hh`` stacks ``[W_a; W_c]`` ``(2H, H)``; ``bias`` is ``[b_a; b_c]``.

    Args:
        input_size: I. hidden_size: H. bias: learn ``b_a, b_c``.

    Shapes: x_t (B, I); state ``BistableState(h (B, H))``; output (B, H).

    Initialisation (the authors' code): Glorot-uniform ``weight_ih``, orthogonal ``W_a`` and ``W_c``, zero biases.

    Fast path: :func:`rnnzoo.fused.bistable.bistable_recurrence` (``FastPath.RNNZOO``: forward without a graph per
    step, a hand-written backward, ``[W_a; W_c]``'s gradient one product after the loop); ``pointwise`` stays the
    reference.

    Deviations: as :class:`BRCell` (the biases are the code's, not the equations'; ``bias=False`` drops them).

    Example:
        >>> import torch, rnnzoo
        >>> cell = rnnzoo.create("nbr", input_size=3, hidden_size=4).cell
        >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
        torch.Size([2, 5, 4])
    """

    def _make_recurrent(self) -> None:
        self.weight_hh = nn.Parameter(torch.empty(2 * self.hidden_size, self.hidden_size))  # [W_a; W_c]

    def _init_recurrent(self) -> None:
        for w in self.weight_hh.data.chunk(2):
            nn.init.orthogonal_(w)

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def _feedback(self, r: Tensor | None, h: Tensor) -> tuple[Tensor, Tensor]:
        assert r is not None
        ra, rc = r.chunk(2, -1)
        return ra, rc

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``W_a`` (tanh) and ``W_c`` (sigmoid)."""
        return gate_blocks(self.weight_hh, ("a", "c"), ("tanh", "sigmoid"))


_PAPER = Paper("Vecoven, Ernst & Drion", 2021, "A bio-inspired bistable recurrent cell allows for long-lasting memory",
               "2006.05252")
register("br", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="Bistable recurrent cell: per-unit feedback a_t in (0, 2) lets each unit latch a state",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.ELEMENTWISE, peers=("torchrecurrent.BR",)
         )(BRCell)
register("nbr", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="Neuromodulated bistable recurrent cell: BRC with its gates' feedback read through matrices",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.NBR",)
         )(NBRCell)
