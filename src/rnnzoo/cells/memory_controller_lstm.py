"""The memory-controller LSTM of Ben-Ari & Shwartz-Ziv 2017, "Sequence modeling using a memory controller extension
for LSTM" (NIPS 2017 Time Series Workshop; no arXiv version): an LSTM whose gates read a gated "control vector"
instead of its own output, so the output is free to be a prediction."""

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
from rnnzoo.core.tree import autocast_enabled
from rnnzoo.fused.memory_controller_lstm import memory_controller_lstm_recurrence


class MemoryControllerLSTMState(NamedTuple):
    """h: (B, H) the prediction (the output; it does not recur); v: (B, H) the control vector (what the gates read);
    c: (B, H) the memory cell."""

    h: Tensor
    v: Tensor
    c: Tensor


class MemoryControllerLSTMCell(PointwiseCell):
    r"""Memory-controller LSTM (Ben-Ari & Shwartz-Ziv 2017, NIPS Time Series Workshop)::

        [f, i, o, m, n]_t = W x_t + U v_{t-1} + b             # five blocks, one recurrent product on v
        f_t = sigmoid(.), i_t = sigmoid(.), o_t = sigmoid(.), m_t = sigmoid(.), n_t = tanh(.)
        c_t = f_t * c_{t-1} + i_t * n_t                        # 001 eq (19)
        h_t = o_t * tanh(c_t)                                   # the output (prediction), 001 eq (20)
        v_t = m_t * tanh(c_t)                                   # the control vector: the paper's added gate m

    The standard LSTM (001 eqs (16)-(20)) feeds its output ``h_{t-1}`` back to every gate; here a fifth gate ``m``
    makes a separate control vector ``v_t`` from the same memory, and only ``v`` recurs ("this vector is fed back to
    the LSTM instead of the original output prediction", the paper's abstract), so ``h_t`` depends on the memory and
    not the other way round. ``weight_ih`` ``(5H, I)`` and ``weight_hh`` ``(5H, H)`` stack the blocks in the order
    f, i, o, m, n (torchrecurrent's), ``bias`` ``(5H,)``.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias``.

    Shapes: x_t (B, I); state ``MemoryControllerLSTMState(h, v, c)``, each (B, H); output h (B, H).

    Fast path: :func:`rnnzoo.fused.memory_controller_lstm.memory_controller_lstm_recurrence` (raw-tensor forward
    into preallocated buffers, hand-written backward, the input projection written straight into its gate buffer;
    the step loop, a :class:`~rnnzoo.core.pointwise.PointwiseCell` step, is its reference twin).

    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) for every parameter (torch.nn.LSTM's default).

    Deviations and sources: the equations come from the paper's abstract and torchrecurrent 0.2.5's ``MCLSTM``
    docstring, which cites the paper (a PDF on intel.com); the full text was not available to this project, so the
    equation numbers are the seed's (001) for the LSTM parts and the gate ``m`` is read from those two sources. One bias
    per pre-activation (torchrecurrent keeps ``b_ih`` and ``b_hh``, whose sum is one bias). The registry name differs
    from torchrecurrent's ``MCLSTM`` because ``mc_lstm`` is Hoedt et al.'s mass-conserving LSTM here.
    """

    recurrent_fields = ("v",)
    output_field = "h"
    fused_kind = "rnnzoo"  # its own Function, not PointwiseCell's default autograd loop

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(5 * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(5 * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(5 * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> MemoryControllerLSTMState:
        spec = TensorSpec((batch_size, self.hidden_size))
        return MemoryControllerLSTMState(spec, spec, spec)

    def project(self, x: Tensor) -> Tensor:
        """``W x + b`` for all steps: (..., I) -> (..., 5H), blocks f, i, o, m, n."""
        return linear_projection(x, self.weight_ih, self.bias)

    def recurrent_weight(self) -> Tensor:
        """``U`` (5H, H), applied to the control vector ``v``."""
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: MemoryControllerLSTMState
                  ) -> MemoryControllerLSTMState:
        assert r_t is not None
        H = self.hidden_size
        s = u_t + r_t
        gates = torch.sigmoid(s[:, :4 * H])
        f, i, o, m = gates.chunk(4, -1)
        n = torch.tanh(s[:, 4 * H:])
        self.report("f", f, "sigmoid")
        self.report("i", i, "sigmoid")
        self.report("o", o, "sigmoid")
        self.report("m", m, "sigmoid")
        c = f * state.c + i * n
        tc = torch.tanh(c)
        return MemoryControllerLSTMState(o * tc, m * tc, c)

    def fused(self, steps: Steps, state: MemoryControllerLSTMState) -> tuple[Tensor, MemoryControllerLSTMState] | None:
        """The whole sequence through :func:`~rnnzoo.fused.memory_controller_lstm.memory_controller_lstm_recurrence`
        (time-major ``steps.u``)."""
        # the projection inside the Function (written straight into its gate buffer, no copy of u), unless u is
        # already there, a subclass projects otherwise, or autocast or mixed dtypes are in play
        x = steps.x
        if (not steps.projected and type(self).project is MemoryControllerLSTMCell.project and isinstance(x, Tensor)
                and x.dim() == 3 and x.dtype == self.weight_ih.dtype and not autocast_enabled(x.device.type)):
            out, *final = memory_controller_lstm_recurrence(None, self.weight_hh, *state, steps.mask,
                                                            projection=(x, self.weight_ih, self.bias))
            return out, MemoryControllerLSTMState(*final)
        if not isinstance(steps.u, Tensor):
            return None
        out, *final = memory_controller_lstm_recurrence(steps.u, self.weight_hh, *state, steps.mask)
        return out, MemoryControllerLSTMState(*final)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``weight_hh`` by gate (f, i, o, m, n)."""
        return gate_blocks(self.weight_hh, ("f", "i", "o", "m", "n"),
                           ("sigmoid", "sigmoid", "sigmoid", "sigmoid", "tanh"))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


register("memory_controller_lstm",
         paper=Paper("Ben-Ari & Shwartz-Ziv", 2017, "Sequence modeling using a memory controller extension for LSTM"),
         seed_equations="001 eqs (16)-(20) (the LSTM), with the gates reading the control vector v",
         description="LSTM whose gates read a gated control vector v = m * tanh(c) instead of the output h",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.MCLSTM",))(MemoryControllerLSTMCell)
