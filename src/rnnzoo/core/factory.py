"""``rnnzoo.create``: a registered architecture built by name.

For a cell entry (``ModelKind.CELL``) the cell is stacked into a model (layers, directions); for a
whole-model entry (``ModelKind.MODEL``: pointer, memory, graph and tree networks) the entry's
factory builds it with the options given.
"""

from __future__ import annotations

import re
import warnings
from typing import Any

from torch import nn

from rnnzoo.core.cell import Cell
from rnnzoo.core.checks import boolean, positive_int, probability
from rnnzoo.core.latency import LatencyControlled, check_latency
from rnnzoo.core.layers import Bidirectional, Merge, Recurrent, Stacked
from rnnzoo.core.registry import ModelInfo, ModelKind, model_info
from rnnzoo.core.torch_equiv import to_torch
from rnnzoo.wrappers.layer_norm import LayerNorm
from rnnzoo.wrappers.variational_dropout import VariationalDropout
from rnnzoo.wrappers.weight_drop import WeightDrop
from rnnzoo.wrappers.zoneout import Zoneout

DROPOUT_PARTS = ("input", "output", "state")
"""The parts of a step ``create(..., variational_dropout={...})`` drops."""


class Model(Stacked):
    """What :func:`create` returns for a cell entry: a :class:`~rnnzoo.core.layers.Stacked` model that
    remembers its registry name and options (so it can be rebuilt, converted and reported).

    ``forward(x, state=None, *, lengths=None, mask=None, context=None) -> (output, final_state)`` with
    ``x`` ``(B, T, *F)`` (``(T, B, *F)`` if ``batch_first=False``), output ``(B, T, *O)`` and
    ``final_state`` a :class:`~rnnzoo.core.layers.StackedState`. ``model.step(x_t, state)`` streams
    one token at a time and ``model.cell`` is the same model as one step-able cell
    (:class:`~rnnzoo.core.deep.DeepCell`, sharing the parameters and the state structure), for
    unidirectional models.
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
        return to_torch(self)


def create(
    name: str,
    input_size: int | None = None,
    hidden_size: int | None = None,
    *,
    num_layers: int = 1,
    bidirectional: bool = False,
    batch_first: bool = True,
    dropout: float = 0.0,
    residual: bool = False,
    merge: Merge = "concat",
    compile: bool = False,
    variational_dropout: float | dict[str, float] | None = None,
    zoneout: float | dict[str, float] | None = None,
    weight_drop: float | None = None,
    layer_norm: bool = False,
    latency: tuple[int, int] | None = None,
    **options: Any,
) -> nn.Module:
    """Build a registered architecture.

    Args:
        name: a name from :func:`list_models`.
        input_size: features per step (channels for spatial cells); positional or keyword, as
            ``torch.nn.LSTM``'s (``create("lstm", 8, 16)``).
        hidden_size: units (channels) per direction and layer; positional or keyword.
        num_layers: stacked layers (001 eq (21)).
        bidirectional: a forward and a backward run per layer (001 eqs (23)-(25)).
        batch_first: ``(B, T, *F)`` input if True, ``(T, B, *F)`` if False.
        dropout: between layers, as torch.nn.LSTM.
        residual: residual connections from layer 2 on.
        merge: how bidirectional outputs are combined (``"concat"``, ``"sum"``, ``"mean"``).
        compile: compile the model's forward with ``torch.compile`` (``nn.Module.compile``, in place:
            the parameters and ``state_dict`` are unchanged). It pays for long training runs only:
            compilation takes about a minute per configuration (``rnnzoo bench --compile`` measures it).
        variational_dropout: a probability for the input, output and state masks of
            :class:`~rnnzoo.wrappers.VariationalDropout` (one mask per sequence), or a dict with some of
            the keys ``"input"``, ``"output"``, ``"state"`` (the others 0).
        zoneout: a rate for every state field, or a rate per field (``{"h": 0.05, "c": 0.5}``):
            :class:`~rnnzoo.wrappers.Zoneout`.
        weight_drop: DropConnect probability on the recurrent weights (:class:`~rnnzoo.wrappers.WeightDrop`).
        layer_norm: layer normalisation: the cell's own ``layer_norm`` option where its entry has one
            (the paper's placement inside the cell), else the :class:`~rnnzoo.wrappers.LayerNorm` wrapper.

            Every layer and direction gets its own wrappers, from the inside: cell -> LayerNorm ->
            WeightDrop -> Zoneout -> VariationalDropout. The random ones act in training mode only
            (``model.train()``, zoneout's expectation in eval mode). Their values are recorded in
            ``model.config``; a model with any of them has no torch.nn equivalent (``to_torch`` raises).
        latency: ``(N_c, N_r)`` with ``bidirectional=True``: latency-controlled bidirectional layers
            (:class:`~rnnzoo.core.latency.LatencyControlled`, Zhang et al. 2016, arXiv:1510.08983): the
            backward direction restarts in every chunk of N_c frames and reads N_r frames past it, so an output
            waits for at most N_c - 1 + N_r future frames (``layer.stream()`` for online use). In ``rnnzoo
            train`` it is given as a model option: ``--option latency=[N_c,N_r]``.
        **options: the cell's own options (see its docstring, e.g. ``activation="relu"``); for a
            whole-model entry, the model's options.
    """
    if not isinstance(name, str):
        raise TypeError(f"name: expected a registry name (str), got {name!r}")
    info = model_info(name)
    if info.kind is ModelKind.MODEL:
        stacking = {k: v for k, v, default in (("num_layers", num_layers, 1), ("bidirectional", bidirectional, False),
                                               ("batch_first", batch_first, True), ("dropout", dropout, 0.0),
                                               ("residual", residual, False), ("merge", merge, "concat"),
                                               ("latency", latency, None))
                    if v != default}
        accepted = info.options()
        for key in ("num_layers", "dropout", "bidirectional"):  # a whole model with such options takes them itself
            if key in stacking and (accepted is None or key in accepted):
                options[key] = stacking.pop(key)
        if stacking:
            key = next(iter(stacking))
            raise TypeError(f"{key}: {name!r} is a whole model; create's stacking arguments apply to the cells it "
                            f"stacks, not to it (got {stacking}); use the model's own options")
        given = {k: v for k, v in (("variational_dropout", variational_dropout), ("zoneout", zoneout),
                                   ("weight_drop", weight_drop), ("layer_norm", layer_norm)) if v}
        if given:
            key = next(iter(given))
            raise TypeError(f"{key}: {name!r} is a whole model, and the regulariser options wrap the cells create "
                            f"stacks; use the model's own options (got {given})")
        return _create_model(info, input_size=input_size, hidden_size=hidden_size, compile=compile, **options)
    if input_size is None or hidden_size is None:
        raise TypeError(f"create: {name!r} needs input_size and hidden_size (positional, as create({name!r}, 8, 16), "
                        f"or as keywords), got input_size={input_size!r}, hidden_size={hidden_size!r}")
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
    if latency is not None:
        latency = check_latency(latency)
        if not bidirectional:
            raise ValueError(f"latency: a latency-controlled layer is bidirectional; pass bidirectional=True with "
                             f"latency={latency!r} (a unidirectional layer has no latency to control)")
    info.check_options(options)
    regularisers = _regularisers(variational_dropout, zoneout, weight_drop, layer_norm)
    native_norm = layer_norm and "layer_norm" in (info.options() or ())
    cell_options = {**options, "layer_norm": True} if native_norm else options

    def build(size: int) -> Cell:
        cell = info.build(size, hidden_size, **cell_options)
        if bidirectional and cell.lookahead:
            raise ValueError(f"bidirectional: {name!r} with lookahead={cell.lookahead} already reads the future "
                             "(a non-causal layer); it does not run backwards: use bidirectional=False")
        return _regularise(cell, wrap_norm=layer_norm and not native_norm, **regularisers)

    layers: list[Any] = []
    size = input_size
    for index in range(num_layers):
        if latency is not None:
            layer: Any = LatencyControlled(build(size), build(size), chunk=latency[0], right=latency[1],
                                           merge=merge, batch_first=batch_first)
        elif bidirectional:
            layer = Bidirectional(build(size), build(size), merge=merge, batch_first=batch_first)
        else:
            layer = Recurrent(build(size), batch_first=batch_first)
        layers.append(layer)
        if index + 1 < num_layers:
            size = layer.output_size
    config = dict(name=name, input_size=input_size, hidden_size=hidden_size, num_layers=num_layers,
                  bidirectional=bidirectional, batch_first=batch_first, dropout=dropout,
                  residual=residual, merge=merge, **options)
    config.update({k: v for k, v in regularisers.items() if v})
    if latency is not None:
        config["latency"] = list(latency)
    if layer_norm:
        config["layer_norm"] = True
    model = Model(layers, name=name, config=config, dropout=dropout, residual=residual)
    if compile:
        model.compile(dynamic=False)
        model.config["compile"] = True
    return model


def _regularisers(variational_dropout: Any, zoneout: Any, weight_drop: Any, layer_norm: Any) -> dict[str, Any]:
    """``create``'s regulariser arguments validated and normalised (a float ``variational_dropout``
    becomes ``{"input": p, "output": p, "state": p}``); each error names the argument."""
    vd = variational_dropout
    if vd is not None:
        if isinstance(vd, dict):
            unknown = [k for k in vd if k not in DROPOUT_PARTS]
            if not vd or unknown:
                raise ValueError(f"variational_dropout: expected a dict with keys among {', '.join(DROPOUT_PARTS)}, "
                                 f"got {vd!r}")
            vd = {k: probability(f"variational_dropout[{k!r}]", vd.get(k, 0.0)) for k in DROPOUT_PARTS}
        elif isinstance(vd, bool) or not isinstance(vd, (int, float)):
            raise TypeError("variational_dropout: expected None, a probability in [0, 1) or a dict with keys among "
                            f"{', '.join(DROPOUT_PARTS)}, got {vd!r}")
        else:
            vd = dict.fromkeys(DROPOUT_PARTS, probability("variational_dropout", vd))
        if not any(vd.values()):
            vd = None
    zo = zoneout
    if zo is not None:
        if isinstance(zo, dict):
            if not zo or not all(isinstance(k, str) for k in zo):
                raise ValueError(f"zoneout: expected a dict of state field names to rates, got {zo!r}")
            zo = {k: probability(f"zoneout[{k!r}]", v) for k, v in zo.items()}
            zo = zo if any(zo.values()) else None
        elif isinstance(zo, bool) or not isinstance(zo, (int, float)):
            raise TypeError(f"zoneout: expected None, a rate in [0, 1) or a dict of state field names to rates, "
                            f"got {zo!r}")
        else:
            zo = probability("zoneout", zo) or None
    wd = None if weight_drop is None else (probability("weight_drop", weight_drop) or None)
    boolean("layer_norm", layer_norm)
    return {"variational_dropout": vd, "zoneout": zo, "weight_drop": wd}


def _regularise(cell: Cell, *, wrap_norm: bool, variational_dropout: dict[str, float] | None,
                zoneout: float | dict[str, float] | None, weight_drop: float | None) -> Cell:
    """``cell`` wrapped, from the inside: LayerNorm -> WeightDrop -> Zoneout -> VariationalDropout. An error
    of a wrapper names ``create``'s argument (``zoneout: LSTMCell's state has the fields h, c; got 'q'``)."""
    steps = [("layer_norm", LayerNorm, {}, wrap_norm), ("weight_drop", WeightDrop, {"p": weight_drop}, weight_drop),
             ("zoneout", Zoneout, {"rates": zoneout}, zoneout is not None),
             ("variational_dropout", VariationalDropout, variational_dropout or {}, variational_dropout is not None)]
    for arg, wrapper, kwargs, wanted in steps:
        if not wanted:
            continue
        try:
            cell = wrapper(cell, **kwargs)
        except (TypeError, ValueError) as err:
            head, sep, tail = str(err).partition(": ")
            named = re.fullmatch(r"\w+(\[.*\])?", head) if sep else None
            raise type(err)(f"{arg}{named.group(1) or ''}: {tail}" if named else f"{arg}: {err}") from None
    return cell


def _create_model(info: ModelInfo, *, input_size: int | None, hidden_size: int | None, compile: bool,
                  **options: Any) -> nn.Module:
    kwargs = {k: v for k, v in (("input_size", input_size), ("hidden_size", hidden_size)) if v is not None}
    info.check_options({**kwargs, **options})
    model = info.factory(**{**info.defaults, **kwargs, **options})
    if compile:
        model.compile(dynamic=False)
    return model
