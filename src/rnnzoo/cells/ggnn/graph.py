"""Graph batches in torch_geometric's flat convention, for the gated graph networks (:mod:`rnnzoo.cells.ggnn`).

A batch of B graphs is one disconnected graph of ``N = sum_b n_b`` nodes: node annotations ``x`` ``(N, D)``,
``edge_index`` ``(2, E)`` int64 (row 0 the source, row 1 the target node of each directed edge, indices into
the batch's nodes), ``edge_type`` ``(E,)`` int64 and ``batch`` ``(N,)`` int64 (the graph of each node), as
``torch_geometric.data.Batch`` holds them, so a user's own graphs go in unchanged. One more field,
``node_table`` ``(B, S)`` int64, lists each graph's nodes in order (``-1`` pads a row to ``S``): it fixes the
width of the per-graph outputs (node scores ``(B, S)``) the way the padding of a sequence batch fixes ``T``,
so that a graph selected out of a batch keeps its padding. :func:`graph_batch` builds all of it from per-graph
edge lists; :func:`select_graphs` re-indexes a subset (the model's and the task's ``select``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["GraphBatch", "check_graph_batch", "graph_batch", "select_graphs"]


class GraphBatch(NamedTuple):
    """B graphs as one flat graph (torch_geometric's convention; module docstring).

    x: float ``(N, D)`` node annotations. edge_index: int64 ``(2, E)`` (source, target). edge_type: int64
    ``(E,)`` in ``[0, num_edge_types)``. batch: int64 ``(N,)`` graph id of each node, nondecreasing.
    node_table: int64 ``(B, S)``: row b lists graph b's nodes (indices into x) in order, then ``-1``.
    """

    x: Tensor
    edge_index: Tensor
    edge_type: Tensor
    batch: Tensor
    node_table: Tensor

    @property
    def num_graphs(self) -> int:
        return int(self.node_table.shape[0])

    @property
    def node_mask(self) -> Tensor:
        """``(B, S)`` bool, True where ``node_table`` holds a node."""
        return self.node_table >= 0

    def to(self, *args: object, **kwargs: object) -> GraphBatch:
        """The annotations moved/cast as ``Tensor.to``; the index tensors only moved (they stay int64)."""
        x = self.x.to(*args, **kwargs)  # type: ignore[arg-type]
        return GraphBatch(x, *(t.to(x.device) for t in self[1:]))


def _table(batch: Tensor, num_graphs: int, width: int | None) -> Tensor:
    counts = torch.bincount(batch, minlength=num_graphs)
    most = int(counts.max()) if counts.numel() else 0
    width = most if width is None else width
    if width < most:
        raise ValueError(f"width: expected at least the largest graph's {most} nodes, got {width}")
    starts = torch.cumsum(counts, 0) - counts
    local = torch.arange(batch.numel(), device=batch.device) - starts[batch]
    table = torch.full((num_graphs, width), -1, dtype=torch.long, device=batch.device)
    table[batch, local] = torch.arange(batch.numel(), device=batch.device)
    return table


def graph_batch(x: Sequence[Tensor], edges: Sequence[Sequence[tuple[int, int, int]]], *,
                width: int | None = None) -> GraphBatch:
    """One :class:`GraphBatch` from per-graph annotations and edge lists.

    Args:
        x: B float tensors ``(n_b, D)``, the annotations of graph b's nodes (numbered ``0 .. n_b - 1``).
        edges: B lists of ``(source, edge_type, target)`` with local node numbers.
        width: S, the padded width of ``node_table`` (default: the largest ``n_b``).
    """
    if len(x) != len(edges) or not x:
        raise ValueError(f"x/edges: expected the same positive number of graphs, got {len(x)} and {len(edges)}")
    dims = {t.shape[-1] if t.dim() == 2 else None for t in x}
    if len(dims) != 1 or None in dims:
        raise ValueError(f"x: expected (n_b, D) annotations with one D, got shapes {[tuple(t.shape) for t in x]}")
    sizes = [int(t.shape[0]) for t in x]
    offsets = [0]
    for n in sizes[:-1]:
        offsets.append(offsets[-1] + n)
    rows: list[tuple[int, int, int]] = []
    for b, (graph, off, n) in enumerate(zip(edges, offsets, sizes, strict=True)):
        for src, typ, dst in graph:
            if not (0 <= src < n and 0 <= dst < n) or typ < 0:
                raise ValueError(f"edges[{b}]: edge {(src, typ, dst)} needs nodes in [0, {n}) and a type >= 0")
            rows.append((src + off, typ, dst + off))
    device = x[0].device
    e = torch.tensor(rows, dtype=torch.long, device=device).reshape(-1, 3)
    batch = torch.repeat_interleave(torch.arange(len(x), device=device), torch.tensor(sizes, device=device))
    return GraphBatch(torch.cat(list(x)), e[:, [0, 2]].t().contiguous(), e[:, 1].contiguous(), batch,
                      _table(batch, len(x), width))


def check_graph_batch(g: object, *, annotation_size: int | None = None, num_edge_types: int | None = None,
                      name: str = "x") -> GraphBatch:
    """Raise, naming the field, unless ``g`` is a consistent :class:`GraphBatch`; return it."""
    if not isinstance(g, GraphBatch):
        raise TypeError(f"{name}: expected a GraphBatch (rnnzoo.cells.ggnn.graph_batch builds one), "
                        f"got {type(g).__name__}")
    if not g.x.is_floating_point() or g.x.dim() != 2:
        raise ValueError(f"{name}.x: expected float node annotations (N, D), got {g.x.dtype} {tuple(g.x.shape)}")
    n = g.x.shape[0]
    if annotation_size is not None and g.x.shape[1] != annotation_size:
        raise ValueError(f"{name}.x: expected {annotation_size} annotation features, got {g.x.shape[1]}")
    for field, t, shape in (("edge_index", g.edge_index, (2, None)), ("edge_type", g.edge_type, (None,)),
                            ("batch", g.batch, (n,)), ("node_table", g.node_table, (None, None))):
        if t.dtype != torch.long or t.dim() != len(shape) or any(s is not None and s != d
                                                                 for s, d in zip(shape, t.shape, strict=True)):
            want = tuple("*" if s is None else s for s in shape)
            raise ValueError(f"{name}.{field}: expected int64 of shape {want}, got {t.dtype} {tuple(t.shape)}")
    if g.edge_type.shape[0] != g.edge_index.shape[1]:
        raise ValueError(f"{name}.edge_type: expected one type per edge ({g.edge_index.shape[1]}), "
                         f"got {g.edge_type.shape[0]}")
    if g.edge_index.numel() and (int(g.edge_index.min()) < 0 or int(g.edge_index.max()) >= n):
        raise ValueError(f"{name}.edge_index: expected node indices in [0, {n}), got "
                         f"[{int(g.edge_index.min())}, {int(g.edge_index.max())}]")
    if g.edge_type.numel() and (int(g.edge_type.min()) < 0 or (
            num_edge_types is not None and int(g.edge_type.max()) >= num_edge_types)):
        raise ValueError(f"{name}.edge_type: expected types in [0, {num_edge_types}), got "
                         f"[{int(g.edge_type.min())}, {int(g.edge_type.max())}]")
    if g.edge_index.numel() and bool((g.batch[g.edge_index[0]] != g.batch[g.edge_index[1]]).any()):
        raise ValueError(f"{name}.edge_index: an edge joins nodes of two different graphs")
    expected = _table(g.batch, g.num_graphs, g.node_table.shape[1]) if n else g.node_table
    if n and (g.batch.min() < 0 or int(g.batch.max()) >= g.num_graphs):
        raise ValueError(f"{name}.batch: expected graph ids in [0, {g.num_graphs}), got up to {int(g.batch.max())}")
    if not torch.equal(expected, g.node_table):
        raise ValueError(f"{name}.node_table: expected each row to list its graph's nodes in order, then -1 "
                         "(graph_batch builds it; batch must be sorted)")
    if not bool(g.node_mask.any(-1).all()):
        raise ValueError(f"{name}: every graph needs at least one node")
    return g


def select_graphs(g: GraphBatch, index: Tensor) -> GraphBatch:
    """The graphs ``index`` (int64 ``(b,)``, repeats allowed) of ``g``, renumbered as a batch of b graphs.

    Node and edge order within a graph are kept, and ``node_table`` keeps its width S."""
    if not isinstance(index, Tensor) or index.dtype != torch.long or index.dim() != 1:
        got = f"{index.dtype} {tuple(index.shape)}" if isinstance(index, Tensor) else type(index).__name__
        raise TypeError(f"index: expected an int64 tensor of shape (b,), got {got}")
    index = index.to(g.batch.device)
    table = g.node_table.index_select(0, index)  # (b, S) old node ids
    valid = table >= 0
    counts = valid.sum(1)
    new_start = torch.cumsum(counts, 0) - counts
    old_nodes = table[valid]  # row-major: graph by graph, in order
    new_batch = torch.repeat_interleave(torch.arange(index.numel(), device=index.device), counts)
    new_table = torch.full_like(table, -1)
    new_table[valid] = torch.arange(old_nodes.numel(), device=index.device)
    # local position of every old node inside its graph, and the old start of its graph
    old_counts = g.node_mask.sum(1)
    old_start = torch.cumsum(old_counts, 0) - old_counts
    src, dst = g.edge_index
    edge_graph = g.batch[src]
    pick, edge = (edge_graph.unsqueeze(0) == index.unsqueeze(1)).nonzero(as_tuple=True)  # (j, e), sorted by j
    shift = new_start[pick] - old_start[edge_graph[edge]]
    edge_index = torch.stack([src[edge] + shift, dst[edge] + shift])
    return GraphBatch(g.x.index_select(0, old_nodes), edge_index, g.edge_type[edge], new_batch, new_table)
