"""MUT1, MUT2 and MUT3 (Jozefowicz, Zaremba & Sutskever 2015, "An empirical exploration of recurrent network
architectures", ICML, PMLR 37): the three best GRU mutations of their architecture search."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Cell, Steps, linear_projection
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.mut import mut_recurrence


class MUTState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


def identity_choice(name: str, value: Any, input_size: int, hidden_size: int) -> bool:
    """Resolve an ``identity``-or-learned option: None -> identity iff ``input_size == hidden_size``; True needs
    equal sizes; False is a learned matrix."""
    if value is None:
        return input_size == hidden_size
    if not isinstance(value, bool):
        raise TypeError(f"{name}: expected True, False or None, got {value!r}")
    if value and input_size != hidden_size:
        raise ValueError(f"{name}: True adds x_t itself to an H-vector, which needs input_size == hidden_size; "
                         f"got input_size={input_size}, hidden_size={hidden_size} (pass {name}=False for a "
                         "learned (H, I) map)")
    return value


class _MUT(Cell):
    """What the three mutations share: ``z``, ``r`` and the candidate ``tanh(W_hh (r * h) + ...)``; the update
    ``h_t = cand * z + h_{t-1} * (1 - z)``. ``W_hh`` multiplies ``r * h``, a second recurrent product after a gate,
    so there is no :class:`~rnnzoo.core.pointwise.PointwiseCell` form: the fast path is one hand-written Function
    for the three (:func:`rnnzoo.fused.mut.mut_recurrence`, switched by ``variant``)."""

    variant: int = 0  # 1, 2 or 3: which mutation (the fused Function's switch)
    identity_slot: int | None = None  # which of (z, r, h) reads x_t through the identity in the paper
    gate_rows: int = 2  # rows of H in weight_hg: the gates that read the state through a matrix

    def __init__(self, input_size: int, hidden_size: int, *, identity_input: bool | None = None,
                 bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.identity_input = (identity_choice("identity_input", identity_input, input_size, hidden_size)
                               if self.identity_slot is not None else False)
        learned = 3 - int(self.identity_input)
        self.weight_ih = nn.Parameter(torch.empty(learned * hidden_size, input_size))
        self.weight_hg = nn.Parameter(torch.empty(self.gate_rows * hidden_size, hidden_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(3 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> MUTState:
        return MUTState(TensorSpec((batch_size, self.hidden_size)))

    def input_terms(self, x: Tensor) -> Tensor:
        """The three input terms ``[z, r, h]`` before biases and activations: (..., I) -> (..., 3H); the slot the
        paper feeds ``x_t`` itself holds ``x`` when ``identity_input``."""
        w = self.weight_ih.t()
        if not self.identity_input:
            return x @ w
        learned = list((x @ w).chunk(2, -1))
        learned.insert(self.identity_slot, x)
        return torch.cat(learned, -1)

    def project(self, x: Tensor) -> Tensor:
        """The input-only terms ``[z, r, h]`` with their biases, for all steps: (..., I) -> (..., 3H)."""
        if not self.identity_input:  # one product with the bias inside (no whole-sequence ``+ bias`` temporary)
            return linear_projection(x, self.weight_ih, self.bias)
        u = self.input_terms(x)
        return u if self.bias is None else u + self.bias

    def gates(self, u_t: Tensor, h: Tensor, w_hg: Tensor) -> tuple[Tensor, Tensor]:
        """``(z, r)`` from ``u_t`` and ``h_{t-1}``; ``w_hg`` is ``weight_hg.T``."""
        raise NotImplementedError

    def update(self, u_t: Tensor, h: Tensor, w_hg: Tensor, w_hh: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """One step from the transposed weights: ``(h_t, z, r)``."""
        z, r = self.gates(u_t, h, w_hg)
        cand = torch.tanh(torch.addmm(u_t[:, 2 * self.hidden_size:], r * h, w_hh))
        return torch.lerp(h, cand, z), z, r  # cand * z + h * (1 - z)

    def step(self, u_t: Tensor, state: MUTState) -> tuple[Tensor, MUTState]:
        h, z, r = self.update(u_t, state.h, self.weight_hg.t(), self.weight_hh.t())
        self.report("z", z, "sigmoid")
        self.report("r", r, "sigmoid")
        return h, MUTState(h)

    fused_kind = "rnnzoo"
    """The runner's fast path: :meth:`fused`, a Function with a hand-written backward."""

    def fused(self, steps: Steps, state: MUTState) -> tuple[Tensor, MUTState] | None:
        """The whole sequence through :func:`rnnzoo.fused.mut.mut_recurrence` (raw-tensor forward into buffers
        allocated once, hand-written backward; the step loop is its reference twin); masked steps keep h and
        output zeros."""
        if not isinstance(steps.u, Tensor):
            return None
        out, h = mut_recurrence(steps.u, self.weight_hg, self.weight_hh, state.h, self.variant, steps.mask)
        return out, MUTState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        names = ("r",) if self.gate_rows == 1 else ("z", "r")
        return [*gate_blocks(self.weight_hg, names, ("sigmoid",) * self.gate_rows, parameter="weight_hg"),
                RecurrentBlock("weight_hh", self.weight_hh, "tanh", True, "weight_hh")]

    def extra_repr(self) -> str:
        tail = f", identity_input={self.identity_input}" if self.identity_slot is not None else ""
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}{tail}"


