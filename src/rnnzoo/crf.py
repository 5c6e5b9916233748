"""A linear-chain conditional random field: the structured output layer of a tagger (CNN-BiLSTM-CRF)."""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.checks import positive_int

PAD_TAG = -100
"""The tag :meth:`CRF.viterbi` writes at masked steps (``torch.nn.CrossEntropyLoss``'s and torchmetrics'
conventional ``ignore_index``)."""


class ViterbiPath(NamedTuple):
    """tags: int64 ``(B, T)``, the best path, :data:`PAD_TAG` at masked steps; score: ``(B,)`` its score."""

    tags: Tensor
    score: Tensor


class CRF(nn.Module):
    r"""Linear-chain CRF (Lafferty, McCallum & Pereira 2001) over per-step emission scores, in the form of
    Lample et al. 2016 (arXiv:1603.01360, sec. 2.2) and Ma & Hovy 2016 (arXiv:1603.01354, sec. 2.3)::

        score(y | e) = start_transitions[y_1] + sum_{t=1..n} emissions[t, y_t]
                       + sum_{t=2..n} transitions[y_{t-1}, y_t] + end_transitions[y_n]
        p(y | e)     = exp(score(y | e)) / Z(e),      Z(e) = sum over all K^n paths y' of exp(score(y' | e))
        nll(e, y)    = log Z(e) - score(y | e)

    ``log Z`` by the forward algorithm in log space (``logsumexp``), O(n K^2)::

        alpha_1[j] = start_transitions[j] + emissions[1, j]
        alpha_t[j] = logsumexp_i(alpha_{t-1}[i] + transitions[i, j]) + emissions[t, j]
        log Z      = logsumexp_j(alpha_n[j] + end_transitions[j])

    and the best path ``argmax_y score(y | e)`` by Viterbi: the same recursion with ``max`` for ``logsumexp``,
    keeping the argmax of each step as a back-pointer, then following them back from
    ``argmax_j(delta_n[j] + end_transitions[j])``.

    ``transitions[i, j]`` scores the step from tag i to tag j (pytorch-crf's layout, so its parameters copy
    over unchanged). Emissions are what a network computes per step: ``nn.Linear(model.output_size, K)`` on
    the features of :class:`~rnnzoo.cells.CNNBiLSTM`.

    Masks: ``mask`` ``(B, T)`` bool, True = a valid step (rnnzoo's one polarity). A masked step is dropped
    from the chain: the path skips it, as if the sequence were shorter (so a mask with holes equals the
    sequence with those steps removed, the runner's convention). Every sequence needs at least one valid step.
    Tags at masked steps are never read (they may hold :data:`PAD_TAG`).

    Args:
        num_tags: K.

    Methods (B batch, T steps, K tags; ``mask=None`` means every step is valid):
        ``nll(emissions (B, T, K), tags (B, T), mask (B, T)) -> (B,)``, also ``forward``;
        ``log_partition(emissions, mask) -> (B,)``; ``score(emissions, tags, mask) -> (B,)``;
        ``viterbi(emissions, mask) -> ViterbiPath(tags (B, T), score (B,))``;
        ``decode(emissions, mask) -> list[list[int]]`` (each sequence's tags at its valid steps);
        ``accuracy(emissions, tags, mask) -> ()``, the fraction of valid steps whose decoded tag is right
        (for a torchmetrics metric, feed ``viterbi(...).tags`` and ``tags`` to
        ``MulticlassAccuracy(K, average="micro", ignore_index=PAD_TAG)`` with the targets' masked steps set to
        :data:`PAD_TAG`).

    Deviations: Ma & Hovy's potential ``psi(y', y, z_t) = exp(W_{y',y}^T z_t + b_{y',y})`` has a weight
    vector per tag pair; here, as in Lample et al. and pytorch-crf, the emission depends on the current tag
    only (``W_{y',y} = W_y``, the linear layer producing ``emissions``) and ``b_{y',y}`` is
    ``transitions[y', y]``; the start and end transitions are Lample et al.'s extra start/end tags.
    Initialisation U(-0.1, 0.1), as pytorch-crf.

    Example::

        >>> crf = CRF(3)
        >>> emissions = torch.randn(2, 4, 3)
        >>> mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
        >>> crf.nll(emissions, torch.zeros(2, 4, dtype=torch.long), mask).shape
        torch.Size([2])
        >>> [len(path) for path in crf.decode(emissions, mask)]
        [4, 2]
    """

    def __init__(self, num_tags: int) -> None:
        super().__init__()
        self.num_tags = positive_int("num_tags", num_tags)
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for p in (self.transitions, self.start_transitions, self.end_transitions):
            nn.init.uniform_(p, -0.1, 0.1)

    def extra_repr(self) -> str:
        return f"num_tags={self.num_tags}"

    # ---------------------------------------------------------------- checks

    def _check(self, emissions: Tensor, mask: Tensor | None, tags: Tensor | None = None) -> Tensor:
        """Validates the arguments; returns the mask (all True when None)."""
        if not isinstance(emissions, Tensor) or not emissions.is_floating_point():
            raise TypeError(f"emissions: expected a floating-point tensor (B, T, K), got "
                            f"{type(emissions).__name__ if not isinstance(emissions, Tensor) else emissions.dtype}")
        if emissions.dim() != 3 or emissions.shape[2] != self.num_tags or emissions.shape[1] == 0:
            raise ValueError(f"emissions: expected shape (B, T >= 1, K={self.num_tags}), got {tuple(emissions.shape)}")
        if emissions.dtype != self.transitions.dtype:
            raise TypeError(f"emissions: expected dtype {self.transitions.dtype} (the CRF's parameters), got "
                            f"{emissions.dtype}; convert one of them")
        B, T, _ = emissions.shape
        if mask is None:
            mask = torch.ones(B, T, dtype=torch.bool, device=emissions.device)
        elif not isinstance(mask, Tensor) or mask.dtype != torch.bool:
            raise TypeError(f"mask: expected a bool tensor (B, T) (True = valid step), got "
                            f"{mask.dtype if isinstance(mask, Tensor) else type(mask).__name__}")
        elif tuple(mask.shape) != (B, T):
            raise ValueError(f"mask: expected shape (B, T) = {(B, T)} like emissions, got {tuple(mask.shape)}")
        empty = ~mask.any(1)
        if bool(empty.any()):
            raise ValueError(f"mask: every sequence needs at least one valid step; sequences "
                             f"{empty.nonzero().flatten().tolist()} have none")
        if tags is not None:
            if not isinstance(tags, Tensor) or tags.dtype != torch.int64:
                raise TypeError(f"tags: expected an int64 tensor (B, T), got "
                                f"{tags.dtype if isinstance(tags, Tensor) else type(tags).__name__}")
            if tuple(tags.shape) != (B, T):
                raise ValueError(f"tags: expected shape (B, T) = {(B, T)} like emissions, got {tuple(tags.shape)}")
            bad = mask & ((tags < 0) | (tags >= self.num_tags))
            if bool(bad.any()):
                raise ValueError(f"tags: expected tags in [0, {self.num_tags}) at valid steps, got "
                                 f"{tags[bad][0].item()}")
        return mask

    # ---------------------------------------------------------------- likelihood

    def score(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """``score(y | e)`` of the given path: ``(B, T, K), (B, T), (B, T) -> (B,)``."""
        mask = self._check(emissions, mask, tags)
        return self._score(emissions, tags, mask)

    def _score(self, emissions: Tensor, tags: Tensor, mask: Tensor) -> Tensor:
        B, T, _ = emissions.shape
        safe = torch.where(mask, tags, 0)
        emit = emissions.gather(2, safe.unsqueeze(2)).squeeze(2)  # (B, T): emissions[t, y_t]
        total = emissions.new_zeros(B)
        prev = torch.zeros(B, dtype=torch.long, device=emissions.device)  # the last valid step's tag
        started = torch.zeros(B, dtype=torch.bool, device=emissions.device)
        for t in range(T):
            m, y = mask[:, t], safe[:, t]
            link = torch.where(started, self.transitions[prev, y], self.start_transitions[y])
            total = total + torch.where(m, link + emit[:, t], 0.0)
            prev = torch.where(m, y, prev)
            started = started | m
        return total + self.end_transitions[prev]

    def log_partition(self, emissions: Tensor, mask: Tensor | None = None) -> Tensor:
        """``log Z(e)`` by the forward algorithm: ``(B, T, K), (B, T) -> (B,)``."""
        mask = self._check(emissions, mask)
        return self._log_partition(emissions, mask)

    def _log_partition(self, emissions: Tensor, mask: Tensor) -> Tensor:
        alpha = self.start_transitions + emissions[:, 0]  # (B, K); replaced until the first valid step
        started = mask[:, 0]
        for t in range(1, emissions.shape[1]):
            m = mask[:, t].unsqueeze(1)
            step = torch.logsumexp(alpha.unsqueeze(2) + self.transitions, dim=1) + emissions[:, t]
            first = self.start_transitions + emissions[:, t]
            alpha = torch.where(m, torch.where(started.unsqueeze(1), step, first), alpha)
            started = started | mask[:, t]
        return torch.logsumexp(alpha + self.end_transitions, dim=1)

    def nll(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """Negative log-likelihood ``log Z(e) - score(y | e)`` per sequence: ``-> (B,)`` (reduce it yourself:
        ``.mean()`` per sentence, or ``.sum() / mask.sum()`` per token)."""
        mask = self._check(emissions, mask, tags)
        return self._log_partition(emissions, mask) - self._score(emissions, tags, mask)

    def forward(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """:meth:`nll`: ``(B, T, K), (B, T), (B, T) -> (B,)``."""
        return self.nll(emissions, tags, mask)

    # ---------------------------------------------------------------- decoding

    @torch.no_grad()
    def viterbi(self, emissions: Tensor, mask: Tensor | None = None) -> ViterbiPath:
        """The highest-scoring path: ``tags`` ``(B, T)`` int64 (:data:`PAD_TAG` at masked steps) and its
        ``score`` ``(B,)``. Ties go to the lowest tag index."""
        mask = self._check(emissions, mask)
        B, T, K = emissions.shape
        arange = torch.arange(K, device=emissions.device)
        delta = self.start_transitions + emissions[:, 0]
        started = mask[:, 0]
        pointers = []  # pointers[t - 1][b, j]: the best tag at step t - 1 given tag j at step t
        for t in range(1, T):
            m = mask[:, t].unsqueeze(1)
            best, arg = (delta.unsqueeze(2) + self.transitions).max(dim=1)
            first = self.start_transitions + emissions[:, t]
            delta = torch.where(m, torch.where(started.unsqueeze(1), best + emissions[:, t], first), delta)
            # a masked step passes the tag through (identity pointer); so does one before the first valid step
            pointers.append(torch.where(m & started.unsqueeze(1), arg, arange))
            started = started | mask[:, t]
        score, tag = (delta + self.end_transitions).max(dim=1)
        path = torch.full((B, T), PAD_TAG, dtype=torch.long, device=emissions.device)
        for t in range(T - 1, -1, -1):
            path[:, t] = torch.where(mask[:, t], tag, PAD_TAG)
            if t > 0:
                tag = pointers[t - 1].gather(1, tag.unsqueeze(1)).squeeze(1)
        return ViterbiPath(path, score)

    def decode(self, emissions: Tensor, mask: Tensor | None = None) -> list[list[int]]:
        """The Viterbi path of each sequence as a list of its valid steps' tags (pytorch-crf's ``decode``)."""
        path = self.viterbi(emissions, mask).tags
        return [[tag for tag in row if tag != PAD_TAG] for row in path.tolist()]

    @torch.no_grad()
    def accuracy(self, emissions: Tensor, tags: Tensor, mask: Tensor | None = None) -> Tensor:
        """Per-step accuracy of the Viterbi path over the valid steps of the batch: ``-> ()`` in [0, 1]."""
        mask = self._check(emissions, mask, tags)
        path = self.viterbi(emissions, mask).tags
        return ((path == tags) & mask).sum().to(emissions.dtype) / mask.sum()
