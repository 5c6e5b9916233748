"""The cell protocol: a cell knows one time step; the runner (:mod:`rnnzoo.core.runner`) owns time.

A cell is an :class:`torch.nn.Module` with

* ``input_size`` / ``output_size``: the size of the first feature axis of its input and output
  (features for vector cells, channels for spatial cells); ``feature_dims``: how many trailing
  feature axes a step's input has (1 for ``(B, I)``, 3 for images ``(B, C, H, W)``);
* ``state_spec(batch_size, input_shape=None)``: the state's structure with a
  :class:`~rnnzoo.core.spec.TensorSpec` per tensor, so the runner validates a state without
  allocating one (or implement ``initial_state`` and the spec is read off it on the meta device);
* ``step(u_t, state) -> (y_t, new_state)``: the recurrence; the state is a NamedTuple (or any
  pytree) that is returned, never stored on ``self``; ``y_t`` equals ``output(new_state)``.

and, optionally,

* ``project(x)``: the input-only part of a step (``W x + b``), applied by the runner to all time
  steps at once in one product; ``step`` receives ``u_t = project(x_t)``. Default: the identity.
* ``output(state)``: the step's output as a function of the state (default: the first field).
  The runner emits it after a step hook, so a hook that edits the state edits the output too.
* ``prepare(context, batch_size, ...)``: called once per run; what it returns (projected memories,
  a graph's adjacency, dropout masks drawn once per sequence) is passed to ``step`` (and to
  ``project``/``output`` if they take it) as the trailing ``prepared`` argument. A cell whose
  ``prepare`` returns None (the default without context) is called without it.
* ``fused(steps, state)``: a whole-sequence fast path on a :class:`Steps` (time-major inputs, their
  lazily computed projection, one mask) returning ``(outputs (T, B, *O), final_state)`` or None;
  the step loop stays the reference and tests hold the two equal.
* ``report(name, value, kind)`` inside ``step``: internals for the diagnostics (:mod:`rnnzoo.core.probe`);
  ``recurrent_blocks()``: the recurrent matrices for the spectral diagnostics (001 eq (14));
  ``initialize(scheme, value)``: initialisation schemes; ``torch_equivalent()``: the torch.nn
  module computing the same function, if any.

``forward(x_t, state, context=None)`` is one step: ``step(project(x_t), state)``, so stepping a cell
by hand and running it give the same numbers.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any, NoReturn

import torch
from torch import Tensor, nn

from rnnzoo.core import probe
from rnnzoo.core.blocks import BLOCK_SCHEMES, RecurrentBlock, init_blocks
from rnnzoo.core.spec import check_state, spec_of, unbatched_state, zeros_like_spec
from rnnzoo.core.torch_equiv import TorchEquivalent
from rnnzoo.core.torchscript import refuse_script
from rnnzoo.core.tree import tree_leaves, tree_map

_ARITY: dict[Callable[..., Any], tuple[int, bool]] = {}


def _assume_constant_result(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``torch.compiler.assume_constant_result`` without importing ``torch._dynamo`` (a second of every
    ``import rnnzoo``, ``rnnzoo --help`` included): the decorator only marks the function, and dynamo reads
    the mark when it traces. ``tests/core/test_compile.py`` checks that the mark is the one torch sets."""
    fn._dynamo_marked_constant = True  # type: ignore[attr-defined]
    return fn


@_assume_constant_result
def _positional(fn: Callable[..., Any]) -> tuple[int, bool]:
    """(positional parameters, has ``*args``) of ``fn``, inspected once per function (a constant for
    torch.compile, which then never traces ``inspect``)."""
    if fn not in _ARITY:
        params = list(inspect.signature(fn).parameters.values())
        star = any(p.kind is p.VAR_POSITIONAL for p in params)
        _ARITY[fn] = (sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in params), star)
    return _ARITY[fn]


