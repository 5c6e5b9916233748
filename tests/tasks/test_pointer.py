"""The pointer-network tasks: exact labels checked against independent computations, the loss and the metrics."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch

from rnnzoo.decode import Beams
from rnnzoo.tasks.pointer import hull_labels, rotate_to_lowest
from rnnzoo.tasks.registry import get_task
from rnnzoo.tasks.structured import score_model
from rnnzoo.tasks.tsp import canonical_tour, held_karp, tour_lengths


def brute_force_tour(points: np.ndarray) -> float:
    n = len(points)
    best = math.inf
    for rest in itertools.permutations(range(1, n)):
        order = (0, *rest)
        best = min(best, sum(math.dist(points[order[i]], points[order[(i + 1) % n]]) for i in range(n)))
    return best


@pytest.mark.parametrize("n", [4, 5, 6, 8])
def test_held_karp_equals_brute_force(n: int) -> None:
    points = np.random.default_rng(n).random((6 if n < 8 else 2, n, 2))
    tours, lengths = held_karp(points)
    for i, p in enumerate(points):
        assert sorted(tours[i].tolist()) == list(range(n))
        assert lengths[i] == pytest.approx(brute_force_tour(p), abs=1e-12)
        assert tours[i, 0] == 0 and tours[i, 1] < tours[i, -1]


def test_canonical_tour_is_one_label_per_cycle() -> None:
    cycle = np.array([[3, 1, 4, 0, 2]])
    variants = [np.roll(cycle, s, 1) for s in range(5)] + [np.roll(cycle[:, ::-1], s, 1) for s in range(5)]
    got = {tuple(canonical_tour(v)[0]) for v in variants}
    assert got == {(0, 2, 3, 1, 4)}


def brute_force_hull(points: np.ndarray) -> list[int]:
    """The hull by its edges: (i, j) is a counter-clockwise edge when every other point lies strictly left."""
    n = len(points)
    nxt = {}
    for i, j in itertools.permutations(range(n), 2):
        a, b = points[i], points[j]
        if all((b[0] - a[0]) * (points[k][1] - a[1]) - (b[1] - a[1]) * (points[k][0] - a[0]) > 0
               for k in range(n) if k not in (i, j)):
            nxt[i] = j
    start = min(nxt)
    cycle = [start]
    while nxt[cycle[-1]] != start:
        cycle.append(nxt[cycle[-1]])
    return cycle


@pytest.mark.parametrize("n", [3, 5, 8, 12])
def test_hull_labels_equal_a_brute_force_hull(n: int) -> None:
    points = np.random.default_rng(10 + n).random((20, n, 2))
    pointers, lengths = hull_labels(points)
    for i in range(20):
        want = brute_force_hull(points[i])
        assert pointers[i, :lengths[i]].tolist() == [*want, n]
        assert (pointers[i, lengths[i]:] == n).all()


def test_splits_are_fixed_and_labels_exact() -> None:
    task = get_task("tsp", seq_len=5, valid_size=50, test_size=50)
    a, b = task.split("valid"), get_task("tsp", seq_len=5, valid_size=50, test_size=50).split("valid")
    assert torch.equal(a.x.points, b.x.points) and not torch.equal(a.x.points, task.split("test").x.points)
    _, best = held_karp(a.x.points.double().numpy())
    np.testing.assert_allclose(tour_lengths(a.x.points.double().numpy(), a.y.pointers.numpy()), best)
    sort = get_task("ptr_sort", seq_len=6).sample(10, torch.Generator().manual_seed(0))
    values = sort.x.points[..., 0].gather(1, sort.y.pointers)
    assert bool((values[:, 1:] >= values[:, :-1]).all())
    assert torch.equal(sort.x.pointers, sort.y.pointers)


class Oracle(torch.nn.Module):
    """A 'model' whose generate returns given sequences (the labels, or edits of them)."""

    def __init__(self, tokens: torch.Tensor) -> None:
        super().__init__()
        self.tokens = tokens

    def generate(self, x, *, width: int = 1) -> Beams:
        b = self.tokens.shape[0]
        return Beams(self.tokens.unsqueeze(1), torch.zeros(b, 1), torch.ones(b, 1, dtype=torch.long))


def test_metrics_of_the_labels_and_of_wrong_outputs() -> None:
    tsp = get_task("tsp", seq_len=5, valid_size=40, test_size=40)
    batch = tsp.split("valid")
    perfect = score_model(tsp, Oracle(batch.y.pointers), batch)
    assert perfect["optimality_gap"] == pytest.approx(0.0, abs=1e-12)
    assert perfect["tour_length"] == pytest.approx(perfect["optimal_tour_length"])
    shuffled = score_model(tsp, Oracle(batch.y.pointers[:, [0, 2, 1, 3, 4]]), batch)
    assert shuffled["optimality_gap"] > 0.01
    hull = get_task("convex_hull", seq_len=6, valid_size=40, test_size=40)
    batch = hull.split("valid")
    labels, lengths = batch.y
    k = lengths - 1
    assert score_model(hull, Oracle(labels), batch)["exact_match"] == 1.0
    # the same cycle started from its second vertex still matches; the clockwise cycle does not
    pos = torch.arange(labels.shape[1]).expand_as(labels)
    shifted = torch.where(pos < k.unsqueeze(1), labels.gather(1, (pos + 1) % k.unsqueeze(1)), labels)
    assert score_model(hull, Oracle(shifted), batch)["exact_match"] == 1.0
    backwards = torch.where(pos < k.unsqueeze(1), labels.gather(1, (k.unsqueeze(1) - 1 - pos).clamp(min=0)), labels)
    assert score_model(hull, Oracle(backwards), batch)["exact_match"] == 0.0
    sort = get_task("ptr_sort", seq_len=5, valid_size=30, test_size=30)
    batch = sort.split("valid")
    assert score_model(sort, Oracle(batch.y.pointers), batch)["sequence_accuracy"] == 1.0


def test_rotate_to_lowest() -> None:
    tokens = torch.tensor([[3, 1, 2, 4, 4], [2, 0, 1, 3, 4]])
    assert rotate_to_lowest(tokens, torch.tensor([3, 3])).tolist() == [[1, 2, 3, 4, 4], [0, 1, 2, 4, 4]]


def test_hull_baseline_is_the_probability_of_convex_position() -> None:
    task = get_task("convex_hull", seq_len=5, valid_size=2000, test_size=10)
    lengths = task.split("valid").y.lengths
    measured = float((lengths == 6).double().mean())
    assert measured == pytest.approx(task.baseline()["exact_match"], abs=0.035)  # 25/72 = 0.347


def test_loss_is_the_label_nll() -> None:
    import rnnzoo

    task = get_task("convex_hull", seq_len=5)
    batch = task.sample(6, torch.Generator().manual_seed(1))
    torch.manual_seed(0)
    model = rnnzoo.create("pointer_net", hidden_size=8, **task.model_options)
    lp = model(batch.x).log_probs()
    total, count = 0.0, 0
    for b in range(6):
        for i in range(int(batch.y.lengths[b])):
            total -= float(lp[b, i, batch.y.pointers[b, i]].detach())
            count += 1
    assert float(task.loss_of(model(batch.x), batch)) == pytest.approx(total / count, rel=1e-6)
    assert math.isfinite(total)
    loss = task.loss_of(model(batch.x), batch)
    loss.backward()  # padded steps (-inf log-probabilities) must not reach the gradients
    assert all(bool(torch.isfinite(p.grad).all()) for p in model.parameters() if p.grad is not None)


def test_counter_clockwise_orientation() -> None:
    from rnnzoo.tasks.tsp import signed_area

    square = np.array([[[0.0, 0.0], [1.0, 1.0], [1.0, 0.0], [0.0, 1.0]]])  # ccw order: 0, 2, 1, 3
    assert canonical_tour(np.array([[0, 3, 1, 2]]), square, "ccw").tolist() == [[0, 2, 1, 3]]
    assert canonical_tour(np.array([[0, 3, 1, 2]]), square, "index").tolist() == [[0, 2, 1, 3]]
    points = np.random.default_rng(3).random((30, 7, 2))
    tours, lengths = held_karp(points, orientation="ccw")
    assert (signed_area(points, tours) > 0).all() and (tours[:, 0] == 0).all()
    np.testing.assert_allclose(lengths, held_karp(points)[1])
    with pytest.raises(ValueError, match="orientation"):
        canonical_tour(tours, points, "cw")
