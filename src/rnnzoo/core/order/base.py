"""The scan-order protocol and the time orders (forward, reverse).

An :class:`Order` may act at two places of :func:`rnnzoo.core.runner.run`:

* ``flatten(cell, x, state, ...) -> Flat | None``: a structural order (grids, trees) turns its structure into a
  batch-first run of steps for an adapter cell that wraps the user's cell; ``restore(flat, result)`` turns the run's
  outputs and states back into the structure. Time orders return None (``x`` is already a sequence).
* ``reorder(xt, mask_t, lens, steps, fast)``: the order in which the runner visits the steps of a time-major
  sequence, with the function undoing it on the outputs and the map from a visited step to its original time index.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnzoo.core.tree import tree_leaves, tree_map

Undo = Callable[[Any], Any]


def reverse_index(lengths: Tensor, steps: int, device: torch.device) -> Tensor:
    """``(T, B)`` time indices reversing each sequence within its length (padding stays at the end)."""
    t = torch.arange(steps, device=device).unsqueeze(1)
    lens = lengths.to(device).unsqueeze(0)
    return torch.where(t < lens, lens - 1 - t, t)


def gather_time(tree: Any, index: Tensor) -> Any:
    """Reorder every time-major leaf ``(T, B, ...)`` of ``tree`` by ``index`` ``(T, B)`` (per sequence)."""

    def one(x: Tensor) -> Tensor:
        idx = index.view(*index.shape, *([1] * (x.dim() - 2))).expand_as(x)
        return x.gather(0, idx)

    return tree_map(one, tree)


def reverse_padded(x: Tensor, lengths: Tensor) -> Tensor:
    """Reverse each batch-first sequence ``x`` (B, T, ...) within its length; padding stays at the end."""
    index = reverse_index(lengths, x.shape[1], x.device)
    return gather_time(x.transpose(0, 1), index).transpose(0, 1)


class Flat(NamedTuple):
    """A structure flattened into a run: the adapter ``cell`` the runner steps, its batch-first input ``x`` (a pytree
    of ``(B, T, ...)`` tensors), the initial ``state`` (None: the adapter's zeros), ``info`` (for ``restore``)."""

    cell: Any
    x: Any
    state: Any
    info: Any


class Order:
    """Base class of scan orders (module docstring). The default visits one time axis forwards."""

    reverse: bool = False

    def flatten(self, cell: Any, x: Any, state: Any, *, lengths: Any, mask: Any, batch_first: bool) -> Flat | None:
        """A structural order's run of steps (None: ``x`` is already a sequence the runner reads as it is)."""
        return None

    def restore(self, flat: Flat, output: Any, state: Any, states: Any) -> tuple[Any, Any, Any]:
        """``(output, state, states)`` of the structure from the flattened run's (batch-first) results."""
        return output, state, states

    def reorder(self, xt: Any, mask_t: Tensor | None, lens: Tensor | None, steps: int, *, fast: bool
                ) -> tuple[Any, Tensor | None, Undo, Callable[[int], int]]:
        """``(xt, mask_t, undo, time_of)``: the time-major steps in visiting order, the function restoring the
        original order of time-major outputs/states, and visited step -> original time index."""
        return xt, mask_t, (lambda tree: tree), (lambda i: i)

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Forward(Order):
    """Steps in their order (the default)."""


class Reverse(Order):
    """From each sequence's last valid step to its first; outputs written back at their original positions.

    With prefix lengths and a fast path (``fast``), each sequence is reversed within its length (padding stays at the
    end: what torch's kernels need); otherwise the whole time axis is flipped, which is exact for any mask because a
    leading run of masked steps is a no-op (and a cell without a fast path sees the same order either way, so its
    per-step random draws do not depend on the path)."""

    reverse = True

    def reorder(self, xt: Any, mask_t: Tensor | None, lens: Tensor | None, steps: int, *, fast: bool
                ) -> tuple[Any, Tensor | None, Undo, Callable[[int], int]]:
        if fast and lens is not None:
            index = reverse_index(lens, steps, tree_leaves(xt)[0].device)
            return gather_time(xt, index), mask_t, (lambda tree: gather_time(tree, index)), (lambda i: steps - 1 - i)
        flipped = tree_map(lambda t: t.flip(0), xt)
        mask_t = mask_t.flip(0) if mask_t is not None else None
        return flipped, mask_t, (lambda tree: tree_map(lambda t: t.flip(0), tree)), (lambda i: steps - 1 - i)



FORWARD = Forward()
REVERSE = Reverse()