def takes_prepared(method: Callable[..., Any], arity: int) -> bool:
    """Whether a bound ``method`` of ``arity`` arguments also takes a trailing ``prepared`` one."""
    # inspect.ismethod rather than getattr(method, "__func__"): dynamo tracing a scan's body (the export
    # path, rnnzoo.core.scan) cannot read __func__ off a module's bound method and would pass the method on
    bound = inspect.ismethod(method)
    n, star = _positional(method.__func__ if bound else method)
    if bound:
        n -= 1
    return star or n > arity


_SPEC_CACHE_SIZE = 8


def cached_spec(cell: Cell, batch_size: int, input_shape: Any) -> Any:
    """``cell.state_spec(batch_size, input_shape=input_shape)``, remembered per cell for the last few
    (batch, input shape) pairs: a stream of single steps would otherwise rebuild the spec (for a cell
    written with only ``initial_state``, a run on the meta device) at every token. A spec depends only
    on sizes fixed at construction; unhashable input shapes (dict inputs) and traced code are not cached."""
    if torch.compiler.is_compiling():
        return cell.state_spec(batch_size, input_shape=input_shape)
    try:
        key = (batch_size, input_shape)
        hash(key)
    except TypeError:
        return cell.state_spec(batch_size, input_shape=input_shape)
    cache = cell.__dict__.setdefault("_spec_cache", {})
    if key not in cache:
        if len(cache) >= _SPEC_CACHE_SIZE:
            cache.clear()
        cache[key] = cell.state_spec(batch_size, input_shape=input_shape)
    return cache[key]


def bind(method: Callable[..., Any], arity: int, prepared: Any, *, strict: bool = False) -> Callable[..., Any]:
    """``method`` with ``prepared`` appended to its arguments if it takes it.

    ``strict``: raise when ``prepared`` is not None but ``method`` has no place for it (a context
    given to a cell that takes none)."""
    if takes_prepared(method, arity):
        return lambda *args: method(*args, prepared)
    if strict and prepared is not None:
        owner = type(getattr(method, "__self__", method)).__name__
        raise TypeError(f"context: {owner} takes no context (its step has no `prepared` argument and its "
                        f"prepare returned {type(prepared).__name__}); run it without context=")
    return method


def linear_projection(x: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
    """``x @ weight.T + bias`` over any leading axes in one product (a cell's hoisted input projection):
    ``(..., I) -> (..., G)`` with ``weight (G, I)``, ``bias (G,)`` or None."""
    flat = x.reshape(-1, x.shape[-1])
    out = flat @ weight.t() if bias is None else torch.addmm(bias, flat, weight.t())
    return out.view(*x.shape[:-1], out.shape[-1])


class From:
    """A read-only attribute forwarded from a part of the module: ``input_size = From(lambda m: m.cell)``
    reads ``self.cell.input_size``. Layers and wrappers forward their sizes with it instead of
    re-declaring them."""

    def __init__(self, part: Callable[[Any], Any]) -> None:
        self.part = part

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, obj: Any, owner: type | None = None) -> Any:
        if obj is None:
            return self
        return getattr(self.part(obj), self.name)


