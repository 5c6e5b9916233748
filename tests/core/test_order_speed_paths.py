"""The planned paths of the structural orders: TreeLevels' level-ordered table (gradients, padding, return_states)."""

from __future__ import annotations

import torch

from rnnzoo.cells.tree_lstm import ChildSumTreeLSTMCell, NaryTreeLSTMCell
from rnnzoo.core.order import TreeLevels, children_from_parents
from rnnzoo.core.runner import run


def _batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Three trees of different shapes and sizes (padding nodes at the end and in the middle of the batch)."""
    parent = torch.tensor([[-1, 0, 0, 1, 1, 3, 3],  # levels skip: node 2 is a leaf under the root
                           [-1, 0, -1, -1, -1, -1, -1],
                           [2, 2, -1, 2, 0, -1, -1]])  # root 2 has three children, nodes numbered in any order
    node_mask = torch.tensor([[True] * 7, [True, True] + [False] * 5, [True] * 5 + [False] * 2])
    return children_from_parents(parent), node_mask


def test_tree_levels_gradients_match_finite_differences() -> None:
    children, node_mask = _batch()
    torch.manual_seed(0)
    cell = ChildSumTreeLSTMCell(3, 4).double()
    x = torch.randn(3, 7, 3, dtype=torch.float64, requires_grad=True)

    def f(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = run(cell, x, order=TreeLevels(children, node_mask))
        return out.output, out.state.c

    assert torch.autograd.gradcheck(f, (x,))


def test_tree_levels_match_one_tree_at_a_time_and_zero_padding() -> None:
    children, node_mask = _batch()
    torch.manual_seed(0)
    cell = NaryTreeLSTMCell(3, 4, arity=3)
    x = torch.randn(3, 7, 3)
    full = run(cell, x, order=TreeLevels(children, node_mask), return_states=True)
    assert full.states is None
    for b in range(3):
        n = int(node_mask[b].sum())
        one = run(cell, x[b:b + 1, :n], order=TreeLevels(children[b:b + 1, :n]))
        torch.testing.assert_close(full.output[b, :n], one.output[0])
        torch.testing.assert_close(full.state.c[b, :n], one.state.c[0])
        assert not full.output[b, n:].any() and not full.state.h[b, n:].any()
