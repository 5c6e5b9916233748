"""The runner: the only time loop in rnnzoo.

``run(cell, x, state, lengths=..., mask=..., reverse=..., context=..., steps=...)`` applies any cell
(see :mod:`rnnzoo.core.cell`) over a sequence. Direction, variable lengths, masking, batch- vs
time-major layout, unbatched input, packed sequences, structured inputs, per-run contexts, runs
without input, returning every step's state, step hooks, per-step or per-sequence randomness and
the choice between a cell's fused fast path and the reference step loop (including the policy under
``torch.compile``) are written here once, for every cell.

Semantics (shared with torch.nn.LSTM on packed sequences and Keras' masking):

* ``x`` is a tensor ``(B, T, *F)`` or a pytree (tuple, NamedTuple, list, dict) of such tensors, as
  haiku's ``dynamic_unroll`` takes: every leaf is sliced along time, reversed and masked alike.
  ``context`` is a pytree passed to ``cell.prepare`` once per run and never sliced, masked or
  reversed (encoder outputs, memories, a graph).
* ``lengths`` (B,) in any order, or ``mask`` (B, T) with True = valid step. Past each sequence's
  end, or at any masked step, the state is carried unchanged and the output is zero. Lengths become
  a mask here and nowhere else.
* ``reverse=True`` runs from the last *valid* step to the first and writes the outputs back at
  their original positions.
* The final state of each sequence is the state after its last processed valid step.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnzoo.core import lookahead, probe
from rnnzoo.core.cell import Cell, Steps, bind
from rnnzoo.core.order.base import FORWARD, REVERSE, Order
from rnnzoo.core.scan import scan_steps
from rnnzoo.core.spec import check_state, unbatched_state
from rnnzoo.core.torchscript import refuse_trace
from rnnzoo.core.tree import autocast_enabled, tree_leaves, tree_map, tree_stack, tree_where

StepHook = Callable[[int, Any], Any]
RANDOMNESS = ("per_sequence", "per_step")


class RunOutput(NamedTuple):
    """What :func:`run` returns.

    output: ``(B, T, *O)`` (``(T, B, *O)`` if time-major, ``(T, *O)`` unbatched, a PackedSequence
    if a PackedSequence came in); state: the final state; states: every step's state with a time
    axis in the input's layout (``None`` unless ``return_states=True``).
    """

    output: Any
    state: Any
    states: Any = None


# ---------------------------------------------------------------------------------------------- masks


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """``(B,)`` lengths -> ``(B, T)`` boolean mask, True on valid steps."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def as_lengths(lengths: Any, batch: int, steps: int) -> Tensor:
    """Validate ``lengths`` (a 1-D integer tensor or a list of ints) -> ``(B,)`` int64 on the CPU."""
    if isinstance(lengths, Tensor):
        if lengths.is_floating_point() or lengths.dtype == torch.bool or lengths.is_complex():
            raise TypeError(f"lengths: expected an integer tensor, got dtype {lengths.dtype}")
        lens = lengths.detach().to("cpu", torch.int64)
    elif isinstance(lengths, Sequence):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in lengths):
            raise TypeError(f"lengths: expected a sequence of ints, got {list(lengths)!r}")
        lens = torch.tensor(list(lengths), dtype=torch.int64)  # cpu: lengths, as pack_padded_sequence takes them
    else:
        raise TypeError(f"lengths: expected a 1-D integer tensor or a list of ints, got {type(lengths).__name__}")
    if lens.dim() != 1 or lens.shape[0] != batch:
        raise ValueError(f"lengths: expected shape ({batch},) (one length per sequence), got {tuple(lens.shape)}")
    if batch == 0:
        raise ValueError("x: expected a batch of at least one sequence, got batch size 0")
    if int(lens.min()) < 1:
        raise ValueError(f"lengths: expected every length >= 1, got minimum {int(lens.min())}")
    if int(lens.max()) > steps:
        raise ValueError(f"lengths: expected every length <= the sequence length {steps}, "
                         f"got maximum {int(lens.max())}")
    return lens


