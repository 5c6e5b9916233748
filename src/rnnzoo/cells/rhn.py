"""Recurrent highway network (RHN): highway layers as the recurrent transition, the input entering only the first."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core import probe
from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args, positive_int, real
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.rhn import rhn_recurrence


class RHNState(NamedTuple):
    """s: (B, H), the output of the last micro-layer of the previous step (``s^[t-1]_L``)."""

    s: Tensor


class RHNCell(Cell):
    r"""Recurrent highway network (Zilly, Srivastava, Koutnik & Schmidhuber 2017, arXiv:1607.03474, Sec. 3;
    the highway layer of Srivastava, Greff & Schmidhuber 2015, arXiv:1505.00387, eq (3); seed 001 Sec. 4.7
    describes highway networks in words, without equations). One step runs ``depth`` = L micro-layers::

        s_0 = s_{t-1}
        for l = 1..L:                                   # micro-layer l, weight_hh[l-1], bias[l-1]
            h_l = tanh(   W_H x_t [l = 1] + R_H[l] s_{l-1} + b_H[l])
            t_l = sigmoid(W_T x_t [l = 1] + R_T[l] s_{l-1} + b_T[l])       # transform gate
            c_l = 1 - t_l                                                  # coupled carry gate (default)
            c_l = sigmoid(W_C x_t [l = 1] + R_C[l] s_{l-1} + b_C[l])       # coupled=False
            s_l = h_l * t_l + s_{l-1} * c_l
        s_t = y_t = s_L

    The input ``x_t`` enters only the first micro-layer (``[l = 1]``; the paper: the input "is only used
    in the first" highway layer of the step). ``weight_ih`` stacks ``[W_H; W_T]`` (``[W_H; W_T; W_C]``
    uncoupled), ``weight_hh[l]`` stacks ``[R_H[l]; R_T[l](; R_C[l])]`` and ``bias[l]`` the matching biases.

    Args:
        input_size: I. hidden_size: H.
        depth: L, the recurrence depth (micro-layers per step). Default 5: the middle of the paper's
            PTB sweep over depths 1-10, at half the cost per step of its best (depth 10); the equation
            numbers of the paper's Sec. 3 were not checked offline, so none is cited.
        coupled: ``c = 1 - t`` (the paper's default in its experiments); False learns ``c`` separately.
        transform_bias: initial ``b_T`` of every micro-layer. Default -2: negative, as the highway paper
            recommends (its Sec. 2.2: "-1, -3 etc.", -2 for its MNIST networks), so each micro-layer
            starts close to carrying its input.

    Shapes: x_t (B, I); state ``RHNState(s)`` with s (B, H); output y_t = s_t (B, H).
    ``project(x)``: (..., I) -> (..., G*H), ``G`` = 2 (coupled) or 3, holds ``weight_ih @ x + bias[0]``.

    Fast path: :func:`rnnzoo.fused.rhn.rhn_recurrence` (a hand-written backward), equal to the step loop.

    Initialisation: every weight and bias U(-1/sqrt(H), 1/sqrt(H)) (torch's recurrent-layer rule), then
    ``b_T[l] = transform_bias`` and, uncoupled, ``b_C[l] = -transform_bias`` (so ``c ~ 1 - t`` at first).

    Deviations: the paper's experiments add variational dropout and weight tying around the cell (here
    ``rnnzoo.create``'s regularisers and the training heads); its initial weights are a task-specific
    uniform range, here torch's rule; the uncoupled carry-bias initialisation is this library's choice
    (the paper gives none). Gates are reported for the diagnostics as ``"t"`` (and ``"c"``), all
    micro-layers concatenated along units, ``(B, L*H)``.

    >>> import torch, rnnzoo
    >>> from rnnzoo.cells import RHNCell
    >>> cell = RHNCell(3, 8, depth=3)
    >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
    torch.Size([2, 5, 8])
    """

    def __init__(self, input_size: int, hidden_size: int, *, depth: int = 5, coupled: bool = True,
                 transform_bias: float = -2.0) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, coupled=coupled)
        self.depth = positive_int("depth", depth)
        self.transform_bias = real("transform_bias", transform_bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.coupled = coupled
        self.gates = 2 if coupled else 3
        g = self.gates * hidden_size
        self.weight_ih = nn.Parameter(torch.empty(g, input_size))
        # micro-layer l's rows are [l*G*H, (l+1)*G*H): 2-D slices, not a 3-D parameter's select (which the
        # ONNX exporter cannot decompose inside the scan of the time loop)
        self.weight_hh = nn.Parameter(torch.empty(self.depth * g, hidden_size))
        self.bias = nn.Parameter(torch.empty(self.depth * g))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)
        H = self.hidden_size
        with torch.no_grad():
            bias = self.bias.view(self.depth, self.gates, H)
            bias[:, 1].fill_(self.transform_bias)
            if not self.coupled:
                bias[:, 2].fill_(-self.transform_bias)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> RHNState:
        return RHNState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``weight_ih @ x + bias[0]`` for all steps at once (the only place ``x`` enters): (..., I) -> (..., G*H)."""
        flat = x.reshape(-1, x.shape[-1])
        out = torch.addmm(self.bias[:self.gates * self.hidden_size], flat, self.weight_ih.t())
        return out.view(*x.shape[:-1], out.shape[-1])

    def step(self, u_t: Tensor, state: RHNState) -> tuple[Tensor, RHNState]:
        H = self.hidden_size
        s = state.s
        record = probe.recording()
        ts: list[Tensor] = []
        cs: list[Tensor] = []
        g = self.gates * H
        for layer in range(self.depth):
            rows = slice(layer * g, (layer + 1) * g)
            w = self.weight_hh[rows].t()
            pre = torch.addmm(u_t if layer == 0 else self.bias[rows], s, w)  # (B, G*H)
            # split, not slicing: the ONNX exporter's autograd trace of the scan saves a sliced input's
            # size (a symbolic int) as an output and fails
            parts = pre.split(H, 1)
            h = torch.tanh(parts[0])
            t = torch.sigmoid(parts[1])
            if self.coupled:
                s = torch.lerp(s, h, t)  # h * t + s * (1 - t)
            else:
                c = torch.sigmoid(parts[2])
                s = h * t + s * c
                if record:
                    cs.append(c)
            if record:
                ts.append(t)
        if record:
            self.report("t", torch.cat(ts, 1), "sigmoid")
            if cs:
                self.report("c", torch.cat(cs, 1), "sigmoid")
        return s, RHNState(s)

    fused_kind = "rnnzoo"
    """The runner's fast path: :func:`rnnzoo.fused.rhn.rhn_recurrence` (hand-written backward)."""

    def fused(self, steps: Steps, state: RHNState) -> tuple[Tensor, RHNState] | None:
        """Whole sequence with :func:`rnnzoo.fused.rhn.rhn_recurrence` on the projection ``steps.u``."""
        out, s = rhn_recurrence(steps.u, state.s, self.weight_hh, self.bias, depth=self.depth,
                                coupled=self.coupled, mask=steps.mask)
        return out, RHNState(s)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``R_H[l]`` (tanh), ``R_T[l]`` (sigmoid) and, uncoupled, ``R_C[l]`` (sigmoid) of every micro-layer,
        as writable views of ``weight_hh``."""
        H = self.hidden_size
        names = ("H", "T", "C")[:self.gates]
        acts = ("tanh", "sigmoid", "sigmoid")[:self.gates]
        g = self.gates * H
        return [RecurrentBlock(f"weight_hh[{layer}][{n}]", self.weight_hh[layer * g + i * H:layer * g + (i + 1) * H],
                               a, True, "weight_hh")
                for layer in range(self.depth) for i, (n, a) in enumerate(zip(names, acts, strict=True))]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, depth={self.depth}, coupled={self.coupled}, "
                f"transform_bias={self.transform_bias}")


register("rhn", paper=Paper("Zilly, Srivastava, Koutnik & Schmidhuber", 2017, "Recurrent highway networks",
                             "1607.03474"),
         seed_equations="001 sec. 4.7 (highway networks, in words)",
         description="Recurrent highway network: L highway micro-layers per step, input only into the first",
         gated=True, recurrence=Recurrence.MATRIX, fast_path=FastPath.RNNZOO)(RHNCell)
