"""Truncated back-propagation through time, TBPTT(k1, k2) (Williams & Peng 1990).

Full BPTT (001 eqs (9)-(12)) sums, for every scored step t, the gradient paths back to step 1. The
truncated form updates the weights every ``k1`` steps and lets the gradient flow back at most ``k2``
steps (``k2 >= k1``):

    for each chunk of steps [s, e) with e - s = k1 (the last may be shorter):
        run the model over the window [e - k2, e) from the *detached* state at e - k2
        loss = the share of the batch loss scored at steps [s, e)   (see rnnzoo.train.objective)
        backward, update                                              (update(loss, chunk))

so the loss at step t reaches back to step e - k2 (between ``k2 - k1 + 1`` and ``k2`` steps), and no
gradient reaches an input before the window. With ``k2 > k1`` the last ``k2 - k1`` steps of each
window are re-run at the next chunk from the state saved (detached) at the start of the next window;
each step is computed ``k2 / k1`` times. The state is carried across chunks (and detached at the
window starts); each batch starts from the zero state. With ``k1 = k2 >= T`` this is full BPTT.

Chunks in which no step is scored (e.g. before the last step of a ``"last"``-target task) are run
without gradient and without an update.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

import rnnzoo
from rnnzoo.core.runner import lengths_to_mask
from rnnzoo.core.tree import tree_detach
from rnnzoo.train.heads import SequenceModel
from rnnzoo.train.objective import Targets, chunk_loss

UpdateFn = Callable[[Tensor, int], None]
RunFn = Callable[[int, int, Any], tuple[Tensor, Any]]
"""``run(a, b, state) -> (outputs of steps [a, b), state after step b - 1)``, from ``state`` (None: zero)."""


@dataclass(frozen=True)
class Window:
    """One chunk of TBPTT(k1, k2): steps ``[start, stop)`` are scored (``stop - start = k1``, the last
    chunk may be shorter); the forward runs over ``[begin, stop)`` from the state detached at ``begin``
    (``begin = max(0, stop - k2)``), and the state at ``carry`` (detached) starts the next window."""

    index: int
    begin: int
    start: int
    stop: int
    carry: int


def windows(steps: int, k1: int, k2: int) -> list[Window]:
    """The TBPTT(k1, k2) schedule over ``steps`` time steps, chunk by chunk (``1 <= k1 <= k2``).

    Each window reaches back ``k2`` steps from its chunk's end (or to step 0), a shorter last chunk
    included; with ``k1 = k2`` dividing ``steps`` the windows are the chunks.

    >>> [(w.begin, w.start, w.stop, w.carry) for w in windows(7, 3, 5)]
    [(0, 0, 3, 1), (1, 3, 6, 2), (2, 6, 7, 7)]
    >>> [(w.begin, w.start, w.stop, w.carry) for w in windows(6, 2, 2)]
    [(0, 0, 2, 2), (2, 2, 4, 4), (4, 4, 6, 6)]
    """
    if not 1 <= k1 <= k2:
        raise ValueError(f"tbptt: expected 1 <= k1 <= k2, got k1={k1}, k2={k2}")
    out: list[Window] = []
    begin = 0
    for index, start in enumerate(range(0, steps, k1)):
        stop = min(start + k1, steps)
        carry = max(0, min(stop + k1, steps) - k2) if stop < steps else stop
        out.append(Window(index, begin, start, stop, carry))
        begin = carry
    return out


def run_window(run: RunFn, window: Window, state: Any, *, time_dim: int = 1) -> tuple[Tensor, Any]:
    """Run ``window`` from ``state`` (the detached state at ``window.begin``).

    Returns the outputs of the scored steps ``[start, stop)`` (concatenated along ``time_dim``) and the
    detached state at ``window.carry``, which the next window starts from. Gradients flow through
    ``[begin, stop)`` only, under the caller's grad mode.
    """
    outs = []
    if window.carry > window.begin:
        out, state = run(window.begin, window.carry, state)
        outs.append(out)
    carry = tree_detach(state)
    if window.stop > window.carry:
        out, state = run(window.carry, window.stop, state)
        outs.append(out)
    out = outs[0] if len(outs) == 1 else torch.cat(outs, dim=time_dim)
    skip = window.start - window.begin
    return (out.narrow(time_dim, skip, window.stop - window.start) if skip else out), carry


class Chunks:
    """TBPTT(k1, k2) over one batch, one window at a time: what :func:`tbptt` loops over, and what the
    trainer steps through one update per training step (so that ``--max-steps``, ``--val-every`` and
    ``metrics.csv`` all count optimizer updates).

    Args: as :func:`tbptt`. ``len(chunks)`` windows; ``chunks.scored[i]``: whether window ``i`` scores a
    step (an unscored window is run without gradient and gives no update); ``chunks.last_scored``: the
    last scored window (-1 if none).
    """

    def __init__(self, model: SequenceModel, x: Tensor, targets: Targets, k1: int, k2: int, *, loss: str,
                 lengths: Tensor | None = None) -> None:
        self.schedule = windows(x.shape[1], k1, k2)
        if not model.backbone.causal:
            raise ValueError("tbptt: a non-causal model (bidirectional, reversed, or a cell with lookahead > 0: "
                             "its outputs read future steps) needs the whole sequence; use full BPTT")
        info = rnnzoo.model_info(model.config["model"])
        if not info.chunkable:
            raise ValueError(f"tbptt: {info.name!r} cannot be fed in chunks carrying its state (chunkable=False in "
                             "its registry entry); use full BPTT")
        self.model, self.x, self.targets, self.loss_kind = model, x, targets, loss
        steps = x.shape[1]
        self.mask = lengths_to_mask(lengths.to(x.device), steps) if lengths is not None else None
        self.scored = [_has_target(targets, w.start, w.stop) for w in self.schedule]
        self.last_scored = max((i for i, s in enumerate(self.scored) if s), default=-1)
        self._mask_total: float | None = None

    def __len__(self) -> int:
        return len(self.schedule)

    def _run(self, a: int, b: int, state: Any) -> tuple[Tensor, Any]:
        m = self.mask[:, a:b] if self.mask is not None else None
        if m is not None and bool(m.all()):
            m = None
        return self.model.features(self.x[:, a:b], state, mask=m)

    def loss(self, index: int, state: Any) -> tuple[Tensor | None, Any]:
        """Run window ``index`` from ``state`` (its detached start state; None: zero): ``(chunk loss or None
        for an unscored window, detached state that starts window index + 1)``."""
        window = self.schedule[index]
        scored = self.scored[index]
        with torch.set_grad_enabled(torch.is_grad_enabled() and scored):
            feats, carry = run_window(self._run, window, state)
            loss_c = chunk_loss(self.model.head, feats, window.start, self._window_targets(window),
                                self.loss_kind) if scored else None
        return loss_c, carry

    def _window_targets(self, window: Window) -> Targets:
        """The targets, without their mask where it holds every step of the window's chunk: the same loss, without
        indexing the ``(B, k, O)`` outputs by a mask (a copy) and scattering their gradient back into a zero-filled
        ``(B, k, O)`` tensor. A language model's next-token mask leaves out only the streams' last step, so every
        window but the last of an epoch drops it (PTB: ``O`` = 10,000 classes; issue 10)."""
        t = self.targets
        if t.kind != "per_step" or t.mask is None or not bool(t.mask[:, window.start:window.stop].all()):
            return t
        return dataclasses.replace(t, mask=None)

    def fraction(self, index: int) -> float:
        """The share of the batch's scored targets that window ``index`` scores (its chunk loss divided by it
        is the mean loss of its own scored steps)."""
        w, t = self.schedule[index], self.targets
        if t.kind == "last":
            assert t.positions is not None
            return float(((t.positions >= w.start) & (t.positions < w.stop)).sum()) / t.positions.numel()
        if t.mask is None:
            return (w.stop - w.start) / t.y.shape[1]
        if self._mask_total is None:  # once per batch, not per window (a PTB epoch is 20 x 46,479 steps)
            self._mask_total = float(t.mask.sum())
        return float(t.mask[:, w.start:w.stop].sum()) / self._mask_total

    def template(self) -> Any:
        """A state of the structure the windows carry (from a one-step run without gradient), for restoring
        a carried state saved as its leaves."""
        with torch.no_grad():
            return self._run(0, 1, None)[1]


def tbptt(model: SequenceModel, x: Tensor, targets: Targets, k1: int, k2: int, *, loss: str,
          lengths: Tensor | None = None, update: UpdateFn) -> tuple[Tensor, int]:
    """Run TBPTT(k1, k2) over one batch.

    Args:
        model: a causal (not bidirectional) :class:`SequenceModel`.
        x: ``(B, T, I)``.
        targets: from :func:`rnnzoo.train.objective.make_targets`.
        k1: steps between updates. k2: steps the gradient flows back (``k2 >= k1``).
        loss: ``"mse"`` or ``"cross_entropy"``.
        lengths: ``(B,)`` valid lengths or None.
        update: ``update(chunk_loss, chunk_index)``: backward and optimizer step (called once per
            chunk with a scored step).

    Returns:
        ``(total_loss, updates)``: the sum of the chunk losses (detached; equal to the batch's mean
        loss under the chunked forward) and the number of ``update`` calls.
    """
    chunks = Chunks(model, x, targets, k1, k2, loss=loss, lengths=lengths)
    total = torch.zeros((), dtype=x.dtype, device=x.device)
    updates = 0
    state = None  # detached state at the current window's begin
    for index in range(len(chunks)):
        loss_c, state = chunks.loss(index, state)
        if loss_c is not None:
            update(loss_c, index)
            total = total + loss_c.detach()
            updates += 1
    return total, updates


def _has_target(targets: Targets, start: int, stop: int) -> bool:
    if targets.kind == "last":
        assert targets.positions is not None
        return bool(((targets.positions >= start) & (targets.positions < stop)).any())
    if targets.mask is None:
        return True
    return bool(targets.mask[:, start:stop].any())
