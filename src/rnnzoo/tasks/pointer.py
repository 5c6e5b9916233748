"""The pointer-network tasks (Vinyals, Fortunato & Jaitly 2015, arXiv:1506.03134), generated with exact labels.

* ``ptr_sort``: n numbers uniform in [0, 1) -> the positions in increasing order (``sequence_accuracy``);
* ``convex_hull``: n points uniform in the unit square -> the hull's vertices counter-clockwise from the
  lowest-index hull point, then END (labels from ``scipy.spatial.ConvexHull``; ``exact_match``: the decoded cycle,
  from whichever vertex it starts, equals the label's);
* ``tsp``: n points uniform in the unit square -> the optimal tour (Held-Karp, :mod:`rnnzoo.tasks.tsp`) from city
  0, oriented ``tour[1] < tour[-1]`` (option ``orientation="ccw"``: counter-clockwise) (``tour_length`` of the
  decoded closed tour, ``optimality_gap`` = decoded / optimal - 1, ``optimal_tour_length`` beside; the chosen-mask
  makes an invalid tour impossible).

Batches: ``x`` is :class:`~rnnzoo.cells.pointer_net.PointerInput` (the labels are in it for teacher forcing),
``y`` a :class:`PointerLabels`. Training batches are fresh draws (so the number of training examples is
``max_steps * batch_size``); ``valid`` and ``test`` are fixed by their own seeds. Loss: the teacher-forced negative
log-likelihood of the label sequence, a mean over its pointers. Decoding for the metrics: beam search of width
``width`` (1 = greedy).
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import torch
from scipy.spatial import ConvexHull
from torch import Tensor, nn

from rnnzoo.cells.pointer_net import PointerInput, PointerOutput
from rnnzoo.core.registry import InputKind

from .base import Batch, GeneratedTask, check_choice, check_int
from .registry import register_task
from .structured import StructuredTask
from .tsp import ORIENTATIONS, held_karp, tour_lengths

__all__ = ["ConvexHullTask", "PointerLabels", "PointerTask", "SortTask", "TSPTask", "hull_labels"]

MEAN_DISTANCE = 0.5214054331647207  # E|p - q| for p, q uniform in the unit square (Ghosh 1951)


class PointerLabels(NamedTuple):
    """Label pointers ``(B, m)`` int64 (END = n after the last) and their lengths ``(B,)``."""

    pointers: Tensor
    lengths: Tensor


class PointerTask(StructuredTask, GeneratedTask):
    """Shared parts: generation from a torch generator, the NLL loss, beam decoding for the metrics."""

    input_kind = InputKind.SET_TO_SEQUENCE
    coordinates = 2
    stop = "all"

    def __init__(self, seq_len: int = 5, width: int = 1, valid_size: int = 1000, test_size: int = 1000) -> None:
        GeneratedTask.__init__(self, valid_size, test_size)
        self.seq_len = check_int("seq_len", seq_len, 3, f"task {self.name!r}")
        self.width = check_int("width", width, 1, f"task {self.name!r}")
        self.model_options = {"input_size": self.coordinates, "stop": self.stop}

    def labels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(pointers (B, m) int64 END-padded, lengths (B,))`` for ``points`` ``(B, n, d)`` float64."""
        raise NotImplementedError

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        points = torch.rand(batch_size, self.seq_len, self.coordinates, generator=generator, dtype=torch.float64)
        pointers, lengths = self.labels(points.numpy())
        p, pl = torch.from_numpy(pointers).long(), torch.from_numpy(lengths).long()
        x = PointerInput(points.float(), torch.full((batch_size,), self.seq_len, dtype=torch.long), p, pl)
        return Batch(x, PointerLabels(p, pl), None)

    def loss_of(self, output: PointerOutput, batch: Batch) -> Tensor:
        log_probs = output.log_probs()
        pointers, lengths = batch.y
        steps = torch.arange(pointers.shape[1], device=pointers.device) < lengths.unsqueeze(1)
        picked = log_probs.gather(2, pointers.unsqueeze(2)).squeeze(2)
        return -torch.where(steps, picked, 0.0).sum() / steps.sum()  # padded steps are -inf: never multiply

    def decode(self, model: nn.Module, batch: Batch) -> Tensor:
        """The best hypothesis's pointers ``(B, L)`` (END-padded)."""
        return model.generate(batch.x, width=self.width).tokens[:, 0]


class SortTask(PointerTask):
    """``ptr_sort``: sort n numbers (one coordinate)."""

    name = "ptr_sort"
    coordinates = 1
    metrics = ["sequence_accuracy", "token_accuracy"]  # noqa: RUF012

    def labels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return points[..., 0].argsort(1, kind="stable"), np.full(len(points), points.shape[1])

    def score(self, model: nn.Module, batch: Batch) -> dict[str, tuple[Tensor, Tensor]]:
        n = self.seq_len
        same = self.decode(model, batch)[:, :n].cpu() == batch.y.pointers.cpu()
        b = torch.tensor(float(same.shape[0]))
        return {"sequence_accuracy": (same.all(1).double().sum(), b),
                "token_accuracy": (same.double().mean(1).sum(), b)}

    def baseline(self) -> dict[str, float]:
        return {"sequence_accuracy": 1 / math.factorial(self.seq_len), "token_accuracy": 1 / self.seq_len}


