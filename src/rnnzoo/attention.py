"""Attention scores: additive (Bahdanau et al.), dot, general and concat (Luong et al.), with padded keys masked.

Seed 003 and 001 section 7 describe attention as a soft selection of a memory by a query. For a query ``q``
(``(B, Q)``, a decoder state) and keys ``k_j`` (``(B, S, K)``, the encoder's outputs ``h_j``):

* ``additive``  (Bahdanau, Cho & Bengio 2015, arXiv:1409.0473, eq (6) and appendix A.1.2):
  ``e_j = v^T tanh(W q + U k_j)`` (code: ``w_query``, ``w_key``, ``v``; no biases, as the paper writes it);
* ``dot``       (Luong, Pham & Manning 2015, arXiv:1508.04025, eq (8)): ``e_j = q^T k_j`` (``Q == K``);
* ``general``   (Luong eq (8)): ``e_j = q^T W_a k_j`` (``w``);
* ``concat``    (Luong eq (8)): ``e_j = v_a^T tanh(W_a [q; k_j])`` (``w``: ``(A, Q + K)``, ``v``); the same function
  as ``additive`` with one matrix over the concatenation, kept because Luong's parameterisation is his;

then ``a_j = softmax_j(e_j)`` over the valid keys only and the context ``c = sum_j a_j v_j`` (values default to the
keys). Padded keys get a score of ``-inf`` before the softmax, so their weight is exactly 0 (a 0 score would still
give them weight ``exp(0) / Z``, the known bug of implementations that multiply by the mask instead).

The key-side products (``U k_j``, ``W_a k_j``) do not depend on the query: :meth:`Attention.precompute` computes them
once per sequence (in a decoder cell's ``prepare``), and :meth:`Attention.scores` only adds the query's part at
each step.

>>> import torch
>>> att = Attention("additive", query_size=4, key_size=6, hidden_size=5)
>>> keys = torch.randn(2, 3, 6)
>>> mask = torch.tensor([[True, True, True], [True, False, False]])
>>> context, weights = att(torch.randn(2, 4), keys, mask=mask)
>>> context.shape, weights[1, 1:].tolist()
(torch.Size([2, 6]), [0.0, 0.0])
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn

__all__ = ["ATTENTION_KINDS", "Attention", "check_key_mask", "masked_softmax"]

ATTENTION_KINDS = ("additive", "dot", "general", "concat")


def check_key_mask(mask: Tensor | None, batch: int, length: int) -> None:
    """Raise unless ``mask`` is None or a boolean ``(B, S)`` with at least one valid key in every row."""
    if mask is None:
        return
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (batch, length):
        got = f"{mask.dtype} {tuple(mask.shape)}" if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask: expected a bool tensor of shape ({batch}, {length}) (True = a valid key), got {got}")
    if not bool(mask.any(-1).all()):
        rows = (~mask.any(-1)).nonzero().flatten().tolist()
        raise ValueError(f"mask: every example needs at least one valid key to attend to; rows {rows} have none")


def masked_softmax(scores: Tensor, mask: Tensor | None, dim: int = -1) -> Tensor:
    """``softmax(scores)`` over ``dim`` with the positions where ``mask`` is False set to ``-inf`` first."""
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.softmax(scores, dim=dim)


def masked_log_softmax(scores: Tensor, mask: Tensor | None, dim: int = -1) -> Tensor:
    """``log_softmax`` with masked positions at ``-inf`` (their log-probability is ``-inf``, never 0)."""
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return torch.log_softmax(scores, dim=dim)


class Attention(nn.Module):
    """Scores a query against keys and returns the attention weights and the context.

    Args:
        kind: ``"additive"``, ``"dot"``, ``"general"`` or ``"concat"`` (module docstring).
        query_size: Q. key_size: K (``dot`` needs Q == K).
        hidden_size: A, the width of ``additive``/``concat``'s hidden layer (default: K).

    Shapes: query ``(B, Q)``, keys ``(B, S, K)``, values ``(B, S, V)``, mask ``(B, S)`` bool (True = valid);
    ``forward`` returns the context ``(B, V)`` and the weights ``(B, S)``.
    """

    def __init__(self, kind: str, query_size: int, key_size: int, hidden_size: int | None = None) -> None:
        super().__init__()
        if kind not in ATTENTION_KINDS:
            raise ValueError(f"kind: expected one of {', '.join(ATTENTION_KINDS)}, got {kind!r}")
        for name, value in (("query_size", query_size), ("key_size", key_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if kind == "dot" and query_size != key_size:
            raise ValueError(f"query_size: dot attention needs query_size == key_size ({key_size}), got {query_size}")
        self.kind, self.query_size, self.key_size = kind, query_size, key_size
        a = key_size if hidden_size is None else hidden_size
        self.hidden_size = a
        if kind == "additive":
            self.w_query = nn.Linear(query_size, a, bias=False)
            self.w_key = nn.Linear(key_size, a, bias=False)
            self.v = nn.Parameter(torch.empty(a))
        elif kind == "concat":
            self.w = nn.Parameter(torch.empty(a, query_size + key_size))
            self.v = nn.Parameter(torch.empty(a))
        elif kind == "general":
            self.w = nn.Parameter(torch.empty(query_size, key_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for name, p in self.named_parameters(recurse=False):
            bound = 1.0 / math.sqrt(p.shape[-1])
            nn.init.uniform_(p, -bound, bound)
            del name
        for m in self.children():
            if isinstance(m, nn.Linear):
                m.reset_parameters()

    def precompute(self, keys: Tensor) -> Tensor:
        """The key-side part of the scores, once per sequence: ``(B, S, A)`` (additive, concat), ``(B, S, Q)``
        (general: ``W_a k_j``) or the keys themselves (dot)."""
        if keys.dim() != 3 or keys.shape[-1] != self.key_size:
            raise ValueError(f"keys: expected shape (B, S, {self.key_size}), got {tuple(keys.shape)}")
        if self.kind == "additive":
            return self.w_key(keys)
        if self.kind == "concat":
            return keys @ self.w[:, self.query_size:].t()
        if self.kind == "general":
            return keys @ self.w.t()
        return keys

    def scores(self, query: Tensor, projected: Tensor) -> Tensor:
        """Unnormalised scores ``e`` ``(B, S)`` of ``query`` ``(B, Q)`` against :meth:`precompute`'s output."""
        if query.dim() != 2 or query.shape[-1] != self.query_size:
            raise ValueError(f"query: expected shape (B, {self.query_size}), got {tuple(query.shape)}")
        if self.kind == "additive":
            return torch.tanh(projected + self.w_query(query).unsqueeze(1)) @ self.v
        if self.kind == "concat":
            return torch.tanh(projected + (query @ self.w[:, :self.query_size].t()).unsqueeze(1)) @ self.v
        return torch.bmm(projected, query.unsqueeze(2)).squeeze(2)  # dot, general: q^T (W_a) k_j

    def attend(self, query: Tensor, projected: Tensor, values: Tensor, mask: Tensor | None = None
               ) -> tuple[Tensor, Tensor]:
        """``(context (B, V), weights (B, S))`` from precomputed keys (the per-step call of a decoder)."""
        weights = masked_softmax(self.scores(query, projected), mask)
        return torch.bmm(weights.unsqueeze(1), values).squeeze(1), weights

    def forward(self, query: Tensor, keys: Tensor, values: Tensor | None = None, *, mask: Tensor | None = None
                ) -> tuple[Tensor, Tensor]:
        """``(context (B, V), weights (B, S))``; ``values`` default to ``keys``; ``mask`` ``(B, S)`` bool."""
        check_key_mask(mask, keys.shape[0], keys.shape[1])
        return self.attend(query, self.precompute(keys), keys if values is None else values, mask)

    def extra_repr(self) -> str:
        return f"{self.kind}, query_size={self.query_size}, key_size={self.key_size}, hidden_size={self.hidden_size}"
