"""Weight exchange with torch.nn.RNN / LSTM / GRU, both ways, exact to float32 rounding.

``from_torch(module)`` builds the equivalent rnnzoo model (multi-layer and bidirectional modules
included); ``to_torch(model)`` (also ``model.to_torch()``) builds the torch module. Only
configurations that torch can express convert: each cell says whether it has a torch counterpart
(``Cell.torch_equivalent()``), and the registry entry whose ``torch_module`` names the torch class
is what ``from_torch`` builds. No residual connections, ``merge="concat"``. Anything else raises
naming what torch cannot express.
"""

from __future__ import annotations

import torch
from torch import nn

from rnnzoo.core.factory import Model, create
from rnnzoo.core.registry import list_models, model_info
from rnnzoo.core.torch_equiv import PARAMETER_NAMES, layer_cells, to_torch


def from_torch(module: nn.RNN | nn.LSTM | nn.GRU) -> Model:
    """The rnnzoo model computing what ``module`` computes, with a copy of its weights."""
    if not isinstance(module, (nn.RNN, nn.LSTM, nn.GRU)):
        raise TypeError(f"module: expected torch.nn.RNN, LSTM or GRU, got {type(module).__name__}")
    kind = "LSTM" if isinstance(module, nn.LSTM) else "GRU" if isinstance(module, nn.GRU) else "RNN"
    names = list_models(torch_module=kind)
    if not names:
        raise TypeError(f"module: no registered model converts from torch.nn.{kind}")
    info = model_info(names[0])
    if not hasattr(info.factory, "torch_options"):
        raise TypeError(f"module: {info.name!r} names torch.nn.{kind} as its counterpart but its factory has no "
                        "torch_options(module) to read the module's options")
    options = info.factory.torch_options(module)
    model = create(info.name, input_size=module.input_size, hidden_size=module.hidden_size,
                   num_layers=module.num_layers, bidirectional=module.bidirectional,
                   batch_first=module.batch_first, dropout=module.dropout, bias=module.bias, **options)
    first = next(module.parameters())
    model.to(device=first.device, dtype=first.dtype)
    model.train(module.training)
    with torch.no_grad():
        for layer, cells in enumerate(layer_cells(model)):
            for direction, cell in enumerate(cells):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                targets = cell.torch_equivalent().parameters
                for n in PARAMETER_NAMES:
                    src = getattr(module, n + suffix, None)
                    if src is not None:
                        targets[n].copy_(src)
    return model


__all__ = ["from_torch", "to_torch"]
