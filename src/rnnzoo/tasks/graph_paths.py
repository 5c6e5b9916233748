"""Shortest paths on random networkx graphs, for gated graph sequence networks (Li et al. 2016, arXiv:1511.05493,
section 5.2: "find the shortest path between two marked nodes, output the sequence of its nodes").

Each example is a random graph (``networkx.gnp_random_graph``, each edge stated in one random direction with one
edge type) with a start node and an end node marked in the annotations (two bits, as the paper's), whose
shortest path is unique and has ``path_length`` edges (graphs are drawn again until it is: networkx's
``all_shortest_paths`` gives the label and checks uniqueness). The target is the sequence of the path's nodes
after the start, end included: ``path_length`` node selections, a GGS-NN with ``output="node"`` and
``output_steps=path_length``. Accuracy counts a path right only when every node is.

Splits: a finite training set of ``train_size`` graphs from ``train_seed``; ``valid`` and ``test`` fixed by their
own seeds.
"""

from __future__ import annotations

from typing import Any

import networkx as nx
import numpy as np
import torch

from .babi_symbolic import GraphTask
from .base import Batch, check_int
from .registry import register_task

__all__ = ["GraphShortestPathTask", "shortest_path_example"]


def shortest_path_example(rng: np.random.Generator, num_nodes: int, path_length: int, edge_prob: float
                          ) -> tuple[list[tuple[int, int, int]], int, int, list[int]]:
    """One graph: ``(edges (source, 0, target), start, end, path)`` with a unique shortest path of
    ``path_length`` edges from start to end (``path`` lists its nodes, start first)."""
    for _ in range(10_000):
        g = nx.gnp_random_graph(num_nodes, edge_prob, seed=int(rng.integers(2**31)))
        start, end = (int(v) for v in rng.choice(num_nodes, 2, replace=False))
        if not nx.has_path(g, start, end) or nx.shortest_path_length(g, start, end) != path_length:
            continue
        paths = list(nx.all_shortest_paths(g, start, end))
        if len(paths) != 1:
            continue
        edges = [(int(u), 0, int(v)) if rng.random() < 0.5 else (int(v), 0, int(u)) for u, v in g.edges()]
        return edges, start, end, [int(v) for v in paths[0]]
    raise ValueError(f"num_nodes/path_length/edge_prob: no graph of {num_nodes} nodes with p = {edge_prob} had a "
                     f"unique shortest path of {path_length} edges in 10,000 draws")


class GraphShortestPathTask(GraphTask):
    """The shortest-path task (module docstring); metrics accuracy (whole path), cross-entropy (summed over it)."""

    SPLIT_SEEDS: dict[str, int] = {"valid": 2_718_281_828, "test": 3_141_592_653}
    split_names = ("valid", "test")
    metrics = ["accuracy", "cross_entropy"]  # noqa: RUF012
    output = "node"

    def __init__(self, *, num_nodes: int = 8, path_length: int = 3, edge_prob: float = 0.3, train_size: int = 50,
                 train_seed: int = 0, valid_size: int = 1000, test_size: int = 1000) -> None:
        self.name = "graph_shortest_path"
        self.num_nodes = check_int("num_nodes", num_nodes, 3)
        self.path_length = check_int("path_length", path_length, 1)
        if self.path_length >= self.num_nodes:
            raise ValueError(f"path_length: expected fewer than num_nodes = {num_nodes} edges, got {path_length}")
        if not 0 < edge_prob <= 1:
            raise ValueError(f"edge_prob: expected a probability in (0, 1], got {edge_prob!r}")
        self.edge_prob = float(edge_prob)
        self.train_size = check_int("train_size", train_size, 1)
        self.train_seed = check_int("train_seed", train_seed, 0)
        self.split_sizes = {"valid": check_int("valid_size", valid_size, 1),
                            "test": check_int("test_size", test_size, 1)}
        self.model_options = {"annotation_size": 2, "num_edge_types": 1, "output": "node",
                              "output_steps": self.path_length}
        self._cache: dict[tuple[str, int], Batch] = {}

    def _make(self, count: int, seed: int) -> Batch:
        rng = np.random.default_rng(seed)
        examples: list[tuple[torch.Tensor, list[tuple[int, int, int]], Any]] = []
        for _ in range(count):
            edges, start, end, path = shortest_path_example(rng, self.num_nodes, self.path_length, self.edge_prob)
            x = torch.zeros(self.num_nodes, 2)
            x[start, 0], x[end, 1] = 1.0, 1.0
            examples.append((x, edges, path[1:]))
        return self._batch(examples, self.num_nodes)

    def _get(self, name: str, count: int, seed: int) -> Batch:
        if (name, seed) not in self._cache:
            self._cache[(name, seed)] = self._make(count, seed)
        return self._cache[(name, seed)]

    def train_set(self) -> Batch:
        return self._get("train", self.train_size, self.train_seed)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` training graphs drawn without replacement (all of them if fewer) with ``generator``."""
        return self.draw(self.train_set(), batch_size, generator)

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        self.check_split_name(name)
        seed = self.SPLIT_SEEDS[name] if generator_seed is None else check_int("generator_seed", generator_seed, 0)
        return self._get(name, self.split_sizes[name], seed)

    def baseline(self) -> dict[str, float]:
        """A uniform guess of each node: accuracy (1/N)^L, cross-entropy L ln N."""
        n, length = self.num_nodes, self.path_length
        return {"accuracy": float(n) ** -length, "cross_entropy": length * float(np.log(n))}


register_task("graph_shortest_path", GraphShortestPathTask,
              "shortest path between two marked nodes of a random networkx graph, output as its node sequence "
              "(Li et al. 2016's GGS-NN task; labels from networkx)",
              "guess each node: accuracy (1/N)^L", seq_len="no sequence length (graphs)",
              train_defaults={"batch_size": 10})
