"""Decoding: greedy and beam search over any step function (seq2seq decoders, pointer networks).

A decoder is given as ``step(tokens, state) -> (log_probs, state)``: ``tokens`` int64 ``(N,)`` are the previous
outputs (the start token at the first step), ``log_probs`` ``(N, V)`` the next output's log-probabilities and
``state`` any pytree whose tensors have the N rows first (a decoder cell's state, a pointer network's mask of
chosen positions, the prepared encoder outputs). :func:`beam_search` keeps ``width`` hypotheses per example, so
it calls ``step`` with ``N = B * width`` rows, example-major (rows ``b * width ... b * width + width - 1`` are
example b's beams); it reorders the state's rows after every step. Width 1 is greedy decoding.

A hypothesis ends when it emits ``end`` (its later steps are padding, ``pad``, at no cost), or after
``max_steps``. Scores are sums of log-probabilities; ``length_penalty`` alpha ranks finished hypotheses by
``score / length ** alpha`` (0: the raw sum, as Sutskever et al. 2014 and Vinyals et al. 2015 decode).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnzoo.core.tree import tree_leaves, tree_map

__all__ = ["Beams", "beam_search", "greedy"]

StepFn = Callable[[Tensor, Any], tuple[Tensor, Any]]


class Beams(NamedTuple):
    """The result of :func:`beam_search`, best hypothesis first.

    tokens: int64 ``(B, W, L)`` (``pad`` after a hypothesis's end); scores: ``(B, W)`` summed log-probabilities;
    lengths: int64 ``(B, W)`` (the end token counted).
    """

    tokens: Tensor
    scores: Tensor
    lengths: Tensor


def beam_search(step: StepFn, state: Any, *, batch_size: int, width: int, max_steps: int, start: int | Tensor,
                end: int | None = None, pad: int = 0, length_penalty: float = 0.0) -> Beams:
    """Beam search (see the module docstring).

    Args:
        step: ``step(tokens (N,), state) -> (log_probs (N, V), state)``.
        state: the initial state for the B examples (rows first); it is repeated to ``B * width`` rows.
        batch_size: B. width: W hypotheses per example. max_steps: L, the most steps decoded.
        start: the first input token (an int, or int64 ``(B,)``). end: the end token (None: every hypothesis runs
            ``max_steps`` steps, as a pointer network over n points runs n). pad: the token after an end.
        length_penalty: alpha of the final ranking ``score / length ** alpha``.
    """
    for name, value, low in (("batch_size", batch_size, 1), ("width", width, 1), ("max_steps", max_steps, 1)):
        if isinstance(value, bool) or not isinstance(value, int) or value < low:
            raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
    b, w = batch_size, width
    leaves = [t for t in tree_leaves(state) if isinstance(t, Tensor)]
    device = leaves[0].device if leaves else torch.device("cpu")
    state = tree_map(lambda t: t.repeat_interleave(w, dim=0), state)
    if isinstance(start, Tensor):
        if tuple(start.shape) != (b,):
            raise ValueError(f"start: expected an int or an int64 tensor of shape ({b},), got {tuple(start.shape)}")
        tokens = start.repeat_interleave(w)
    else:
        tokens = torch.full((b * w,), int(start), dtype=torch.long, device=device)
    scores: Tensor | None = None
    finished = torch.zeros(b * w, dtype=torch.bool, device=device)
    lengths = torch.zeros(b * w, dtype=torch.long, device=device)
    history: list[Tensor] = []
    rows = torch.arange(b, device=device).repeat_interleave(w) * w
    for _ in range(max_steps):
        log_probs, state = step(tokens.to(device), state)
        if log_probs.dim() != 2 or log_probs.shape[0] != b * w:
            raise ValueError(f"step: expected log_probs of shape ({b * w}, V), got {tuple(log_probs.shape)}")
        log_probs = log_probs.float().cpu() if log_probs.dtype in (torch.float16, torch.bfloat16) else log_probs
        vocab = log_probs.shape[1]
        if scores is None:  # one live hypothesis per example at first: the W copies are identical
            scores = torch.zeros(b, w, dtype=log_probs.dtype, device=log_probs.device)
            scores[:, 1:] = float("-inf")
            scores = scores.flatten()
            finished, lengths, rows = finished.to(scores.device), lengths.to(scores.device), rows.to(scores.device)
        if end is not None and bool(finished.any()):  # a finished hypothesis continues with pad at no cost
            carry = torch.full_like(log_probs, float("-inf"))
            carry[:, pad] = 0.0
            log_probs = torch.where(finished.unsqueeze(1), carry, log_probs)
        tokens = tokens.to(scores.device)
        total = (scores.unsqueeze(1) + log_probs).view(b, w * vocab)
        top, index = total.topk(w, dim=1)
        beam = torch.div(index, vocab, rounding_mode="floor").flatten()
        token = (index % vocab).flatten()
        source = rows + beam
        state = tree_map(lambda s, src=source: s.index_select(0, src.to(s.device)), state)
        history = [h.index_select(0, source) for h in history]
        was_finished = finished.index_select(0, source)
        lengths = lengths.index_select(0, source) + (~was_finished).long()
        token = torch.where(was_finished, torch.full_like(token, pad), token)
        history.append(token)
        finished = was_finished | (token == end) if end is not None else was_finished
        scores = top.flatten()
        tokens = token
        if end is not None and bool(finished.all()):
            break
    assert scores is not None
    out = torch.stack(history, 1).view(b, w, -1)
    scores, lengths = scores.view(b, w), lengths.view(b, w)
    rank = scores / lengths.clamp(min=1).to(scores.dtype) ** length_penalty if length_penalty else scores
    order = rank.argsort(dim=1, descending=True)
    return Beams(out.gather(1, order.unsqueeze(2).expand_as(out)), scores.gather(1, order), lengths.gather(1, order))


def greedy(step: StepFn, state: Any, *, batch_size: int, max_steps: int, start: int | Tensor,
           end: int | None = None, pad: int = 0) -> Beams:
    """Greedy decoding: :func:`beam_search` with one hypothesis (``Beams`` with W = 1)."""
    return beam_search(step, state, batch_size=batch_size, width=1, max_steps=max_steps, start=start, end=end, pad=pad)
