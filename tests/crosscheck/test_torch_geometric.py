"""ggnn's propagation against ``torch_geometric.nn.GatedGraphConv`` (the optional `test` extra).

What had to be aligned for the two to compute the same function:
* one edge type and ``directions="in"``: PyG sends messages only along each edge (source -> target, summed at
  the target: ``aggr="add"``) with one weight for all edges; the paper (and rnnzoo's default) also sends them
  back against the edge with separate "outgoing" parameters, and has one block per edge type;
* ``edge_bias=False``: PyG adds no bias per message (eq (2)'s b);
* PyG has a weight per propagation step (``weight[i]``, i < num_layers) where the paper shares one over the T
  steps: every ``weight[i]`` is set to ours; and ``m = x @ weight[i]`` is ``A^T``'s product: ``weight[i] = A^T``;
* ``reset="after"``: PyG's update is ``torch.nn.GRUCell`` (``r * (U h + b)``), not eq (5)'s ``U (r * h)``;
  its weights are copied to the GRUCell of ours in the same (r, z, n) layout;
* both zero-pad the annotations to H (eq (1), PyG's ``x.new_zeros`` padding).
"""

from __future__ import annotations

import pytest
import torch

from rnnzoo.cells.ggnn import GGNN, graph_batch

pyg = pytest.importorskip("torch_geometric.nn", reason="torch_geometric is not installed (pip install rnnzoo[test])")


def test_single_edge_type_equals_gated_graph_conv() -> None:
    torch.manual_seed(0)
    H, T = 6, 4
    model = GGNN(annotation_size=3, hidden_size=H, num_edge_types=1, steps=T, directions="in", edge_bias=False,
                 reset="after").double()
    theirs = pyg.GatedGraphConv(H, num_layers=T, aggr="add").double()
    with torch.no_grad():
        a = model.propagation.edge_weight[0]
        theirs.weight.copy_(a.t().expand(T, H, H))
        gru = model.propagation.gru
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(theirs.rnn, name).copy_(getattr(gru, name))
    gen = torch.Generator().manual_seed(1)
    xs = [torch.randn(n, 3, generator=gen, dtype=torch.float64) for n in (4, 2, 5)]
    edges = [[(0, 0, 1), (1, 0, 2), (2, 0, 0), (3, 0, 3)], [(1, 0, 0)], [(0, 0, 4), (4, 0, 0), (2, 0, 1), (2, 0, 1)]]
    g = graph_batch(xs, edges)
    torch.testing.assert_close(model.propagate(g), theirs(g.x, g.edge_index), rtol=1e-12, atol=1e-12)
    # and the paper's default (both directions) is a different function: the pitfall the alignment hides
    both = GGNN(annotation_size=3, hidden_size=H, num_edge_types=1, steps=T, edge_bias=False, reset="after").double()
    with torch.no_grad():
        both.propagation.edge_weight[0].copy_(a)
        both.propagation.gru.load_state_dict(gru.state_dict())
    assert not torch.allclose(both.propagate(g), theirs(g.x, g.edge_index))
