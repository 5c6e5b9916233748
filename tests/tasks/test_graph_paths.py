"""The shortest-path task: labels are networkx's unique shortest paths, the encoding marks start and end, frozen
splits, and the GGS-NN's node-sequence output is scored as whole paths."""

from __future__ import annotations

import networkx as nx
import numpy as np
import pytest
import torch

import rnnzoo
from rnnzoo.tasks import get_task
from rnnzoo.tasks.graph_paths import shortest_path_example
from rnnzoo.tasks.structured import score_model


def test_examples_have_a_unique_shortest_path_of_the_asked_length() -> None:
    rng = np.random.default_rng(0)
    for _ in range(50):
        edges, start, end, path = shortest_path_example(rng, 8, 3, 0.3)
        g = nx.Graph()
        g.add_nodes_from(range(8))
        g.add_edges_from((s, t) for s, _, t in edges)
        assert [list(p) for p in nx.all_shortest_paths(g, start, end)] == [path]
        assert len(path) == 4 and path[0] == start and path[-1] == end


def test_batches_encode_the_path_after_the_start() -> None:
    task = get_task("graph_shortest_path", valid_size=20, test_size=20)
    batch = task.split("valid")
    g = batch.x
    assert g.node_table.shape == (20, 8) and batch.y.shape == (20, 3)
    x = g.x.view(20, 8, 2)
    ends = x[..., 1].argmax(1)
    assert torch.equal(batch.y[:, -1], ends) and bool((x.sum(1) == 1).all())
    assert torch.equal(get_task("graph_shortest_path", valid_size=20).split("valid").y, batch.y)
    assert task.model_options == {"annotation_size": 2, "num_edge_types": 1, "output": "node", "output_steps": 3}
    with pytest.raises(ValueError, match="path_length"):
        get_task("graph_shortest_path", num_nodes=4, path_length=4)


def test_scores_count_whole_paths() -> None:
    task = get_task("graph_shortest_path", valid_size=30, path_length=2)
    model = rnnzoo.create("ggsnn", hidden_size=6, **task.model_options)
    batch = task.split("valid")
    metrics = task.score(model, batch)
    out = model(batch.x)
    assert out.scores.shape == (30, 2, 8)
    right = (out.scores.masked_fill(~out.mask.unsqueeze(1), -1e9).argmax(-1) == batch.y).all(-1)
    assert float(metrics["accuracy"][0]) == float(right.sum())
    loss = task.loss_of(out, batch)
    assert torch.isfinite(loss) and score_model(task, model, batch)["accuracy"] == float(right.double().mean())
