"""Scan orders (issue 13 section 1): wavefronts and tree levels against per-cell and per-node loops; Reverse."""

from __future__ import annotations

import itertools
from typing import Any, NamedTuple

import pytest
import torch
from torch import Tensor, nn

from rnnzoo.core.order import (
    Children,
    GridCell,
    Reverse,
    TreeCell,
    TreeLevels,
    Wavefront,
    children_from_parents,
    directions,
    tree_levels,
)
from rnnzoo.core.runner import run
from rnnzoo.core.spec import TensorSpec

F, H = 3, 4


class S(NamedTuple):
    h: Tensor
    c: Tensor


class ToyGrid(GridCell):
    """h = tanh(W x + sum_k U_k h_k), c = h + sum_k c_k / N (two fields, so structured states are exercised)."""

    def __init__(self, ndim: int) -> None:
        super().__init__()
        self.ndim, self.input_size, self.output_size = ndim, F, H
        g = torch.Generator().manual_seed(ndim)
        self.w = nn.Parameter(torch.randn(F, H, generator=g, dtype=torch.float64) * 0.5)
        self.u = nn.Parameter(torch.randn(ndim, H, H, generator=g, dtype=torch.float64) * 0.5)
        self.calls = 0

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> Any:
        return S(TensorSpec((batch_size, H)), TensorSpec((batch_size, H)))

    def project(self, x: Tensor) -> Tensor:
        return x @ self.w

    def step(self, u: Tensor, prev: tuple[S, ...]) -> tuple[Tensor, S]:
        self.calls += 1
        h = torch.tanh(u + sum(p.h @ self.u[k] for k, p in enumerate(prev)))
        c = h + sum(p.c for p in prev) / self.ndim
        return h, S(h, c)


def naive_grid(cell: ToyGrid, x: Tensor, size: tuple[int, ...], flip: tuple[bool, ...]) -> dict[tuple[int, ...], S]:
    """One example, one cell at a time in scan order: the states of every cell, keyed by original coordinates."""
    n = cell.ndim
    states: dict[tuple[int, ...], S] = {}
    zero = S(torch.zeros(1, H, dtype=x.dtype), torch.zeros(1, H, dtype=x.dtype))
    for j in itertools.product(*[range(s) for s in size]):  # j: coordinates in scan order (lexicographic is causal)
        orig = tuple(size[k] - 1 - j[k] if flip[k] else j[k] for k in range(n))
        prev = []
        for k in range(n):
            pj = list(j)
            pj[k] -= 1
            if pj[k] < 0:
                prev.append(zero)
            else:
                po = tuple(size[a] - 1 - pj[a] if flip[a] else pj[a] for a in range(n))
                prev.append(states[po])
        _, st = cell.step(cell.project(x[orig].unsqueeze(0)), tuple(prev))
        states[orig] = st
    return states


