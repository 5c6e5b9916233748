"""Highway networks: a deep-transition block (``Highway``) usable between layers, and a per-step cell (``highway``)."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.cells.activations import get_activation
from rnnzoo.core import probe
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import boolean, check_cell_args, positive_int, real
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.spec import TensorSpec

_PAPER = Paper("Srivastava, Greff & Schmidhuber", 2015, "Highway networks", "1505.00387")


class Highway(nn.Module):
    r"""A stack of ``depth`` highway layers (Srivastava, Greff & Schmidhuber 2015, arXiv:1505.00387; NeurIPS
    version "Training very deep networks", arXiv:1507.06228; seed 001 Sec. 4.7 describes them in words)::

        for l = 1..depth:                                          # weight[l-1], bias[l-1]
            H_l = activation(W_H[l] y_{l-1} + b_H[l])              # the plain layer, paper eq (1)
            T_l = sigmoid(W_T[l] y_{l-1} + b_T[l])                 # transform gate, paper Sec. 2
            y_l = H_l * T_l + y_{l-1} * (1 - T_l)                  # paper eq (3), carry gate C = 1 - T

    with ``y_0 = x``. ``plain=True`` gives the non-highway counterpart of the paper's Fig. 1,
    ``y_l = activation(W_H[l] y_{l-1} + b_H[l])`` (eq (1)), with no gate.

    Args:
        size: the width of every layer (a highway layer keeps its input's size).
        depth: the number of layers.
        activation: H's nonlinearity, any name of :data:`rnnzoo.cells.activations.ACTIVATIONS`. Default
            ``"tanh"``: smooth, so float64 gradient checks hold at any width (a zero bias with ``"relu"``
            puts pre-activations exactly on the kink whenever a layer's input is all zeros); the depth
            claim passes ``"relu"``.
        transform_bias: initial ``b_T`` (default -2: the paper's Sec. 2.2 recommends a negative value,
            "-1, -3 etc.", and Sec. 3.1 uses -2 for its MNIST networks); ignored when ``plain``.
        plain: plain layers instead of highway layers.

    Parameters: ``weight`` ``(depth, G*size, size)`` stacking ``[W_H[l]; W_T[l]]`` (G = 2; G = 1 plain),
    ``bias`` ``(depth, G*size)``. Initialisation: weights N(0, gain^2/size) with gain sqrt(2) for relu
    (He et al. 2015, which the paper uses for its plain networks) and 1 otherwise; ``b_H = 0``,
    ``b_T = transform_bias``.

    Shapes: x (..., size) -> y (..., size).

    Known limitation (measured, the ``highway_depth`` claim): with this initialisation each layer mixes ``x``
    with an uncorrelated ``H(x)``, shrinking the signal's variance by about ``(1-T)^2 + T^2`` (0.79 at
    ``T = sigmoid(-2)``) a layer: 50 tanh layers take an input of std 0.39 to an output of std 0.001, and such a
    stack trained by SGD (lr 0.02, 1,000 updates) does not learn. The paper's own initialisation of the
    highway weights was not checked; shallow stacks (10-20 layers) train.

    >>> import torch
    >>> block = Highway(16, depth=10)
    >>> block(torch.randn(4, 7, 16)).shape
    torch.Size([4, 7, 16])
    """

    def __init__(self, size: int, depth: int, *, activation: str = "tanh", transform_bias: float = -2.0,
                 plain: bool = False) -> None:
        super().__init__()
        self.size = positive_int("size", size)
        self.depth = positive_int("depth", depth)
        self.activation = get_activation(activation)
        self.transform_bias = real("transform_bias", transform_bias)
        self.plain = boolean("plain", plain)
        g = 1 if plain else 2
        self.weight = nn.Parameter(torch.empty(self.depth, g * size, size))
        self.bias = nn.Parameter(torch.empty(self.depth, g * size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        gain = math.sqrt(2.0) if self.activation.name == "relu" else 1.0
        with torch.no_grad():
            self.weight.normal_(0.0, gain / math.sqrt(self.size))
            self.bias.zero_()
            if not self.plain:
                self.bias[:, self.size:].fill_(self.transform_bias)

    def forward_with_gates(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """``(y, [T_1, ..., T_depth])``: the output and every layer's transform gate (none when plain)."""
        if x.shape[-1] != self.size:
            raise ValueError(f"x: expected {self.size} features in the last axis, got shape {tuple(x.shape)}")
        y = x
        gates: list[Tensor] = []
        for layer in range(self.depth):
            pre = nn.functional.linear(y, self.weight[layer], self.bias[layer])
            if self.plain:
                y = self.activation.fn(pre)
                continue
            h = self.activation.fn(pre[..., :self.size])
            t = torch.sigmoid(pre[..., self.size:])
            y = torch.lerp(y, h, t)  # h * t + y * (1 - t)
            gates.append(t)
        return y, gates

    def forward(self, x: Tensor) -> Tensor:
        """``x`` (..., size) -> ``y`` (..., size)."""
        return self.forward_with_gates(x)[0]

    def extra_repr(self) -> str:
        return (f"{self.size}, depth={self.depth}, activation={self.activation.name!r}, "
                f"transform_bias={self.transform_bias}, plain={self.plain}")


class HighwayState(NamedTuple):
    """y: (B, H), the last step's output. The cell does not read it (a highway network has no recurrence);
    it is the state so that every runner feature (masks freezing it, chunks, streaming) has something to carry."""

    y: Tensor


class HighwayCell(Cell):
    r"""A highway network applied to each step on its own (Srivastava, Greff & Schmidhuber 2015,
    arXiv:1505.00387): an input layer to ``hidden_size``, then :class:`Highway`'s ``depth`` layers::

        y_0 = activation(weight_in @ x_t + bias_in)                 # the plain first layer (paper Sec. 3.1)
        y_t = Highway(y_0)                                          # eq (3) per layer, see Highway

    Use it between recurrent layers (``rnnzoo.create("highway", ...)`` in a stack) or alone on one-step
    inputs (the paper's feed-forward networks: the ``highway_depth`` claim on digits). For highway layers
    *inside* the recurrence see ``rhn`` (:class:`rnnzoo.cells.rhn.RHNCell`).

    Args:
        input_size: I. hidden_size: H, the width of every layer. depth: highway layers after the input
            layer (default 2). activation, transform_bias, plain: as :class:`Highway`.

    Shapes: x_t (B, I); state ``HighwayState(y)`` with y (B, H); output y_t (B, H).
    ``project(x)``: (..., I) -> (..., H), the input layer for every step at once; ``step`` applies the highway
    layers to one step and reports their transform gates as ``"t"`` ``(B, depth*H)``; the fast path
    ``fused`` applies them to every step at once (plain autograd operations; the step loop is its reference).

    Deviations: the state is the last output, carried and never read (a stateless cell would give the
    runner's masks, chunks and streaming nothing to hold); the output at step t depends on x_t alone.
    ``recurrent_weights()`` names the highway layers' ``weight``, the matrices applied at every step, so that
    ``weight_drop`` is DropConnect on them; there is no recurrent matrix, so ``recurrent_blocks()`` (the
    spectral diagnostics) is empty.

    >>> import torch, rnnzoo
    >>> from rnnzoo.cells import HighwayCell
    >>> cell = HighwayCell(3, 8, depth=4)
    >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
    torch.Size([2, 5, 8])
    """

    def __init__(self, input_size: int, hidden_size: int, *, depth: int = 2, activation: str = "tanh",
                 transform_bias: float = -2.0, plain: bool = False) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, plain=plain)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.highway = Highway(hidden_size, depth, activation=activation, transform_bias=transform_bias,
                               plain=plain)
        self.weight_in = nn.Parameter(torch.empty(hidden_size, input_size))
        self.bias_in = nn.Parameter(torch.empty(hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        gain = math.sqrt(2.0) if self.highway.activation.name == "relu" else 1.0
        with torch.no_grad():
            self.weight_in.normal_(0.0, gain / math.sqrt(self.input_size))
            self.bias_in.zero_()
        self.highway.reset_parameters()

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> HighwayState:
        return HighwayState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """The input layer ``activation(weight_in @ x + bias_in)`` for all steps: (..., I) -> (..., H)."""
        return self.highway.activation.fn(nn.functional.linear(x, self.weight_in, self.bias_in))

    def step(self, u_t: Tensor, state: HighwayState) -> tuple[Tensor, HighwayState]:
        y, gates = self.highway.forward_with_gates(u_t)
        if gates and probe.recording():
            self.report("t", torch.cat(gates, 1), "sigmoid")
        return y, HighwayState(y)

    fused_kind = "autograd"
    """The whole sequence's highway layers at once (plain autograd operations, no per-step loop)."""
    fused_traceable = True

    def fused(self, steps: Steps, state: HighwayState) -> tuple[Tensor, HighwayState] | None:
        """Every step's highway layers in ``depth`` products over ``(T*B, H)``; masked steps output zero and
        the final state is each sequence's output at its last valid step (the initial state if none)."""
        y = self.highway(steps.u)  # (T, B, H)
        if steps.mask is None:
            return y, HighwayState(y[-1])
        m = steps.mask
        out = y * m.unsqueeze(2).to(y.dtype)
        T = m.shape[0]
        steps_idx = torch.arange(T, device=m.device).unsqueeze(1).expand_as(m)
        last = torch.where(m, steps_idx, -1).amax(0)  # (B,), -1 where no step is valid
        final = y.gather(0, last.clamp(min=0).view(1, -1, 1).expand(1, *y.shape[1:])).squeeze(0)
        return out, HighwayState(torch.where((last >= 0).unsqueeze(1), final, state.y))

    def recurrent_weights(self) -> list[str]:
        """The highway layers' weights (see Deviations: what ``weight_drop`` masks)."""
        return ["highway.weight"]

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}"


register("highway", paper=_PAPER, seed_equations="001 sec. 4.7 (in words)",
         description="Highway network on each step: y = H(x) T(x) + x (1 - T(x)), transform bias -2",
         gated=True, fast_path=FastPath.AUTOGRAD)(HighwayCell)
