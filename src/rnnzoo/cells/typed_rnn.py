"""Strongly-typed recurrent networks (Balduzzi & Ghifary 2016, arXiv:1602.02218): T-RNN, T-GRU and T-LSTM.

The paper's principle: the gates and candidates ("learnware") read inputs only, never the state; the state is
updated by elementwise "firmware" (dynamic average pooling). Every step is therefore elementwise in the state, and
the cells subclass :class:`~rnnzoo.core.pointwise.PointwiseCell` with no recurrent matrix: every matrix product is
over all steps at once in ``project`` (registry ``recurrence=ELEMENTWISE``), and the fused fast path runs the rest.

T-GRU and T-LSTM read the previous input as well (the paper's strongly-typed form of the classical cells replaces
the recurrent ``h_{t-1}`` in the gates by ``x_{t-1}``). ``project`` computes ``V x_t`` for every step at once, and
the state carries ``V x_{t-1}`` (three ``(B, H)`` fields ``pz, pf, po``), so each step stays unit-local: the fields
are the previous step's learnware terms, zero in the zero state (``x_0 = 0``), frozen at masked steps like the rest
of the state (a masked step is skipped, so the next valid step reads the last valid input).

Fast path: :func:`rnnzoo.fused.typed_rnn.typed_recurrence`, one autograd Function for the three firmwares (a
raw-tensor forward writing every step into preallocated buffers, a hand-written backward writing the gradient of
``u`` into one buffer; ``V x_{t-1}`` taken from the previous valid step, masked steps ``f = 1, b = 0``). T-GRU and
T-LSTM without a mask on an unprojected input take :func:`~rnnzoo.fused.typed_rnn.typed_input_recurrence`: the
same firmware from ``x`` and the weights, the learnware written as two products straight into its buffer (``u`` and
its gradient, ``(T, B, 6H)`` each, never allocated). The step
loop (``PointwiseCell.step``) stays the reference; ``tests/fused/test_typed_rnn_function.py`` and the contract suite
hold them equal.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.typed_rnn import typed_input_recurrence, typed_recurrence


class TRNNState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class TGRUState(NamedTuple):
    """h: (B, H) the hidden state (the output); pz, pf, po: (B, H) each, ``V_z x_{t-1}``, ``V_f x_{t-1}``,
    ``V_o x_{t-1}`` (the previous input's terms of the learnware)."""

    h: Tensor
    pz: Tensor
    pf: Tensor
    po: Tensor


class TLSTMState(NamedTuple):
    """h: (B, H) the output ``c_t * o_t``; c: (B, H) the memory; pz, pf, po: as in :class:`TGRUState`."""

    h: Tensor
    c: Tensor
    pz: Tensor
    pf: Tensor
    po: Tensor


class _Typed(PointwiseCell):
    fused_kind = "rnnzoo"  # its own fast path: rnnzoo.fused.typed_rnn (one Function for the three firmwares)
    """What the three cells share: the learnware's weights, ``project``, the state spec and the initialisation."""

    blocks: int = 3
    """How many H-blocks the learnware computes (z, f and for T-GRU/T-LSTM o)."""
    previous_input: bool = True
    """Whether the learnware reads ``x_{t-1}`` (T-GRU, T-LSTM) besides ``x_t``."""
    state_type: type = TRNNState

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        n = self.blocks * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(n, input_size))  # W: x_t's learnware
        self.weight_prev = nn.Parameter(torch.empty(n, input_size)) if self.previous_input else None  # V: x_{t-1}'s
        self.bias = nn.Parameter(torch.empty(n)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(H), 1/sqrt(H)) for every weight and bias (torch.nn.GRUCell's default; the paper gives none)."""
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> Any:
        spec = TensorSpec((batch_size, self.hidden_size))
        return self.state_type(*(spec for _ in self.state_type._fields))

    def project(self, x: Tensor) -> Tensor:
        """``[W x + b, V x]`` for all steps: ``(..., I) -> (..., 2*G*H)`` (``(..., G*H)`` without ``V``), blocks in
        the order z, f, o."""
        w = self.weight_ih if self.weight_prev is None else torch.cat([self.weight_ih, self.weight_prev], 0)
        flat = x.reshape(-1, x.shape[-1])
        if self.bias is None:
            out = flat @ w.t()
        else:
            b = self.bias if self.weight_prev is None else torch.cat([self.bias, self.bias.new_zeros(self.bias.shape)])
            out = torch.addmm(b, flat, w.t())
        return out.view(*x.shape[:-1], out.shape[-1])

    def recurrent_weight(self) -> None:
        """None: the state never meets a matrix (the paper's type constraint)."""
        return None

    def _learnware(self, u_t: Tensor, state: Any) -> tuple[Tensor, Tensor, Tensor, tuple[Tensor, Tensor, Tensor]]:
        """``(z, f, o_pre, (V_z x_t, V_f x_t, V_o x_t))``: the pre-activations with the previous input's terms added."""
        H = self.hidden_size
        now, nxt = u_t[:, :3 * H], u_t[:, 3 * H:]
        z = now[:, :H] + state.pz
        f = torch.sigmoid(now[:, H:2 * H] + state.pf)
        o = now[:, 2 * H:] + state.po
        return z, f, o, (nxt[:, :H], nxt[:, H:2 * H], nxt[:, 2 * H:])

    def fused(self, steps: Steps, state: Any) -> tuple[Tensor, Any] | None:
        """The whole sequence through :func:`rnnzoo.fused.typed_rnn.typed_recurrence` (one Function for the three
        firmwares: raw-tensor forward, hand-written backward; the step loop is its reference twin)."""
        if steps.steps == 0:
            return None
        x = steps.x
        if (self.previous_input and steps.mask is None and not steps.projected and type(self).project is _Typed.project
                and isinstance(x, Tensor)
                and x.dim() == 3):  # from x itself: u = [W x + b, V x] and its gradient never allocated
            p0 = torch.cat([state.pz, state.pf, state.po], -1)
            if self.state_type is TGRUState:
                out, h, p = typed_input_recurrence("tgru", x, self.weight_ih, self.weight_prev, self.bias, state.h,
                                                   None, p0)
                return out, TGRUState(h, *p.chunk(3, -1))
            out, h, c, p = typed_input_recurrence("tlstm", x, self.weight_ih, self.weight_prev, self.bias, state.h,
                                                  state.c, p0)
            return out, TLSTMState(h, c, *p.chunk(3, -1))
        u = steps.u
        if not isinstance(u, Tensor):
            return None
        if not self.previous_input:
            out, h = typed_recurrence("trnn", u, state.h, mask=steps.mask)
            return out, TRNNState(h)
        p0 = torch.cat([state.pz, state.pf, state.po], -1)
        if self.state_type is TGRUState:
            out, h, p = typed_recurrence("tgru", u, state.h, p0=p0, mask=steps.mask)
            return out, TGRUState(h, *p.chunk(3, -1))
        out, h, c, p = typed_recurrence("tlstm", u, state.h, state.c, p0, steps.mask)
        return out, TLSTMState(h, c, *p.chunk(3, -1))

    def recurrent_weights(self) -> list[str]:
        """``weight_ih``: no weight multiplies the state; these set the forget gate, the coefficient of the old state
        (what ``weight_drop`` masks, as for minGRU's gate weights)."""
        return ["weight_ih"]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


class TRNNCell(_Typed):
    r"""T-RNN, the strongly-typed vanilla RNN (Balduzzi & Ghifary 2016, arXiv:1602.02218)::

        z_t = W_z x_t + b_z                          # the candidate: learnware, no state
        f_t = sigmoid(W_f x_t + b_f)                 # the forget gate: learnware, no state
        h_t = f_t * h_{t-1} + (1 - f_t) * z_t        # firmware: dynamic average pooling

    ``weight_ih`` stacks ``[W_z; W_f]`` ``(2H, I)``, ``bias`` ``[b_z; b_f]``.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias`` (False: no bias anywhere).

    Shapes: x_t (B, I); state ``TRNNState(h (B, H))``; output (B, H).

    Fast path: :func:`rnnzoo.fused.typed_rnn.typed_recurrence` (module docstring).
    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) (the paper gives none).

    Deviations: a bias on ``z_t`` too (one per pre-activation, as every cell here; ``bias=False`` removes all).

    Example::

        >>> import torch, rnnzoo
        >>> cell = TRNNCell(3, 4)
        >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
        torch.Size([2, 5, 4])
    """

    blocks = 2
    previous_input = False
    state_type = TRNNState

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: TRNNState) -> TRNNState:
        z, fp = u_t.chunk(2, -1)
        f = torch.sigmoid(fp)
        self.report("f", f, "sigmoid")
        return TRNNState(torch.lerp(z, state.h, f))  # f * h + (1 - f) * z


