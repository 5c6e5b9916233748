r"""Gated graph neural networks and gated graph sequence neural networks (Li, Tarlow, Brockschmidt & Zemel 2016,
"Gated Graph Sequence Neural Networks", ICLR, arXiv:1511.05493). The seeds have no graph networks; the equation
numbers are the paper's.

GG-NN (section 3), for a :class:`~rnnzoo.cells.ggnn.graph.GraphBatch` with annotations ``x_v`` (D) and typed,
directed edges::

    h_v^(1) = [x_v; 0]                                           # eq (1): the annotation zero-padded to H
    h^(t+1) = GGNNPropagation(h^(t)), t = 1 .. T                 # eqs (2)-(6): a run without input, steps=T
    node selection:  o_v = node_score([h_v^(T); x_v]),  softmax over each graph's nodes          # section 3.3
    graph output:    h_G = tanh(sum_v sigmoid(gate([h_v^(T); x_v])) * tanh(value([h_v^(T); x_v])))  # eq (7)
                     logits = classify(h_G)

``gate`` and ``value`` are the paper's ``i`` and ``j`` (linear layers ``H + D -> H``), ``node_score`` its ``g``
(linear ``H + D -> 1``). GGS-NN (section 4) produces K outputs in sequence; output step k restarts propagation
from the current annotations and re-estimates them (the annotation update; eqs (8)-(9) as the issue cites
them: the numbers were not checked against the PDF here)::

    h_v^(k,1) = [x_v^(k); 0];  H^(k,T) = T propagation steps;  o^(k) = readout(H^(k,T), X^(k))
    x_v^(k+1) = sigmoid(annotate([h_v^(k,T); x_v^(k)]))

with the propagation and readout shared over k (the paper's F_o and F_x share the propagation model). The K output
steps are a second run without input (``steps=K``) of :class:`GGSNNOutputCell`, whose state is the annotations.

Shapes: N nodes over B graphs, S = ``node_table`` width, E edges. Input a GraphBatch; ``GGNN`` returns
``NodeScores(scores (B, S), mask (B, S))`` (``output="node"``; scores are 0 at padding, which ``mask`` marks
False: apply :func:`rnnzoo.attention.masked_log_softmax`) or logits ``(B, C)`` (``output="graph"``); ``GGSNN``
returns ``NodeScores(scores (B, K, S), mask (B, S))`` or logits ``(B, K, C)``.

Deviations: the GRU of eqs (3)-(6) is :class:`~rnnzoo.cells.gru.GRUCell` with ``reset="before"`` (``U (r * h)``
as eq (5)): its update gate is the paper's ``1 - z`` (same family of functions, relabelled) and it has biases,
which eqs (3)-(6) omit. ``node_score`` is one linear layer (the paper's g is unspecified; DGL's example uses a
linear layer too). The graph logits are a linear layer on h_G (eq (7) gives h_G; the classifier is not specified).
GGS-NN is trained here from the output sequence alone (no supervision of the intermediate annotations, which the
paper uses on some tasks). Defaults: T = 5 propagation steps, separate parameters per edge type and direction.

Example:

>>> import torch
>>> from rnnzoo.cells.ggnn import GGNN, graph_batch
>>> model = GGNN(annotation_size=1, hidden_size=4, num_edge_types=2)
>>> g = graph_batch([torch.tensor([[1.0], [0.0], [0.0]])], [[(0, 0, 1), (1, 1, 2)]])
>>> tuple(model(g).scores.shape)
(1, 3)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.cell import Cell
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.registry import InputKind, ModelKind, Paper, register
from rnnzoo.core.runner import run
from rnnzoo.core.spec import TensorSpec

from .graph import GraphBatch, check_graph_batch, graph_batch, select_graphs
from .propagation import GGNNPropagation, initial_node_state

__all__ = ["GGNN", "GGSNN", "GGSNNOutputCell", "GGSNNState", "NodeScores", "Readout"]

OUTPUTS = ("node", "graph")


class NodeScores(NamedTuple):
    """scores: ``(B, S)`` (GG-NN) or ``(B, K, S)`` (GGS-NN), 0 at padding. mask: ``(B, S)`` bool, True = a node."""

    scores: Tensor
    mask: Tensor


def _positive(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return value


class Readout(nn.Module):
    """The output models of section 3.3: per-node values (:meth:`node_values`) pooled per graph (:meth:`pool`)."""

    def __init__(self, annotation_size: int, hidden_size: int, output: str, num_classes: int) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"output: expected one of {OUTPUTS}, got {output!r}")
        self.output = output
        width = hidden_size + annotation_size
        if output == "node":
            self.node_score = nn.Linear(width, 1)
            self.features = 1
        else:
            self.gate, self.value = nn.Linear(width, hidden_size), nn.Linear(width, hidden_size)  # i, j of eq (7)
            self.classify = nn.Linear(hidden_size, _positive("num_classes", num_classes))
            self.features = hidden_size

    def node_values(self, h: Tensor, x: Tensor) -> Tensor:
        """``(N, F)``: node scores o_v (F = 1) or the gated terms ``sigmoid(i) * tanh(j)`` of eq (7) (F = H)."""
        hx = torch.cat([h, x], dim=-1)
        if self.output == "node":
            return self.node_score(hx)
        return torch.sigmoid(self.gate(hx)) * torch.tanh(self.value(hx))

    def pool(self, values: Tensor, g: GraphBatch) -> Tensor | NodeScores:
        """Per-node values ``(N, *K, F)`` -> ``NodeScores`` ``(B, *K, S)`` or graph logits ``(B, *K, C)``."""
        mask = g.node_mask
        if self.output == "node":
            per_node = values.squeeze(-1)  # (N, *K)
            dense = per_node.new_zeros(*mask.shape, *per_node.shape[1:])
            dense[mask] = per_node  # node_table lists the nodes in order, so mask's True cells are nodes 0..N-1
            return NodeScores(dense.movedim(1, -1), mask)
        sums = values.new_zeros(g.num_graphs, *values.shape[1:]).index_add(0, g.batch, values)
        return self.classify(torch.tanh(sums))  # eq (7), then the classifier


class _GraphModel(StructuredModel):
    """What GGNN and GGSNN share: options, the propagation cell, the readout, example inputs and ``select``."""

    def __init__(self, annotation_size: int, hidden_size: int, num_edge_types: int, steps: int, output: str,
                 num_classes: int, directions: str, edge_bias: bool, reset: str) -> None:
        super().__init__()
        self.annotation_size = _positive("annotation_size", annotation_size)
        self.hidden_size = _positive("hidden_size", hidden_size)
        if annotation_size > hidden_size:
            raise ValueError(f"hidden_size: h^(1) = [x; 0] pads the annotations to H, so H >= annotation_size "
                             f"= {annotation_size}; got {hidden_size}")
        self.steps = _positive("steps", steps)
        self.num_edge_types = _positive("num_edge_types", num_edge_types)
        self.propagation = GGNNPropagation(hidden_size, num_edge_types, directions=directions, edge_bias=edge_bias,
                                           reset=reset)
        self.readout = Readout(annotation_size, hidden_size, output, num_classes)

    def check(self, x: Any) -> GraphBatch:
        return check_graph_batch(x, annotation_size=self.annotation_size, num_edge_types=self.num_edge_types)

    def propagate(self, g: GraphBatch, annotations: Tensor | None = None) -> Tensor:
        """``h^(T)`` ``(N, H)``: T propagation steps from ``[annotations; 0]`` (default ``g.x``), one run."""
        x = g.x if annotations is None else annotations
        return run(self.propagation, None, state=initial_node_state(x, self.hidden_size), context=g,
                   steps=self.steps).state.h

    def select(self, x: GraphBatch, index: Tensor) -> GraphBatch:
        """The graphs ``index`` of the batch, renumbered (:func:`~rnnzoo.cells.ggnn.graph.select_graphs`)."""
        return select_graphs(x, index)

    # cpu: example data drawn from a seeded CPU generator (the same draw on every device)
    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> GraphBatch:
        """``batch_size`` random graphs of 2-6 nodes with random typed edges (``node_table`` width 6)."""
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        xs, edges = [], []
        for _ in range(batch_size):
            n = int(torch.randint(2, 7, (), generator=gen))
            m = int(torch.randint(1, 2 * n + 1, (), generator=gen))
            ends = torch.randint(0, n, (m, 2), generator=gen)
            types = torch.randint(0, self.num_edge_types, (m,), generator=gen)
            edges.append([(int(a), int(t), int(b)) for (a, b), t in zip(ends, types, strict=True)])
            xs.append(torch.randn(n, self.annotation_size, generator=gen, dtype=torch.float64))
        return graph_batch(xs, edges, width=6).to(device=self.device, dtype=self.dtype)


class GGNN(_GraphModel):
    """Gated graph neural network (Li et al. 2016, arXiv:1511.05493, eqs (1)-(7)): see the module docstring.

    Args (keyword-only):
        annotation_size: D. hidden_size: H >= D. num_edge_types: edge types of the graphs.
        steps: T propagation steps (5). output: ``"node"`` (node selection) or ``"graph"`` (eq (7) + classifier).
        num_classes: C, for ``output="graph"``. directions, edge_bias, reset: of :class:`GGNNPropagation`.
    """

    def __init__(self, *, annotation_size: int, hidden_size: int, num_edge_types: int, steps: int = 5,
                 output: str = "node", num_classes: int = 2, directions: str = "both", edge_bias: bool = True,
                 reset: str = "before") -> None:
        super().__init__(annotation_size, hidden_size, num_edge_types, steps, output, num_classes, directions,
                         edge_bias, reset)

    def forward(self, x: GraphBatch) -> Tensor | NodeScores:
        g = self.check(x)
        return self.readout.pool(self.readout.node_values(self.propagate(g), g.x), g)


class GGSNNState(NamedTuple):
    """out: ``(N, F)`` the step's per-node readout values; x: ``(N, D)`` the annotations X^(k+1)."""

    out: Tensor
    x: Tensor


