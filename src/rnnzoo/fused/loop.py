"""The whole-sequence fast path of a cell whose step fits no fused Function: its own step, looped once over the
run's projected inputs in plain autograd operations (``fused_kind = "autograd"``), without the runner's per-step
work (input checks, hooks, state specs, per-step projection)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rnnzoo.core.cell import Steps


def autograd_loop(update: Callable[[Tensor, Any], tuple[Tensor, Any]], u: Tensor, state: Any,
                  mask: Tensor | None) -> tuple[Tensor, Any]:
    """Run ``update(u_t, state) -> (y_t, new_state)`` over ``u`` ``(T, B, P)`` (time-major), the cell's weights read
    as ``update`` closes over them (a cell may transpose them once per run).

    ``mask`` ``(T, B)`` (True = valid) or None: at a masked step the state is kept and the output is zero, as the
    runner's step loop does. Returns ``(outputs (T, B, O), final state)``."""
    outs = []
    for t, u_t in enumerate(u.unbind(0)):  # one unbind: its backward is one stack
        y, new = update(u_t, state)
        if mask is None:
            state = new
            outs.append(y)
        else:
            m = mask[t].unsqueeze(1)
            state = type(state)(*(torch.where(m, a, b) for a, b in zip(new, state, strict=True)))
            outs.append(torch.where(m, y, torch.zeros((), dtype=y.dtype, device=y.device)))
    return torch.stack(outs), state


def step_loop(step: Callable[[Tensor, Any], tuple[Tensor, Any]], steps: Steps, state: Any
              ) -> tuple[Tensor, Any] | None:
    """:func:`autograd_loop` of ``step`` over a run's :class:`~rnnzoo.core.cell.Steps` (``steps.u``, ``steps.mask``);
    None when ``u`` is not one tensor."""
    if not isinstance(steps.u, Tensor):
        return None
    return autograd_loop(step, steps.u, state, steps.mask)
