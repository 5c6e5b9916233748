"""The whole-sequence fast path of a cell whose step fits no fused Function: its own step, looped once over the
run's projected inputs in plain autograd operations (``fused_kind = "autograd"``), without the runner's per-step
work (input checks, hooks, state specs, per-step projection)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rnnzoo.core.cell import Steps


def step_loop(step: Callable[[Tensor, Any], tuple[Tensor, Any]], steps: Steps, state: Any
              ) -> tuple[Tensor, Any] | None:
    """``(outputs (T, B, O), final state)`` of ``step`` over ``steps.u`` (time-major); at masked steps the state is
    kept and the output is zero, as the runner's loop does. None when ``u`` is not one tensor."""
    if not isinstance(steps.u, Tensor):
        return None
    us = steps.u.unbind(0)
    mask = steps.mask
    outs = []
    for t in range(steps.steps):
        y, new = step(us[t], state)
        if mask is None:
            state = new
            outs.append(y)
        else:
            m = mask[t].unsqueeze(1)
            state = type(state)(*(torch.where(m, a, b) for a, b in zip(new, state, strict=True)))
            outs.append(torch.where(m, y, torch.zeros((), dtype=y.dtype, device=y.device)))
    return torch.stack(outs), state