def valid_steps(lengths: Any, mask: Tensor | None, batch: int, steps: int, *, batch_first: bool,
                device: torch.device) -> tuple[Tensor | None, Tensor | None]:
    """``lengths`` or ``mask`` -> ``(mask (T, B) or None, prefix lengths (B,) on the CPU or None)``.

    ``(None, None)``: every step valid. A mask whose rows are all prefixes also gives its lengths
    (torch's kernels take them); a mask with holes gives lengths None.
    """
    if lengths is not None and mask is not None:
        raise ValueError("lengths/mask: pass one of them, not both")
    if torch.compiler.is_exporting():
        return _exported_mask(lengths, mask, batch, steps, batch_first=batch_first, device=device), None
    if lengths is not None:
        lens = as_lengths(lengths, batch, steps)
        if int(lens.min()) == steps:
            return None, None
        return lengths_to_mask(lens.to(device), steps).t(), lens
    if mask is None:
        return None, None
    mask_bt = _mask_bt(mask, batch, steps, batch_first=batch_first, device=device)
    if bool(mask_bt.all()):
        return None, None
    lens = mask_bt.sum(1)
    prefix = bool((lens >= 1).all()) and bool((lengths_to_mask(lens, steps) == mask_bt).all())
    return mask_bt.t(), (lens.to("cpu", torch.int64) if prefix else None)


def _mask_bt(mask: Any, batch: int, steps: int, *, batch_first: bool, device: torch.device) -> Tensor:
    """A given mask checked (boolean, ``(B, T)`` or ``(T, B)``) and returned ``(B, T)`` on ``device``."""
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
        got = mask.dtype if isinstance(mask, Tensor) else type(mask).__name__
        raise TypeError(f"mask: expected a boolean tensor (True = valid step), got {got}")
    want = (batch, steps) if batch_first else (steps, batch)
    if tuple(mask.shape) != want:
        raise ValueError(f"mask: expected shape {want} ({'B, T' if batch_first else 'T, B'}), got {tuple(mask.shape)}")
    return (mask if batch_first else mask.t()).to(device)


def _exported_mask(lengths: Any, mask: Tensor | None, batch: int, steps: int, *, batch_first: bool,
                   device: torch.device) -> Tensor | None:
    """``valid_steps`` under ``torch.export``: lengths and masks are graph inputs there, so what eager
    runs decide from their values (all full length? prefixes? each length in [1, T]?) cannot be decided
    while tracing. The mask is always built (an all-valid mask computes what no mask does), the fast
    paths that need CPU lengths step aside, and the lengths' range is not checked: in an exported
    graph a length above T acts as T and one below 1 gives zero outputs and the initial state.
    (A ``torch._check`` on the lengths' values would be a runtime assertion of the torch.export program,
    but its unbacked symbols make torch's ONNX exporter fail on graphs with a scan.)"""
    if lengths is not None:
        if not isinstance(lengths, Tensor):
            lengths = as_lengths(lengths, batch, steps)  # constants: checked now
        elif lengths.is_floating_point() or lengths.dtype == torch.bool or lengths.is_complex():
            raise TypeError(f"lengths: expected an integer tensor, got dtype {lengths.dtype}")
        elif lengths.dim() != 1 or lengths.shape[0] != batch:
            raise ValueError(f"lengths: expected shape ({batch},) (one length per sequence), "
                             f"got {tuple(lengths.shape)}")
        lengths = lengths.to(device, torch.int64)
        return lengths_to_mask(lengths, steps).t()
    if mask is None:
        return None
    return _mask_bt(mask, batch, steps, batch_first=batch_first, device=device).t()


# ---------------------------------------------------------------------------------------------- run


def _first_float(leaves: list[Tensor]) -> Tensor | None:
    return next((t for t in leaves if t.is_floating_point()), None)


