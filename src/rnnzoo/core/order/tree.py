"""Tree levels: the order of tree-structured recurrences (Tree-LSTM, S-LSTM; 001 section 4.1).

A tree recurrence computes a node's state from its input and its children's states. A node's *level* is 0 for a
leaf and ``1 + max(level of its children)`` otherwise, so every node of a level depends only on lower levels:
:class:`TreeLevels` runs one step per level (leaves first) with all nodes of that level of every tree in the batch
in one call of a :class:`TreeCell`, the children's states gathered by index. Tree-LSTM code that recurses one node
at a time makes a call per node; here the calls are ``max depth + 1``.

Trees come as children-index tensors ``(B, N, K)`` (node n's children within its example, in order, -1 = none) and
an optional node mask ``(B, N)``; :func:`children_from_parents` builds them from parent pointers. Everything index-like
is planned once, in :meth:`TreeLevels.flatten`: the existing nodes get one row each in level order (level 0 of every
example, then level 1, ...), so a level is a contiguous block of rows; each node's children's rows (a zero row for a
missing child) and input features are laid out in that order. The run's state is the table of those rows (every
node's state and output), and a step computes only its level's existing nodes and writes their block (out of place:
one rewrite of the ``n + 1`` rows per level, not of a ``(B, N + 1)`` table); the one per-step host read is the level's
number (a sync per level on an accelerator).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor

from rnnzoo.core.cell import Cell, bind
from rnnzoo.core.order.base import Flat, Order
from rnnzoo.core.spec import TensorSpec, map_spec
from rnnzoo.core.tree import tree_map


class Children(NamedTuple):
    """What a :class:`TreeCell`'s step receives in place of a previous state: the children's states ``state`` (leaves
    ``(M, K, ...)``, zeros where there is no child) and ``mask`` ``(M, K)`` (True where a child is there)."""

    state: Any
    mask: Tensor


class TreeCell(Cell):
    """A cell of a tree recurrence (run with ``order=TreeLevels(children, node_mask)``).

    ``state_spec(batch)`` / ``initial_state`` describe ONE node's state; ``project(x)`` maps ``(..., F) -> (..., P)``;
    ``step(u_t, children) -> (y_t, new_state)``: ``u_t`` ``(M, *P)`` for M nodes at once, ``children`` a
    :class:`Children`, ``y_t`` ``(M, O)`` with O the int ``output_size``. ``max_children``: the K the cell accepts
    (None: any; an N-ary cell has N). ``forward(x_t, children)`` is one such step by hand.
    """

    max_children: int | None = None

    def forward(self, x_t: Any, state: Any = None, *, context: Any = None, prepared: Any = None) -> tuple[Any, Any]:
        """One node step: ``x_t`` ``(M, F)``, ``state`` a :class:`Children` (None: a leaf, no children)."""
        self.check_input(x_t, "x_t", batched_rank=self.feature_dims + 1)
        batch = x_t.shape[0]
        if state is None:
            k = self.max_children or 1
            zero = self.initial_state(batch * k, device=x_t.device, dtype=x_t.dtype)
            state = Children(tree_map(lambda t: t.reshape(batch, k, *t.shape[1:]), zero),
                             torch.zeros(batch, k, dtype=torch.bool, device=x_t.device))
        if not isinstance(state, Children):
            raise TypeError(f"state: expected rnnzoo.core.order.Children(state, mask), got {type(state).__name__}")
        if prepared is None:
            prepared = self.prepare(context, batch, device=x_t.device, dtype=x_t.dtype)
        u = bind(self.project, 1, prepared)(x_t)
        return bind(self.step, 2, prepared, strict=True)(u, state)


class LevelInput(NamedTuple):
    """One run step of a tree-level scan: ``level`` ``(B,)`` the level's number (the same in every row). What the
    level's nodes need (their rows, their children's rows, their inputs) is planned once, in
    :meth:`TreeLevels.flatten`."""

    level: Tensor


def _check_trees(children: Any, node_mask: Any, batch: int, nodes: int) -> tuple[Tensor, Tensor]:
    if not isinstance(children, Tensor) or children.is_floating_point() or children.dtype == torch.bool:
        got = children.dtype if isinstance(children, Tensor) else type(children).__name__
        raise TypeError(f"children: expected an int64 tensor (B, N, K) of child indices (-1 = none), got {got}")
    if children.dim() != 3 or tuple(children.shape[:2]) != (batch, nodes):
        raise ValueError(f"children: expected shape ({batch}, {nodes}, K) (B, N, K), got {tuple(children.shape)}")
    children = children.to(torch.int64)
    if node_mask is None:
        node_mask = torch.ones(batch, nodes, dtype=torch.bool, device=children.device)
    elif not isinstance(node_mask, Tensor) or node_mask.dtype != torch.bool:
        got = node_mask.dtype if isinstance(node_mask, Tensor) else type(node_mask).__name__
        raise TypeError(f"node_mask: expected a bool tensor of shape ({batch}, {nodes}), got {got}")
    elif tuple(node_mask.shape) != (batch, nodes):
        raise ValueError(f"node_mask: expected shape ({batch}, {nodes}) (B, N), got {tuple(node_mask.shape)}")
    node_mask = node_mask.to(children.device)
    if bool(((children < -1) | (children >= nodes)).any()):
        raise ValueError(f"children: expected indices in [-1, {nodes}) (-1 = no child), got min {int(children.min())} "
                         f"max {int(children.max())}")
    has = children >= 0
    if bool((has & ~node_mask.unsqueeze(-1)).any()):
        raise ValueError("children: a padding node (node_mask False) has children")
    child_exists = node_mask.gather(1, children.clamp(min=0).flatten(1)).view_as(children)
    if bool((has & ~child_exists).any()):
        raise ValueError("children: a child index points at a padding node (node_mask False)")
    parents = torch.zeros(batch, nodes + 1, dtype=torch.long, device=children.device)
    parents.scatter_add_(1, torch.where(has, children, nodes).flatten(1), torch.ones_like(children).flatten(1))
    if bool((parents[:, :nodes] > 1).any()):
        b, n = (parents[:, :nodes] > 1).nonzero()[0].tolist()
        raise ValueError(f"children: node {n} of example {b} has {int(parents[b, n])} parents; trees have at most one")
    return children, node_mask


def tree_levels(children: Tensor, node_mask: Tensor | None = None) -> Tensor:
    """``(B, N)`` int64 level of every node (0 for leaves, 1 + the highest child's level; -1 at padding nodes).

    Raises if the children relation has a cycle."""
    batch, nodes = children.shape[:2]
    children, node_mask = _check_trees(children, node_mask, batch, nodes)
    has = children >= 0
    level = torch.zeros(batch, nodes, dtype=torch.long, device=children.device)
    for _ in range(nodes + 1):
        below = level.gather(1, children.clamp(min=0).flatten(1)).view_as(children)
        new = torch.where(has, below + 1, 0).amax(-1) if children.shape[-1] else level
        if torch.equal(new, level):
            return torch.where(node_mask, level, -1)
        level = new
    raise ValueError("children: the children relation has a cycle (a node is its own descendant)")


def children_from_parents(parent: Tensor, max_children: int | None = None) -> Tensor:
    """``(B, N)`` parent pointers (-1: a root or a padding node) -> ``(B, N, K)`` children indices in increasing
    order (-1 = none); K = the most children of any node (at least 1), or ``max_children`` (more raises)."""
    if not isinstance(parent, Tensor) or parent.is_floating_point() or parent.dtype == torch.bool or parent.dim() != 2:
        got = f"{parent.dtype} {tuple(parent.shape)}" if isinstance(parent, Tensor) else type(parent).__name__
        raise TypeError(f"parent: expected an int64 tensor (B, N) of parent indices (-1 = root), got {got}")
    batch, nodes = parent.shape
    parent = parent.to(torch.int64)
    if bool(((parent < -1) | (parent >= nodes)).any()):
        raise ValueError(f"parent: expected indices in [-1, {nodes}), got min {int(parent.min())} "
                         f"max {int(parent.max())}")
    if bool((parent == torch.arange(nodes, device=parent.device)).any()):
        raise ValueError("parent: a node is its own parent")
    counts = torch.zeros(batch, nodes + 1, dtype=torch.long, device=parent.device)
    counts.scatter_add_(1, torch.where(parent >= 0, parent, nodes), torch.ones_like(parent))
    most = max(1, int(counts[:, :nodes].max())) if nodes else 1
    k = most if max_children is None else max_children
    if most > k:
        raise ValueError(f"max_children: a node has {most} children, more than max_children={max_children}")
    # rank of each child among its siblings: stable sort by parent keeps increasing child index
    key = torch.where(parent >= 0, parent, nodes)
    order = torch.argsort(key, dim=1, stable=True)
    sorted_key = key.gather(1, order)
    start = torch.searchsorted(sorted_key, sorted_key, right=False)
    rank_sorted = torch.arange(nodes, device=parent.device).expand(batch, -1) - start
    rank = torch.empty_like(rank_sorted).scatter_(1, order, rank_sorted)
    children = torch.full((batch, nodes + 1, k), -1, dtype=torch.long, device=parent.device)
    flat = key * k + rank.clamp(max=k - 1)
    vals = torch.arange(nodes, device=parent.device).expand(batch, -1)
    children.view(batch, -1).scatter_(1, torch.where(parent >= 0, flat, nodes * k), torch.where(parent >= 0, vals, -1))
    return children[:, :nodes]


class _Levels(Cell):
    """The run's cell. Its state is ``(table, outputs)``: every node's state and output, one row per node in level
    order (the nodes of level 0 of every example, then level 1, ...; leaves ``(B, R, ...)`` only to carry a batch
    axis, read as ``B * R`` rows, the last a zero row that a missing child reads and nothing writes). A step writes
    its level's contiguous block of rows (one ``slice_scatter`` per leaf: the table is rewritten once per level, but it
    is the ``n + 1`` existing nodes' rows, not ``B * (N + 1)``). The plan (each node's row, its children's rows, its
    input features, the levels' bounds) is computed once by :meth:`TreeLevels.flatten`; a step's input is its
    level's number."""

    def __init__(self, tree: TreeCell, rows: int, bounds: list[tuple[int, int]], kid: Tensor, has: Tensor,
                 x: Tensor) -> None:
        super().__init__()
        self.tree = tree
        self.rows, self.bounds = rows, bounds  # R rows per example slot; (first row, count) of each level
        self.kid, self.has, self.x = kid, has, x  # (n, K) children's rows (the zero row if none), (n, K), (n, F)
        self.input_size, self.output_size = tree.input_size, tree.output_size

    def check_input(self, x: Any, name: str = "x", *, batched_rank: int | None = None) -> None:
        if not isinstance(x, LevelInput):
            raise TypeError(f"{name}: a tree-level scan's steps are LevelInput, got {type(x).__name__}")

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> Any:
        one = self.tree.state_spec(batch_size)
        table = map_spec(lambda s: TensorSpec((batch_size, self.rows, *s.shape[1:]), s.dtype), one)
        return table, TensorSpec((batch_size, self.rows, self.tree.output_size))

    @property
    def takes_context(self) -> bool:
        return self.tree.takes_context

    def prepare(self, context: Any, batch_size: int, *, device: Any = None, dtype: Any = None,
                input_shape: Any = None) -> Any:
        return self.tree.prepare(context, batch_size, device=device, dtype=dtype)

    def project(self, x: LevelInput, prepared: Any = None) -> Any:
        return x  # projected in step, on the level's nodes

    def step(self, u_t: LevelInput, state: Any, prepared: Any = None) -> tuple[Any, Any]:
        first, count = self.bounds[int(u_t.level[0])]  # one read of the step's level number
        end = first + count
        kid = self.kid[first:end].reshape(-1)

        def gather(t: Tensor) -> Tensor:
            return t.reshape(-1, *t.shape[2:]).index_select(0, kid).view(count, -1, *t.shape[2:])  # (M, K, ...)

        table, outputs = state
        u = bind(self.tree.project, 1, prepared)(self.x[first:end])
        y, new = bind(self.tree.step, 2, prepared, strict=True)(u, Children(tree_map(gather, table),
                                                                            self.has[first:end]))

        def write(t: Tensor, n: Tensor) -> Tensor:
            return t.reshape(-1, *t.shape[2:]).slice_scatter(n.to(t.dtype), 0, first, end).view_as(t)

        empty = u_t.level.new_zeros(u_t.level.shape[0], 0)  # the outputs are in the state
        return empty, (tree_map(write, table, new), write(outputs, y))


class _TreePlan(NamedTuple):
    row: Tensor  # (B, N) each node's row in the run's table (the zero row at padding nodes)


class TreeLevels(Order):
    """Scan a batch of trees level by level, leaves first (module docstring).

    Args:
        children: int64 ``(B, N, K)``, node n's children within its example in order (-1 = none).
        node_mask: bool ``(B, N)``, the nodes that exist (None: all N).

    ``run(cell, x, order=TreeLevels(children, node_mask))`` with a :class:`TreeCell` ``cell`` and ``x`` ``(B, N, F)``
    returns ``RunOutput(output (B, N, O) (zero at padding nodes), state (every node's state, leaves (B, N, ...), zero
    at padding nodes), states None)``.
    """

    def __init__(self, children: Tensor, node_mask: Tensor | None = None) -> None:
        self.children = children
        self.node_mask = node_mask

    def __repr__(self) -> str:
        shape = tuple(self.children.shape) if isinstance(self.children, Tensor) else "?"
        return f"TreeLevels(children={shape})"

    def flatten(self, cell: Any, x: Any, state: Any, *, lengths: Any, mask: Any, batch_first: bool) -> Flat:
        if not isinstance(cell, TreeCell):
            raise TypeError(f"cell: a TreeLevels order runs a TreeCell, got {type(cell).__name__}")
        if not isinstance(x, Tensor) or x.dim() != 3:
            got = f"shape {tuple(x.shape)}" if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected per-node features (B, N, F), got {got}")
        if lengths is not None or mask is not None:
            raise ValueError("lengths/mask: a tree batch's nodes are given by TreeLevels(node_mask=...)")
        if not batch_first:
            raise ValueError("batch_first: tree batches are batch first (B, N, F); pass batch_first=True")
        if state is not None:
            raise ValueError("state: a tree run starts from its leaves; pass state=None")
        if isinstance(cell.output_size, bool) or not isinstance(cell.output_size, int):
            raise TypeError(f"cell: a TreeCell's output_size is the int O of its (M, O) outputs, got "
                            f"{cell.output_size!r}")
        batch, nodes = x.shape[:2]
        if batch == 0 or nodes == 0:
            raise ValueError(f"x: expected a non-empty batch of trees with at least one node, got {tuple(x.shape)}")
        cell.check_input(x[:, :1].reshape(x.shape[0], x.shape[-1]), "x")
        children, node_mask = _check_trees(self.children, self.node_mask, batch, nodes)
        if not bool(node_mask.any(1).all()):
            raise ValueError(f"node_mask: every tree needs at least one node, got none in example(s) "
                             f"{(~node_mask.any(1)).nonzero().flatten().tolist()}")
        children, node_mask = children.to(x.device), node_mask.to(x.device)
        k = children.shape[-1]
        if cell.max_children is not None and k > cell.max_children:
            if bool((children[..., cell.max_children:] >= 0).any()):
                raise ValueError(f"children: {type(cell).__name__} takes at most {cell.max_children} children per "
                                 f"node (in the first {cell.max_children} columns), got a child index in column "
                                 f">= {cell.max_children}")
            children, k = children[..., :cell.max_children], cell.max_children
        level = tree_levels(children, node_mask)
        depth = int(level.max()) + 1
        # the existing nodes in level order (within a level: by example, then node index), one table row each
        flat_level = torch.where(node_mask, level, depth).reshape(-1)
        order = torch.argsort(flat_level, stable=True)
        counts = torch.bincount(flat_level, minlength=depth + 1).tolist()
        total = sum(counts[:depth])
        rows = total // batch + 1  # R: B * R >= total + 1 rows, the last one the zero row
        zero_row = batch * rows - 1
        order = order[:total]
        row = torch.full((batch * nodes,), zero_row, dtype=torch.long, device=x.device)
        row[order] = torch.arange(total, device=x.device)
        kid = children.reshape(-1, k)[order]  # (n, K)
        has = kid >= 0
        base = (order // nodes * nodes).unsqueeze(1)  # each node's example's first flat index
        kid = torch.where(has, row[(base + kid.clamp(min=0)).reshape(-1)].view_as(kid), zero_row)
        xs = x.reshape(batch * nodes, x.shape[-1])[order]
        bounds = [(sum(counts[:lv]), counts[lv]) for lv in range(depth)]
        adapter = _Levels(cell, rows, bounds, kid, has, xs)
        steps = LevelInput(torch.arange(depth, device=x.device).expand(batch, -1))
        return Flat(adapter, steps, None, _TreePlan(row.view(batch, nodes)))

    def restore(self, flat: Flat, output: Any, state: Any, states: Any) -> tuple[Any, Any, Any]:
        plan: _TreePlan = flat.info
        batch, nodes = plan.row.shape

        def per_node(t: Tensor) -> Tensor:  # (B, R, ...) table -> (B, N, ...), the zero row at padding nodes
            return t.reshape(-1, *t.shape[2:]).index_select(0, plan.row.reshape(-1)).view(batch, nodes, *t.shape[2:])

        table, outputs = state
        return per_node(outputs), tree_map(per_node, table), None
