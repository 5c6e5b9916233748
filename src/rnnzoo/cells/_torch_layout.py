"""Cells whose parameters follow torch.nn.RNN / LSTM / GRU's layout and initialisation."""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from rnnzoo.core.cell import Cell


class TorchLayoutCell(Cell):
    """Base of the Elman, LSTM and GRU cells: ``weight_ih`` (G*H, I), ``weight_hh`` (G*H, R),
    ``bias_ih`` and ``bias_hh`` (G*H,) for G gate blocks, initialised U(-1/sqrt(H), 1/sqrt(H)) as torch
    does, so weights convert to and from torch's modules by name."""

    hidden_size: int

    def _make_weights(self, gates: int, input_size: int, hidden_size: int, recurrent_size: int,
                      bias: bool) -> None:
        self.weight_ih = nn.Parameter(torch.empty(gates * hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(gates * hidden_size, recurrent_size))
        if bias:
            self.bias_ih = nn.Parameter(torch.empty(gates * hidden_size))
            self.bias_hh = nn.Parameter(torch.empty(gates * hidden_size))
        else:
            self.register_parameter("bias_ih", None)
            self.register_parameter("bias_hh", None)

    @property
    def bias(self) -> bool:
        return self.bias_ih is not None

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def _input_product(self, x: Tensor, b: Tensor | None) -> Tensor:
        """``weight_ih @ x (+ b)`` over any leading axes in one matrix product: (..., I) -> (..., G*H)."""
        flat = x.reshape(-1, x.shape[-1])
        out = flat @ self.weight_ih.t() if b is None else torch.addmm(b, flat, self.weight_ih.t())
        return out.view(*x.shape[:-1], out.shape[-1])