class TGRUCell(_Typed):
    r"""T-GRU, the strongly-typed GRU (Balduzzi & Ghifary 2016, arXiv:1602.02218)::

        z_t = V_z x_{t-1} + W_z x_t + b_z            # learnware: the current and the previous input, no state
        f_t = sigmoid(V_f x_{t-1} + W_f x_t + b_f)
        o_t = tanh(V_o x_{t-1} + W_o x_t + b_o)
        h_t = f_t * h_{t-1} + z_t * o_t              # firmware

    ``weight_ih`` stacks ``[W_z; W_f; W_o]`` ``(3H, I)``, ``weight_prev`` ``[V_z; V_f; V_o]``, ``bias`` the three
    biases. The state carries ``V x_{t-1}`` (see the module docstring); the zero state is ``x_0 = 0``.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias``.

    Shapes: x_t (B, I); state ``TGRUState(h, pz, pf, po)``, each (B, H); output h (B, H).

    Fast path: :func:`rnnzoo.fused.typed_rnn.typed_recurrence` (module docstring).
    Initialisation: U(-1/sqrt(H), 1/sqrt(H)).

    Deviations: the paper's ``x_{t-1}`` is carried as its projection ``V x_{t-1}`` (the same numbers; the state has
    three (B, H) fields instead of one (B, I)); one bias per pre-activation.
    """

    state_type = TGRUState

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: TGRUState) -> TGRUState:
        z, f, o, nxt = self._learnware(u_t, state)
        o = torch.tanh(o)
        self.report("f", f, "sigmoid")
        self.report("o", o, "tanh")
        return TGRUState(f * state.h + z * o, *nxt)