def hull_labels(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Convex hulls of ``points`` ``(B, n, 2)``: ``(pointers (B, n + 1) END-padded, lengths (B,))`` (END counted).

    Vertices counter-clockwise (``ConvexHull.vertices`` in 2-D), rotated to start at the lowest index."""
    b, n, _ = points.shape
    pointers = np.full((b, n + 1), n, dtype=np.int64)
    lengths = np.zeros(b, dtype=np.int64)
    for i in range(b):  # scipy (qhull) computes one hull per call
        v = ConvexHull(points[i]).vertices
        v = np.roll(v, -int(v.argmin()))
        pointers[i, :len(v)] = v
        lengths[i] = len(v) + 1
    return pointers, lengths


class ConvexHullTask(PointerTask):
    """``convex_hull``: the planar convex hull as a cycle of input positions."""

    name = "convex_hull"
    stop = "any"
    metrics = ["exact_match"]  # noqa: RUF012

    def labels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return hull_labels(points)

    def score(self, model: nn.Module, batch: Batch) -> dict[str, tuple[Tensor, Tensor]]:
        n = self.seq_len
        tokens = self.decode(model, batch).cpu()[:, :n + 1]
        if tokens.shape[1] < n + 1:
            tokens = torch.cat([tokens, tokens.new_full((tokens.shape[0], n + 1 - tokens.shape[1]), n)], 1)
        k = (tokens == n).long().argmax(1)  # the decoded hull's size (END's position)
        rotated = rotate_to_lowest(tokens, k)
        match = (rotated == batch.y.pointers.cpu()).all(1)
        return {"exact_match": (match.double().sum(), torch.tensor(float(len(match))))}

    def baseline(self) -> dict[str, float]:
        # output every point in angular order: right exactly when all n are in convex position (Valtr 1995)
        n = self.seq_len
        return {"exact_match": (math.comb(2 * n - 2, n - 1) / math.factorial(n)) ** 2}


def rotate_to_lowest(tokens: Tensor, k: Tensor) -> Tensor:
    """Rows of ``tokens`` ``(B, n + 1)`` whose first ``k`` entries form a cycle: rotated to start at their lowest
    entry, END (``n``) after them."""
    b, width = tokens.shape
    n = width - 1
    pos = torch.arange(width).expand(b, width)
    inside = pos < k.unsqueeze(1)
    first = torch.where(inside, tokens, n + 1).argmin(1)
    source = (first.unsqueeze(1) + pos) % k.clamp(min=1).unsqueeze(1)
    return torch.where(inside, tokens.gather(1, source), n)


class TSPTask(PointerTask):
    """``tsp``: the optimal planar tour (Held-Karp) as a permutation starting at city 0."""

    name = "tsp"
    metrics = ["tour_length", "optimality_gap", "optimal_tour_length"]  # noqa: RUF012

    def __init__(self, seq_len: int = 5, width: int = 1, valid_size: int = 1000, test_size: int = 1000,
                 orientation: str = "index") -> None:
        super().__init__(seq_len, width, valid_size, test_size)
        self.orientation = str(check_choice("orientation", orientation, ORIENTATIONS, "task 'tsp'"))

    def labels(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        tours, _ = held_karp(points, orientation=self.orientation)
        return tours, np.full(len(points), points.shape[1])

    def score(self, model: nn.Module, batch: Batch) -> dict[str, tuple[Tensor, Tensor]]:
        n = self.seq_len
        points = batch.x.points.double().cpu().numpy()
        tours = self.decode(model, batch)[:, :n].cpu().numpy()
        if (np.sort(tours, 1) != np.arange(n)).any():  # the chosen-mask makes this impossible
            raise RuntimeError("tsp: the decoder produced a tour that is not a permutation (chosen-mask broken)")
        found = tour_lengths(points, tours)
        best = tour_lengths(points, batch.y.pointers.cpu().numpy())
        b = torch.tensor(float(len(found)))
        return {"tour_length": (torch.tensor(found.sum()), b),
                "optimality_gap": (torch.tensor((found / best - 1).sum()), b),
                "optimal_tour_length": (torch.tensor(best.sum()), b)}

    def baseline(self) -> dict[str, float]:
        # a random tour: n edges between independent uniform points (the optimum's expectation is not analytic)
        return {"tour_length": self.seq_len * MEAN_DISTANCE}


register_task("ptr_sort", SortTask, "Sort n numbers uniform in [0, 1): output their positions in increasing order "
              "(Vinyals et al. 2015)", "sequence_accuracy 1/n! (a random permutation)", seq_len="n = 5 numbers",
              train_defaults={"model": "pointer_net", "seq_len": 5, "hidden_size": 128, "batch_size": 128,
                              "options": {"embedding_size": 128}, "clip_norm": 2.0})
register_task("convex_hull", ConvexHullTask, "Planar convex hull of n uniform points as a counter-clockwise cycle "
              "from the lowest index, labels from scipy.spatial.ConvexHull (Vinyals et al. 2015)",
              "exact_match (C(2n-2, n-1)/n!)^2: all points in convex position, every point output",
              seq_len="n = 5 points",
              train_defaults={"model": "pointer_net", "seq_len": 5, "hidden_size": 128, "batch_size": 128,
                              "options": {"embedding_size": 128}, "clip_norm": 2.0})
register_task("tsp", TSPTask, "Planar travelling salesman, n uniform points, optimal tours by Held-Karp "
              "(Vinyals et al. 2015)", "tour_length n * 0.5214 (a random tour)", seq_len="n = 5 cities",
              train_defaults={"model": "pointer_net", "seq_len": 5, "hidden_size": 128, "batch_size": 128,
                              "options": {"embedding_size": 128}, "clip_norm": 2.0})
