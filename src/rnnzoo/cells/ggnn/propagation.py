"""The propagation step of a gated graph neural network (Li et al. 2016, arXiv:1511.05493, eqs (2)-(6)) as a cell.

The nodes are the cell's batch: the state is ``GGNNState(h)`` with h ``(N, H)`` for all nodes of all graphs of a
:class:`~rnnzoo.cells.ggnn.graph.GraphBatch`, and the graph is the run's context, so T propagation steps are
``rnnzoo.run(cell, None, state=GGNNState(h1), context=graph, steps=T)``: a run without input.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.cells.gru import GRUCell, GRUState
from rnnzoo.core.cell import Cell
from rnnzoo.core.spec import TensorSpec

from .graph import check_graph_batch

__all__ = ["DIRECTIONS", "GGNNPropagation", "GGNNState", "Messages", "initial_node_state"]

DIRECTIONS = ("both", "in")


class GGNNState(NamedTuple):
    """h: ``(N, H)``, one row per node of the batch's graphs."""

    h: Tensor


class Messages(NamedTuple):
    """The messages of one propagation step, prepared once per run from the graph (``M`` = 2E or E).

    source: ``(M,)`` node whose state is sent. target: ``(M,)`` node that receives it. kind: ``(M,)`` which of
    the ``K`` (edge type, direction) parameter blocks transforms it: ``2 * type`` along the edge (incoming at
    the target), ``2 * type + 1`` against it (outgoing at the source); ``type`` when ``directions="in"``.
    """

    source: Tensor
    target: Tensor
    kind: Tensor


class GGNNPropagation(Cell):
    r"""T steps of GG-NN propagation over a graph batch (Li et al. 2016 eqs (2)-(6)); seed 003 has no GG-NN.

    With ``A[k]`` = ``edge_weight[k]`` ``(H, H)`` and ``b[k]`` = ``edge_bias[k]`` for the parameter block
    ``k = 2 * type + direction`` (direction 0: along the edge, 1: against it)::

        a_v = sum_{(u -t-> v)} (A[2t] h_u + b[2t]) + sum_{(v -t-> w)} (A[2t+1] h_w + b[2t+1])   # eq (2)
        h_v' = GRU(a_v, h_v)                                                                    # eqs (3)-(6)

    eq (2) writes ``a_v = A_v^T [h_1 ... h_|V|] + b``, with ``A_v`` the blocks of the incoming and outgoing
    adjacency matrices of v: the same sum. All messages of all graphs go in one ``index_add`` (no loop over
    edges or graphs); ``A[k] h`` is computed for every node and block with one product.

    Args:
        hidden_size: H. num_edge_types: edge types ``0 .. num_edge_types - 1``.
        directions: ``"both"`` (the paper: separate parameters for incoming and outgoing edges) or ``"in"``
            (messages only along the edges, one block per type: torch_geometric's ``GatedGraphConv``).
        edge_bias: the ``b[k]`` of eq (2) (one per block, added per message).
        reset: the GRU's form (:class:`~rnnzoo.cells.gru.GRUCell`): ``"before"`` as eqs (5)-(6)
            (``U (r * h)``), ``"after"`` as torch.nn.GRUCell (``r * (U h + b)``).

    Shapes: state ``GGNNState(h)`` ``(N, H)``; context a :class:`GraphBatch` of N nodes; output h ``(N, H)``.
    """

    def __init__(self, hidden_size: int, num_edge_types: int, *, directions: str = "both", edge_bias: bool = True,
                 reset: str = "before") -> None:
        super().__init__()
        for name, value in (("hidden_size", hidden_size), ("num_edge_types", num_edge_types)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if directions not in DIRECTIONS:
            raise ValueError(f"directions: expected one of {DIRECTIONS}, got {directions!r}")
        self.input_size = self.output_size = hidden_size
        self.num_edge_types, self.directions = num_edge_types, directions
        blocks = num_edge_types * (2 if directions == "both" else 1)
        bound = 1.0 / math.sqrt(hidden_size)
        self.edge_weight = nn.Parameter(torch.empty(blocks, hidden_size, hidden_size).uniform_(-bound, bound))
        self.edge_bias = nn.Parameter(torch.zeros(blocks, hidden_size)) if edge_bias else None
        self.gru = GRUCell(hidden_size, hidden_size, reset=reset)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> GGNNState:
        return GGNNState(TensorSpec((batch_size, self.output_size)))

    def prepare(self, context: Any, batch_size: int, *, device: torch.device | str | None = None,
                dtype: torch.dtype | None = None, input_shape: Any = None) -> Messages:
        g = check_graph_batch(context, num_edge_types=self.num_edge_types, name="context")
        if g.x.shape[0] != batch_size:
            raise ValueError(f"context: the state has {batch_size} rows but the graph batch has {g.x.shape[0]} nodes")
        src, dst = g.edge_index
        if self.directions == "in":
            return Messages(src, dst, g.edge_type)
        return Messages(torch.cat([src, dst]), torch.cat([dst, src]), torch.cat([2 * g.edge_type, 2 * g.edge_type + 1]))

    def messages(self, h: Tensor, m: Messages) -> Tensor:
        """``a`` ``(N, H)`` of eq (2) for node states ``h`` ``(N, H)``."""
        transformed = torch.einsum("kij,nj->nki", self.edge_weight, h)  # (N, K, H): A[k] h_n for every n, k
        sent = transformed[m.source, m.kind]  # (M, H)
        if self.edge_bias is not None:
            sent = sent + self.edge_bias[m.kind]
        return h.new_zeros(h.shape).index_add(0, m.target, sent)

    def step(self, u_t: Any, state: GGNNState, prepared: Messages) -> tuple[Tensor, GGNNState]:
        a = self.messages(state.h, prepared)
        h, _ = self.gru.step(self.gru.project(a), GRUState(state.h))
        return h, GGNNState(h)

    def extra_repr(self) -> str:
        return (f"hidden_size={self.output_size}, num_edge_types={self.num_edge_types}, "
                f"directions={self.directions!r}, edge_bias={self.edge_bias is not None}")


def initial_node_state(x: Tensor, hidden_size: int) -> GGNNState:
    """``h_v^(1) = [x_v; 0]`` (eq (1) of the propagation: the annotation zero-padded to H)."""
    if x.shape[-1] > hidden_size:
        raise ValueError(f"hidden_size: the annotations (D = {x.shape[-1]}) are padded to H, so H >= D; "
                         f"got H = {hidden_size}")
    return GGNNState(torch.cat([x, x.new_zeros(x.shape[0], hidden_size - x.shape[-1])], dim=-1))