class MUT1Cell(_MUT):
    r"""MUT1 (Jozefowicz, Zaremba & Sutskever 2015, sec. 4, the first of the three listed architectures)::

        z   = sigmoid(W_xz x_t + b_z)                       # the update gate reads the input only
        r   = sigmoid(W_xr x_t + W_hr h_{t-1} + b_r)
        h_t = tanh(W_hh (r * h_{t-1}) + tanh(x_t) + b_h) * z + h_{t-1} * (1 - z)

    In the code: ``weight_ih = [W_xz; W_xr]`` (the candidate's ``x_t`` enters without a matrix),
    ``weight_hg = W_hr``, ``weight_hh = W_hh``, ``bias = [b_z, b_r, b_h]``.

    Args:
        identity_input: the paper adds ``tanh(x_t)`` itself, which needs I == H. None (default): the paper's form
            when I == H, else ``tanh(W_xh x_t)`` with a learned (H, I) ``W_xh`` (then ``weight_ih`` has 3H rows);
            True/False force either.
        bias: the biases b_z, b_r, b_h.

    Shapes: x_t (B, I); state ``MUTState(h (B, H))``; output (B, H). Initialisation: U(-1/sqrt(H), 1/sqrt(H)).

    Fast path: :func:`rnnzoo.fused.mut.mut_recurrence` (``FastPath.RNNZOO``: forward without a graph per step, a
    hand-written backward; ``W_hh`` multiplies ``r * h``, a second product after a gate: no PointwiseCell form).

    Deviations: with I != H (or ``identity_input=False``) the input reaches the candidate through a learned map,
    which the paper (I == H) does not have. torchrecurrent's ``MUT1`` always learns that map and adds a bias
    inside the inner tanh: ``tanh(W x + b)``.
    """

    variant = 1
    identity_slot = 2
    gate_rows = 1

    def gates(self, u_t: Tensor, h: Tensor, w_hg: Tensor) -> tuple[Tensor, Tensor]:
        u_z, u_r = u_t[:, :self.hidden_size], u_t[:, self.hidden_size:2 * self.hidden_size]
        return torch.sigmoid(u_z), torch.sigmoid(torch.addmm(u_r, h, w_hg))

    def project(self, x: Tensor) -> Tensor:
        """``[W_xz x + b_z, W_xr x + b_r, tanh(x) + b_h]`` (``tanh(W_xh x)`` without the identity): (..., 3H)."""
        u = self.input_terms(x)  # a fresh tensor: the tanh goes in place (no slice-and-cat temporaries)
        u[..., 2 * self.hidden_size:].tanh_()
        return u if self.bias is None else u + self.bias


