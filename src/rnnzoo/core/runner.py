"""The runner: the only time loop in rnnzoo.

``run(cell, x, state, lengths=..., mask=..., reverse=..., batch_first=...)`` applies any cell (see
:mod:`rnnzoo.core.cell`) over a sequence. Direction, variable lengths, masking, batch- vs time-major
layout, unbatched input, packed sequences, returning every step's state and the choice between a
cell's fused fast path and the reference step loop are written here once, for every cell.

Semantics (shared with torch.nn.LSTM on packed sequences and Keras' masking):

* ``lengths`` (B,) in any order, or ``mask`` (B, T) with True = valid step. Past each sequence's
  end, or at any masked step, the state is carried unchanged and the output is zero.
* ``reverse=True`` runs from the last *valid* step to the first: padding stays at the end and the
  reversed outputs are written back at their original positions. (The step loop flips time; a
  masked, frozen state makes leading padding a no-op, so this is exact for any mask.)
* The final state of each sequence is the state after its last processed valid step.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, NamedTuple

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from rnnzoo.core.cell import Cell
from rnnzoo.core.tree import autocast_enabled, check_state, tree_map, tree_stack, tree_where

StepHook = Callable[[int, Any], Any]


class RunOutput(NamedTuple):
    """What :func:`run` returns.

    output: ``(B, T, *O)`` (``(T, B, *O)`` if time-major, ``(T, *O)`` unbatched, a PackedSequence
    if a PackedSequence came in); state: the final state; states: every step's state with a time
    axis in the input's layout (``None`` unless ``return_states=True``).
    """

    output: Any
    state: Any
    states: Any = None


def lengths_to_mask(lengths: Tensor, max_len: int) -> Tensor:
    """``(B,)`` lengths -> ``(B, T)`` boolean mask, True on valid steps."""
    return torch.arange(max_len, device=lengths.device).unsqueeze(0) < lengths.unsqueeze(1)


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each batch-first sequence ``x`` (B, T, ...) within its length; padding stays at the end."""
    batch, steps = x.shape[:2]
    t = torch.arange(steps, device=x.device).unsqueeze(0)
    lens = lengths.to(x.device).unsqueeze(1)
    idx = torch.where(t < lens, lens - 1 - t, t)  # (B, T)
    idx = idx.view(batch, steps, *([1] * (x.dim() - 2))).expand_as(x)
    return x.gather(1, idx)


def _as_lengths(lengths: Any, batch: int, steps: int) -> Tensor:
    if isinstance(lengths, Tensor):
        if lengths.is_floating_point() or lengths.dtype == torch.bool or lengths.is_complex():
            raise TypeError(f"lengths: expected an integer tensor, got dtype {lengths.dtype}")
        lens = lengths.detach().to("cpu", torch.int64)
    elif isinstance(lengths, Sequence):
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in lengths):
            raise TypeError(f"lengths: expected a sequence of ints, got {list(lengths)!r}")
        lens = torch.tensor(list(lengths), dtype=torch.int64)
    else:
        raise TypeError(f"lengths: expected a 1-D integer tensor or a list of ints, got {type(lengths).__name__}")
    if lens.dim() != 1 or lens.shape[0] != batch:
        raise ValueError(f"lengths: expected shape ({batch},) (one length per sequence), got {tuple(lens.shape)}")
    if batch == 0:
        raise ValueError("x: expected a batch of at least one sequence, got batch size 0")
    if int(lens.min()) < 1:
        raise ValueError(f"lengths: expected every length >= 1, got minimum {int(lens.min())}")
    if int(lens.max()) > steps:
        raise ValueError(
            f"lengths: expected every length <= the sequence length {steps}, got maximum {int(lens.max())}"
        )
    return lens


def _mask_prefix_lengths(mask: Tensor) -> Tensor | None:
    """If every row of ``mask`` (B, T) is a valid prefix, return its lengths; else None."""
    lens = mask.sum(1)
    if bool((lens < 1).any()):
        return None
    if bool((lengths_to_mask(lens, mask.shape[1]) == mask).all()):
        return lens.to("cpu", torch.int64)
    return None


