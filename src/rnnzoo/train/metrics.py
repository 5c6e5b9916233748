"""Evaluation metrics, on torchmetrics (so they synchronise across DDP processes).

Regression: ``mse`` (``torchmetrics.MeanSquaredError``). Classification: ``accuracy``
(``MulticlassAccuracy``, micro average), ``error_rate`` (1 - accuracy), ``cross_entropy`` (nats per
scored step), ``perplexity`` (``torchmetrics.text.Perplexity``, ``exp(cross_entropy)``) and ``bpc``
(bits per character, ``cross_entropy / ln 2``). Multi-label frames (loss ``bce``): ``nll``, the negative
log-likelihood of a frame under independent Bernoullis, summed over its units and averaged over frames
(the per-frame NLL of Boulanger-Lewandowski et al. 2012 and Chung et al. 2014, arXiv:1412.3555).

A model with a CRF output layer (``--crf``) is scored by its Viterbi path: ``accuracy`` and ``error_rate`` over
the valid steps, and by its likelihood: ``nll_per_token`` (the sentences' CRF negative log-likelihoods summed,
divided by their valid steps, nats) and ``nll_per_sentence`` (their mean, the training loss's measure). The
per-step ``cross_entropy``, ``perplexity`` and ``bpc`` do not exist for a CRF (its steps have no
separate distributions) and are not reported.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torchmetrics import MeanSquaredError, Metric
from torchmetrics.classification import MulticlassAccuracy
from torchmetrics.text import Perplexity

from rnnzoo.crf import CRF, PAD_TAG
from rnnzoo.tasks.base import HIGHER_IS_BETTER as _HIGHER
from rnnzoo.train.objective import Targets, crf_inputs, scored

CLASSIFICATION_METRICS = ("accuracy", "error_rate", "cross_entropy", "perplexity", "bpc")
REGRESSION_METRICS = ("mse",)
MULTILABEL_METRICS = ("nll",)
CRF_METRICS = ("accuracy", "error_rate", "nll_per_token", "nll_per_sentence")
HIGHER_IS_BETTER = {name: True for name in _HIGHER}  # read with .get(metric, False)


class _MeanOfSums(Metric):
    """A sum (``total``) over a count (``count``), both float64 and summed across processes: the state of the
    negative log-likelihood metrics below; ``compute`` is their ratio."""

    higher_is_better = False
    full_state_update = False

    def __init__(self) -> None:
        super().__init__()
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def compute(self) -> Tensor:
        return self.total / self.count


class CrossEntropy(_MeanOfSums):
    """Mean negative log-likelihood in nats: ``update(logits (N, C), target (N,))``."""

    def update(self, logits: Tensor, target: Tensor) -> None:
        self.total += torch.nn.functional.cross_entropy(logits.double(), target, reduction="sum")
        self.count += target.numel()


class FrameNLL(_MeanOfSums):
    """Negative log-likelihood per frame in nats: ``update(logits (N, P), target (N, P) in {0, 1})`` adds the
    binary cross-entropies summed over the P units; ``compute`` divides by the N frames."""


    def update(self, logits: Tensor, target: Tensor) -> None:
        if logits.shape != target.shape or logits.dim() != 2:
            raise ValueError(f"target: expected the logits' shape (N, P) {tuple(logits.shape)}, got "
                             f"{tuple(target.shape)}")
        self.total += torch.nn.functional.binary_cross_entropy_with_logits(
            logits.double(), target.double(), reduction="sum")
        self.count += logits.shape[0]


class CRFNLL(Metric):
    """A CRF's negative log-likelihood in nats: ``update(nll (B,) per sentence, tokens (B,) valid steps)``;
    ``compute`` divides the summed NLL by the tokens (``per="token"``) or by the sentences (``per="sentence"``)."""

    higher_is_better = False
    full_state_update = False

    def __init__(self, per: str) -> None:
        super().__init__()
        if per not in ("token", "sentence"):
            raise ValueError(f"per: expected 'token' or 'sentence', got {per!r}")
        self.per = per
        self.add_state("total", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")
        self.add_state("count", default=torch.zeros((), dtype=torch.float64), dist_reduce_fx="sum")

    def update(self, nll: Tensor, tokens: Tensor) -> None:
        if nll.dim() != 1 or nll.shape != tokens.shape:
            raise ValueError(f"tokens: expected the shape of nll (B,) {tuple(nll.shape)}, got {tuple(tokens.shape)}")
        self.total += nll.double().sum()
        self.count += tokens.sum().double() if self.per == "token" else nll.shape[0]

    def compute(self) -> Tensor:
        return self.total / self.count


class BitsPerCharacter(CrossEntropy):
    """Cross-entropy in bits: ``cross_entropy / ln 2``."""

    def compute(self) -> Tensor:
        return super().compute() / math.log(2.0)


class ErrorRate(MulticlassAccuracy):
    """``1 - accuracy`` (micro average)."""

    higher_is_better = False

    def compute(self) -> Tensor:
        return 1.0 - super().compute()


class SequenceMetrics(nn.Module):
    """The metrics of a task, updated from model outputs and :class:`~rnnzoo.train.objective.Targets`.

    Args:
        loss: ``"mse"`` (regression), ``"cross_entropy"`` (classification) or ``"bce"`` (multi-label frames).
        num_classes: C, for classification.
        crf: the model has a CRF output layer (``loss`` must be ``"cross_entropy"``): the metrics are
            :data:`CRF_METRICS` and ``update`` needs the model's ``crf``.

    ``update(pred, targets, crf=None)`` takes ``pred`` ``(B, O)`` (head ``"last"``) or ``(B, T, O)`` (with a CRF:
    its emissions, per-step targets); ``compute()`` returns ``{name: float}``; ``reset()`` clears the state.
    """

    def __init__(self, loss: str, num_classes: int, *, crf: bool = False) -> None:
        super().__init__()
        self.loss = loss
        self.crf = crf
        if crf:
            if loss != "cross_entropy":
                raise ValueError(f"crf: a CRF classifies each step, needs loss 'cross_entropy', got {loss!r}")
            self.metrics = nn.ModuleDict({
                "accuracy": MulticlassAccuracy(num_classes, average="micro", ignore_index=PAD_TAG),
                "error_rate": ErrorRate(num_classes, average="micro", ignore_index=PAD_TAG),
                "nll_per_token": CRFNLL("token"),
                "nll_per_sentence": CRFNLL("sentence"),
            })
        elif loss == "mse":
            self.metrics = nn.ModuleDict({"mse": MeanSquaredError()})
        elif loss == "bce":
            self.metrics = nn.ModuleDict({"nll": FrameNLL()})
        else:
            self.metrics = nn.ModuleDict({
                "accuracy": MulticlassAccuracy(num_classes, average="micro"),
                "error_rate": ErrorRate(num_classes, average="micro"),
                "cross_entropy": CrossEntropy(),
                "perplexity": Perplexity(),
                "bpc": BitsPerCharacter(),
            })

    @property
    def names(self) -> list[str]:
        return list(self.metrics)

    @torch.no_grad()
    def update(self, pred: Tensor, targets: Targets, crf: CRF | None = None) -> None:
        if self.crf:
            if crf is None:
                raise ValueError("crf: these metrics score a CRF's Viterbi path, expected the model's CRF, got None")
            self._update_crf(pred, targets, crf)
            return
        p, t = scored(pred, targets)
        p = p.float() if p.dtype in (torch.float16, torch.bfloat16) else p
        for name, metric in self.metrics.items():
            if name in ("mse", "nll"):
                metric.update(p, t.to(p.dtype))
            elif name == "perplexity":
                metric.update(p.unsqueeze(0), t.unsqueeze(0))
            else:
                metric.update(p, t)

    def _update_crf(self, emissions: Tensor, targets: Targets, crf: CRF) -> None:
        emissions, tags, mask = crf_inputs(emissions.to(crf.transitions.dtype), targets)
        path = crf.viterbi(emissions, mask).tags  # PAD_TAG at masked steps
        truth = torch.where(mask, tags, PAD_TAG)
        self.metrics["accuracy"].update(path[mask], truth[mask])
        self.metrics["error_rate"].update(path[mask], truth[mask])
        nll = crf.nll(emissions, tags, mask)
        tokens = mask.sum(1)
        self.metrics["nll_per_token"].update(nll, tokens)
        self.metrics["nll_per_sentence"].update(nll, tokens)

    def compute(self) -> dict[str, float]:
        return {name: float(metric.compute()) for name, metric in self.metrics.items()}

    def reset(self) -> None:
        for metric in self.metrics.values():
            metric.reset()


def derived_baseline(base: dict[str, float]) -> dict[str, float]:
    """A task's baseline metrics plus those derived from them (error rate, perplexity, bpc)."""
    out = dict(base)
    if "accuracy" in out:
        out.setdefault("error_rate", 1.0 - out["accuracy"])
    if "cross_entropy" in out:
        out.setdefault("perplexity", math.exp(out["cross_entropy"]))
        out.setdefault("bpc", out["cross_entropy"] / math.log(2.0))
    return out


def better(metric: str, a: float, b: float) -> bool:
    """Is ``a`` better than ``b`` for ``metric``?"""
    return a > b if HIGHER_IS_BETTER.get(metric, False) else a < b
