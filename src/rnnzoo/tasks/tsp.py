"""Exact planar travelling-salesman tours (Held-Karp dynamic programming) and tour lengths.

Held & Karp (1962): with the tour fixed to start at city 0, ``C(S, j)`` is the length of the shortest path that
starts at 0, visits exactly the set ``S`` (``0, j`` in ``S``) and ends at ``j``:

``C({0}, 0) = 0``, ``C(S, j) = min_{k in S \\ {j}} C(S \\ {j}, k) + D[k, j]``, and the optimum is
``min_j C(all, j) + D[j, 0]``: ``O(2^n n^2)`` time, here vectorised over a batch of instances (one loop over the
``2^(n-1)`` subsets; the cities of a subset and the batch in one array operation).

The canonical tour (what a pointer network is taught) starts at city 0 and goes in the direction whose second
city has the smaller index than its last (``tour[1] < tour[-1]``), so every optimal cycle has one label.
"""

from __future__ import annotations

import numpy as np

__all__ = ["ORIENTATIONS", "canonical_tour", "held_karp", "signed_area", "tour_lengths"]

ORIENTATIONS = ("index", "ccw")

MAX_CITIES = 16  # 2^16 * 16 table entries per instance: beyond this Held-Karp is no longer a label generator


def tour_lengths(points: np.ndarray, tours: np.ndarray) -> np.ndarray:
    """Closed-tour lengths ``(B,)`` of ``tours`` ``(B, n)`` (city indices) over ``points`` ``(B, n, 2)``."""
    ordered = np.take_along_axis(points, tours[..., None], axis=1)
    return np.linalg.norm(ordered - np.roll(ordered, -1, axis=1), axis=-1).sum(-1)


def signed_area(points: np.ndarray, tours: np.ndarray) -> np.ndarray:
    """The shoelace area ``(B,)`` of each tour's polygon: positive when it runs counter-clockwise."""
    p = np.take_along_axis(points, tours[..., None], axis=1)
    q = np.roll(p, -1, axis=1)
    return 0.5 * (p[..., 0] * q[..., 1] - q[..., 0] * p[..., 1]).sum(-1)


def canonical_tour(tours: np.ndarray, points: np.ndarray | None = None, orientation: str = "index") -> np.ndarray:
    """Each cycle ``(B, n)`` rotated to start at city 0 and oriented: ``"index"``: ``tour[1] < tour[-1]``;
    ``"ccw"``: counter-clockwise (positive :func:`signed_area`; an optimal tour does not cross itself, so its
    polygon is simple and the orientation is its own), which needs ``points`` ``(B, n, 2)``."""
    if orientation not in ORIENTATIONS:
        raise ValueError(f"orientation: expected one of {ORIENTATIONS}, got {orientation!r}")
    tours = np.asarray(tours)
    b, n = tours.shape
    start = np.argmax(tours == 0, axis=1)
    rotated = np.take_along_axis(tours, (start[:, None] + np.arange(n)) % n, axis=1)
    if n <= 2:
        flip = np.zeros(b, dtype=bool)
    elif orientation == "index":
        flip = rotated[:, 1] > rotated[:, -1]
    else:
        if points is None:
            raise ValueError("points: the counter-clockwise orientation needs the points")
        flip = signed_area(points, rotated) < 0
    reversed_ = np.concatenate([rotated[:, :1], rotated[:, :0:-1]], axis=1)
    return np.where(flip[:, None], reversed_, rotated)


def held_karp(points: np.ndarray, chunk: int = 256, orientation: str = "index") -> tuple[np.ndarray, np.ndarray]:
    """Optimal tours of a batch of planar instances.

    Args:
        points: ``(B, n, 2)`` coordinates, 2 <= n <= 16.
        chunk: instances per dynamic-programming table (memory: ``chunk * 2^n * n`` float64).
        orientation: of the returned tours, :func:`canonical_tour`'s.

    Returns:
        ``(tours (B, n) int64 canonical, lengths (B,) float64)``.
    """
    points = np.asarray(points, dtype=np.float64)
    if points.ndim != 3 or points.shape[2] != 2:
        raise ValueError(f"points: expected shape (B, n, 2), got {points.shape}")
    n = points.shape[1]
    if not 2 <= n <= MAX_CITIES:
        raise ValueError(f"points: expected 2 <= n <= {MAX_CITIES} cities, got n={n}")
    tours = np.concatenate([_held_karp(points[i:i + chunk]) for i in range(0, len(points), chunk)]) \
        if len(points) else np.zeros((0, n), dtype=np.int64)
    tours = canonical_tour(tours, points, orientation)
    return tours, tour_lengths(points, tours)


def _held_karp(points: np.ndarray) -> np.ndarray:
    b, n, _ = points.shape
    dist = np.linalg.norm(points[:, :, None] - points[:, None, :], axis=-1)  # D[k, j]
    full = 1 << n
    cost = np.full((b, full, n), np.inf)
    parent = np.zeros((b, full, n), dtype=np.int8)
    cost[:, 1, 0] = 0.0
    into = dist.transpose(0, 2, 1)  # into[:, j, k] = D[k, j]
    for subset in range(3, full, 2):  # every subset containing city 0, by increasing value (S \ {j} < S)
        cities = np.array([j for j in range(1, n) if subset >> j & 1])
        before = cost[:, subset ^ (1 << cities), :] + into[:, cities, :]  # (B, |cities|, k)
        parent[:, subset, cities] = before.argmin(-1)
        cost[:, subset, cities] = before.min(-1)
    last = (cost[:, full - 1, :] + dist[:, :, 0]).argmin(-1)
    tours = np.zeros((b, n), dtype=np.int64)
    subset = np.full(b, full - 1)
    rows = np.arange(b)
    for position in range(n - 1, 0, -1):  # walk back from the last city
        tours[:, position] = last
        previous = parent[rows, subset, last].astype(np.int64)
        subset = subset ^ (1 << last)
        last = previous
    return tours