def run(
    cell: Cell,
    x: Tensor | PackedSequence,
    state: Any = None,
    *,
    lengths: Tensor | Sequence[int] | None = None,
    mask: Tensor | None = None,
    reverse: bool = False,
    batch_first: bool = True,
    return_states: bool = False,
    step_hook: StepHook | None = None,
    use_fused: bool = True,
) -> RunOutput:
    """Run ``cell`` over the sequence ``x``.

    Args:
        cell: any :class:`~rnnzoo.core.cell.Cell`.
        x: ``(B, T, *F)`` if ``batch_first`` else ``(T, B, *F)``; ``(T, *F)`` for one unbatched
            sequence; or a ``PackedSequence``. ``*F`` is ``(I,)`` for vector cells, ``(C, H, W)``
            for spatial ones.
        state: initial state (a NamedTuple as ``cell.initial_state`` returns; zeros if None).
        lengths: ``(B,)`` valid lengths, any order, 1 <= length <= T.
        mask: ``(B, T)`` (``(T, B)`` if time-major) boolean, True = valid step. Not with lengths.
        reverse: run from the last valid step backwards.
        return_states: also return every step's state (the diagnostics need them).
        step_hook: ``hook(t, state) -> state`` called after every step with the original time
            index ``t`` (gradient probes for diagnostics); disables the fused path.
        use_fused: allow the cell's fused fast path when the configuration permits.

    Returns:
        :class:`RunOutput` ``(output, state, states)``.
    """
    if not isinstance(cell, Cell):
        raise TypeError(f"cell: expected an rnnzoo Cell, got {type(cell).__name__}")

    packed = isinstance(x, PackedSequence)
    if packed:
        if lengths is not None or mask is not None:
            raise ValueError("lengths/mask: a PackedSequence carries its own lengths; pass neither")
        x, lengths = pad_packed_sequence(x, batch_first=True)
        batch_first = True

    if not isinstance(x, Tensor):
        raise TypeError(f"x: expected a torch.Tensor or PackedSequence, got {type(x).__name__}")
    fd = cell.feature_dims
    unbatched = x.dim() == fd + 1
    if x.dim() not in (fd + 1, fd + 2):
        layout = "(B, T, *F)" if batch_first else "(T, B, *F)"
        raise ValueError(
            f"x: expected rank {fd + 2} {layout} or rank {fd + 1} (T, *F) for one unbatched sequence "
            f"with {fd} feature axes, got rank {x.dim()} with shape {tuple(x.shape)}"
        )
    cell.check_input(x)
    param = next((p for p in cell.parameters() if p.is_floating_point()), None)
    mixed_ok = autocast_enabled(x.device.type)
    if param is not None and ((x.dtype != param.dtype and not mixed_ok) or x.device != param.device):
        raise TypeError(
            f"x: expected dtype {param.dtype} on {param.device} (the cell's parameters), "
            f"got dtype {x.dtype} on {x.device}"
        )
    if unbatched:
        if lengths is not None or mask is not None:
            raise ValueError("lengths/mask: not supported for unbatched input (T, *F); add a batch axis")
        x = x.unsqueeze(0)
        if state is not None:
            one = cell.initial_state(1, device=x.device, dtype=x.dtype, input_shape=tuple(x.shape[2:]))
            check_state("state", state, tree_map(lambda t: t.squeeze(0), one))
            state = tree_map(lambda t: t.unsqueeze(0), state)
        batch_first = True

    xt = x.transpose(0, 1) if batch_first else x  # time-major view (T, B, *F)
    steps, batch = xt.shape[0], xt.shape[1]
    if steps == 0:
        raise ValueError(f"x: expected at least one time step, got shape {tuple(x.shape)}")

    expected = cell.initial_state(batch, device=x.device, dtype=x.dtype, input_shape=tuple(x.shape[2:]))
    if state is None:
        state = expected
    else:
        check_state("state", state, expected)

    if lengths is not None and mask is not None:
        raise ValueError("lengths/mask: pass one of them, not both")
    lens: Tensor | None = None
    mask_t: Tensor | None = None  # (T, B)
    if lengths is not None:
        lens = _as_lengths(lengths, batch, steps)
        if int(lens.min()) < steps:
            mask_t = lengths_to_mask(lens.to(x.device), steps).t()
        else:
            lens = None  # every sequence is full length
    elif mask is not None:
        if not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise TypeError(
                f"mask: expected a boolean tensor (True = valid step), got "
                f"{mask.dtype if isinstance(mask, Tensor) else type(mask).__name__}"
            )
        want = (batch, steps) if batch_first else (steps, batch)
        if tuple(mask.shape) != want:
            raise ValueError(
                f"mask: expected shape {want} ({'B, T' if batch_first else 'T, B'}), got {tuple(mask.shape)}"
            )
        mask_bt = mask if batch_first else mask.t()
        mask_bt = mask_bt.to(x.device)
        if not bool(mask_bt.all()):
            mask_t = mask_bt.t()
            lens = _mask_prefix_lengths(mask_bt)

    fused_ok = use_fused and not return_states and step_hook is None and (mask_t is None or lens is not None)
    result = None
    if fused_ok:
        xb = xt.transpose(0, 1)  # batch-first view
        if reverse:
            xb = reverse_padded(xb, lens) if lens is not None else xb.flip(1)
        result = cell.fused(xb, state, lens)
        if result is not None:
            out_b, final = result
            if reverse:
                out_b = reverse_padded(out_b, lens) if lens is not None else out_b.flip(1)
            out_t = out_b.transpose(0, 1)
            states_t = None
    if result is None:
        out_t, final, states_t = _loop(cell, xt, state, mask_t, reverse, return_states, step_hook)

    # back to the caller's layout
    output = out_t.transpose(0, 1) if batch_first else out_t
    states = None
    if states_t is not None:
        states = tree_map(lambda s: s.transpose(0, 1), states_t) if batch_first else states_t
    if unbatched:
        output = output.squeeze(0)
        final = tree_map(lambda t: t.squeeze(0), final)
        if states is not None:
            states = tree_map(lambda t: t.squeeze(0), states)
    if packed:
        assert lengths is not None
        output = pack_padded_sequence(output, _as_lengths(lengths, batch, steps), batch_first=True,
                                      enforce_sorted=False)
    return RunOutput(output, final, states)