def _check_against_parameters(cell: Cell, ref: Tensor) -> None:
    param = next((p for p in cell.parameters() if p.is_floating_point()), None)
    if param is None:
        return
    mixed_ok = autocast_enabled(ref.device.type)
    if (ref.dtype != param.dtype and not mixed_ok) or ref.device != param.device:
        raise TypeError(f"x: expected dtype {param.dtype} on {param.device} (the cell's parameters), "
                        f"got dtype {ref.dtype} on {ref.device}")


def run(
    cell: Cell,
    x: Any = None,
    state: Any = None,
    *,
    lengths: Tensor | Sequence[int] | None = None,
    mask: Tensor | None = None,
    reverse: bool = False,
    batch_first: bool = True,
    return_states: bool = False,
    step_hook: StepHook | None = None,
    use_fused: bool = True,
    context: Any = None,
    steps: int | None = None,
    randomness: str = "per_sequence",
    order: Order | None = None,
) -> RunOutput:
    """Run ``cell`` over the sequence ``x``.

    Args:
        cell: any :class:`~rnnzoo.core.cell.Cell`.
        x: ``(B, T, *F)`` if ``batch_first`` else ``(T, B, *F)``; ``(T, *F)`` for one unbatched
            sequence; a ``PackedSequence``; a pytree of ``(B, T, ...)`` tensors (structured inputs,
            every leaf sliced over time); or None for a run without input (``steps=K``).
        state: initial state (as ``cell.initial_state`` returns; zeros if None).
        lengths: ``(B,)`` valid lengths, any order, 1 <= length <= T.
        mask: ``(B, T)`` (``(T, B)`` if time-major) boolean, True = valid step. Not with lengths.
        reverse: run from the last valid step backwards.
        return_states: also return every step's state (the diagnostics need them).
        step_hook: ``hook(t, state) -> state`` called after every step with the original time
            index ``t``; the step's output is then ``cell.output`` of the hooked state.
        use_fused: allow the cell's fused fast path when the call permits (no hook, no
            ``return_states``, no probe recording, per-sequence randomness; under
            ``torch.compile`` only a fast path the cell declares ``fused_traceable``).
        context: a pytree handed to ``cell.prepare`` once per run, never sliced, masked or reversed.
        steps: the number of steps of a run without input (``x=None``); the batch size then comes
            from ``state`` (or the context's first tensor).
        randomness: ``"per_sequence"`` (``prepare`` once: dropout masks drawn once per sequence,
            as flax's ``split_rngs={"dropout": False}``) or ``"per_step"`` (``prepare`` before every
            step: fresh masks at each step, the step loop).

    Returns:
        :class:`RunOutput` ``(output, state, states)``.
    """
    if not isinstance(cell, Cell):
        raise TypeError(f"cell: expected an rnnzoo Cell, got {type(cell).__name__}")
    if torch.jit.is_tracing():
        refuse_trace()  # a trace would freeze T, the lengths and the path taken: a silently wrong graph
    if randomness not in RANDOMNESS:
        raise ValueError(f"randomness: expected one of {RANDOMNESS}, got {randomness!r}")
    if order is None:
        order = REVERSE if reverse else FORWARD
    elif not isinstance(order, Order):
        raise TypeError(f"order: expected an rnnzoo.core.order.Order, got {type(order).__name__}")
    elif reverse:
        raise ValueError("reverse/order: pass one of them (reverse=True is order=Reverse())")
    flat = order.flatten(cell, x, state, lengths=lengths, mask=mask, batch_first=batch_first)
    if flat is not None:  # a structure (grid, trees): one run of the order's steps, then the structure restored
        if step_hook is not None:
            raise ValueError(f"step_hook: not supported with {order!r} (its steps are fronts or levels, not times)")
        if steps is not None:
            raise ValueError(f"steps: not supported with {order!r} (the structure sets the number of steps)")
        result = run(flat.cell, flat.x, flat.state, return_states=return_states, use_fused=use_fused,
                     context=context, randomness=randomness)
        return RunOutput(*order.restore(flat, result.output, result.state, result.states))
    reverse = order.reverse

    packed = isinstance(x, PackedSequence)
    if packed:
        if lengths is not None or mask is not None:
            raise ValueError("lengths/mask: a PackedSequence carries its own lengths; pass neither")
        x, lengths = pad_packed_sequence(x, batch_first=True)
        batch_first = True

    unbatched = False
    input_shape: Any = None
    if x is None:
        if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
            raise ValueError(f"steps: a run without input (x=None) needs steps= a positive int, got {steps!r}")
        leaves = tree_leaves(state) or tree_leaves(context, what="context")
        if not leaves:
            raise ValueError("state: a run without input (x=None) takes its batch size from state (or context); "
                             "pass an initial state")
        batch, n_steps, device = leaves[0].shape[0], steps, leaves[0].device
        ref = _first_float(leaves)
        dtype = ref.dtype if ref is not None else cell.default_dtype()
        xt = None
    else:
        if isinstance(x, Tensor):
            fd = cell.feature_dims
            if x.dim() not in (fd + 1, fd + 2):
                layout = "(B, T, *F)" if batch_first else "(T, B, *F)"
                raise ValueError(f"x: expected rank {fd + 2} {layout} or rank {fd + 1} (T, *F) for one unbatched "
                                 f"sequence with {fd} feature axes, got rank {x.dim()} with shape {tuple(x.shape)}")
            cell.check_input(x)
            if x.dim() == fd + 1:
                if lengths is not None or mask is not None:
                    raise ValueError("lengths/mask: not supported for unbatched input (T, *F); add a batch axis")
                unbatched, x, batch_first = True, x.unsqueeze(0), True
            leaves = [x]
        else:
            leaves = tree_leaves(x, what="x")
            if not leaves:
                raise ValueError("x: expected at least one tensor in the structured input, got none")
            if any(t.dim() < 2 for t in leaves):
                raise ValueError("x: every tensor of a structured input needs batch and time axes, got shapes "
                                 f"{[tuple(t.shape) for t in leaves]}")
            cell.check_input(x)
        lead = tuple(leaves[0].shape[:2])
        if any(tuple(t.shape[:2]) != lead for t in leaves):
            axes = "(B, T)" if batch_first else "(T, B)"
            raise ValueError(f"x: every tensor of a structured input must share its {axes} axes, "
                             f"got shapes {[tuple(t.shape) for t in leaves]}")
        batch, n_steps = lead if batch_first else lead[::-1]
        if steps is not None and steps != n_steps:
            raise ValueError(f"steps: expected None or the input's {n_steps} steps, got {steps!r}")
        ref = _first_float(leaves)
        device = leaves[0].device
        if ref is not None:
            _check_against_parameters(cell, ref)
            dtype = ref.dtype
        else:
            dtype = cell.default_dtype()
        xt = tree_map(lambda t: t.transpose(0, 1), x) if batch_first else x  # time-major views
        input_shape = tuple(x.shape[2:]) if isinstance(x, Tensor) else tree_map(lambda t: tuple(t.shape[2:]), x)
    if n_steps == 0:
        raise ValueError(f"x: expected at least one time step, got shape {tuple(leaves[0].shape)}")

    # mixed precision (torch.autocast, Lightning's bf16-mixed / 16-mixed): the recurrence runs in the parameters'
    # dtype with autocast off, the layers around it keep autocast. The fused Functions keep float32 states beside
    # bfloat16 products otherwise, and torch's oneDNN LSTM has no bfloat16 kernel on some CPUs.
    full_precision = autocast_enabled(torch.device(device).type)
    if full_precision and xt is not None:
        dtype = cell.default_dtype()
        xt = tree_map(lambda t: t.to(dtype) if t.is_floating_point() else t, xt)
    state_given = state is not None
    if unbatched and state is not None:
        state = unbatched_state(cell.state_spec(1, input_shape=input_shape), state, device=device, dtype=dtype)
    if state is None:
        state = cell.initial_state(batch, device=device, dtype=dtype, input_shape=input_shape)
    elif not unbatched:
        check_state("state", state, cell.state_spec(batch, input_shape=input_shape), device=device, dtype=dtype)

    mask_t, lens = valid_steps(lengths, mask, batch, n_steps, batch_first=batch_first, device=device)

    def prepare() -> Any:
        return cell.prepare(context, batch, device=device, dtype=dtype, input_shape=input_shape)

    if context is not None and not cell.takes_context:
        raise TypeError(f"context: {type(cell).__name__} takes no context (no cell in it has a step with a "
                        "`prepared` argument); run it without context=")
    ahead = lookahead.check(cell, reverse=reverse, step_hook=step_hook, x=xt, mask_t=mask_t, lens=lens,
                            state_given=state_given)
    if ahead:
        out_mask = mask_t
        xt, mask_t, lens, n_steps = lookahead.extend(ahead, xt, mask_t, lens, n_steps, batch, device)
    per_step = randomness == "per_step"
    with _autocast_off(device, full_precision):
        prepared = prepare()  # once per run; with per-step randomness, again before every later step
    bind(cell.step, 2, prepared, strict=True)  # a cell whose own prepare returns what its step cannot take
    fast = use_fused and not return_states and step_hook is None and not per_step and not probe.recording()

    # the visiting order; a cell without a fast path always sees one order, so its per-step random draws do not
    # depend on use_fused
    xt, mask_t, undo, time_of = order.reorder(xt, mask_t, lens, n_steps,
                                              fast=fast and lens is not None and cell.fused_kind is not None)
    seq = Steps(cell, xt, mask_t, lens, prepared, n_steps, batch)
    with _autocast_off(device, full_precision):
        out_t, final, states_t = run_steps(seq, state, return_states=return_states, step_hook=step_hook,
                                           use_fused=fast, time_of=time_of, reprepare=prepare if per_step else None)
    if ahead:
        out_t, states_t = lookahead.shift_back(ahead, out_t, states_t, out_mask)
    out_t = undo(out_t)
    states_t = undo(states_t) if states_t is not None else None

    output = tree_map(lambda t: t.transpose(0, 1), out_t) if batch_first else out_t
    states = None
    if states_t is not None:
        states = tree_map(lambda s: s.transpose(0, 1), states_t) if batch_first else states_t
    if unbatched:
        output = tree_map(lambda t: t.squeeze(0), output)
        final = tree_map(lambda t: t.squeeze(0), final)
        if states is not None:
            states = tree_map(lambda t: t.squeeze(0), states)
    if packed:
        assert lengths is not None
        output = pack_padded_sequence(output, as_lengths(lengths, batch, n_steps), batch_first=True,
                                      enforce_sorted=False)
    return RunOutput(output, final, states)