class TLSTMCell(_Typed):
    r"""T-LSTM, the strongly-typed LSTM (Balduzzi & Ghifary 2016, arXiv:1602.02218)::

        z_t = V_z x_{t-1} + W_z x_t + b_z
        f_t = sigmoid(V_f x_{t-1} + W_f x_t + b_f)
        o_t = tanh(V_o x_{t-1} + W_o x_t + b_o)
        c_t = f_t * c_{t-1} + (1 - f_t) * z_t        # firmware: dynamic average pooling
        h_t = c_t * o_t                              # no squashing of c_t (the type constraint)

    Weights as :class:`TGRUCell`'s.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias``.

    Shapes: x_t (B, I); state ``TLSTMState(h, c, pz, pf, po)``, each (B, H); output h (B, H).

    Fast path: :func:`rnnzoo.fused.typed_rnn.typed_recurrence` (module docstring).
    Initialisation: U(-1/sqrt(H), 1/sqrt(H)).

    Deviations: as :class:`TGRUCell`'s; ``h`` is a state field (the output the fast path reads), not fed back.
    """

    state_type = TLSTMState

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: TLSTMState) -> TLSTMState:
        z, f, o, nxt = self._learnware(u_t, state)
        o = torch.tanh(o)
        self.report("f", f, "sigmoid")
        self.report("o", o, "tanh")
        c = torch.lerp(z, state.c, f)  # f * c + (1 - f) * z
        return TLSTMState(c * o, c, *nxt)


_PAPER = Paper("Balduzzi & Ghifary", 2016, "Strongly-typed recurrent neural networks", "1602.02218")
_KW: dict[str, Any] = {"paper": _PAPER, "seed_equations": "none (not in the seeds)", "gated": True,
                       "fast_path": FastPath.RNNZOO, "recurrence": Recurrence.ELEMENTWISE}
register("trnn", description="Strongly-typed RNN: input-only forget gate and candidate, h = f h + (1 - f) z",
         peers=("torchrecurrent.TRNN",), **_KW)(TRNNCell)
register("tgru", description="Strongly-typed GRU: gates from x_t and x_{t-1} only, h = f h + z o",
         peers=("torchrecurrent.TGRU",), **_KW)(TGRUCell)
register("tlstm", description="Strongly-typed LSTM: gates from x_t and x_{t-1} only, c = f c + (1 - f) z, h = c o",
         peers=("torchrecurrent.TLSTM",), **_KW)(TLSTMCell)
