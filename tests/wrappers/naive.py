"""Naive recurrences typed from the papers' equations (a Python loop, explicit gates, no cell method) and
small users' cells that the wrappers must work with."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

import rnnzoo
from rnnzoo.core.spec import TensorSpec


def sig(v: Tensor) -> Tensor:
    return 1.0 / (1.0 + torch.exp(-v))


def lstm_gates(cell: rnnzoo.LSTMCell, x_t: Tensor, h: Tensor, W_hh: Tensor | None = None):
    """Pre-activations of (i, f, g, o) from per-gate blocks of torch's layout."""
    W = cell.weight_ih.chunk(4, 0)
    U = (cell.weight_hh if W_hh is None else W_hh).chunk(4, 0)
    b = (cell.bias_ih + cell.bias_hh).chunk(4, 0)
    return [x_t @ W[k].T + h @ U[k].T + b[k] for k in range(4)]


def lstm_candidate(cell: rnnzoo.LSTMCell, x_t: Tensor, h: Tensor, c: Tensor, W_hh: Tensor | None = None):
    """``h~ = o * tanh(f * c + i * g)`` and ``c~ = f * c + i * g`` (Gers et al. 2000)."""
    i, f, g, o = lstm_gates(cell, x_t, h, W_hh)
    c_new = sig(f) * c + sig(i) * torch.tanh(g)
    return sig(o) * torch.tanh(c_new), c_new


def gru_candidate(cell: rnnzoo.GRUCell, x_t: Tensor, h: Tensor) -> Tensor:
    """torch's GRU (reset after the product): ``h~ = (1 - z) * n + z * h``."""
    Wr, Wz, Wn = cell.weight_ih.chunk(3, 0)
    Ur, Uz, Un = cell.weight_hh.chunk(3, 0)
    bir, biz, bin_ = cell.bias_ih.chunk(3, 0)
    bhr, bhz, bhn = cell.bias_hh.chunk(3, 0)
    r = sig(x_t @ Wr.T + bir + h @ Ur.T + bhr)
    z = sig(x_t @ Wz.T + biz + h @ Uz.T + bhz)
    n = torch.tanh(x_t @ Wn.T + bin_ + r * (h @ Un.T + bhn))
    return (1 - z) * n + z * h


class EchoState(NamedTuple):
    h: Tensor


class Echo(rnnzoo.Cell):
    """A user's cell without parameters: ``h_t = u_t`` (its output shows what its step received)."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.input_size = self.output_size = size

    def state_spec(self, batch_size, *, input_shape=None):
        return EchoState(TensorSpec((batch_size, self.input_size)))

    def step(self, u_t, state):
        return u_t, EchoState(u_t)


class Leaky(rnnzoo.Cell):
    """A user's cell whose state is one tensor: ``s_t = 0.5 * s_{t-1} + tanh(W x_t)``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.input_size = self.output_size = size
        self.weight = torch.nn.Parameter(torch.randn(size, size) * 0.5)

    def state_spec(self, batch_size, *, input_shape=None):
        return TensorSpec((batch_size, self.input_size))

    def step(self, u_t, state):
        s = 0.5 * state + torch.tanh(u_t @ self.weight.T)
        return s, s


class Pair(rnnzoo.Cell):
    """A user's cell with a structured input ``{"a": (B, I) floats, "n": (B,) ints}``: ``h_t = a_t + n_t``."""

    def __init__(self, size: int) -> None:
        super().__init__()
        self.input_size = self.output_size = size

    def check_input(self, x, name="x", *, batched_rank=None):
        pass

    def state_spec(self, batch_size, *, input_shape=None):
        return EchoState(TensorSpec((batch_size, self.input_size)))

    def project(self, x):
        return x["a"] + x["n"].unsqueeze(-1).to(x["a"].dtype)

    def step(self, u_t, state):
        return u_t, EchoState(u_t)