def _autocast_off(device: Any, on: bool) -> contextlib.AbstractContextManager[Any]:
    """``torch.autocast(..., enabled=False)`` for ``device``'s type when ``on``, else nothing."""
    return torch.autocast(torch.device(device).type, enabled=False) if on else contextlib.nullcontext()


def fused_knows_step(cell: Any) -> bool:
    """False when a class outside rnnzoo, below the class that defines the cell's ``fused``, redefines ``step`` or
    ``pointwise``: a user's subclass changing the math without its own fast path, whose inherited Function would
    silently compute the parent's step. Such a cell runs the step loop. rnnzoo's own classes (families sharing one
    ``fused``) are held equal to their step loops by the contract suite. ``cell`` may also be a cell class."""
    cls = cell if isinstance(cell, type) else type(cell)
    fused_owner = next((k for k in cls.__mro__ if "fused" in vars(k)), None)
    for name in ("step", "pointwise"):
        owner = next((k for k in cls.__mro__ if name in vars(k)), None)
        if (owner is not None and fused_owner is not None and owner is not fused_owner
                and issubclass(owner, fused_owner) and not owner.__module__.startswith("rnnzoo.")):
            return False
    return True


def run_steps(seq: Steps, state: Any, *, return_states: bool = False, step_hook: StepHook | None = None,
              use_fused: bool = True, time_of: Callable[[int], int] = lambda i: i,
              reprepare: Callable[[], Any] | None = None) -> tuple[Any, Any, Any]:
    """The core of :func:`run` on validated, time-major, already ordered steps.

    Returns ``(outputs (T, B, *O), final state, states (T, B, ...) or None)``. Wrappers and stacks
    that hand their steps on (a :class:`~rnnzoo.core.deep.DeepCell` runs layer by layer) call this.
    ``use_fused`` here means the caller's conditions for a fast path hold; the compile policy is
    applied here, and the export policy: under ``torch.export`` only a fast path the cell declares
    ``fused_exportable``, else one ``scan`` over the steps (:mod:`rnnzoo.core.scan`) where the call
    allows it, so that the exported graph keeps T symbolic.
    """
    cell = seq.cell
    exporting = torch.compiler.is_exporting()
    if exporting:
        allowed = cell.fused_exportable
    else:
        allowed = cell.fused_traceable or not torch.compiler.is_compiling()
    if use_fused and allowed and fused_knows_step(cell):
        result = cell.fused(seq, state)
        if result is not None:
            return result[0], result[1], None
    if exporting and seq.x is not None and not return_states and step_hook is None and reprepare is None:
        out, final = scan_steps(seq, state)  # one scan over a symbolic T instead of T unrolled steps
        return out, final, None
    return _loop(seq, state, return_states, step_hook, time_of, reprepare)


