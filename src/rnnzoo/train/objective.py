"""The training objective: which outputs are scored against which targets, and the loss.

The loss is 001 eq (8), ``L = sum_t L_t(y_t, z_t)``, over the scored steps, divided by the number of
scored elements (a mean, so the learning rate does not depend on T or the batch size). ``L_t`` is the
squared error (``"mse"``), the negative log-likelihood of the label (``"cross_entropy"``) or of a binary
vector under independent Bernoullis with logits ``pred`` (``"bce"``: multi-label frames, polyphonic music,
Boulanger-Lewandowski et al. 2012; its elements are the frame's units, like mse's outputs).

A :class:`Targets` records where the loss applies:

* head ``"last"``: one target per sequence, at its last valid step (``positions``);
* head ``"per_step"``: a label at every valid step (``mask``);
* head ``"next_token"``: the output at step t is scored against the label at step t+1 (targets
  shifted left by one; the last valid step has nothing to predict).

:func:`full_loss` is the loss of a whole-sequence forward pass (full BPTT); :func:`chunk_loss` is the
share of the same loss contributed by the steps ``[start, stop)`` (truncated BPTT), so the chunk
losses of a sequence add up to the full loss.

:func:`crf_loss` is the objective of a model with a CRF output layer (``--crf``): the negative log-likelihood
of each sentence's whole tag sequence, averaged over the batch's sentences.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.core.runner import lengths_to_mask
from rnnzoo.crf import CRF

LOSSES = ("mse", "cross_entropy", "bce")


@dataclass
class Targets:
    """Targets of one batch.

    kind: ``"last"`` or ``"per_step"`` (``next_token`` is a shifted ``per_step``).
    y: ``"last"``: ``(B, O)`` float (mse) or ``(B,)`` int64 (cross-entropy); ``"per_step"``: ``(B, T)``
        int64 or ``(B, T, O)`` float, already shifted for next-token prediction.
    positions: ``(B,)`` int64, the step scored for each sequence (``"last"`` only).
    mask: ``(B, T)`` bool, True where a step is scored (``"per_step"``; None = every step).
    count: number of scored elements, the loss's denominator (x O for mse).
    """

    kind: str
    y: Tensor
    positions: Tensor | None
    mask: Tensor | None
    count: int


def make_targets(head: str, y: Tensor, lengths: Tensor | None, steps: int, loss: str) -> Targets:
    """Targets for a batch with labels ``y`` (as the task gives them), ``lengths`` ``(B,)`` or None
    and ``steps`` = T."""
    if loss not in LOSSES:
        raise ValueError(f"loss: expected one of {LOSSES}, got {loss!r}")
    batch = y.shape[0]
    width = y.shape[-1] if loss in ("mse", "bce") and y.dim() in (2, 3) else 1
    if head == "last":
        if lengths is None:
            positions = torch.full((batch,), steps - 1, dtype=torch.long, device=y.device)
        else:
            positions = lengths.to(y.device, torch.long) - 1
        return Targets("last", y, positions, None, batch * width)
    if head not in ("per_step", "next_token"):
        raise ValueError(f"head: expected last, per_step or next_token, got {head!r}")
    if y.dim() < 2 or y.shape[1] != steps:
        raise ValueError(f"y: head {head!r} needs one label per step, shape (B, {steps}, ...), got {tuple(y.shape)}")
    mask = lengths_to_mask(lengths.to(y.device), steps) if lengths is not None else None
    if head == "next_token":
        if steps < 2:
            raise ValueError("next_token: needs sequences of at least 2 steps")
        y = torch.cat([y[:, 1:], torch.zeros_like(y[:, :1])], dim=1)
        valid = mask if mask is not None else torch.ones(batch, steps, dtype=torch.bool, device=y.device)
        mask = torch.cat([valid[:, 1:], torch.zeros_like(valid[:, :1])], dim=1)
    n = int(mask.sum()) if mask is not None else batch * steps
    return Targets("per_step", y, None, mask, n * width)


def _loss_sum(pred: Tensor, target: Tensor, loss: str) -> Tensor:
    if loss == "mse":
        return F.mse_loss(pred, target.to(pred.dtype), reduction="sum")
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(pred, target.to(pred.dtype), reduction="sum")
    return F.cross_entropy(pred.reshape(-1, pred.shape[-1]), target.reshape(-1), reduction="sum")


def scored(pred: Tensor, targets: Targets) -> tuple[Tensor, Tensor]:
    """The scored outputs and their targets, flattened: ``(N, O)`` and ``(N,)`` / ``(N, O)``.

    ``pred``: ``(B, O)`` for ``"last"`` (already taken at the last step) or ``(B, T, O)``.
    """
    if targets.kind == "last":
        return pred, targets.y
    if targets.mask is None:
        return pred.reshape(-1, pred.shape[-1]), targets.y.reshape(-1, *targets.y.shape[2:])
    return pred[targets.mask], targets.y[targets.mask]


def full_loss(pred: Tensor, targets: Targets, loss: str) -> Tensor:
    """Mean loss of whole-sequence outputs ``pred`` (``(B, O)`` for ``"last"``, else ``(B, T, O)``)."""
    p, t = scored(pred, targets)
    if loss == "mse":
        return F.mse_loss(p, t.to(p.dtype))
    if loss == "bce":
        return F.binary_cross_entropy_with_logits(p, t.to(p.dtype))
    return F.cross_entropy(p, t)


def chunk_loss(head: nn.Module, features: Tensor, start: int, targets: Targets, loss: str) -> Tensor | None:
    """The share of the batch loss scored at steps ``[start, start + t)``.

    ``features``: the backbone's outputs ``(B, t, H)`` for those steps; ``head`` maps ``H -> O``.
    Returns ``sum of the scored losses / targets.count`` or None when no step in the chunk is scored.
    """
    stop = start + features.shape[1]
    if targets.kind == "last":
        assert targets.positions is not None
        rows = ((targets.positions >= start) & (targets.positions < stop)).nonzero().squeeze(1)
        if rows.numel() == 0:
            return None
        pred = head(features[rows, targets.positions[rows] - start])
        return _loss_sum(pred, targets.y[rows], loss) / targets.count
    y = targets.y[:, start:stop]
    if targets.mask is not None:
        m = targets.mask[:, start:stop]
        if not bool(m.any()):
            return None
        return _loss_sum(head(features)[m], y[m], loss) / targets.count  # head first, as in full_loss
    return _loss_sum(head(features), y, loss) / targets.count


def crf_mask(targets: Targets, emissions: Tensor) -> Tensor:
    """The CRF's mask ``(B, T)`` bool of a ``"per_step"`` :class:`Targets` (None there: every step valid)."""
    if targets.kind != "per_step":
        raise ValueError(f"targets: a CRF needs per-step targets, got kind {targets.kind!r}")
    if targets.mask is None:
        return torch.ones(emissions.shape[:2], dtype=torch.bool, device=emissions.device)
    return targets.mask


