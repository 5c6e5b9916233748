"""Weight drop: DropConnect on a cell's recurrent weights, one mask per forward pass (AWD-LSTM)."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.core.cell import Cell, Steps, bind
from rnnzoo.core.checks import probability
from rnnzoo.wrappers._fields import bernoulli_mask
from rnnzoo.wrappers.base import Drawn, Wrapper


def _owner(module: nn.Module, name: str) -> tuple[nn.Module, str]:
    path, _, leaf = name.rpartition(".")
    return (module.get_submodule(path) if path else module), leaf


@contextmanager
def swap_parameters(module: nn.Module, tensors: Mapping[str, Tensor] | None) -> Iterator[None]:
    """Within the block, the parameters of ``module`` named (dotted, relative to ``module``) in
    ``tensors`` read as those tensors; the parameters are put back on exit, also on an error.

    The replacement is a plain tensor (``W * M / (1 - p)``), so gradients flow through it to ``W``.
    Nothing stays on the module after the block. This is how ``torch.func.functional_call`` swaps
    tensors too (an entry of the owner's ``_parameters``), so the two compose. Not thread-safe for one
    module shared by threads.
    """
    if not tensors:
        yield
        return
    saved: list[tuple[nn.Module, str, Any]] = []
    try:
        for name, value in tensors.items():
            owner, leaf = _owner(module, name)
            saved.append((owner, leaf, owner._parameters[leaf]))
            owner._parameters[leaf] = value  # what Module.__getattr__ returns for `leaf`
        yield
    finally:
        for owner, leaf, param in reversed(saved):
            owner._parameters[leaf] = param


class WeightDrop(Wrapper):
    r"""DropConnect (Wan, Zeiler, Zhang, LeCun & Fergus 2013) on recurrent weights, as the weight-dropped
    LSTM of Merity, Keskar & Socher 2018 ("Regularizing and optimizing LSTM language models",
    arXiv:1708.02182; "AWD-LSTM")::

        M ~ Bernoulli(1 - p), shape of W          # drawn in prepare: once per forward pass, shared by the batch
        W' = W * M / (1 - p)                      # for every W in `weights` (differentiable in W)
        y_t, s_t = inner.step(u_t, s_{t-1})       # computed with W' in place of W

    The inner cell computes with ``W'`` in ``project``, ``step``, ``output`` and ``fused``: for the length
    of each inner call the parameter's name on its module reads as ``W'`` (:func:`swap_parameters`), so
    the inner fast path still runs (torch's fused LSTM/GRU/RNN kernel or rnnzoo's fused Functions read
    the cell's weights by name). Eval mode and ``p = 0``: the identity (nothing drawn, no swap).

    Args:
        cell: any :class:`~rnnzoo.core.cell.Cell`.
        p: probability of dropping each weight entry, in [0, 1).
        weights: parameter names relative to ``cell`` (dotted for submodules); default
            ``cell.recurrent_weights()`` (an LSTM's ``weight_hh``; ``inner.weight_hh`` through a wrapper).

    Shapes: as the inner cell. Under ``run(..., randomness="per_step")`` a new mask is drawn before every
    step. A bidirectional layer has a wrapper (and a mask) per direction.

    Deviations: none in the computation. AWD-LSTM draws a mask at every forward call of a layer's
    ``torch.nn.LSTM``; here at every run of the wrapped cell, which is the same for a layer run once per
    batch; a run fed in chunks (truncated BPTT) draws one per chunk.

    >>> import torch, rnnzoo
    >>> cell = rnnzoo.WeightDrop(rnnzoo.LSTMCell(3, 8), 0.5)
    >>> cell.weights
    ('weight_hh',)
    >>> out = rnnzoo.run(cell, torch.randn(2, 5, 3))   # torch's fused LSTM kernel, with W_hh * M / 0.5
    """

    def __init__(self, cell: Cell, p: float, *, weights: str | Sequence[str] | None = None) -> None:
        super().__init__(cell)
        self.p = probability("p", p)
        owner = type(cell).__name__
        if weights is None:
            names = list(cell.recurrent_weights())
            if not names:
                raise ValueError(f"weights: {owner} names no recurrent weights (its recurrent_weights() is empty); "
                                 "pass weights=[parameter names]")
        else:
            names = [weights] if isinstance(weights, str) else list(weights)
            if not names or not all(isinstance(n, str) for n in names):
                raise TypeError(f"weights: expected parameter names of {owner}, got {weights!r}")
        known = dict(cell.named_parameters())
        for name in names:
            if name not in known:
                raise ValueError(f"weights: {owner} has no parameter {name!r}; its parameters are "
                                 f"{', '.join(known) or 'none'}")
        self.weights = tuple(dict.fromkeys(names))

    def prepare(self, context: Any, batch_size: int, *, device: torch.device | str | None = None,
                dtype: torch.dtype | None = None, input_shape: Any = None) -> Drawn:
        """Draw ``W' = W * M / (1 - p)`` for every named weight (training mode, ``p > 0``) and prepare the
        inner cell with them in place (so a wrapped weight drop composes)."""
        dropped = None
        if self.training and self.p > 0:
            keep = 1.0 - self.p
            dropped = {}
            for name in self.weights:
                owner, leaf = _owner(self.inner, name)
                w = getattr(owner, leaf)  # the parameter, or what an outer swap put in its place
                dropped[name] = w * bernoulli_mask(w.shape, keep, device=w.device, dtype=w.dtype)
        with swap_parameters(self.inner, dropped):
            inner = self.inner.prepare(context, batch_size, device=device, dtype=dtype, input_shape=input_shape)
        return Drawn(dropped, inner)

    def project(self, x: Any, prepared: Drawn) -> Any:
        with swap_parameters(self.inner, prepared.value):
            return bind(self.inner.project, 1, prepared.inner)(x)

    def step(self, u_t: Any, state: Any, prepared: Drawn) -> tuple[Any, Any]:
        with swap_parameters(self.inner, prepared.value):
            return bind(self.inner.step, 2, prepared.inner, strict=True)(u_t, state)

    def output(self, state: Any, prepared: Drawn) -> Any:
        with swap_parameters(self.inner, prepared.value):
            return bind(self.inner.output, 1, prepared.inner)(state)

    def fused(self, steps: Steps, state: Any) -> tuple[Any, Any] | None:
        """The inner cell's fast path, computing with ``W'``."""
        drawn: Drawn = steps.prepared
        with swap_parameters(self.inner, drawn.value):
            return self.inner.fused(steps.replace(cell=self.inner, prepared=drawn.inner), state)

    def extra_repr(self) -> str:
        return f"p={self.p}, weights={self.weights}"
