"""Cells whose parameters follow torch.nn.RNN / LSTM / GRU's layout and initialisation."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.core.cell import Cell
from rnnzoo.core.spec import TensorSpec
from rnnzoo.core.torch_equiv import PARAMETER_NAMES, TorchEquivalent


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

    def _set_forget_bias(self, value: float) -> None:
        """The forget gate's total bias ``b_f = bias_ih_f + bias_hh_f`` (the second block, torch's i, f, g, o
        order) set to ``value``: ``bias_ih_f`` to it, ``bias_hh_f`` to zero (the LSTM and its variants)."""
        with torch.no_grad():
            H = self.hidden_size
            self.bias_ih[H:2 * H].fill_(value)
            self.bias_hh[H:2 * H].zero_()

    def _hidden_spec(self, batch_size: int, size: int | None = None) -> TensorSpec:
        return TensorSpec((batch_size, self.hidden_size if size is None else size))

    def _input_product(self, x: Tensor, b: Tensor | None) -> Tensor:
        """``weight_ih @ x (+ b)`` over any leading axes in one matrix product: (..., I) -> (..., G*H)."""
        flat = x.reshape(-1, x.shape[-1])
        out = flat @ self.weight_ih.t() if b is None else torch.addmm(b, flat, self.weight_ih.t())
        return out.view(*x.shape[:-1], out.shape[-1])

    def torch_weights(self) -> list[Tensor]:
        """Parameters in torch's order (``w_ih, w_hh, b_ih, b_hh, w_hr``), those this cell has."""
        return [p for n in PARAMETER_NAMES if (p := getattr(self, n, None)) is not None]

    def _equivalent(self, module: str, **options: Any) -> TorchEquivalent:
        params = {n: p for n in PARAMETER_NAMES if (p := getattr(self, n, None)) is not None}
        return TorchEquivalent(module, self.input_size, self.hidden_size, self.bias, options, params)

    @classmethod
    def torch_options(cls, module: nn.Module) -> dict[str, Any]:
        """This cell's options for the torch.nn module ``module`` (``rnnzoo.from_torch``)."""
        return {}