@pytest.mark.parametrize("ndim,shape", [(1, (5,)), (2, (4, 5)), (3, (3, 2, 4))])
def test_wavefront_equals_a_per_cell_loop_in_every_direction_with_sizes(ndim: int, shape: tuple[int, ...]) -> None:
    cell = ToyGrid(ndim)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(3, *shape, F, generator=g, dtype=torch.float64)
    sizes = torch.tensor([list(shape), [max(1, s - 1) for s in shape], [1 + (s // 2) for s in shape]])
    for flip in directions(ndim):
        out, final, states = run(cell, x, order=Wavefront(flip, sizes), return_states=True)
        assert out.shape == (3, *shape, H) and states.h.shape == (3, *shape, H)
        for b in range(3):
            size = tuple(int(v) for v in sizes[b])
            ref = naive_grid(cell, x[b], size, flip)
            for pos in itertools.product(*[range(s) for s in shape]):
                if pos in ref:
                    torch.testing.assert_close(out[(b, *pos)], ref[pos].h[0], rtol=1e-12, atol=1e-12)
                    torch.testing.assert_close(states.c[(b, *pos)], ref[pos].c[0], rtol=1e-12, atol=1e-12)
                else:  # outside the example's size: zero output and state
                    assert not out[(b, *pos)].any() and not states.h[(b, *pos)].any()
            corner = tuple(size[k] - 1 if not flip[k] else 0 for k in range(ndim))  # the last cell visited
            torch.testing.assert_close(final.h[b], ref[corner].h[0], rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(final.c[b], ref[corner].c[0], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(4, 4), (7, 3), (2, 3, 4)])
def test_wavefront_takes_one_call_per_front(shape: tuple[int, ...]) -> None:
    cell = ToyGrid(len(shape))
    run(cell, torch.randn(2, *shape, F, dtype=torch.float64), order=Wavefront())
    assert cell.calls == sum(shape) - len(shape) + 1


def test_wavefront_gradients_reach_every_input_cell() -> None:
    cell = ToyGrid(2)
    x = torch.randn(2, 3, 4, F, dtype=torch.float64, requires_grad=True)
    out, final, _ = run(cell, x, order=Wavefront())
    final.h.sum().backward()  # the last cell depends on every cell of the grid
    assert (x.grad.abs().sum(-1) > 0).all()


def test_wavefront_refuses_bad_input() -> None:
    cell = ToyGrid(2)
    x = torch.randn(2, 3, 4, F, dtype=torch.float64)
    with pytest.raises(ValueError, match="x: expected a grid"):
        run(cell, x[..., 0], order=Wavefront())
    with pytest.raises(ValueError, match="sizes: expected 1 <= sizes"):
        run(cell, x, order=Wavefront(sizes=torch.tensor([[3, 5], [1, 1]])))
    with pytest.raises(ValueError, match="sizes: expected shape"):
        run(cell, x, order=Wavefront(sizes=torch.tensor([[3, 4]])))
    with pytest.raises(ValueError, match="flip: expected 2 bools"):
        run(cell, x, order=Wavefront((True,)))
    with pytest.raises(TypeError, match="flip: expected a sequence of bools"):
        Wavefront((1, 0))  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lengths/mask"):
        run(cell, x, order=Wavefront(), lengths=[3, 3])
    with pytest.raises(TypeError, match="runs a GridCell"):
        run(ToyTree(), x, order=Wavefront())
    with pytest.raises(ValueError, match="reverse/order"):
        run(cell, x, order=Wavefront(), reverse=True)


def test_grid_cell_forward_is_one_step_by_hand() -> None:
    cell = ToyGrid(2)
    x = torch.randn(2, F, dtype=torch.float64)
    y, st = cell(x)
    torch.testing.assert_close(y, torch.tanh(x @ cell.w))
    with pytest.raises(ValueError, match="tuple of 2 predecessor states"):
        cell(x, (st,))


# ------------------------------------------------------------------------------------------------------------ trees


class ToyTree(TreeCell):
    """Child-sum: h = tanh(W x + U sum_k h_k + V h_first), so child order matters through the first child."""

    def __init__(self) -> None:
        super().__init__()
        self.input_size, self.output_size = F, H
        g = torch.Generator().manual_seed(1)
        self.w = nn.Parameter(torch.randn(F, H, generator=g, dtype=torch.float64) * 0.5)
        self.u = nn.Parameter(torch.randn(H, H, generator=g, dtype=torch.float64) * 0.5)
        self.v = nn.Parameter(torch.randn(H, H, generator=g, dtype=torch.float64) * 0.5)
        self.calls = 0

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> Any:
        return TensorSpec((batch_size, H))

    def project(self, x: Tensor) -> Tensor:
        return x @ self.w

    def step(self, u: Tensor, children: Children) -> tuple[Tensor, Tensor]:
        self.calls += 1
        h = torch.tanh(u + children.state.sum(1) @ self.u + children.state[:, 0] @ self.v)
        return h, h


def random_parents(n: int, g: torch.Generator) -> list[int]:
    """A random tree over n nodes numbered in a random order (parents are not always before children)."""
    perm = torch.randperm(n, generator=g).tolist()
    parent = [-1] * n
    for i in range(1, n):
        parent[perm[i]] = perm[int(torch.randint(0, i, (1,), generator=g))]
    return parent


def naive_tree(cell: ToyTree, x: Tensor, parent: list[int]) -> dict[int, Tensor]:
    kids = {i: [j for j in range(len(parent)) if parent[j] == i] for i in range(len(parent))}
    memo: dict[int, Tensor] = {}

    def node(i: int) -> Tensor:
        if i not in memo:
            hs = [node(j) for j in kids[i]]
            stack = torch.stack(hs, 1) if hs else torch.zeros(1, 1, H, dtype=x.dtype)
            mask = torch.ones(1, stack.shape[1], dtype=torch.bool)
            memo[i] = cell.step(cell.project(x[i].unsqueeze(0)), Children(stack, mask))[0]
        return memo[i]

    for i in range(len(parent)):
        node(i)
    return memo


def test_tree_levels_equal_a_recursive_per_node_loop() -> None:
    g = torch.Generator().manual_seed(0)
    sizes = [7, 1, 4, 9]
    n = max(sizes)
    parent = torch.full((len(sizes), n), -1)
    parents = [random_parents(s, g) for s in sizes]
    for b, p in enumerate(parents):
        parent[b, :len(p)] = torch.tensor(p)
    node_mask = torch.arange(n).unsqueeze(0) < torch.tensor(sizes).unsqueeze(1)
    children = children_from_parents(parent)
    x = torch.randn(len(sizes), n, F, generator=g, dtype=torch.float64)
    cell = ToyTree()
    out, state, _ = run(cell, x, order=TreeLevels(children, node_mask))
    levels = tree_levels(children, node_mask)
    assert cell.calls == int(levels.max()) + 1  # one call per level, all trees together
    for b, p in enumerate(parents):
        ref = naive_tree(cell, x[b], p)
        for i in range(n):
            if i < sizes[b]:
                torch.testing.assert_close(out[b, i], ref[i][0], rtol=1e-12, atol=1e-12)
                torch.testing.assert_close(state[b, i], ref[i][0], rtol=1e-12, atol=1e-12)
            else:
                assert not out[b, i].any() and not state[b, i].any()


def test_children_from_parents_and_levels() -> None:
    parent = torch.tensor([[-1, 0, 0, 1, 1, 2]])
    children = children_from_parents(parent)
    assert children.tolist() == [[[1, 2], [3, 4], [5, -1], [-1, -1], [-1, -1], [-1, -1]]]
    assert tree_levels(children).tolist() == [[2, 1, 1, 0, 0, 0]]
    with pytest.raises(ValueError, match="max_children"):
        children_from_parents(parent, max_children=1)
    with pytest.raises(ValueError, match="own parent"):
        children_from_parents(torch.tensor([[0, -1]]))


def test_tree_levels_refuse_bad_trees() -> None:
    cycle = torch.tensor([[[1], [0]]])
    with pytest.raises(ValueError, match="cycle"):
        tree_levels(cycle)
    two_parents = torch.tensor([[[2], [2], [-1]]])
    with pytest.raises(ValueError, match="node 2 of example 0 has 2 parents"):
        tree_levels(two_parents)
    with pytest.raises(ValueError, match=r"expected indices in \[-1, 2\)"):
        tree_levels(torch.tensor([[[5], [-1]]]))
    with pytest.raises(ValueError, match="points at a padding node"):
        tree_levels(torch.tensor([[[1], [-1]]]), torch.tensor([[True, False]]))
    with pytest.raises(TypeError, match="children: expected an int64 tensor"):
        run(ToyTree(), torch.zeros(1, 2, F, dtype=torch.float64), order=TreeLevels(torch.zeros(1, 2, 1)))


class Capped(ToyTree):
    max_children = 1


def test_tree_cell_max_children_is_enforced() -> None:
    x = torch.randn(1, 3, F, dtype=torch.float64)
    wide = children_from_parents(torch.tensor([[-1, 0, 0]]))
    with pytest.raises(ValueError, match="at most 1 children"):
        run(Capped(), x, order=TreeLevels(wide))
    chain = children_from_parents(torch.tensor([[-1, 0, 1]]), max_children=3)  # K = 3 columns, one used
    out, _, _ = run(Capped(), x, order=TreeLevels(chain))
    ref = run(ToyTree(), x, order=TreeLevels(chain)).output
    torch.testing.assert_close(out, ref)


# ---------------------------------------------------------------------------------------------------------- reverse


def test_reverse_order_is_reverse_true() -> None:
    import rnnzoo

    cell = rnnzoo.model_info("lstm").build(3, 5).double()
    x = torch.randn(3, 6, 3, dtype=torch.float64)
    for kw in ({}, {"lengths": [6, 2, 4]}):
        for fused in (True, False):
            a = run(cell, x, order=Reverse(), use_fused=fused, **kw)
            b = run(cell, x, reverse=True, use_fused=fused, **kw)
            torch.testing.assert_close(a.output, b.output, rtol=0, atol=0)
    with pytest.raises(TypeError, match="order: expected an rnnzoo.core.order.Order"):
        run(cell, x, order="reverse")  # type: ignore[arg-type]


def test_structural_orders_refuse_empty_structures_and_steps() -> None:
    with pytest.raises(ValueError, match="non-empty batch of non-empty grids"):
        run(ToyGrid(2), torch.zeros(2, 0, 4, F, dtype=torch.float64), order=Wavefront())
    with pytest.raises(ValueError, match="steps: not supported"):
        run(ToyGrid(2), torch.zeros(2, 3, 4, F, dtype=torch.float64), order=Wavefront(), steps=3)
    kids = torch.full((2, 3, 1), -1)
    with pytest.raises(ValueError, match=r"every tree needs at least one node, got none in example\(s\) \[1\]"):
        run(ToyTree(), torch.zeros(2, 3, F, dtype=torch.float64),
            order=TreeLevels(kids, torch.tensor([[True, False, False], [False, False, False]])))
    with pytest.raises(ValueError, match="at least one node"):
        run(ToyTree(), torch.zeros(2, 0, F, dtype=torch.float64), order=TreeLevels(torch.zeros(2, 0, 1).long()))
    with pytest.raises(ValueError, match=r"node_mask: expected shape \(2, 3\)"):
        run(ToyTree(), torch.zeros(2, 3, F, dtype=torch.float64), order=TreeLevels(kids, torch.ones(3, 2).bool()))
