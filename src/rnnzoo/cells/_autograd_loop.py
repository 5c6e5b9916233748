"""The whole-sequence loop of plain autograd operations that the issue-15 step-loop cells (MUT1-3, multiplicative
LSTM, residual LSTM) use as their fast path (``FastPath.AUTOGRAD``): the runner's masking semantics without its
per-step work (state checks, hooks, probes, rebinding), the cell's weights transposed once per run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import torch
from torch import Tensor

S = TypeVar("S", bound=tuple[Any, ...])


def autograd_loop(update: Callable[[Tensor, S], tuple[Tensor, S]], u: Tensor, state: S,
                  mask: Tensor | None) -> tuple[Tensor, S]:
    """Run ``update(u_t, state) -> (y_t, new_state)`` over ``u`` ``(T, B, P)`` (time-major).

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
