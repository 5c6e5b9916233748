"""``rnnzoo.nn.LSTM``, ``GRU`` and ``RNN``: torch.nn's constructors and ``forward`` over rnnzoo's cells."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence

from rnnzoo.nn.base import TorchRecurrent

_SHAPES = """
    Shapes (B batch, T steps, D = 2 if bidirectional else 1, L = num_layers)::

        input   (T, B, input_size), (B, T, input_size) with batch_first, (T, input_size) unbatched,
                or a PackedSequence
        output  (T, B, D * H_out) (batch_first: (B, T, D * H_out); unbatched: (T, D * H_out));
                a PackedSequence when the input is one (same batch sizes and sequence order)
        h_0/h_n (D * L, B, H_out), (D * L, H_out) unbatched: layer by layer, the forward direction
                first (index 2l is layer l forward, 2l + 1 its backward direction)
"""

_EXTRAS = """
    rnnzoo's keywords (after torch's arguments; keyword-only):
        cell: a registered cell of the module's family (``rnnzoo.list_models(family=...)``), default
            the one ``torch.nn.{torch}`` computes. Cells with parameters torch's module lacks get extra
            parameters named as in the cell with the layer suffix (``weight_ci_l0`` for a peephole).
        zoneout, variational_dropout, weight_drop, layer_norm: the regularisers of
            :func:`rnnzoo.create`, one set per layer and direction (``layer_norm=True`` is the LSTM's
            and GRU's own layer-normalised cell, with parameters ``ln_ih_weight_l0``, ...).
        **options: the cell's own options (``forget_bias=1.0``, ``reset="before"``).
"""


class LSTM(TorchRecurrent):
    __doc__ = r"""torch.nn.LSTM's interface over any registered LSTM-family cell (see :mod:`rnnzoo.nn`).

    With the default cell it computes exactly what ``torch.nn.LSTM`` computes, with torch's fused
    kernel, its parameter names and shapes, its ``state_dict`` and its initialisation (the same numbers
    for the same seed in the default dtype)::

        i, f, g, o = split(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)     # torch's gate order
        c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
        h_t = sigmoid(o) * tanh(c_t)            (h_t = W_hr h_t with proj_size > 0)

    Args (torch's, in torch's positional order):
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0 (between
        layers, training mode only), bidirectional=False, proj_size=0 (H_out = proj_size or
        hidden_size), device=None, dtype=None.
    """ + _EXTRAS.format(torch="LSTM") + _SHAPES + """\
        c_0/c_n (D * L, B, hidden_size), (D * L, hidden_size) unbatched

    ``forward(input, hx=None) -> (output, (h_n, c_n))``; ``hx = (h_0, c_0)``, zeros if None.

    >>> import torch
    >>> from rnnzoo import nn
    >>> lstm = nn.LSTM(8, 16, 2, batch_first=True, cell="peephole_lstm", zoneout=0.1)
    >>> out, (h, c) = lstm(torch.randn(4, 10, 8))
    >>> out.shape, h.shape, c.shape
    (torch.Size([4, 10, 16]), torch.Size([2, 4, 16]), torch.Size([2, 4, 16]))
    >>> lstm.weight_ci_l1.shape                   # the peephole weights, layer 1
    torch.Size([16])
    """

    torch_module = "LSTM"
    state_fields = ("h", "c")
    torch_arguments = {"proj_size": 0}

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False, proj_size: int = 0,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None, *,
                 cell: str | None = None, zoneout: float | dict[str, float] | None = None,
                 variational_dropout: float | dict[str, float] | None = None, weight_drop: float | None = None,
                 layer_norm: bool = False, **options: Any) -> None:
        if (isinstance(hidden_size, int) and not isinstance(hidden_size, bool) and hidden_size > 0
                and (isinstance(proj_size, bool) or not isinstance(proj_size, int)
                     or not 0 <= proj_size < hidden_size)):  # a bad hidden_size: the base names it
            raise ValueError(f"proj_size: expected an int in [0, hidden_size={hidden_size}), got {proj_size!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
                         dtype, cell=cell, zoneout=zoneout, variational_dropout=variational_dropout,
                         weight_drop=weight_drop, layer_norm=layer_norm, options=options, proj_size=proj_size,
                         mode="LSTM")

    def forward(self, input: Tensor | PackedSequence, hx: tuple[Tensor, Tensor] | None = None
                ) -> tuple[Tensor | PackedSequence, tuple[Tensor, Tensor]]:
        if hx is not None and (not isinstance(hx, (tuple, list)) or len(hx) != 2):
            raise TypeError(f"hx: expected a tuple (h_0, c_0) of two tensors, got {type(hx).__name__}"
                            + (f" of length {len(hx)}" if isinstance(hx, (tuple, list)) else ""))
        out, (h, c) = self._run(input, None if hx is None else tuple(hx), ("hx[0] (h_0)", "hx[1] (c_0)"))
        return out, (h, c)


class GRU(TorchRecurrent):
    __doc__ = r"""torch.nn.GRU's interface over any registered GRU-family cell (see :mod:`rnnzoo.nn`).

    With the default cell it computes exactly what ``torch.nn.GRU`` computes (torch's kernel)::

        r = sigmoid(W_ir x_t + b_ir + W_hr h_{t-1} + b_hr)
        z = sigmoid(W_iz x_t + b_iz + W_hz h_{t-1} + b_hz)
        n = tanh(W_in x_t + b_in + r * (W_hn h_{t-1} + b_hn))
        h_t = (1 - z) * n + z * h_{t-1}

    Args (torch's, in torch's positional order):
        input_size, hidden_size, num_layers=1, bias=True, batch_first=False, dropout=0.0,
        bidirectional=False, device=None, dtype=None. H_out = hidden_size.
    """ + _EXTRAS.format(torch="GRU") + _SHAPES + """
    ``forward(input, hx=None) -> (output, h_n)``; ``hx = h_0``, zeros if None.

    >>> import torch
    >>> from rnnzoo import nn
    >>> gru = nn.GRU(8, 16, bidirectional=True, layer_norm=True)
    >>> out, h = gru(torch.randn(10, 4, 8))
    >>> out.shape, h.shape
    (torch.Size([10, 4, 32]), torch.Size([2, 4, 16]))
    """

    torch_module = "GRU"
    state_fields = ("h",)

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, bias: bool = True,
                 batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None, *,
                 cell: str | None = None, zoneout: float | dict[str, float] | None = None,
                 variational_dropout: float | dict[str, float] | None = None, weight_drop: float | None = None,
                 layer_norm: bool = False, **options: Any) -> None:
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
                         dtype, cell=cell, zoneout=zoneout, variational_dropout=variational_dropout,
                         weight_drop=weight_drop, layer_norm=layer_norm, options=options, proj_size=0, mode="GRU")

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None
                ) -> tuple[Tensor | PackedSequence, Tensor]:
        out, (h,) = self._run(input, None if hx is None else (hx,), ("hx (h_0)",))
        return out, h


class RNN(TorchRecurrent):
    __doc__ = r"""torch.nn.RNN's interface over any registered Elman-family cell (see :mod:`rnnzoo.nn`).

    With the default cell it computes exactly what ``torch.nn.RNN`` computes (torch's kernel for tanh
    and relu)::

        h_t = nonlinearity(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh)

    Args (torch's, in torch's positional order, ``nonlinearity`` fourth as in torch):
        input_size, hidden_size, num_layers=1, nonlinearity="tanh", bias=True, batch_first=False,
        dropout=0.0, bidirectional=False, device=None, dtype=None. H_out = hidden_size.
        ``nonlinearity`` is read by the cell's ``torch_options`` (the Elman cell's ``activation``):
        ``"tanh"`` and ``"relu"`` as torch, and the Elman cell's other activations (``"sigmoid"``, ...)
        on rnnzoo's fused path.
    """ + _EXTRAS.format(torch="RNN") + _SHAPES + """
    ``forward(input, hx=None) -> (output, h_n)``; ``hx = h_0``, zeros if None.

    >>> import torch
    >>> from rnnzoo import nn
    >>> rnn = nn.RNN(8, 16, 2, "relu")
    >>> out, h = rnn(torch.randn(10, 8))          # unbatched
    >>> out.shape, h.shape
    (torch.Size([10, 16]), torch.Size([2, 16]))
    """

    torch_module = "RNN"
    state_fields = ("h",)
    torch_arguments = {"nonlinearity": "tanh"}

    def __init__(self, input_size: int, hidden_size: int, num_layers: int = 1, nonlinearity: str = "tanh",
                 bias: bool = True, batch_first: bool = False, dropout: float = 0.0, bidirectional: bool = False,
                 device: torch.device | str | None = None, dtype: torch.dtype | None = None, *,
                 cell: str | None = None, zoneout: float | dict[str, float] | None = None,
                 variational_dropout: float | dict[str, float] | None = None, weight_drop: float | None = None,
                 layer_norm: bool = False, **options: Any) -> None:
        if not isinstance(nonlinearity, str):
            raise TypeError(f"nonlinearity: expected a name such as 'tanh' or 'relu', got {nonlinearity!r}")
        super().__init__(input_size, hidden_size, num_layers, bias, batch_first, dropout, bidirectional, device,
                         dtype, cell=cell, zoneout=zoneout, variational_dropout=variational_dropout,
                         weight_drop=weight_drop, layer_norm=layer_norm, options=options, proj_size=0,
                         nonlinearity=nonlinearity, mode=f"RNN_{nonlinearity.upper()}")

    def forward(self, input: Tensor | PackedSequence, hx: Tensor | None = None
                ) -> tuple[Tensor | PackedSequence, Tensor]:
        out, (h,) = self._run(input, None if hx is None else (hx,), ("hx (h_0)",))
        return out, h