def crf_inputs(emissions: Tensor, targets: Targets) -> tuple[Tensor, Tensor, Tensor]:
    """``(emissions, tags, mask)`` for the CRF, cut after the batch's last valid step: ``(B, T', K), (B, T'),
    (B, T')`` (a split padded to its longest sentence costs the CRF's O(T K^2) loop only up to the batch's)."""
    mask = crf_mask(targets, emissions)
    steps = int(mask.any(0).nonzero().max()) + 1 if bool(mask.any()) else emissions.shape[1]
    return emissions[:, :steps], targets.y[:, :steps], mask[:, :steps]


def crf_loss(crf: CRF, emissions: Tensor, targets: Targets) -> Tensor:
    """The CRF training loss: ``mean_b nll_b``, the negative log-likelihood ``log Z(e_b) - score(y_b | e_b)``
    (nats) of sentence b's whole tag sequence, averaged over the B sentences of the batch (per sentence, not
    per token: Lample et al. 2016 and Ma & Hovy 2016 maximise the sentence log-likelihood; a sentence of n
    words weighs about n times a one-word one). ``--time-reduction`` does not apply: the sentence NLL is not
    a sum of per-step losses.

    ``emissions``: ``(B, T, K)`` the per-step head's outputs (cast to the CRF's dtype: under mixed precision the
    forward algorithm runs in float32); ``targets``: per-step int64 labels ``(B, T)``. Returns a scalar.
    """
    return crf.nll(*crf_inputs(emissions.to(crf.transitions.dtype), targets)).mean()  # mixed precision: fp32
