"""Cells with look-ahead (``Cell.lookahead = N``: step t emits the output of step t - N, as FSMN's memory block
with N future taps): what :func:`rnnzoo.core.runner.run` does around the usual loop for them.

The run feeds N zero input steps after each sequence's end (:func:`extend`), then drops the first N outputs and
zeroes the outputs past each length (:func:`shift_back`); :func:`check` refuses what such a run cannot do (masks
with holes, ``reverse``, step hooks, runs without input, a wrapper hiding an inner cell's look-ahead).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rnnzoo.core.cell import Cell
from rnnzoo.core.tree import tree_map


def check(cell: Cell, *, reverse: bool, step_hook: Callable[[int, Any], Any] | None, x: Any, mask_t: Tensor | None,
          lens: Tensor | None, state_given: bool = False) -> int:
    """The cell's ``lookahead`` (0 for most cells), after refusing what a run with look-ahead cannot do."""
    ahead = cell.lookahead
    if not ahead:
        if not cell.causal:  # a wrapper or stack around a cell with look-ahead that does not declare it
            inner = next((m for m in cell.modules() if isinstance(m, Cell) and m.lookahead), None)
            if inner is not None:
                raise TypeError(f"cell: {type(cell).__name__} holds a {type(inner).__name__} with lookahead="
                                f"{inner.lookahead} but declares lookahead=0, so its outputs would come "
                                f"{inner.lookahead} steps late; run that cell in its own layer")
        return 0
    if reverse:
        raise ValueError(f"reverse: {type(cell).__name__} has lookahead={ahead} (it already reads {ahead} future "
                         "steps); a reversed run of it is not supported")
    if step_hook is not None:
        raise ValueError(f"step_hook: {type(cell).__name__} has lookahead={ahead}: its step t emits the output of "
                         f"step t - {ahead}, so a hook would see shifted states; run it without step_hook")
    if x is None:
        raise ValueError(f"x: {type(cell).__name__} has lookahead={ahead}; a run without input has no future to read")
    if state_given:  # the final state of a run holds the taps of the zero steps fed after the end
        raise ValueError(f"state: {type(cell).__name__} has lookahead={ahead}: a run ends by feeding {ahead} zero "
                         "steps, so its final state cannot continue a sequence in chunks; run the whole sequence "
                         "from the zero state (or step the cell by hand, which emits each output "
                         f"{ahead} steps late)")
    if mask_t is not None and lens is None and not torch.compiler.is_exporting():  # exported: lengths only
        raise ValueError(f"mask: {type(cell).__name__} has lookahead={ahead}, which needs each sequence's valid steps "
                         "to be a prefix (pass lengths); got a mask with holes")
    return ahead


def extend(ahead: int, xt: Any, mask_t: Tensor | None, lens: Tensor | None, steps: int, batch: int,
                          device: torch.device) -> tuple[Any, Tensor | None, Tensor | None, int]:
    """``ahead`` zero input steps after each sequence's end: the input past each length is zeroed and the
    valid steps extend ``ahead`` past it. Returns the new ``(xt, mask_t, lengths, steps)``."""
    def pad(t: Tensor) -> Tensor:
        if mask_t is not None:
            t = torch.where(mask_t.view(*mask_t.shape, *([1] * (t.dim() - 2))), t, t.new_zeros(()))
        return torch.cat([t, t.new_zeros((ahead, *t.shape[1:]))], 0)

    xt = tree_map(pad, xt)
    steps += ahead
    if mask_t is None:
        return xt, None, None, steps
    ends = mask_t.sum(0) + ahead  # (B,): the mask's rows are prefixes
    mask_t = torch.arange(steps, device=ends.device).unsqueeze(1) < ends.unsqueeze(0)  # (T + ahead, B)
    return xt, mask_t, (lens + ahead if lens is not None else None), steps


def shift_back(ahead: int, out_t: Any, states_t: Any, mask_t: Tensor | None) -> tuple[Any, Any]:
    """Drop the first ``ahead`` outputs (and states) of an extended run, and zero the outputs past each
    original length (``mask_t``, the run's mask before the extension)."""
    out_t = tree_map(lambda t: t[ahead:], out_t)
    if mask_t is not None:
        out_t = tree_map(lambda t: torch.where(mask_t.view(*mask_t.shape, *([1] * (t.dim() - 2))), t,
                                               t.new_zeros(())), out_t)
    if states_t is not None:
        states_t = tree_map(lambda t: t[ahead:], states_t)
    return out_t, states_t