def _time_slices(tree: Any, steps: int) -> list[Any]:
    """A time-major pytree -> one pytree per step (each leaf unbound once: its backward is one stack)."""
    if tree is None:
        return [None] * steps
    if isinstance(tree, Tensor):
        return list(tree.unbind(0))
    columns = [leaf.unbind(0) for leaf in tree_leaves(tree)]
    out = []
    for i in range(steps):
        it = iter(col[i] for col in columns)
        out.append(tree_map(lambda _leaf, it=it: next(it), tree))
    return out


def _zero_masked(y: Any, m: Tensor) -> Any:
    return tree_map(lambda t: torch.where(m.view(-1, *([1] * (t.dim() - 1))), t, torch.zeros((), dtype=t.dtype,
                                                                                                device=t.device)), y)


def _loop(seq: Steps, state: Any, return_states: bool, step_hook: StepHook | None,
          time_of: Callable[[int], int], reprepare: Callable[[], Any] | None) -> tuple[Any, Any, Any]:
    """The reference step loop."""
    cell, steps = seq.cell, seq.steps
    if reprepare is None:
        us = _time_slices(seq.u, steps)  # all steps' input projections in one product
        step = bind(cell.step, 2, seq.prepared, strict=True)
        output = bind(cell.output, 1, seq.prepared)
    else:  # per-step randomness: prepare (and project with what it drew) before every step
        xs = _time_slices(seq.x, steps)
    ms = seq.mask.unbind(0) if seq.mask is not None else None
    recording = probe.recording()
    outer_mask = probe.step_mask()  # a stack running this loop inside a step
    outputs: list[Any] = []
    states: list[Any] = []
    try:
        for i in range(steps):
            if reprepare is not None:
                prepared = reprepare() if i > 0 else seq.prepared
                u_i = bind(cell.project, 1, prepared)(xs[i]) if xs[i] is not None else None
                step = bind(cell.step, 2, prepared, strict=True)
                output = bind(cell.output, 1, prepared)
            else:
                u_i = us[i]
            if recording:
                probe.set_step_mask(ms[i] if ms is not None else outer_mask)
            y, new = step(u_i, state)
            if ms is not None:
                new = tree_where(ms[i], new, state)
            if step_hook is not None:
                new = step_hook(time_of(i), new)
                y = output(new)
            if ms is not None:
                y = _zero_masked(y, ms[i])
            state = new
            outputs.append(y)
            if return_states:
                states.append(state)
    finally:
        if recording:
            probe.set_step_mask(outer_mask)
    out = torch.stack(outputs, 0) if isinstance(outputs[0], Tensor) else tree_stack(outputs, 0)
    stacked = tree_stack(states, 0) if return_states else None
    return out, state, stacked
