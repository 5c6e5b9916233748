"""``rnnzoo.create``: a registered cell made into a (stacked, optionally bidirectional) model."""

from __future__ import annotations

import warnings
from typing import Any

from rnnzoo.core.checks import boolean, positive_int
from rnnzoo.core.layers import Bidirectional, Merge, Recurrent, Stacked
from rnnzoo.core.registry import ModelInfo, model_info


class Model(Stacked):
    """What :func:`create` returns: a :class:`~rnnzoo.core.layers.Stacked` model that remembers its
    registry name and options (so it can be rebuilt, converted and reported).

    ``forward(x, state=None, *, lengths=None, mask=None) -> (output, final_state)`` with ``x``
    ``(B, T, *F)`` (``(T, B, *F)`` if ``batch_first=False``), output ``(B, T, *O)`` and
    ``final_state`` a :class:`~rnnzoo.core.layers.StackedState`.
    """

    def __init__(self, layers: list[Any], *, name: str, config: dict[str, Any], dropout: float = 0.0,
                 residual: bool = False) -> None:
        super().__init__(layers, dropout=dropout, residual=residual)
        self.name = name
        self.config = dict(config)

    @property
    def info(self) -> ModelInfo:
        return model_info(self.name)

    def to_torch(self) -> Any:
        """The equivalent ``torch.nn.RNN``/``LSTM``/``GRU`` with the same weights (see :mod:`rnnzoo.convert`)."""
        from rnnzoo.convert import to_torch

        return to_torch(self)


def create(
    name: str,
    *,
    input_size: int,
    hidden_size: int,
    num_layers: int = 1,
    bidirectional: bool = False,
    batch_first: bool = True,
    dropout: float = 0.0,
    residual: bool = False,
    merge: Merge = "concat",
    compile: bool = False,
    **options: Any,
) -> Model:
    """Build a registered architecture.

    Args:
        name: a name from :func:`list_models`.
        input_size: features per step (channels for spatial cells).
        hidden_size: units (channels) per direction and layer.
        num_layers: stacked layers (001 eq (21)).
        bidirectional: a forward and a backward run per layer (001 eqs (23)-(25)).
        batch_first: ``(B, T, *F)`` input if True, ``(T, B, *F)`` if False.
        dropout: between layers, as torch.nn.LSTM.
        residual: residual connections from layer 2 on.
        merge: how bidirectional outputs are combined (``"concat"``, ``"sum"``, ``"mean"``).
        compile: compile the model's forward with ``torch.compile`` (``nn.Module.compile``, in place:
            the parameters and ``state_dict`` are unchanged). It pays for long training runs only:
            compilation takes about a minute per configuration (``rnnzoo bench --compile`` measures it).
        **options: the cell's own options (see its docstring, e.g. ``activation="relu"``).
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a registry name (str), got {name!r}")
    info = model_info(name)
    positive_int("input_size", input_size)
    positive_int("hidden_size", hidden_size)
    positive_int("num_layers", num_layers)
    for flag, value in (("bidirectional", bidirectional), ("batch_first", batch_first), ("residual", residual),
                        ("compile", compile)):
        boolean(flag, value)
    if callable(merge) and bidirectional and num_layers > 1:
        raise ValueError("merge: a callable merge has no known output size to feed a next layer; "
                         "use num_layers=1 or build the stack with rnnzoo.Stacked")
    if dropout and num_layers == 1:
        warnings.warn("dropout: applies between stacked layers; with num_layers=1 it does nothing "
                      f"(got dropout={dropout})", stacklevel=2)
    layers: list[Any] = []
    size = input_size
    for index in range(num_layers):
        if bidirectional:
            layer: Any = Bidirectional(info.build(size, hidden_size, **options),
                                       info.build(size, hidden_size, **options),
                                       merge=merge, batch_first=batch_first)
        else:
            layer = Recurrent(info.build(size, hidden_size, **options), batch_first=batch_first)
        layers.append(layer)
        if index + 1 < num_layers:
            size = layer.output_size
    config = dict(name=name, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                  bidirectional=bidirectional, batch_first=batch_first, dropout=dropout,
                  residual=residual, merge=merge, **options)
    model = Model(layers, name=name, config=config, dropout=dropout, residual=residual)
    if compile:
        model.compile(dynamic=False)
        model.config["compile"] = True
    return model
