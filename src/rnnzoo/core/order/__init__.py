"""Scan orders: how the one runner visits a structure's steps (issue 13 section 1).

A scan order flattens a structure into a run of steps, :func:`rnnzoo.core.runner.run` runs them (it stays the only
loop), and the order restores the structure: ``run(cell, x, order=...)``.

* :class:`Forward`, :class:`Reverse`: one time axis, in order or from each sequence's last valid step backwards
  (``run(..., reverse=True)`` is ``order=Reverse()``).
* :class:`Wavefront`: an N-dimensional grid ``(B, S_1, ..., S_N, F)`` scanned by anti-diagonal fronts: every cell with
  ``i_1 + ... + i_N = d`` in one batched call of a :class:`GridCell`, ``sum(S) - N + 1`` steps; any of the ``2^N``
  directions (:func:`directions`); per-example sizes.
* :class:`TreeLevels`: a batch of trees (children-index tensors) scanned level by level, leaves first: all nodes of
  one level of every tree in one call of a :class:`TreeCell`, children gathered by index.

Masking and variable sizes (sequences of different lengths, images of different sizes, trees of different shapes)
are handled by the order, once.
"""

from rnnzoo.core.order.base import Flat, Forward, Order, Reverse, gather_time, reverse_index, reverse_padded
from rnnzoo.core.order.grid import (
    FrontInput,
    GridCell,
    GridInput,
    Wavefront,
    directions,
    grid_mask,
    grid_work,
    reflect,
)
from rnnzoo.core.order.tree import Children, LevelInput, TreeCell, TreeLevels, children_from_parents, tree_levels

__all__ = ["Children", "Flat", "Forward", "FrontInput", "GridCell", "GridInput", "LevelInput", "Order", "Reverse",
           "TreeCell", "TreeLevels", "Wavefront", "children_from_parents", "directions", "gather_time", "grid_mask",
           "grid_work", "reflect", "reverse_index", "reverse_padded", "tree_levels"]
