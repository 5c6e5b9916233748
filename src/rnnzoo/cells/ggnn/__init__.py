"""Gated graph (sequence) neural networks, Li et al. 2016 (arXiv:1511.05493): :mod:`.model` has the equations."""

from .graph import GraphBatch, check_graph_batch, graph_batch, select_graphs
from .model import GGNN, GGSNN, GGSNNOutputCell, GGSNNState, NodeScores, Readout
from .propagation import GGNNPropagation, GGNNState, Messages

__all__ = ["GGNN", "GGSNN", "GGNNPropagation", "GGNNState", "GGSNNOutputCell", "GGSNNState", "GraphBatch", "Messages",
           "NodeScores", "Readout", "check_graph_batch", "graph_batch", "select_graphs"]
