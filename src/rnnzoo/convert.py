"""Weight exchange with torch.nn.RNN / LSTM / GRU, both ways, exact to float32 rounding.

``from_torch(module)`` builds the equivalent rnnzoo model (multi-layer and bidirectional modules
included); ``to_torch(model)`` (also ``model.to_torch()``) builds the torch module. Only
configurations that torch can express convert: an Elman network with tanh or relu, the
forget-gate LSTM (with ``proj_size``), the GRU with ``reset="after"``; no residual connections,
``merge="concat"``. Anything else raises naming what torch cannot express.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from rnnzoo.cells.elman import ElmanCell
from rnnzoo.cells.gru import GRUCell
from rnnzoo.cells.lstm import LSTMCell
from rnnzoo.core.factory import Model, create
from rnnzoo.core.layers import Bidirectional, Recurrent

_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")


def _cells(model: Model) -> list[list[Any]]:
    """Per layer, the list of cells [forward] or [forward, backward]."""
    out = []
    for layer in model.layers:
        if isinstance(layer, Bidirectional):
            out.append([layer.forward_layer.cell, layer.backward_layer.cell])
        elif isinstance(layer, Recurrent):
            out.append([layer.cell])
        else:
            raise ValueError(f"model: layer {type(layer).__name__} has no torch.nn equivalent")
    return out


def from_torch(module: nn.RNN | nn.LSTM | nn.GRU) -> Model:
    """The rnnzoo model computing what ``module`` computes, with a copy of its weights."""
    if isinstance(module, nn.LSTM):
        name, opts = "lstm", {"proj_size": module.proj_size} if module.proj_size else {}
    elif isinstance(module, nn.GRU):
        name, opts = "gru", {}
    elif isinstance(module, nn.RNN):
        name, opts = "elman", {"activation": module.nonlinearity}
    else:
        raise TypeError(f"module: expected torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    model = create(name, input_size=module.input_size, hidden_size=module.hidden_size,
                   num_layers=module.num_layers, bidirectional=module.bidirectional,
                   batch_first=module.batch_first, dropout=module.dropout, bias=module.bias, **opts)
    first = next(module.parameters())
    model.to(device=first.device, dtype=first.dtype)
    model.train(module.training)
    with torch.no_grad():
        for layer, cells in enumerate(_cells(model)):
            for direction, cell in enumerate(cells):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for n in _NAMES:
                    src = getattr(module, n + suffix, None)
                    if src is not None:
                        getattr(cell, n).copy_(src)
    return model


def to_torch(model: Model) -> nn.RNN | nn.LSTM | nn.GRU:
    """The torch.nn module computing what ``model`` computes, with a copy of its weights."""
    if not isinstance(model, Model):
        raise TypeError(f"model: expected a model from rnnzoo.create, got {type(model).__name__}")
    if model.residual:
        raise ValueError("model: residual connections have no torch.nn equivalent")
    cells = _cells(model)
    first = cells[0][0]
    bidirectional = len(cells[0]) == 2
    if bidirectional and any(layer.merge != "concat" for layer in model.layers):
        raise ValueError("model: torch.nn concatenates directions; merge must be 'concat'")
    kw: dict[str, Any] = dict(input_size=first.input_size, hidden_size=first.hidden_size,
                              num_layers=len(cells), bias=first.bias, batch_first=model.batch_first,
                              dropout=model.dropout, bidirectional=bidirectional)
    flat = [c for layer in cells for c in layer]
    if all(isinstance(c, LSTMCell) and c.torch_compatible for c in flat):
        module: nn.Module = nn.LSTM(proj_size=first.proj_size, **kw)
    elif all(isinstance(c, GRUCell) and c.reset == "after" for c in flat):
        module = nn.GRU(**kw)
    elif all(isinstance(c, ElmanCell) and c.activation.name in ("tanh", "relu") for c in flat):
        module = nn.RNN(nonlinearity=first.activation.name, **kw)
    else:
        raise ValueError(
            f"model: {model.name!r} with options {model.config} has no torch.nn equivalent "
            "(convertible: elman with tanh/relu, lstm, gru with reset='after')"
        )
    module.to(device=first.weight_hh.device, dtype=first.weight_hh.dtype)
    module.train(model.training)
    with torch.no_grad():
        for layer, lcells in enumerate(cells):
            for direction, cell in enumerate(lcells):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                for n in _NAMES:
                    dst = getattr(module, n + suffix, None)
                    if dst is not None:
                        dst.copy_(getattr(cell, n))
    return module
