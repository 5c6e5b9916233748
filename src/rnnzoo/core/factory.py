"""``rnnzoo.create``: a registered architecture built by name.

For a cell entry (``ModelKind.CELL``) the cell is stacked into a model (layers, directions); for a
whole-model entry (``ModelKind.MODEL``: pointer, memory, graph and tree networks) the entry's
factory builds it with the options given.
"""

from __future__ import annotations

import warnings
from typing import Any

from torch import nn

from rnnzoo.core.checks import boolean, positive_int
from rnnzoo.core.deep import DeepCell
from rnnzoo.core.layers import Bidirectional, Merge, Recurrent, Stacked
from rnnzoo.core.registry import ModelInfo, ModelKind, model_info
from rnnzoo.core.torch_equiv import to_torch


class Model(Stacked):
    """What :func:`create` returns for a cell entry: a :class:`~rnnzoo.core.layers.Stacked` model that
    remembers its registry name and options (so it can be rebuilt, converted and reported).

    ``forward(x, state=None, *, lengths=None, mask=None, context=None) -> (output, final_state)`` with
    ``x`` ``(B, T, *F)`` (``(T, B, *F)`` if ``batch_first=False``), output ``(B, T, *O)`` and
    ``final_state`` a :class:`~rnnzoo.core.layers.StackedState`. ``model.cell`` is the same model as
    one step-able cell (:class:`~rnnzoo.core.deep.DeepCell`, sharing the parameters and the state
    structure) for unidirectional models.
    """

    def __init__(self, layers: list[Any], *, name: str, config: dict[str, Any], dropout: float = 0.0,
                 residual: bool = False) -> None:
        super().__init__(layers, dropout=dropout, residual=residual)
        self.name = name
        self.config = dict(config)
        object.__setattr__(self, "_step_cell", None)  # built on first use; not a submodule (no duplicate keys)

    @property
    def info(self) -> ModelInfo:
        return model_info(self.name)

    @property
    def cell(self) -> DeepCell:
        """The model as one cell that steps every layer per token: ``y_t, state = model.cell(x_t, state)``.

        Shares the parameters and the state structure of ``model(x)``; dropout between layers follows
        the model's train/eval mode. Bidirectional models have no such cell (the backward direction
        needs the future) and raise.
        """
        if self._step_cell is None:
            items: list[Any] = []
            for i, layer in enumerate(self.layers):
                if not isinstance(layer, Recurrent) or layer.reverse:
                    what = "bidirectional" if isinstance(layer, Bidirectional) else "reversed"
                    raise ValueError(f"model: layer {i} is {what}: it needs the future and cannot be stepped "
                                     "one token at a time")
                if i > 0 and self.dropout:
                    items.append(nn.Dropout(self.dropout))
                items.append(layer.cell)
            cell = DeepCell(items, residual=self.residual)
            cell.train(self.training)
            object.__setattr__(self, "_step_cell", cell)
        return self._step_cell

    def train(self, mode: bool = True) -> Model:
        super().train(mode)
        if self._step_cell is not None:
            self._step_cell.train(mode)
        return self

    def to_torch(self) -> Any:
        """The equivalent ``torch.nn.RNN``/``LSTM``/``GRU`` with the same weights (see :mod:`rnnzoo.convert`)."""
        return to_torch(self)


def create(
    name: str,
    *,
    input_size: int | None = None,
    hidden_size: int | None = None,
    num_layers: int = 1,
    bidirectional: bool = False,
    batch_first: bool = True,
    dropout: float = 0.0,
    residual: bool = False,
    merge: Merge = "concat",
    compile: bool = False,
    **options: Any,
) -> nn.Module:
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
        **options: the cell's own options (see its docstring, e.g. ``activation="relu"``); for a
            whole-model entry, the model's options.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a registry name (str), got {name!r}")
    info = model_info(name)
    if info.kind is ModelKind.MODEL:
        return _create_model(info, input_size=input_size, hidden_size=hidden_size, compile=compile, **options)
    if input_size is None or hidden_size is None:
        raise TypeError(f"create: {name!r} needs input_size= and hidden_size=")
    positive_int("input_size", input_size)
    positive_int("hidden_size", hidden_size)
    positive_int("num_layers", num_layers)
    for flag, value in (("bidirectional", bidirectional), ("batch_first", batch_first), ("residual", residual),
                        ("compile", compile)):
        boolean(flag, value)
    if bidirectional and not info.bidirectional_ok:
        raise ValueError(f"bidirectional: {name!r} does not run backwards (bidirectional_ok=False in its entry)")
    if callable(merge) and bidirectional and num_layers > 1:
        raise ValueError("merge: a callable merge has no known output size to feed a next layer; "
                         "use num_layers=1 or build the stack with rnnzoo.Stacked")
    if dropout and num_layers == 1:
        warnings.warn("dropout: applies between stacked layers; with num_layers=1 it does nothing "
                      f"(got dropout={dropout})", stacklevel=2)
    info.check_options(options)
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


def _create_model(info: ModelInfo, *, input_size: int | None, hidden_size: int | None, compile: bool,
                  **options: Any) -> nn.Module:
    kwargs = {k: v for k, v in (("input_size", input_size), ("hidden_size", hidden_size)) if v is not None}
    info.check_options({**kwargs, **options})
    model = info.factory(**{**info.defaults, **kwargs, **options})
    if compile:
        model.compile(dynamic=False)
    return model
