"""What torch.nn module computes the same function as an rnnzoo model, and that module with its weights.

A cell says whether ``torch.nn.RNN``/``LSTM``/``GRU`` computes it (``Cell.torch_equivalent()``);
:func:`to_torch` assembles the multi-layer, bidirectional module from the layers' answers. This
module knows layers, not cells, and imports no model (``rnnzoo.convert`` adds ``from_torch``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

TORCH_MODULES = {"RNN": nn.RNN, "LSTM": nn.LSTM, "GRU": nn.GRU}
PARAMETER_NAMES = ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")
"""torch.nn's per-layer parameter names (``weight_ih_l0``, ``weight_hh_l0_reverse``, ...)."""


@dataclass(frozen=True)
class TorchEquivalent:
    """A cell's torch.nn counterpart: the module (``"RNN"``, ``"LSTM"``, ``"GRU"``), its constructor
    options besides the sizes (``nonlinearity``, ``proj_size``), and the cell's parameters under
    torch's per-layer names without the ``_l0`` suffix."""

    module: str
    input_size: int
    hidden_size: int
    bias: bool
    options: dict[str, Any] = field(default_factory=dict)
    parameters: dict[str, Tensor] = field(default_factory=dict)

    def signature(self) -> tuple[Any, ...]:
        """What every cell of one torch module must share."""
        return (self.module, self.hidden_size, self.bias, tuple(sorted(self.options.items())))


def layer_cells(model: nn.Module) -> list[list[Any]]:
    """Per layer of a ``create`` model (a Stacked of Recurrent/Bidirectional layers), its cells:
    ``[forward]`` or ``[forward, backward]``. Raises for a layer torch has no counterpart of."""
    out = []
    for layer in model.layers:
        if getattr(layer, "latency", None) is not None:
            raise ValueError(f"model: a latency-controlled layer ({type(layer).__name__}, chunk and right context "
                             f"{layer.latency}) has no torch.nn equivalent")
        if hasattr(layer, "forward_layer"):
            out.append([layer.forward_layer.cell, layer.backward_layer.cell])
        elif hasattr(layer, "cell") and not getattr(layer, "reverse", False):
            out.append([layer.cell])
        else:
            raise ValueError(f"model: layer {type(layer).__name__} has no torch.nn equivalent")
    return out


def _describe(cell: Any) -> str:
    """``VariationalDropout(WeightDrop(LSTMCell))``: a wrapper chain by class names."""
    inner = getattr(cell, "inner", None)
    return type(cell).__name__ + (f"({_describe(inner)})" if inner is not None else "")


def to_torch(model: nn.Module) -> nn.RNN | nn.LSTM | nn.GRU:
    """The torch.nn module computing what ``model`` (a ``rnnzoo.create`` model) computes, with a copy
    of its weights. Raises naming what torch cannot express."""
    if not hasattr(model, "layers") or not hasattr(model, "residual"):
        raise TypeError(f"model: expected a model from rnnzoo.create, got {type(model).__name__}")
    if model.residual:
        raise ValueError("model: residual connections have no torch.nn equivalent")
    cells = layer_cells(model)
    bidirectional = len(cells[0]) == 2
    if any(len(c) != len(cells[0]) for c in cells):
        raise ValueError("model: torch.nn needs every layer bidirectional or none")
    if bidirectional and any(layer.merge != "concat" for layer in model.layers):
        raise ValueError("model: torch.nn concatenates directions; merge must be 'concat'")
    equivalents = [[c.torch_equivalent() for c in layer] for layer in cells]
    flat = [e for layer in equivalents for e in layer]
    name = getattr(model, "name", type(model).__name__)
    config = getattr(model, "config", {})
    wrapped = sorted({_describe(c) for layer in cells for c in layer if hasattr(c, "inner")})
    if wrapped:
        raise ValueError(f"model: {name!r} has wrapper cells ({', '.join(wrapped)}: regularisers or normalisation, "
                         "options such as variational_dropout, zoneout, weight_drop, layer_norm), which torch.nn's "
                         "RNN/LSTM/GRU cannot express; build the model without them to convert its weights")
    if any(e is None for e in flat) or len({e.signature() for e in flat}) != 1:
        raise ValueError(f"model: {name!r} with options {config} has no torch.nn equivalent (every cell must "
                         "have one, with the same options: `rnnzoo list` marks the entries that convert)")
    first = flat[0]
    module = TORCH_MODULES[first.module](
        input_size=first.input_size, hidden_size=first.hidden_size, num_layers=len(cells), bias=first.bias,
        batch_first=model.batch_first, dropout=model.dropout, bidirectional=bidirectional, **first.options)
    ref = next(iter(first.parameters.values()))
    module.to(device=ref.device, dtype=ref.dtype)
    module.train(model.training)
    with torch.no_grad():
        for index, layer in enumerate(equivalents):
            for direction, eq in enumerate(layer):
                suffix = f"_l{index}" + ("_reverse" if direction else "")
                for pname, value in eq.parameters.items():
                    getattr(module, pname + suffix).copy_(value)
    return module
