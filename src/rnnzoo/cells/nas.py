"""The NAS cell (Zoph & Le 2017, "Neural architecture search with reinforcement learning", arXiv:1611.01578): the
recurrent cell the architecture search found for Penn Treebank language modelling."""

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
from rnnzoo.core.tree import autocast_enabled
from rnnzoo.fused.nas import nas_recurrence

NAS_BLOCKS = 8
"""The eight leaves of the searched tree: each combines ``x_t`` and ``h_{t-1}`` (their projections)."""


class NASState(NamedTuple):
    """h: (B, H) the output (the paper's ``h_t``, TensorFlow's ``m``); c: (B, H) the memory cell."""

    h: Tensor
    c: Tensor


class NASCell(PointwiseCell):
    r"""The NAS cell (Zoph & Le 2017, arXiv:1611.01578, sec. 4.2 and the Penn Treebank cell drawn in its
    appendix), in the form the authors released as TensorFlow's ``NASCell`` (``tf.contrib.rnn``, now
    ``tensorflow_addons.rnn.NASCell``). With ``a_k = W_k x_t`` (``weight_ih``, 8 blocks of H rows) and
    ``b_k = U_k h_{t-1} + bias_k`` (``weight_hh``, ``bias``)::

        l1_0 = sigmoid(a_0 + b_0)     l1_1 = relu(a_1 + b_1)     # first layer: the eight leaves
        l1_2 = sigmoid(a_2 + b_2)     l1_3 = relu(a_3 * b_3)     # leaf 3 MULTIPLIES input and state
        l1_4 = tanh(a_4 + b_4)        l1_5 = sigmoid(a_5 + b_5)
        l1_6 = tanh(a_6 + b_6)        l1_7 = sigmoid(a_7 + b_7)
        l2_0 = tanh(l1_0 * l1_1)      l2_1 = tanh(l1_2 + l1_3)   # second layer
        l2_2 = tanh(l1_4 * l1_5)      l2_3 = sigmoid(l1_6 + l1_7)
        l2_0 = tanh(l2_0 + c_{t-1})                              # the cell injected
        c_t  = l2_0 * l2_1                                       # third layer: the new cell
        h_t  = tanh(c_t * tanh(l2_2 + l2_3))                     # final layer

    The bias sits with the state's term (``b_k``), as in the released code, so it scales with ``a_3`` in leaf 3.

    Shapes: x_t (B, I); state ``NASState(h (B, H), c (B, H))``; output h (B, H).

    Fast path: :func:`rnnzoo.fused.nas.nas_recurrence` (``FastPath.RNNZOO``: the forward loop without autograd into
    buffers allocated once, a hand-written backward, the pairs of leaves laid out so that one operation serves two;
    the step loop is its reference twin). Train step at B = 32, T = 100, I = 64, H = 128, one thread, beside
    torchrecurrent's ``NAS`` on a loaded machine (``benchmarks/peer_floor.py``): 1.4-1.6x, against 1.0-1.1x for the
    per-step autograd loop it replaces; 1.1-1.3x at the two larger sizes, where the matrix products dominate both.
    The generic :func:`rnnzoo.fused.pointwise.pointwise_recurrence` was slower than that loop here (its
    backward tables hold the derivatives of (h, c) with respect to 16 blocks of H units per step).

    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) for all parameters (the released code leaves it to the caller).

    Deviations: none in the step. The released code's optional output projection (``projection=``) is not offered
    (the searched cell has none; a projection is a head). torchrecurrent's ``NAS`` computes leaf 3 as
    ``relu(a_3 + b_3)``, an addition where the searched cell multiplies (see docs/torchrecurrent.md).
    """

    recurrent_fields = ("h",)
    output_field = "h"

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.weight_ih = nn.Parameter(torch.empty(NAS_BLOCKS * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(NAS_BLOCKS * hidden_size, hidden_size))
        self.bias = nn.Parameter(torch.empty(NAS_BLOCKS * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> NASState:
        return NASState(TensorSpec((batch_size, self.hidden_size)), TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``a = W x`` for all steps: (..., I) -> (..., 8H) (no bias: it belongs to the state's term)."""
        return x @ self.weight_ih.t()

    def recurrent_weight(self) -> Tensor:
        """``[U_0; ...; U_7]`` (8H, H)."""
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: NASState) -> NASState:
        assert r_t is not None
        b = r_t if self.bias is None else r_t + self.bias
        a0, a1, a2, a3, a4, a5, a6, a7 = u_t.chunk(NAS_BLOCKS, -1)
        b0, b1, b2, b3, b4, b5, b6, b7 = b.chunk(NAS_BLOCKS, -1)
        l1_0, l1_1 = torch.sigmoid(a0 + b0), torch.relu(a1 + b1)
        l1_2, l1_3 = torch.sigmoid(a2 + b2), torch.relu(a3 * b3)
        l1_4, l1_5 = torch.tanh(a4 + b4), torch.sigmoid(a5 + b5)
        l1_6, l1_7 = torch.tanh(a6 + b6), torch.sigmoid(a7 + b7)
        self.report("i", l1_0, "sigmoid")  # gates the relu leaf written into the cell (an input gate's role)
        self.report("o", l1_5, "sigmoid")  # gates the tanh leaf on the output path
        l2_0 = torch.tanh(torch.tanh(l1_0 * l1_1) + state.c)
        l2_1 = torch.tanh(l1_2 + l1_3)
        c = l2_0 * l2_1
        l3_1 = torch.tanh(torch.tanh(l1_4 * l1_5) + torch.sigmoid(l1_6 + l1_7))
        return NASState(torch.tanh(c * l3_1), c)

    fused_kind = "rnnzoo"
    """The runner's fast path: :meth:`fused`, the hand-written Function :func:`rnnzoo.fused.nas.nas_recurrence`."""

    def fused(self, steps: Steps, state: NASState) -> tuple[Tensor, NASState] | None:
        """The whole sequence through :func:`rnnzoo.fused.nas.nas_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin); masked steps keep (h, c) and output zeros."""
        # the projection inside the Function (straight into its leaves' buffer, no u tensor), unless u is already
        # there, a subclass projects otherwise, or autocast or mixed dtypes are in play
        x = steps.x
        if (not steps.projected and type(self).project is NASCell.project and isinstance(x, Tensor) and x.dim() == 3
                and x.dtype == self.weight_ih.dtype and not autocast_enabled(x.device.type)):
            out, h, c = nas_recurrence(None, self.weight_hh, self.bias, state.h, state.c, steps.mask,
                                       projection=(x, self.weight_ih))
            return out, NASState(h, c)
        if not isinstance(steps.u, Tensor):
            return None
        out, h, c = nas_recurrence(steps.u, self.weight_hh, self.bias, state.h, state.c, steps.mask)
        return out, NASState(h, c)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``weight_hh`` by leaf (the activation each leaf applies; leaf 3's product with the input is ignored)."""
        return gate_blocks(self.weight_hh, tuple(str(k) for k in range(NAS_BLOCKS)),
                           ("sigmoid", "relu", "sigmoid", "relu", "tanh", "sigmoid", "tanh", "sigmoid"))

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}"


register("nas", paper=Paper("Zoph & Le", 2017, "Neural architecture search with reinforcement learning", "1611.01578"),
         seed_equations="none (not in the seeds); the paper's appendix cell as released in TensorFlow's NASCell",
         description="The recurrent cell found by neural architecture search (8 leaves, a 3-level tree, a memory cell)",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.NAS",))(NASCell)