class Steps:
    """A run's inputs as a fast path sees them: time-major, in the order the run visits them.

    Attributes:
        cell: the cell being run. x: the input pytree, leaves ``(T, B, *F)`` (None for a run
            without input). mask: ``(T, B)`` booleans, True = valid step, or None (all valid).
        lengths: ``(B,)`` int64 on the CPU when every row of the mask is a prefix (what torch's
            kernels need), else None; None with ``mask`` None means every sequence is full length.
        prepared: what ``cell.prepare`` returned for this run.
        u: ``cell.project(x)``, computed on first use and then shared with the step loop.
        state_masks: ``{field: mask}`` multiplying those state fields where they enter every step
            (variational dropout of the recurrent connections), set by a wrapper only for a cell whose
            ``fused_state_masks`` names the fields; None for a plain run.
    """

    __slots__ = ("cell", "x", "mask", "lengths", "prepared", "steps", "batch", "state_masks", "_u")

    def __init__(self, cell: Cell, x: Any, mask: Tensor | None, lengths: Tensor | None, prepared: Any,
                 steps: int, batch: int, u: Any = None, state_masks: dict[str, Tensor] | None = None) -> None:
        self.cell, self.x, self.mask, self.lengths, self.prepared = cell, x, mask, lengths, prepared
        self.steps, self.batch = steps, batch
        self.state_masks = state_masks
        self._u = u

    @property
    def u(self) -> Any:
        if self._u is None and self.x is not None:
            self._u = bind(self.cell.project, 1, self.prepared)(self.x)
        return self._u

    @property
    def projected(self) -> bool:
        """Whether ``u`` has been computed (a fast path that projects ``x`` itself then takes ``u`` instead)."""
        return self._u is not None

    @property
    def prefix(self) -> bool:
        """True when the valid steps of every sequence are a prefix (torch's kernels need this)."""
        return self.mask is None or self.lengths is not None

    def replace(self, *, cell: Cell | None = None, x: Any = ..., prepared: Any = ...,
                state_masks: Any = ...) -> Steps:
        """The same steps for another cell, input, prepared value or state masks (a wrapper handing them on)."""
        cell = self.cell if cell is None else cell
        masks = self.state_masks if state_masks is ... else state_masks
        if masks and not set(masks) <= set(cell.fused_state_masks):
            raise ValueError(f"state_masks: {type(cell).__name__}'s fast path applies masks to "
                             f"{sorted(cell.fused_state_masks)}, got {sorted(masks)}")
        return Steps(cell, self.x if x is ... else x, self.mask, self.lengths,
                     self.prepared if prepared is ... else prepared, self.steps, self.batch, state_masks=masks)


