"""The machinery behind :class:`rnnzoo.nn.LSTM`, ``GRU`` and ``RNN``: torch.nn's interface over an
:func:`rnnzoo.create` model.

:class:`TorchRecurrent` builds the model (any registered cell of the torch module's family, with the
regularisers), adopts every cell's parameters under torch's per-layer names (see :mod:`rnnzoo.nn` for
why the torch names are the real parameters), converts torch's stacked ``hx`` to and from the runner's
named states, and handles torch's unbatched and packed inputs. The subclasses give torch's constructor
signatures and ``forward`` shapes; what differs between them is data (the registry's ``torch_module``,
the names of the state's parts), not a mode string.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnzoo.core.checks import boolean
from rnnzoo.core.factory import create
from rnnzoo.core.layers import BidirectionalState, StackedState
from rnnzoo.core.registry import ModelInfo, ModelKind, UnknownModelError, list_models, model_info
from rnnzoo.core.torch_equiv import PARAMETER_NAMES, layer_cells
from rnnzoo.core.tree import autocast_enabled, is_namedtuple


def _public_name(path: str, leaf: str) -> str:
    """A cell's parameter under its torch-style name without the layer suffix: the dotted path inside
    the (possibly wrapped) cell, without the wrappers' ``inner`` steps, joined by ``_``
    (``inner.weight_hh`` -> ``weight_hh``, a LayerNorm wrapper's ``gain.h`` -> ``gain_h``)."""
    return "_".join(p for p in f"{path}.{leaf}".split(".") if p and p != "inner")


class TorchRecurrent(nn.Module):
    """torch.nn.RNNBase's interface over an :func:`rnnzoo.create` model; see :mod:`rnnzoo.nn`.

    Subclasses set :attr:`torch_module` (the registry's ``torch_module`` value whose entry is the default
    cell and fixes the family ``cell=`` must belong to), :attr:`state_fields` (the cell state's fields,
    in ``hx``'s order) and :attr:`torch_arguments` (the constructor arguments a cell's
    ``torch_options(module)`` reads, with torch's defaults).
    """

    torch_module: ClassVar[str]
    state_fields: ClassVar[tuple[str, ...]]
    torch_arguments: ClassVar[dict[str, Any]] = {}

    def __init__(self, input_size: int, hidden_size: int, num_layers: int, bias: bool, batch_first: bool,
                 dropout: float, bidirectional: bool, device: torch.device | str | None, dtype: torch.dtype | None,
                 *, cell: str | None, zoneout: Any, variational_dropout: Any, weight_drop: Any, layer_norm: bool,
                 options: Mapping[str, Any], **torch_args: Any) -> None:
        super().__init__()
        for flag, value in (("bias", bias), ("batch_first", batch_first), ("bidirectional", bidirectional)):
            boolean(flag, value)
        if isinstance(dropout, bool) or not isinstance(dropout, (int, float)) or not 0 <= dropout < 1:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        self.input_size, self.hidden_size, self.num_layers = input_size, hidden_size, num_layers
        self.bias, self.batch_first, self.dropout = bias, batch_first, float(dropout)
        self.bidirectional = bidirectional
        for key, value in torch_args.items():
            setattr(self, key, value)
        info = self._resolve_cell(cell)
        self.cell_name = info.name
        self.cell_options = dict(options)
        cell_options, sources = self._cell_options(info, dict(options))
        regularisers = dict(zoneout=zoneout, variational_dropout=variational_dropout, weight_drop=weight_drop,
                            layer_norm=layer_norm)
        self.regularisers = {k: v for k, v in regularisers.items() if v}
        if dropout and num_layers == 1:
            warnings.warn(f"dropout: applies between stacked layers, as torch.nn.{self.torch_module}'s; with "
                          f"num_layers=1 it does nothing (got dropout={dropout})", stacklevel=3)
        try:
            with warnings.catch_warnings():  # create's own dropout warning: given above, pointing at the caller
                warnings.filterwarnings("ignore", message="dropout: applies between stacked layers")
                model = create(info.name, input_size, hidden_size, num_layers=num_layers,
                               bidirectional=bidirectional, batch_first=batch_first, dropout=dropout,
                               **regularisers, **cell_options)
        except (TypeError, ValueError) as err:
            head, _, tail = str(err).partition(": ")
            if head in sources:  # an option derived from a torch argument: name the argument
                raise type(err)(f"{sources[head]} (the cell's {head} option): {tail}") from None
            raise
        if device is not None or dtype is not None:
            model.to(device=device, dtype=dtype)
        object.__setattr__(self, "_model", model)  # not a submodule: its parameters are registered below
        self._adopt_parameters()
        self.train(True)

    # ------------------------------------------------------------------------------------ construction

    @property
    def num_directions(self) -> int:
        return 2 if self.bidirectional else 1

    def _resolve_cell(self, cell: str | None) -> ModelInfo:
        """The registry entry ``cell=`` names (default: the entry torch's module converts to), refused
        unless it is a cell of that entry's family and input kind."""
        names = list_models(torch_module=self.torch_module)
        if not names:
            raise TypeError(f"cell: no registered cell computes torch.nn.{self.torch_module} "
                            f"(no registry entry has torch_module={self.torch_module!r})")
        default = model_info(names[0])
        if cell is None:
            return default
        if not isinstance(cell, str):
            raise TypeError(f"cell: expected a registry name (str, see rnnzoo.list_models()), got {cell!r}")
        try:
            info = model_info(cell)
        except UnknownModelError as err:
            raise UnknownModelError(str(err).replace("model:", "cell:", 1)) from None
        family = default.family
        if info.kind is not ModelKind.CELL or info.family != family or info.input_kind != default.input_kind:
            allowed = list_models(family=family, kind=ModelKind.CELL, input_kind=default.input_kind)
            if info.kind is not ModelKind.CELL:
                what = "a whole model, not a cell"
            elif info.family != family:
                what = f"a cell of the {info.family!r} family" if info.family else "a cell of no family"
            else:
                what = f"a cell for {info.input_kind} input"
            raise ValueError(f"cell: {cell!r} is {what}; rnnzoo.nn.{type(self).__name__} takes a cell of the "
                             f"{family!r} family with {default.input_kind} input: {', '.join(allowed)}")
        return info

    def _cell_options(self, info: ModelInfo, options: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
        """The cell's options and, for each one set from a torch argument, that argument's name: ``bias``
        and what the cell's ``torch_options(module)`` reads off this module's torch arguments
        (``proj_size``, ``nonlinearity``), checked against what the cell accepts; then ``options``."""
        accepted = info.options()
        non_default = {k: getattr(self, k) for k, d in self.torch_arguments.items() if getattr(self, k) != d}
        reader = getattr(info.factory, "torch_options", None)
        if reader is None and non_default:
            key = next(iter(non_default))
            raise NotImplementedError(f"{key}: cell {info.name!r} has no torch_options() to read torch.nn."
                                      f"{self.torch_module}'s {key} from, so {key}={non_default[key]!r} "
                                      "cannot be honoured; use the default or another cell")
        derived = dict(reader(self)) if reader is not None else {}
        arg = next(iter(self.torch_arguments), None)  # one per class: LSTM's proj_size, RNN's nonlinearity
        sources = {opt: arg for opt in derived if arg is not None}
        if not self.bias:
            derived["bias"], sources["bias"] = False, "bias"
        for opt in derived:
            if accepted is not None and opt not in accepted:
                src = sources.get(opt, opt)
                raise NotImplementedError(f"{src}: cell {info.name!r} cannot honour {src}={getattr(self, src)!r} "
                                          f"(it has no {opt!r} option; its options are {', '.join(accepted)})")
        clash = sorted(set(options) & (set(derived) | {"bias", *self.torch_arguments}))
        if clash:
            raise TypeError(f"options: {clash[0]!r} is set by rnnzoo.nn.{type(self).__name__}'s own arguments "
                            f"({sources.get(clash[0], clash[0])}=); pass it there")
        return {**derived, **options}, sources

    def _adopt_parameters(self) -> None:
        """Register every cell's parameters on this module under torch's names (``weight_ih_l0``,
        ``bias_hh_l1_reverse``; other parameters under their own names, ``weight_ci_l0``), torch's four or
        five first in torch's order, and remember where each lives in the cells (:meth:`_bind`)."""
        self._bindings: list[tuple[nn.Module, str, str]] = []
        self._all_weights: list[list[str]] = []
        for layer, cells in enumerate(layer_cells(self._model)):
            for direction, cell in enumerate(cells):
                suffix = f"_l{layer}" + ("_reverse" if direction else "")
                found = [(_public_name(path, leaf), module, leaf, p) for path, module in cell.named_modules()
                         for leaf, p in module._parameters.items() if p is not None]
                rank = {n: i for i, n in enumerate(PARAMETER_NAMES)}
                found.sort(key=lambda item: rank.get(item[0], len(rank)))  # stable: the rest in their own order
                names = []
                for local, module, leaf, param in found:
                    public = local + suffix
                    if public in self._parameters:
                        raise RuntimeError(f"cell: two parameters of {self.cell_name!r} map to the name {public!r}")
                    self.register_parameter(public, param)
                    self._bindings.append((module, leaf, public))
                    names.append(public)
                self._all_weights.append(names)

    # ------------------------------------------------------------------------------------ parameters

    def _bind(self) -> None:
        """Point the cells at this module's current parameters (the source of truth): after
        ``load_state_dict(assign=True)``, a reassigned ``model.weight_hh_l0``, a conversion that made new
        Parameter objects, or ``torch.func.functional_call``, the cells compute with what torch code set."""
        self._rebind([getattr(self, public) for _, _, public in self._bindings])

    def _bound(self) -> list[Any]:
        """What the cells hold now, in ``_bindings`` order (to put back after a call)."""
        return [module._parameters[leaf] for module, leaf, _ in self._bindings]

    def _rebind(self, values: list[Any]) -> None:
        for (module, leaf, _), value in zip(self._bindings, values, strict=True):
            if module._parameters[leaf] is not value:
                module._parameters[leaf] = value

    @property
    def _flat_weights_names(self) -> list[str]:
        return [n for names in self._all_weights for n in names]

    @property
    def _flat_weights(self) -> list[Tensor]:
        return [getattr(self, n) for n in self._flat_weights_names]

    @property
    def all_weights(self) -> list[list[Tensor]]:
        """Per layer and direction, its parameters (torch's ``all_weights``)."""
        return [[getattr(self, n) for n in names] for names in self._all_weights]

    def _replicate_for_data_parallel(self) -> nn.Module:
        raise NotImplementedError("rnnzoo.nn: nn.DataParallel is not supported (its replicas would share the one "
                                  "model the parameters are bound into); use DistributedDataParallel")

    def flatten_parameters(self) -> None:
        """A no-op: torch.nn's RNNs compact their weights into one cuDNN buffer here; rnnzoo's runner reads
        each layer's parameters where they are. Kept so torch programs that call it run unchanged."""

    def reset_parameters(self) -> None:
        """Each cell's own initialisation (torch's U(-1/sqrt(H), 1/sqrt(H)) for the torch-layout cells, layer
        normalisation gains 1, ...), in place on this module's parameters."""
        self._bind()
        for cells in layer_cells(self._model):
            for cell in cells:
                for module in reversed(list(cell.modules())):
                    if hasattr(module, "reset_parameters"):
                        module.reset_parameters()

    def train(self, mode: bool = True) -> TorchRecurrent:
        super().train(mode)
        self._model.train(mode)
        return self

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True, assign: bool = False) -> Any:
        """torch's ``load_state_dict``; a strict load that lacks this cell's extra parameters (a plain
        ``nn.LSTM`` state dict into a peephole model) says which ones and how to load the shared ones."""
        try:
            return super().load_state_dict(state_dict, strict=strict, assign=assign)
        except RuntimeError as err:
            missing = [k for k in self._parameters if k not in state_dict]
            if not missing:
                raise
            raise RuntimeError(f"{err}\nstate_dict: rnnzoo.nn.{type(self).__name__} with cell={self.cell_name!r} has "
                               f"parameters the state dict lacks: {', '.join(missing)} (torch.nn."
                               f"{self.torch_module} has no such parameters); load_state_dict(..., strict=False) "
                               "loads the shared ones and leaves these at their initial values") from None

    # ------------------------------------------------------------------------------------ forward

    def _state_sizes(self) -> list[tuple[int, ...]]:
        """Per field of ``hx`` (``state_fields``), a layer's state size without the batch axis."""
        cell = layer_cells(self._model)[0][0]
        spec = cell.state_spec(1)
        if not is_namedtuple(spec) or set(spec._fields) != set(self.state_fields):
            raise TypeError(f"cell: {self.cell_name!r}'s state has the fields {getattr(spec, '_fields', spec)}; "
                            f"torch.nn.{self.torch_module}'s hx holds {', '.join(self.state_fields)}")
        return [tuple(getattr(spec, f).shape[1:]) for f in self.state_fields]

    def _size_label(self, size: tuple[int, ...]) -> str:
        if size == (self.hidden_size,):
            return "hidden_size"
        if size == (getattr(self, "proj_size", 0),):
            return "proj_size"
        return "size"

    def _initial_state(self, hx: tuple[Tensor, ...], names: tuple[str, ...], batch: int, batched: bool,
                       ref: Tensor) -> StackedState:
        """torch's ``hx`` (each ``(num_layers * num_directions, B, size)``, or without B) as the model's
        :class:`StackedState`; a wrong shape, dtype or device raises naming the argument."""
        L, D = self.num_layers, self.num_directions
        parts = []
        for name, t, size in zip(names, hx, self._state_sizes(), strict=True):
            if not isinstance(t, Tensor):
                raise TypeError(f"{name}: expected a tensor, got {type(t).__name__}")
            want = (L * D, batch, *size) if batched else (L * D, *size)
            if tuple(t.shape) != want:
                layout = ("num_layers * num_directions" + (", batch" if batched else "") + ", "
                          + self._size_label(size))
                what = f"a batch of {batch}" if batched else "unbatched"
                raise ValueError(f"{name}: expected shape {want} ({layout}) for {what} input, got {tuple(t.shape)}")
            if t.dtype != ref.dtype or t.device != ref.device:
                raise TypeError(f"{name}: expected dtype {ref.dtype} on {ref.device} (the input's), "
                                f"got dtype {t.dtype} on {t.device}")
            parts.append(t if batched else t.unsqueeze(1))
        spec_type = type(layer_cells(self._model)[0][0].state_spec(1))
        layers = []
        for layer in range(L):
            states = [spec_type(**{f: p[layer * D + d] for f, p in zip(self.state_fields, parts, strict=True)})
                      for d in range(D)]
            layers.append(BidirectionalState(*states) if D == 2 else states[0])
        return StackedState(tuple(layers))

    def _final_state(self, final: StackedState) -> tuple[Tensor, ...]:
        """The model's final :class:`StackedState` as torch's stacked ``h_n`` (and ``c_n``)."""
        states = [s for layer in final.layers for s in (layer if isinstance(layer, BidirectionalState) else (layer,))]
        return tuple(torch.stack([getattr(s, f) for s in states]) for f in self.state_fields)

    def _run(self, input: Tensor | PackedSequence, hx: tuple[Tensor, ...] | None, names: tuple[str, ...]
             ) -> tuple[Tensor | PackedSequence, tuple[Tensor, ...]]:
        """One forward pass in torch's conventions; ``names`` are ``hx``'s parts for error messages."""
        before = self._bound()
        self._bind()
        batch_dim = 0 if self.batch_first else 1
        lengths = None
        if isinstance(input, PackedSequence):
            x, lengths = pad_packed_sequence(input, batch_first=self.batch_first)
            batched = True
        elif isinstance(input, Tensor):
            if input.dim() not in (2, 3):
                layout = "(B, T, input_size)" if self.batch_first else "(T, B, input_size)"
                raise ValueError(f"input: expected a 3-D {layout} tensor or a 2-D (T, input_size) unbatched one, "
                                 f"got shape {tuple(input.shape)}")
            batched = input.dim() == 3
            x = input if batched else input.unsqueeze(batch_dim)
        else:
            raise TypeError(f"input: expected a tensor or a PackedSequence, got {type(input).__name__}")
        if x.shape[-1] != self.input_size:
            raise ValueError(f"input: expected input_size={self.input_size} features in the last axis, "
                             f"got shape {tuple(x.shape)}")
        param = getattr(self, self._all_weights[0][0])  # what the cells compute with (see _bind)
        if (x.dtype != param.dtype and not autocast_enabled(x.device.type)) or x.device != param.device:
            raise TypeError(f"input: expected dtype {param.dtype} on {param.device} (the parameters'), "
                            f"got dtype {x.dtype} on {x.device}")
        state = None if hx is None else self._initial_state(hx, names, x.shape[batch_dim], batched, x)
        try:
            out, final = self._model(x, state, lengths=lengths)
        finally:  # a functional_call's or torch.func's tensors must not outlive the call in the cells
            self._rebind(before)
        finals = self._final_state(final)
        if isinstance(input, PackedSequence):
            out = self._repack(out, lengths, input)
        elif not batched:
            out = out.squeeze(batch_dim)
            finals = tuple(f.squeeze(1) for f in finals)
        return out, finals

    def _repack(self, out: Tensor, lengths: Tensor, like: PackedSequence) -> PackedSequence:
        """The padded output packed exactly as ``like`` (same batch sizes, same sequence order)."""
        order = like.sorted_indices
        if order is not None:
            out = out.index_select(0 if self.batch_first else 1, order)
            lengths = lengths.index_select(0, order.to(lengths.device))
        packed = pack_padded_sequence(out, lengths, batch_first=self.batch_first, enforce_sorted=True)
        return like._replace(data=packed.data)

    def extra_repr(self) -> str:
        s = f"{self.input_size}, {self.hidden_size}"
        if getattr(self, "proj_size", 0):
            s += f", proj_size={self.proj_size}"
        if self.num_layers != 1:
            s += f", num_layers={self.num_layers}"
        for key, default in self.torch_arguments.items():
            if key != "proj_size" and getattr(self, key) != default:
                s += f", {key}={getattr(self, key)!r}"
        for key, value, default in (("bias", self.bias, True), ("batch_first", self.batch_first, False),
                                    ("dropout", self.dropout, 0.0), ("bidirectional", self.bidirectional, False)):
            if value != default:
                s += f", {key}={value}"
        s += f", cell={self.cell_name!r}"
        for key, value in self.cell_options.items():
            s += f", {key}={value!r}"
        for key, value in self.regularisers.items():
            s += f", {key}={value!r}"
        return s