class MUT2Cell(_MUT):
    r"""MUT2 (Jozefowicz, Zaremba & Sutskever 2015, sec. 4, the second listed architecture)::

        z   = sigmoid(W_xz x_t + W_hz h_{t-1} + b_z)
        r   = sigmoid(x_t + W_hr h_{t-1} + b_r)             # the reset gate adds x_t itself
        h_t = tanh(W_hh (r * h_{t-1}) + W_xh x_t + b_h) * z + h_{t-1} * (1 - z)

    In the code: ``weight_ih = [W_xz; W_xh]``, ``weight_hg = [W_hz; W_hr]``, ``weight_hh = W_hh``,
    ``bias = [b_z, b_r, b_h]``.

    Args:
        identity_input: the paper adds ``x_t`` itself to the reset gate (I == H). None (default): the paper's form
            when I == H, else a learned (H, I) ``W_xr``; True/False force either.
        bias: the biases b_z, b_r, b_h.

    Shapes: x_t (B, I); state ``MUTState(h (B, H))``; output (B, H). Initialisation: U(-1/sqrt(H), 1/sqrt(H)).

    Fast path: :func:`rnnzoo.fused.mut.mut_recurrence` (``FastPath.RNNZOO``: forward without a graph per step, a
    hand-written backward; ``W_hh`` multiplies ``r * h``, a second product after a gate: no PointwiseCell form).

    Deviations: with I != H (or ``identity_input=False``) the reset gate reads ``W_xr x_t``, a learned map the
    paper (I == H) does not have. torchrecurrent's ``MUT2`` always learns it.
    """

    variant = 2
    identity_slot = 1

    def gates(self, u_t: Tensor, h: Tensor, w_hg: Tensor) -> tuple[Tensor, Tensor]:
        z, r = torch.sigmoid(torch.addmm(u_t[:, :2 * self.hidden_size], h, w_hg)).chunk(2, -1)
        return z, r


class MUT3Cell(_MUT):
    r"""MUT3 (Jozefowicz, Zaremba & Sutskever 2015, sec. 4, the third listed architecture)::

        z   = sigmoid(W_xz x_t + W_hz tanh(h_{t-1}) + b_z)  # the update gate reads tanh of the state
        r   = sigmoid(W_xr x_t + W_hr h_{t-1} + b_r)
        h_t = tanh(W_hh (r * h_{t-1}) + W_xh x_t + b_h) * z + h_{t-1} * (1 - z)

    In the code: ``weight_ih = [W_xz; W_xr; W_xh]``, ``weight_hg = [W_hz; W_hr]``, ``weight_hh = W_hh``,
    ``bias = [b_z, b_r, b_h]``.

    Args:
        bias: the biases b_z, b_r, b_h.

    Shapes: x_t (B, I); state ``MUTState(h (B, H))``; output (B, H). Initialisation: U(-1/sqrt(H), 1/sqrt(H)).

    Fast path: :func:`rnnzoo.fused.mut.mut_recurrence` (``FastPath.RNNZOO``: forward without a graph per step, a
    hand-written backward; ``W_hh`` multiplies ``r * h``, a second product after a gate: no PointwiseCell form).

    Deviations: none.
    """

    variant = 3

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, bias=bias)

    def gates(self, u_t: Tensor, h: Tensor, w_hg: Tensor) -> tuple[Tensor, Tensor]:
        H = self.hidden_size
        z = torch.sigmoid(torch.addmm(u_t[:, :H], torch.tanh(h), w_hg[:, :H]))
        r = torch.sigmoid(torch.addmm(u_t[:, H:2 * H], h, w_hg[:, H:]))
        return z, r


_PAPER = Paper("Jozefowicz, Zaremba & Sutskever", 2015, "An empirical exploration of recurrent network architectures")
for _name, _cls, _what in (("mut1", MUT1Cell, "update gate from the input only, tanh(x) in the candidate"),
                           ("mut2", MUT2Cell, "reset gate adds x itself"),
                           ("mut3", MUT3Cell, "update gate reads tanh(h)")):
    register(_name, paper=_PAPER, seed_equations="none (not in the seeds); the paper's sec. 4 listing",
             description=f"{_name.upper()}: a GRU mutation found by architecture search ({_what})",
             gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
             peers=(f"torchrecurrent.{_name.upper()}",))(_cls)