def _loop(
    cell: Cell,
    xt: Tensor,
    state: Any,
    mask_t: Tensor | None,
    reverse: bool,
    return_states: bool,
    step_hook: StepHook | None,
) -> tuple[Tensor, Any, Any]:
    """The reference step loop on time-major ``xt`` (T, B, *F)."""
    steps = xt.shape[0]
    u = cell.project(xt)  # all time steps' input projections in one product
    if reverse:
        u = u.flip(0)
        if mask_t is not None:
            mask_t = mask_t.flip(0)
    us = u.unbind(0)  # one unbind: its backward is a single stack, not a full-size gradient per step
    ms = mask_t.unbind(0) if mask_t is not None else None
    outputs: list[Tensor] = []
    states: list[Any] = []
    for i in range(steps):
        y, new = cell.step(us[i], state)
        if ms is not None:
            m = ms[i]
            new = tree_where(m, new, state)
            y = y * m.view(-1, *([1] * (y.dim() - 1))).to(y.dtype)
        if step_hook is not None:
            new = step_hook(steps - 1 - i if reverse else i, new)
        state = new
        outputs.append(y)
        if return_states:
            states.append(state)
    out = torch.stack(outputs, 0)
    stacked = tree_stack(states, 0) if return_states else None
    if reverse:
        out = out.flip(0)
        if stacked is not None:
            stacked = tree_map(lambda s: s.flip(0), stacked)
    return out, state, stacked
