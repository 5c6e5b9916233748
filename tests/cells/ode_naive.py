"""What the ODE-family tests (issue 15: AntisymmetricRNN, coRNN, LEM, UnICORNN, FastRNN/FastGRNN) share: plain
Python-float arithmetic (no torch in the step), a masked loop over a batch, and the comparison of a cell's run
(step loop and fast path) against it."""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

import rnnzoo

B, T, I, H = 2, 5, 3, 4


def sig(v: float) -> float:
    return 1.0 / (1.0 + math.exp(-v))


def mat(w: torch.Tensor) -> list[list[float]]:
    """A weight as nested Python floats (rows)."""
    return [[float(v) for v in row] for row in w.detach().double()]


def vec(w: torch.Tensor | None, n: int) -> list[float]:
    """A vector as Python floats (zeros for a missing bias)."""
    return [0.0] * n if w is None else [float(v) for v in w.detach().double().reshape(-1)]


def dot(row: list[float], v: list[float]) -> float:
    return sum(a * b for a, b in zip(row, v, strict=True))


def naive_run(step: Callable[[list[float], list[list[float]]], list[list[float]]], x: torch.Tensor,
              state0: tuple[torch.Tensor, ...], mask: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor]]:
    """Run ``step(x_t, [field, ...]) -> [new field, ...]`` (Python floats) over ``x (B, T, I)`` from ``state0``;
    a masked step keeps the state and outputs zero; the output is the first field."""
    out = torch.zeros(x.shape[0], x.shape[1], state0[0].shape[1], dtype=torch.float64)
    final = [s.detach().clone().double() for s in state0]
    for b in range(x.shape[0]):
        state = [[float(v) for v in s[b]] for s in state0]
        for t in range(x.shape[1]):
            if not mask[b, t]:
                continue
            state = step([float(v) for v in x[b, t]], state)
            out[b, t] = torch.tensor(state[0], dtype=torch.float64)
        for f, s in zip(final, state, strict=True):
            f[b] = torch.tensor(s, dtype=torch.float64)
    return out, final


def holes() -> torch.Tensor:
    """A (B, T) mask with a hole and a short sequence."""
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = False
    mask[1, 3:] = False
    return mask


def check_against_naive(cell: rnnzoo.Cell, step: Callable, *, scale: float = 1.0, seed: int = 0) -> None:
    """The cell's step loop and its fast path both equal ``naive_run`` (float64, random non-zero initial state,
    a mask with holes), outputs and final state."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, I, dtype=torch.float64, generator=g) * scale
    spec = cell.state_spec(B)
    s0 = type(spec)(*(torch.randn(B, H, dtype=torch.float64, generator=g) * 0.5 for _ in spec))
    mask = holes()
    want, want_state = naive_run(step, x, tuple(s0), mask)
    for fused in (False, True):
        res = rnnzoo.run(cell, x, s0, mask=mask, use_fused=fused)
        torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
        for got, w in zip(res.state, want_state, strict=True):
            torch.testing.assert_close(got, w, rtol=0, atol=1e-12)