class Cell(nn.Module):
    """Base class of every recurrent cell: implement ``step`` and ``state_spec`` (or
    ``initial_state``), optionally the rest of the protocol (see the module docstring)."""

    input_size: int
    output_size: int
    feature_dims: int = 1
    causal: bool = True
    """Whether the output at step t depends only on steps <= t (what TBPTT and the gradient
    diagnostics need). Every single-direction cell is causal."""
    lookahead: int = 0
    """How many future steps the step's output waits for: the step at t emits the output of step
    ``t - lookahead`` (an FSMN memory block with look-ahead). The runner feeds ``lookahead`` zero steps
    after each sequence and shifts the outputs back, so a run gives each position's output at its
    position; such a cell is not causal (bidirectional runs, reversed runs and TBPTT are refused)."""
    fused_kind: str | None = None
    """The whole-sequence fast path this configuration takes: ``"torch"`` (a torch kernel),
    ``"rnnzoo"`` (an :mod:`rnnzoo.fused` Function), ``"autograd"`` (the cell's own whole-sequence
    computation in plain autograd operations), ``"composite"`` (a stack of cells, layer by layer) or None
    (the step loop)."""
    fused_traceable: bool = False
    """Whether the fast path may run while ``torch.compile`` traces (the runner's compile policy:
    otherwise the step loop is traced, which inductor fuses)."""
    fused_exportable: bool = False
    """Whether the fast path may run under ``torch.export`` (and ``torch.onnx.export(..., dynamo=True)``):
    only a path that traces to standard operators with the sequence length left symbolic. Otherwise the
    runner computes the step loop as one ``scan`` there (:mod:`rnnzoo.core.scan`): torch's RNN kernels
    and the :mod:`rnnzoo.fused` Functions loop in Python over the example's T."""
    fused_state_masks: frozenset[str] = frozenset()
    """State fields whose multiplicative masks (``Steps.state_masks``) the fast path applies where the
    field enters each step; a wrapper with recurrent dropout keeps the fast path only for these."""

    # ------------------------------------------------------------------ state

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> Any:
        """The state's structure with a :class:`~rnnzoo.core.spec.TensorSpec` per tensor."""
        if type(self).initial_state is Cell.initial_state:
            raise NotImplementedError(f"{type(self).__name__}: implement state_spec or initial_state")
        return spec_of(self.initial_state(batch_size, device="meta", input_shape=input_shape))

    def initial_state(self, batch_size: int, *, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None, input_shape: Any = None) -> Any:
        """The zero state (leaves ``(B, ...)``); ``input_shape`` is a step input's trailing shape,
        which spatial cells need to size their state."""
        if type(self).state_spec is Cell.state_spec:
            raise NotImplementedError(f"{type(self).__name__}: implement state_spec or initial_state")
        return zeros_like_spec(self.state_spec(batch_size, input_shape=input_shape), device=device,
                               dtype=dtype or self.default_dtype())

    def default_dtype(self) -> torch.dtype:
        """The parameters' floating dtype (the default dtype for a cell without parameters)."""
        p = next((p for p in self.parameters() if p.is_floating_point()), None)
        return p.dtype if p is not None else torch.get_default_dtype()

    # ------------------------------------------------------------------ one step

    @property
    def takes_context(self) -> bool:
        """Whether this cell reads a per-run context (its ``step`` takes the prepared value). A stack
        hands the context only to the cells that do; the runner refuses a context for a cell that does not."""
        return takes_prepared(self.step, 2)

    def prepare(self, context: Any, batch_size: int, *, device: torch.device | str | None = None,
                dtype: torch.dtype | None = None, input_shape: Any = None) -> Any:
        """Once per run: what the steps read besides their input and state. Default: the context."""
        return context

    def project(self, x: Any) -> Any:
        """Input-only part of a step, applied to any number of leading axes at once.

        Shapes: ``(..., *F) -> (..., *P)``. The default is the identity.
        """
        return x

    def step(self, u_t: Any, state: Any) -> tuple[Any, Any]:
        """The recurrence: ``u_t`` is ``project(x_t)`` with shape ``(B, *P)``; returns ``(y_t, new_state)``."""
        raise NotImplementedError

    def output(self, state: Any) -> Any:
        """The step's output as a function of its new state: the first field by default."""
        return state[0] if isinstance(state, tuple) else state

    def fused(self, steps: Steps, state: Any) -> tuple[Any, Any] | None:
        """Optional whole-sequence fast path: ``(outputs (T, B, *O), final_state)`` or None.

        Must return what the step loop returns: outputs zero at masked steps, the state frozen at
        masked steps (so the final state is the one after each sequence's last valid step).
        """
        return None

    def report(self, name: str, value: Tensor, kind: str = "sigmoid") -> None:
        """Report an internal (a gate) for the diagnostics; free unless a probe is recording."""
        if probe._ACTIVE:
            probe.sow(self, name, value, kind)

    # ------------------------------------------------------------------ what the others ask

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """The recurrent matrices by gate, for 001 eq (14)'s diagnostics (none by default)."""
        return []

    def recurrent_weights(self) -> list[str]:
        """Names of the parameters holding recurrent weights (what weight drop masks)."""
        names = [b.parameter for b in self.recurrent_blocks() if b.parameter is not None]
        return list(dict.fromkeys(names))

    def initialize(self, scheme: str, value: float | None = None, *,
                   generator: torch.Generator | None = None) -> bool:
        """Apply an initialisation scheme in place; True if it applied to this cell.

        The default applies :data:`~rnnzoo.core.blocks.BLOCK_SCHEMES` to the square
        ``recurrent_blocks()``; cells add their own (an LSTM's ``forget_bias``)."""
        if scheme in BLOCK_SCHEMES:
            return init_blocks(self.recurrent_blocks(), scheme, value, generator=generator) > 0
        return False

    def torch_equivalent(self) -> TorchEquivalent | None:
        """The torch.nn.RNN/LSTM/GRU computing exactly this cell, with its parameters; None if none."""
        return None

    # ------------------------------------------------------------------ checks and one step by hand

    def check_input(self, x: Any, name: str = "x", *, batched_rank: int | None = None) -> None:
        """Validate a step's or a sequence's trailing feature axes and dtype. The default takes tensors
        only: a cell whose steps read a structured input (a tuple, NamedTuple or dict) overrides it."""
        if not isinstance(x, Tensor):
            raise TypeError(f"{name}: expected a torch.Tensor, got {type(x).__name__}")
        if not x.is_floating_point():
            raise TypeError(f"{name}: expected a floating-point tensor (float32/float64), got dtype {x.dtype}")
        if batched_rank is not None and x.dim() != batched_rank:
            raise ValueError(f"{name}: expected a tensor of rank {batched_rank}, got shape {tuple(x.shape)}")
        if x.dim() < self.feature_dims:
            raise ValueError(f"{name}: expected at least {self.feature_dims} feature axes, got shape {tuple(x.shape)}")
        size = x.shape[x.dim() - self.feature_dims]
        if size != self.input_size:
            what = "features" if self.feature_dims == 1 else "channels"
            raise ValueError(f"{name}: expected {self.input_size} input {what} (axis {-self.feature_dims}), "
                             f"got {size} in shape {tuple(x.shape)}")

    def forward(self, x_t: Any, state: Any = None, *, context: Any = None, prepared: Any = None) -> tuple[Any, Any]:
        """One step. ``x_t``: ``(B, *F)``, or ``(*F)`` unbatched (as torch.nn.LSTMCell takes ``(I,)``,
        with a state without batch axis); ``state``: as from ``initial_state`` (None = zeros);
        ``context``: as ``run``'s, prepared for this one step. To step a sequence token by token as a
        run does (a decoder: the context projected once, dropout masks drawn once per sequence), call
        ``prepared = cell.prepare(context, batch_size)`` once and pass ``prepared=`` at every step."""
        if isinstance(x_t, Tensor) and x_t.dim() == self.feature_dims:
            if state is not None:
                state = unbatched_state(cached_spec(self, 1, tuple(x_t.shape)), state,
                                        device=x_t.device, dtype=x_t.dtype)
            y, new = self.forward(x_t.unsqueeze(0), state, context=context, prepared=prepared)
            return tree_map(lambda t: t.squeeze(0), y), tree_map(lambda t: t.squeeze(0), new)
        if isinstance(x_t, Tensor):
            self.check_input(x_t, "x_t", batched_rank=self.feature_dims + 1)
            batch, input_shape, device, dtype = x_t.shape[0], tuple(x_t.shape[1:]), x_t.device, x_t.dtype
        else:
            self.check_input(x_t, "x_t")
            leaves = tree_leaves(x_t, what="x_t")
            if not leaves:
                raise ValueError("x_t: expected at least one tensor")
            batch, device = leaves[0].shape[0], leaves[0].device
            dtype = next((t.dtype for t in leaves if t.is_floating_point()), self.default_dtype())
            input_shape = tree_map(lambda t: tuple(t.shape[1:]), x_t, what="x_t")
        if state is None:
            state = self.initial_state(batch, device=device, dtype=dtype, input_shape=input_shape)
        else:
            check_state("state", state, cached_spec(self, batch, input_shape), device=device, dtype=dtype)
        if prepared is None:
            if context is not None and not self.takes_context:
                raise TypeError(f"context: {type(self).__name__} takes no context (its step has no `prepared` "
                                "argument); step it without context=")
            prepared = self.prepare(context, batch, device=device, dtype=dtype, input_shape=input_shape)
        elif context is not None:
            raise ValueError("context/prepared: pass the context, or what prepare made of it, not both")
        u = bind(self.project, 1, prepared)(x_t)
        return bind(self.step, 2, prepared, strict=True)(u, state)

    def __prepare_scriptable__(self) -> NoReturn:
        """``torch.jit.script`` calls this first: refuse with the supported export routes
        (:mod:`rnnzoo.core.torchscript`) instead of TorchScript's annotation error."""
        refuse_script(self)

    def extra_repr(self) -> str:
        return f"input_size={self.input_size}, output_size={self.output_size}"
