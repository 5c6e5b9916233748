"""Cells whose step is one recurrent product and an elementwise update: the protocol that gives them a fast path.

Most recurrent cells of the literature (the gated cells of torchrecurrent's catalogue, the ODE-inspired ones, the
evolved ones) compute a step as::

    r_t       = concat(state.<recurrent_fields>) @ recurrent_weight().T      # (B, R): the only matrix product in time
    new_state = pointwise(u_t, r_t, state)                                   # elementwise in the units

with ``u_t = project(x_t)`` hoisted out of the time loop; optionally a second product after a gate (MGU's and a
reset-before GRU's ``U_h (f_t * h_{t-1})``), appended to ``r_t``::

    r_t = [r1_t, gated_input(u_t, r1_t, state) @ second_weight().T] A cell that says so by subclassing
:class:`PointwiseCell` and implementing ``project``, ``recurrent_weight`` and ``pointwise`` gets ``step`` (the
reference loop) and ``fused`` without writing either: by default its step looped in plain autograd operations without
the runner's per-step work, or (``use_function = True``) :func:`rnnzoo.fused.pointwise.pointwise_recurrence`, the whole
sequence in one autograd Function, no graph per step, its backward derived from ``pointwise`` itself.

The contract ``pointwise`` keeps (the fast path's backward relies on it; ``tests/fused/test_pointwise.py`` checks it
for every registered PointwiseCell): every state field is ``(B, H)`` (one ``hidden_size``), ``r_t`` is ``(B, G*H)``
(G blocks of H units) and unit ``j`` of every new state field reads only unit ``j`` of each H-block of ``u_t`` and
``r_t`` and unit ``j`` of each old state field (and parameters). Per-unit parameters (a learned time step, a
diagonal recurrent weight) are fine; anything mixing units (a layer norm, a softmax over units, a matrix-valued state)
is not: such a cell subclasses :class:`~rnnzoo.core.cell.Cell` directly.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnzoo.core.cell import Cell, Steps


class PointwiseCell(Cell):
    """Base of the cells described in the module docstring.

    Subclasses set ``hidden_size`` and ``recurrent_fields`` (the state fields, in order, whose concatenation
    multiplies ``recurrent_weight().T``; default ``("h",)``) and implement:

    * ``project(x)``: ``(..., I) -> (..., P)`` every input-only pre-activation (P a multiple of H, or anything the
      cell's ``pointwise`` reads unit-locally);
    * ``recurrent_weight()``: the ``(R, K)`` matrix (K the summed size of ``recurrent_fields``), or None for a cell
      whose recurrence is elementwise only (then ``r_t`` is None);
    * ``pointwise(u_t, r_t, state) -> new_state`` (a NamedTuple of ``(B, H)`` tensors);
    * optionally ``second_weight()`` and ``gated_input(u_t, r1_t, state)`` (a second product after a gate).

    ``output(state)`` is the first field unless overridden, and must be one of the state's fields for the fast path
    (``output_field``).
    """

    recurrent_fields: tuple[str, ...] = ("h",)
    output_field: str = "h"
    hidden_size: int
    use_function: bool = False
    """Which whole-sequence path ``fused`` takes: False (default), the cell's own step looped in plain autograd
    operations (:func:`rnnzoo.fused.loop.autograd_loop`, ``fused_kind`` "autograd"); True, the generic Function
    (:func:`rnnzoo.fused.pointwise.pointwise_recurrence`, "rnnzoo"). Measured on this project's CPUs (one thread,
    forward + backward, medians of 5 interleaved, load ~15): the Function took 1.27-1.45x the loop's time for JANET
    and CFN at (B, T, I, H) = (32, 100, 64, 128) and (64, 100, 256, 256), and 0.98x / 1.49x for UGRNN with its
    closed-form derivatives (`benchmarks/pointwise_path.py`). Its backward differentiates the
    update over all steps several times (the tables, then the parameters), about three times the elementwise work of
    autograd's own backward, which a CPU pays in memory traffic; a device where the per-step kernel launches
    dominate is where the Function should win (not measured: no GPU). A cell sets True where it measured faster."""

    @property
    def fused_kind(self) -> str:  # type: ignore[override]
        return "rnnzoo" if self.use_function else "autograd"

    def recurrent_weight(self) -> Tensor | None:
        """The ``(R, K)`` recurrent matrix (``r_t = concat(recurrent_fields) @ W.T``), or None."""
        raise NotImplementedError

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: Any) -> Any:
        """The elementwise update: ``u_t (B, P)``, ``r_t (B, R)`` or None, ``state`` -> the new state."""
        raise NotImplementedError

    pointwise_derivatives: Any = None
    """Optional, for a cell with ONE state field and one recurrent product: ``pointwise_derivatives(u, r, h) -> (jr
    (N, G, H), jh (N, H))``, the diagonal derivatives of the new state with respect to each H-block of ``r`` and to
    the old state, in closed form over ``N`` rows (all steps at once), together with ``pointwise_vjp(u, r, h, g, dr)
    -> (du (N, P), {parameter name: gradient})`` (``g (N, H)`` the cotangent of the new state, ``dr (N, G*H)`` that of
    ``r``; the gradients of the parameters ``pointwise`` reads, summed over the rows). The fast path's backward then
    takes them instead of differentiating ``pointwise`` with autograd (about three elementwise passes fewer over the
    whole sequence); the model contract suite holds the result equal to the step loop's gradients."""
    pointwise_vjp: Any = None

    def second_weight(self) -> Tensor | None:
        """A second recurrent product that follows a gate (MGU's, a reset-before GRU's ``U_h (f * h)``): the
        ``(R2, K2)`` matrix applied to :meth:`gated_input`; its product is appended to ``r_t``
        (``r_t = [r1_t, gated_input(u_t, r1_t, state) @ W2.T]``). None (the default): one product per step."""
        return None

    def gated_input(self, u_t: Tensor, r1_t: Tensor, state: Any) -> Tensor:
        """The ``(B, K2)`` input of the second product (unit-local in ``u_t``, ``r1_t`` and ``state``); only called
        when :meth:`second_weight` is not None."""
        raise NotImplementedError

    def recurrent_input(self, state: Any) -> Tensor:
        """``concat(state.<recurrent_fields>)``: ``(B, K)``."""
        parts = [getattr(state, name) for name in self.recurrent_fields]
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)

    def recurrent(self, state: Any) -> Tensor | None:
        """``r_t``: the step's one recurrent product, ``(B, R)`` (None without a recurrent matrix)."""
        w = self.recurrent_weight()
        return None if w is None else self.recurrent_input(state) @ w.t()

    def output(self, state: Any) -> Any:
        return getattr(state, self.output_field)

    def step(self, u_t: Tensor, state: Any) -> tuple[Tensor, Any]:
        r = self.recurrent(state)
        w2 = self.second_weight()
        if w2 is not None:
            r = torch.cat([r, self.gated_input(u_t, r, state) @ w2.t()], dim=-1)
        new = self.pointwise(u_t, r, state)
        return self.output(new), new

    def fused(self, steps: Steps, state: Any) -> tuple[Tensor, Any] | None:
        """The whole sequence (time-major ``u``): the step in an autograd loop, or the generic Function
        (:attr:`use_function`)."""
        if not isinstance(steps.u, Tensor):
            return None
        if self.use_function:
            from rnnzoo.fused.pointwise import pointwise_recurrence

            return pointwise_recurrence(self, steps.u, state, steps.mask)
        from rnnzoo.fused.loop import autograd_loop

        return autograd_loop(self.step, steps.u, state, steps.mask)
