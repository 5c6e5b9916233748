"""Whole models with structured inputs (issue 12): the protocol the contract suite, the trainer and the benchmark read.

A *cell* (:mod:`rnnzoo.core.cell`) reads one vector per step and ``rnnzoo.create`` stacks it. A *whole model*
(registry ``kind=ModelKind.MODEL``) reads a structured input: a source and a target sequence (seq2seq), a set of
points (pointer networks), a story and a question (memory networks), a graph (gated graph networks), a premise
and a hypothesis (match-LSTM). Inside, its recurrences are still cells run by the one runner (an attention
decoder is a cell whose ``prepare`` receives the encoder's outputs as context; memory-network hops are a run
without input, ``steps=K``); the model only composes them.

:class:`StructuredModel` is what every such model provides:

* ``forward(x)``: ``x`` is the model's input structure (a NamedTuple of tensors, batch first: every leaf's
  first axis is the batch, B), returning its training output (logits, pointer scores...), batch first;
* ``example_input(batch_size, *, generator)``: a random valid input of this model's kind and sizes (what the
  contract suite, the benchmark and the doctests feed a model they know only by its registry entry);
* ``select(x, index)``: the rows ``index`` (int64 ``(b,)``) of a batch; the default indexes the first axis of
  every leaf (a model whose input is not batch-first in every leaf, e.g. a graph batch in torch_geometric's flat
  edge-index form, overrides it).

Internals that a user wants to see (attention weights, a memory's read and write weightings) are reported from
inside the cells' steps with ``self.report(name, weights, kind="attention")`` (:mod:`rnnzoo.core.probe`):
``rnnzoo evaluate --plots`` draws every report of kind ``"attention"`` as a heatmap (step x position), for any
model, without a table of model names.

``work(x)`` (optional) counts what one forward over ``x`` processes, for the benchmark's rates: ``{"nodes": n}`` for a
tree model, ``{"cells": n}`` for a grid, ``{"operations": n}`` for a stack; the key ``"steps"`` is the number of steps
the runner takes (a count, not a rate: a wavefront's fronts, a tree batch's levels). ``rnnzoo bench --structured``
prints every other count per second of a train step.

Parts of a step that the benchmark should time separately (an NTM's controller, addressing and memory update)
are wrapped in ``torch.profiler.record_function("<registry name>/<part>")``; ``rnnzoo bench`` splits a step's
time by these labels.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.core.tree import tree_map

__all__ = ["StructuredModel", "select_rows"]


def select_rows(x: Any, index: Tensor) -> Any:
    """The rows ``index`` (int64 ``(b,)``) of every leaf of a batch-first pytree (None leaves stay None)."""
    if not isinstance(index, Tensor) or index.dtype != torch.long or index.dim() != 1:
        raise TypeError(f"index: expected an int64 tensor of shape (b,), got {type(index).__name__}"
                        + (f" {index.dtype} {tuple(index.shape)}" if isinstance(index, Tensor) else ""))
    return tree_map(lambda t: t.index_select(0, index.to(t.device)), x)


class StructuredModel(nn.Module):
    """Base class of whole models with a structured input (see the module docstring).

    Subclasses implement ``forward(x)`` and :meth:`example_input`; :meth:`select` has a batch-first default.
    """

    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> Any:
        """A random valid input for a batch of ``batch_size`` (on the model's device and floating dtype)."""
        raise NotImplementedError(f"{type(self).__name__} must implement example_input(batch_size, generator=...)")

    def select(self, x: Any, index: Tensor) -> Any:
        """The examples ``index`` (int64 ``(b,)``) of the batch ``x``, as a batch of b."""
        return select_rows(x, index)

    def work(self, x: Any) -> dict[str, int]:
        """What one forward over ``x`` processes (module docstring): counts by unit; none by default."""
        return {}

    def _param(self) -> Tensor | None:
        return next(iter(self.parameters()), None)

    @property
    def device(self) -> torch.device:
        p = self._param()
        return p.device if p is not None else torch.device("cpu")

    @property
    def dtype(self) -> torch.dtype:
        p = self._param()
        return p.dtype if p is not None and p.is_floating_point() else torch.get_default_dtype()
