"""Convolutional LSTM: LSTM gates computed by convolutions, on image sequences."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.cells.lstm import LSTMGates
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args, real
from rnnzoo.core.registry import FastPath, InputKind, Paper, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.lstm import convlstm_recurrence


class ConvLSTMState(NamedTuple):
    """h: (B, H, Y, X) hidden maps; c: (B, H, Y, X) cell maps (H channels, Y x X spatial)."""

    h: Tensor
    c: Tensor


class ConvLSTMCell(Cell):
    r"""ConvLSTM (Shi, Chen, Wang, Yeung, Wong & Woo 2015, arXiv:1506.04214, their eqs (3)), 001 sec. 4.8::

        i   = sigmoid(weight_ih[i] * X_t + weight_hh[i] * H_{t-1} [+ weight_ci o C_{t-1}] + bias[i])
        f   = sigmoid(weight_ih[f] * X_t + weight_hh[f] * H_{t-1} [+ weight_cf o C_{t-1}] + bias[f])
        C_t = f o C_{t-1} + i o tanh(weight_ih[g] * X_t + weight_hh[g] * H_{t-1} + bias[g])
        o   = sigmoid(weight_ih[o] * X_t + weight_hh[o] * H_{t-1} [+ weight_co o C_t] + bias[o])
        H_t = o o tanh(C_t)

    ``*`` is a 2-D convolution, ``o`` the Hadamard product; the LSTM equations of 001 eqs (16)-(20)
    with convolutions for the input-to-state and state-to-state transitions.

    Args:
        input_size: input channels C. hidden_size: hidden channels H.
        kernel_size: odd int, the state-to-state kernel (and input kernel unless ``input_kernel_size``).
        input_kernel_size: kernel of the input-to-state convolution (default ``kernel_size``).
        padding: input convolution padding, ``"same"`` (default) or an int; the state keeps the
            spatial size of that convolution's output. The state-to-state convolution always pads "same".
        peephole: the paper's Hadamard peepholes; needs ``spatial_size=(Y, X)`` of the state.
        forget_bias: initial forget-gate bias (None: uniform init like the other weights).

    Shapes: x_t (B, C, Y_in, X_in); state ``ConvLSTMState(h, c)`` each (B, H, Y, X); output h (B, H, Y, X).

    Deviations: peepholes are off by default (Keras ``ConvLSTM2D`` and most reimplementations omit
    them because they fix the spatial size); ``peephole=True`` is the paper's exact form.
    """

    feature_dims = 3

    def __init__(self, input_size: int, hidden_size: int, *, kernel_size: int = 3,
                 input_kernel_size: int | None = None, padding: int | str = "same", peephole: bool = False,
                 spatial_size: tuple[int, int] | None = None, forget_bias: float | None = None) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, peephole=peephole)
        forget_bias = real("forget_bias", forget_bias, optional=True)
        input_kernel_size = kernel_size if input_kernel_size is None else input_kernel_size
        for arg, k in (("kernel_size", kernel_size), ("input_kernel_size", input_kernel_size)):
            if isinstance(k, bool) or not isinstance(k, int) or k < 1 or k % 2 == 0:
                raise ValueError(f"{arg}: expected an odd positive int, got {k!r}")
        if not (padding == "same" or (isinstance(padding, int) and not isinstance(padding, bool) and padding >= 0)):
            raise ValueError(f"padding: expected 'same' or a non-negative int, got {padding!r}")
        if peephole and (spatial_size is None or len(spatial_size) != 2):
            raise ValueError(f"spatial_size: peephole=True needs the state's (Y, X), got {spatial_size!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.kernel_size = kernel_size
        self.input_kernel_size = input_kernel_size
        self.padding = self.input_kernel_size // 2 if padding == "same" else padding
        self.forget_bias = forget_bias
        self.gates = LSTMGates(forget_gate=True, coupled=False, input_activation="tanh", cell_activation=True)
        k_in, k = self.input_kernel_size, kernel_size
        self.weight_ih = nn.Parameter(torch.empty(4 * hidden_size, input_size, k_in, k_in))
        self.weight_hh = nn.Parameter(torch.empty(4 * hidden_size, hidden_size, k, k))
        self.bias = nn.Parameter(torch.empty(4 * hidden_size))
        self.peephole = peephole
        self.spatial_size = tuple(spatial_size) if spatial_size is not None else None
        if peephole:
            shape = (hidden_size, *self.spatial_size)
            self.weight_ci = nn.Parameter(torch.empty(shape))
            self.weight_cf = nn.Parameter(torch.empty(shape))
            self.weight_co = nn.Parameter(torch.empty(shape))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.input_size * self.input_kernel_size ** 2
                            + self.hidden_size * self.kernel_size ** 2)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)
        if self.forget_bias is not None:
            with torch.no_grad():
                self.bias[self.hidden_size:2 * self.hidden_size].fill_(self.forget_bias)

    def state_spatial(self, input_shape: tuple[int, ...] | None) -> tuple[int, int]:
        """Spatial size (Y, X) of the state for an input of trailing shape (C, Y_in, X_in)."""
        if input_shape is None or len(input_shape) != 3:
            raise ValueError(
                f"input_shape: ConvLSTM needs the input's (C, Y, X) to size its state, got {input_shape!r}"
            )
        k, p = self.input_kernel_size, self.padding
        y, x = (input_shape[1] + 2 * p - k + 1, input_shape[2] + 2 * p - k + 1)
        if y < 1 or x < 1:
            raise ValueError(f"x: spatial size {input_shape[1:]} is smaller than the kernel {k} with padding {p}")
        if self.spatial_size is not None and (y, x) != self.spatial_size:
            raise ValueError(f"x: expected the state's spatial size {self.spatial_size} (spatial_size), "
                             f"got {(y, x)} from input shape {tuple(input_shape)}")
        return y, x

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> ConvLSTMState:
        y, x = self.state_spatial(input_shape)
        spec = TensorSpec((batch_size, self.hidden_size, y, x))
        return ConvLSTMState(spec, spec)

    def project(self, x: Tensor) -> Tensor:
        """Input convolution of all frames at once: (..., C, Y_in, X_in) -> (..., 4H, Y, X)."""
        lead = x.shape[:-3]
        out = F.conv2d(x.reshape(-1, *x.shape[-3:]), self.weight_ih, self.bias, padding=self.padding)
        return out.view(*lead, *out.shape[1:])

    def _peep(self) -> tuple[Tensor, Tensor, Tensor] | None:
        return (self.weight_ci, self.weight_cf, self.weight_co) if self.peephole else None

    def step(self, u_t: Tensor, state: ConvLSTMState) -> tuple[Tensor, ConvLSTMState]:
        pre = u_t + F.conv2d(state.h, self.weight_hh, padding=self.kernel_size // 2)
        h, c = self.gates(pre, state.c, self._peep(), self.report)
        return h, ConvLSTMState(h, c)

    fused_kind = "rnnzoo"
    """The runner's fast path: always the rnnzoo Functions (no torch kernel computes this cell)."""

    def fused(self, steps: Steps, state: ConvLSTMState) -> tuple[Tensor, ConvLSTMState] | None:
        """Whole sequence: the input convolution of every frame at once (``steps.u``), then the fused
        recurrence of :mod:`rnnzoo.fused.lstm` with the state-to-state convolution."""
        out, h, c = convlstm_recurrence(steps.u, state.h, state.c, self.weight_hh, mask=steps.mask,
                                        peephole=self._peep())
        return out, ConvLSTMState(h, c)

    def recurrent_weights(self) -> list[str]:
        """The state-to-state kernel (a convolution: no matrix for 001 eq (14)'s spectra)."""
        return ["weight_hh"]

    def initialize(self, scheme: str, value: float | None = None, *,
                   generator: torch.Generator | None = None) -> bool:
        """``forget_bias`` only: the forget-gate bias set to ``value`` (the recurrence is a convolution,
        so the matrix schemes do not apply)."""
        if scheme != "forget_bias" or value is None:
            return False
        with torch.no_grad():
            self.bias[self.hidden_size:2 * self.hidden_size].fill_(float(value))
        return True

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, kernel_size={self.kernel_size}, "
                f"input_kernel_size={self.input_kernel_size}, padding={self.padding}, peephole={self.peephole}")



register("convlstm", paper=Paper("Shi, Chen, Wang, Yeung, Wong & Woo", 2015,
                                  "Convolutional LSTM network: a machine learning approach for precipitation "
                                  "nowcasting", "1506.04214"),
         seed_equations="001 sec. 4.8 with eqs (16)-(20)",
         description="LSTM with convolutional input-to-state and state-to-state transitions, on (B, T, C, H, W)",
         input_kind=InputKind.IMAGE_SEQUENCE, gated=True, fast_path=FastPath.RNNZOO)(ConvLSTMCell)
