"""ggnn / ggsnn against a naive implementation typed from Li et al. 2016 (arXiv:1511.05493): loops over graphs,
nodes and edges in float64; the pitfalls of RESEARCH.md (separate parameters per edge type AND direction, h^(1) =
[x; 0], gated graph readout, GGS-NN re-estimating its annotations); graph batches and their re-indexing."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.ggnn import GGNN, GGSNN, GGNNState, GraphBatch, NodeScores, graph_batch, select_graphs
from rnnzoo.cells.ggnn.propagation import initial_node_state

pytestmark = pytest.mark.usefixtures("float64")


@pytest.fixture
def float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)

GRAPHS = [  # (number of nodes, edges (source, type, target)): self loops, parallel edges, an isolated node
    (3, [(0, 0, 1), (1, 1, 2), (2, 0, 0)]),
    (5, [(0, 2, 1), (0, 2, 1), (3, 1, 3), (4, 0, 2), (1, 1, 4)]),
    (1, []),
    (4, [(3, 0, 0), (0, 1, 3), (2, 2, 1)]),
]


def make_batch(d: int = 2, seed: int = 0, width: int = 6) -> tuple[GraphBatch, list[torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    xs = [torch.randn(n, d, generator=gen, dtype=torch.float64) for n, _ in GRAPHS]
    return graph_batch(xs, [e for _, e in GRAPHS], width=width), xs


def naive_gru(cell, a: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
    """Eqs (3)-(6) for one node with the GRUCell's weights (gates r, z, n; reset before; its z is 1 - the paper's)."""
    H = h.shape[0]
    w, u, bi, bh = cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    r = torch.sigmoid(w[:H] @ a + bi[:H] + u[:H] @ h + bh[:H])
    z = torch.sigmoid(w[H:2 * H] @ a + bi[H:2 * H] + u[H:2 * H] @ h + bh[H:2 * H])
    if cell.reset == "before":
        n = torch.tanh(w[2 * H:] @ a + bi[2 * H:] + u[2 * H:] @ (r * h) + bh[2 * H:])
    else:
        n = torch.tanh(w[2 * H:] @ a + bi[2 * H:] + r * (u[2 * H:] @ h + bh[2 * H:]))
    return (1 - z) * n + z * h


def naive_propagate(model, x: torch.Tensor, edges: list[tuple[int, int, int]]) -> list[torch.Tensor]:
    """One graph: h_v^(1) = [x_v; 0], then T times eq (2) edge by edge and the GRU node by node."""
    prop = model.propagation
    H, both = model.hidden_size, prop.directions == "both"
    h = [torch.cat([x[v], torch.zeros(H - x.shape[1])]) for v in range(x.shape[0])]
    for _ in range(model.steps):
        a = [torch.zeros(H) for _ in h]
        for src, typ, dst in edges:
            k_in = 2 * typ if both else typ
            a[dst] = a[dst] + prop.edge_weight[k_in] @ h[src] + (prop.edge_bias[k_in] if prop.edge_bias is not None
                                                                 else 0)
            if both:  # the same edge, read from its source: the outgoing parameters
                a[src] = a[src] + prop.edge_weight[2 * typ + 1] @ h[dst] + (
                    prop.edge_bias[2 * typ + 1] if prop.edge_bias is not None else 0)
        h = [naive_gru(prop.gru, a[v], h[v]) for v in range(len(h))]
    return h


def naive_readout(model, h: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    ro = model.readout
    if ro.output == "node":  # o_v = g(h_v, x_v), one score per node
        return torch.stack([ro.node_score.weight[0] @ torch.cat([h[v], x[v]]) + ro.node_score.bias[0]
                            for v in range(len(h))])
    total = torch.zeros(model.hidden_size)
    for v in range(len(h)):  # eq (7)
        hx = torch.cat([h[v], x[v]])
        total = total + torch.sigmoid(ro.gate.weight @ hx + ro.gate.bias) * torch.tanh(ro.value.weight @ hx
                                                                                        + ro.value.bias)
    return ro.classify.weight @ torch.tanh(total) + ro.classify.bias


@pytest.mark.parametrize("directions", ["both", "in"])
@pytest.mark.parametrize("reset", ["before", "after"])
def test_node_selection_equals_the_naive_loops(directions: str, reset: str) -> None:
    torch.manual_seed(1)
    model = GGNN(annotation_size=2, hidden_size=4, num_edge_types=3, steps=3, directions=directions,
                 reset=reset).double()
    with torch.no_grad():
        model.propagation.edge_bias.normal_()
    g, xs = make_batch()
    out = model(g)
    assert isinstance(out, NodeScores) and out.scores.shape == (4, 6)
    for b, ((n, edges), x) in enumerate(zip(GRAPHS, xs, strict=True)):
        want = naive_readout(model, naive_propagate(model, x, edges), x)
        torch.testing.assert_close(out.scores[b, :n], want, rtol=1e-12, atol=1e-12)
        assert bool(out.mask[b, :n].all()) and not bool(out.mask[b, n:].any())
        assert bool((out.scores[b, n:] == 0).all())


def test_graph_output_equals_the_naive_gated_readout() -> None:
    torch.manual_seed(2)
    model = GGNN(annotation_size=2, hidden_size=5, num_edge_types=3, steps=4, output="graph", num_classes=3).double()
    g, xs = make_batch(seed=3)
    out = model(g)
    assert out.shape == (4, 3)
    for b, ((_, edges), x) in enumerate(zip(GRAPHS, xs, strict=True)):
        want = naive_readout(model, naive_propagate(model, x, edges), x)
        torch.testing.assert_close(out[b], want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("output", ["graph", "node"])
def test_ggsnn_equals_the_naive_annotation_reestimation(output: str) -> None:
    torch.manual_seed(3)
    model = GGSNN(annotation_size=2, hidden_size=4, num_edge_types=3, steps=2, output_steps=3, output=output,
                  num_classes=4).double()
    g, xs = make_batch(seed=4)
    out = model(g)
    for b, ((n, edges), x) in enumerate(zip(GRAPHS, xs, strict=True)):
        for k in range(3):  # h^(k,1) = [X^(k); 0]; o^(k) = readout; X^(k+1) = sigmoid(annotate([h^(k,T); X^(k)]))
            h = naive_propagate(model, x, edges)
            want = naive_readout(model, h, x)
            got = out.scores[b, k, :n] if output == "node" else out[b, k]
            torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
            x = torch.stack([torch.sigmoid(model.annotate.weight @ torch.cat([h[v], x[v]]) + model.annotate.bias)
                             for v in range(n)])


def test_incoming_and_outgoing_edges_have_separate_parameters() -> None:
    torch.manual_seed(4)
    model = GGNN(annotation_size=2, hidden_size=4, num_edge_types=3, steps=2).double()
    g, _ = make_batch()
    flipped = g._replace(edge_index=g.edge_index.flip(0))
    assert not torch.allclose(model(g).scores, model(flipped).scores)  # direction matters
    retyped = g._replace(edge_type=(g.edge_type + 1) % 3)
    assert not torch.allclose(model(g).scores, model(retyped).scores)  # type matters


def test_swapped_in_and_out_blocks_equal_reversed_edges() -> None:
    torch.manual_seed(5)
    model = GGNN(annotation_size=2, hidden_size=4, num_edge_types=3, steps=2).double()
    g, _ = make_batch()
    with torch.no_grad():
        w, b = model.propagation.edge_weight, model.propagation.edge_bias
        b.normal_()
        before = model(g).scores
        w.copy_(w.view(3, 2, 4, 4).flip(1).reshape(6, 4, 4))
        b.copy_(b.view(3, 2, 4).flip(1).reshape(6, 4))
    torch.testing.assert_close(model(g._replace(edge_index=g.edge_index.flip(0))).scores, before)


def test_propagation_is_a_run_without_input_and_equals_stepping_by_hand() -> None:
    torch.manual_seed(6)
    model = GGNN(annotation_size=2, hidden_size=4, num_edge_types=3, steps=3).double()
    g, _ = make_batch()
    state = initial_node_state(g.x, 4)
    assert torch.equal(state.h[:, 2:], torch.zeros(g.x.shape[0], 2)) and torch.equal(state.h[:, :2], g.x)
    prepared = model.propagation.prepare(g, g.x.shape[0])
    for _ in range(3):
        _, state = model.propagation.step(None, state, prepared)
    torch.testing.assert_close(model.propagate(g), state.h, rtol=0, atol=0)
    out = rnnzoo.run(model.propagation, None, state=GGNNState(initial_node_state(g.x, 4).h), context=g, steps=3)
    assert out.output.shape == (g.x.shape[0], 3, 4)


def test_graph_batch_layout_and_select() -> None:
    g, xs = make_batch()
    assert g.edge_index.shape == (2, 11) and g.batch.tolist() == [0] * 3 + [1] * 5 + [2] + [3] * 4
    assert g.node_table[2].tolist() == [8, -1, -1, -1, -1, -1]
    index = torch.tensor([3, 1, 3])
    sub = select_graphs(g, index)
    want = graph_batch([xs[i] for i in index.tolist()], [GRAPHS[i][1] for i in index.tolist()], width=6)
    for name, a, b in zip(GraphBatch._fields, sub, want, strict=True):
        assert torch.equal(a, b), name


def test_a_graph_alone_equals_its_row_in_a_batch() -> None:
    torch.manual_seed(7)
    model = GGNN(annotation_size=2, hidden_size=4, num_edge_types=3, output="graph").double()
    g, xs = make_batch()
    full = model(g)
    for b, ((_, edges), x) in enumerate(zip(GRAPHS, xs, strict=True)):
        torch.testing.assert_close(model(graph_batch([x], [edges])), full[b:b + 1], rtol=1e-12, atol=1e-12)


def test_bad_inputs_name_the_field() -> None:
    model = GGNN(annotation_size=2, hidden_size=4, num_edge_types=3).double()
    g, _ = make_batch()
    with pytest.raises(ValueError, match=r"x\.edge_type: expected types in \[0, 3\)"):
        model(g._replace(edge_type=g.edge_type + 3))
    with pytest.raises(ValueError, match=r"x\.x: expected 2 annotation features"):
        model(g._replace(x=torch.zeros(g.x.shape[0], 3)))
    with pytest.raises(ValueError, match=r"two different graphs"):
        model(g._replace(edge_index=torch.tensor([[0], [4]]), edge_type=torch.tensor([0])))
    with pytest.raises(ValueError, match=r"x\.node_table"):
        model(g._replace(node_table=g.node_table.flip(0)))
    with pytest.raises(TypeError, match="GraphBatch"):
        model(g.x)
    with pytest.raises(ValueError, match="H >= annotation_size"):
        GGNN(annotation_size=5, hidden_size=4, num_edge_types=1)
    with pytest.raises(ValueError, match="directions"):
        GGNN(annotation_size=1, hidden_size=4, num_edge_types=1, directions="out")
    with pytest.raises(ValueError, match=r"edges\[1\]"):
        graph_batch([torch.zeros(2, 1), torch.zeros(2, 1)], [[], [(0, 0, 2)]])


def test_registry_and_create() -> None:
    model = rnnzoo.create("ggnn", hidden_size=6, annotation_size=1, num_edge_types=4)
    assert isinstance(model, GGNN) and model.propagation.edge_weight.shape == (8, 6, 6)
    assert rnnzoo.model_info("ggsnn").input_kind is rnnzoo.InputKind.GRAPH