class GGSNNOutputCell(Cell):
    """One GGS-NN output step k (section 4): propagate from ``[X^(k); 0]``, read out, re-estimate X^(k+1).

    State ``GGSNNState(out (N, F), x (N, D))``; context the GraphBatch; output the per-node readout values.
    """

    def __init__(self, model: GGSNN) -> None:
        super().__init__()
        self.input_size = model.annotation_size
        self.output_size = model.readout.features
        self._model = [model]  # not a submodule: the model owns the parameters

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> GGSNNState:
        return GGSNNState(TensorSpec((batch_size, self.output_size)), TensorSpec((batch_size, self.input_size)))

    def prepare(self, context: Any, batch_size: int, **_: Any) -> GraphBatch:
        return check_graph_batch(context, name="context")

    def step(self, u_t: Any, state: GGSNNState, prepared: GraphBatch) -> tuple[Tensor, GGSNNState]:
        model = self._model[0]
        h = model.propagate(prepared, state.x)  # H^(k,T) from [X^(k); 0]
        out = model.readout.node_values(h, state.x)
        x_next = torch.sigmoid(model.annotate(torch.cat([h, state.x], dim=-1)))  # eqs (8)-(9)
        return out, GGSNNState(out, x_next)


class GGSNN(_GraphModel):
    """Gated graph sequence neural network (Li et al. 2016, arXiv:1511.05493, section 4, eqs (8)-(9)).

    Args (keyword-only): as :class:`GGNN`, plus ``output_steps``: K outputs per graph.
    """

    def __init__(self, *, annotation_size: int, hidden_size: int, num_edge_types: int, output_steps: int = 2,
                 steps: int = 5, output: str = "graph", num_classes: int = 2, directions: str = "both",
                 edge_bias: bool = True, reset: str = "before") -> None:
        super().__init__(annotation_size, hidden_size, num_edge_types, steps, output, num_classes, directions,
                         edge_bias, reset)
        self.output_steps = _positive("output_steps", output_steps)
        self.annotate = nn.Linear(hidden_size + annotation_size, annotation_size)
        self.output_cell = GGSNNOutputCell(self)

    def forward(self, x: GraphBatch) -> Tensor | NodeScores:
        g = self.check(x)
        start = GGSNNState(g.x.new_zeros(g.x.shape[0], self.readout.features), g.x)
        values = run(self.output_cell, None, state=start, context=g, steps=self.output_steps).output  # (N, K, F)
        return self.readout.pool(values, g)


_PAPER = Paper("Li, Tarlow, Brockschmidt & Zemel", 2016, "Gated graph sequence neural networks", "1511.05493")
_COMMON = dict(kind=ModelKind.MODEL, input_kind=InputKind.GRAPH, causal=False, chunkable=False,
               bidirectional_ok=False, lengths=False, unbatched=False, gated=True)
register("ggnn", paper=_PAPER, seed_equations="not in the seeds; the paper's eqs (1)-(7)",
         description="Gated graph neural network: typed directed edges, GRU node updates, node or graph output",
         test_options={"annotation_size": 2, "hidden_size": 5, "num_edge_types": 3, "steps": 3}, **_COMMON)(GGNN)
register("ggsnn", paper=_PAPER, seed_equations="not in the seeds; the paper's eqs (1)-(9)",
         description="Gated graph sequence neural network: output sequences with annotation re-estimation",
         test_options={"annotation_size": 2, "hidden_size": 5, "num_edge_types": 3, "steps": 2, "output_steps": 3,
                       "num_classes": 4}, **_COMMON)(GGSNN)
