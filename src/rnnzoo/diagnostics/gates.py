"""Gate and hidden-unit saturation: how many activations sit where their derivative is near zero.

A saturated sigmoid gate (near 0 or 1) or tanh unit (near -1 or 1) has ``f' ~ 0``, the small
``diag(f')`` of 001 eqs (12)-(13) that makes gradients vanish; for the LSTM a forget gate saturated
*at 1* is what carries error unchanged through time (000's constant error carousel, 001 eq (18)).

The activations are what the cells report from inside their own ``step``
(``Cell.report(name, value, kind)``, :mod:`rnnzoo.core.probe`): an LSTM reports ``i, f, g, o,
tanh(c)`` (001 eqs (16)-(20)), a GRU ``r, z, n`` (001 eqs (37)-(39)), the Elman network and SCRN their
hidden units ``h`` (001 eqs (1), (33)). Nothing here knows a cell: a new cell that reports its gates
gets these diagnostics, and one that reports nothing is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.core import probe
from rnnzoo.core.cell import Cell
from rnnzoo.core.runner import run
from rnnzoo.diagnostics.structure import as_stack, batch_first_run, model_cells

_TANH_LIKE = ("tanh", "piecewise_linear", "sine")


@dataclass
class Activations:
    """values: ``(B, T, H)`` (``(B, T, H, Y, X)`` spatial); kind: the activation's name
    (``"sigmoid"``, ``"tanh"``, ...) deciding what counts as saturated."""

    values: Tensor
    kind: str


def gate_activations(cell: Cell, x: Any, state: Any = None, *, lengths: Any = None,
                     context: Any = None) -> dict[str, Activations]:
    """Every internal the cell reports (its gates), at every step of a run of ``cell`` over ``x``.

    Args:
        cell: any cell. x: ``(B, T, *F)`` batch-first input. state: the initial state (zeros if None).
        lengths: ``(B,)``; values at padded steps are whatever the cell computed there (the state
            did not take them): read them with the mask, or use :func:`gate_saturation`.

    Returns:
        ``{name: Activations}`` in the order the cell reported them, e.g. ``i, f, g, o, tanh(c)`` for
        an LSTM; values ``(B, T, *S)``. What cells inside ``cell`` report counts too (a wrapped cell's
        gates under their own names, a :class:`~rnnzoo.core.deep.DeepCell`'s as ``layers.k.name``).
        Empty for a cell that reports nothing.
    """
    with torch.no_grad(), probe.record() as rec:
        run(cell, x, state, lengths=lengths, context=context)
    return {name: Activations(rep.stacked().transpose(0, 1), rep.kind) for name, rep in rec.within(cell).items()}


@dataclass
class GateSaturation:
    """Saturation of one gate (or unit) of one layer.

    low_fraction / high_fraction: fraction of valid, finite activations below ``low_threshold`` /
    above ``high_threshold`` (None where the activation has no such side, e.g. linear units);
    nonfinite_fraction: fraction that are NaN or infinite; counts ``(bins,)`` and edges
    ``(bins + 1,)``: the histogram (over the activation's range for sigmoid/tanh kinds).
    """

    layer: int
    gate: str
    kind: str
    low_threshold: float | None
    high_threshold: float | None
    low_fraction: float | None
    high_fraction: float | None
    nonfinite_fraction: float
    count: int
    counts: Tensor
    edges: Tensor

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("layer", "gate", "kind", "low_threshold", "high_threshold",
                                              "low_fraction", "high_fraction", "nonfinite_fraction", "count",
                                              "counts", "edges")}


def saturation(values: Tensor, kind: str, *, low: float = 0.1, high: float = 0.9, tanh_threshold: float = 0.9,
               bins: int = 20, layer: int = 0, gate: str = "") -> GateSaturation:
    """Saturation fractions and histogram of activations ``values`` (any shape) of a given ``kind``.

    sigmoid: ``< low`` and ``> high``; tanh-like (tanh, hard tanh, sine): ``< -tanh_threshold``
    and ``> tanh_threshold``; relu: exactly 0 (dead) as the low side, no high side; linear: neither.
    """
    v = values.detach().reshape(-1).to("cpu", torch.float64)
    finite = torch.isfinite(v)
    n = int(v.numel())
    nonfinite = float((~finite).sum()) / n if n else 0.0
    v = v[finite]
    m = max(int(v.numel()), 1)
    lo_t: float | None
    hi_t: float | None
    if kind == "sigmoid":
        lo_t, hi_t, rng = low, high, (0.0, 1.0)
    elif kind in _TANH_LIKE:
        lo_t, hi_t, rng = -tanh_threshold, tanh_threshold, (-1.0, 1.0)
    elif kind == "relu":
        lo_t, hi_t = 0.0, None
        rng = (0.0, float(v.max()) if v.numel() else 1.0)
    else:
        lo_t = hi_t = None
        rng = (float(v.min()), float(v.max())) if v.numel() else (0.0, 1.0)
    if rng[1] <= rng[0]:
        rng = (rng[0], rng[0] + 1.0)
    if kind == "relu":
        lo_f: float | None = float((v <= 0).sum()) / m
    else:
        lo_f = float((v < lo_t).sum()) / m if lo_t is not None else None
    hi_f = float((v > hi_t).sum()) / m if hi_t is not None else None
    # cpu: v was copied to the CPU above; the histogram is a CPU report
    counts = torch.histc(v, bins=bins, min=rng[0], max=rng[1]) if v.numel() else torch.zeros(bins, dtype=torch.float64)
    edges = torch.linspace(rng[0], rng[1], bins + 1, dtype=torch.float64)  # cpu: a CPU report, beside counts
    return GateSaturation(layer, gate, kind, lo_t, hi_t, lo_f, hi_f, nonfinite, n, counts.to(torch.float64), edges)


def gate_saturation(model: nn.Module, x: Tensor, *, lengths: Tensor | None = None, low: float = 0.1,
                    high: float = 0.9, tanh_threshold: float = 0.9, bins: int = 20) -> list[GateSaturation]:
    """Saturation of every gate and bounded hidden unit of every layer of ``model`` on ``x``.

    Args:
        model: a model from :func:`rnnzoo.create` (or a Stacked/Recurrent/Bidirectional layer or a
            cell), in either direction.
        x: ``(B, T, *F)`` batch-first input. lengths: ``(B,)``; padded steps are left out.
        low, high: sigmoid thresholds; tanh_threshold: ``|a|`` above it counts as saturated.
        bins: histogram bins.

    Cells that report nothing are skipped. The gate names of a bidirectional layer's directions are
    prefixed ``forward.`` and ``backward.``.
    """
    stack = as_stack(model)
    with torch.no_grad(), probe.record() as rec:
        batch_first_run(stack, x, lengths=lengths)
    out = []
    for layer, prefix, cell in model_cells(stack):
        for name, report in rec.within(cell).items():  # wrapped and stacked cells' reports too
            out.append(saturation(report.valid(), report.kind, low=low, high=high, tanh_threshold=tanh_threshold,
                                  bins=bins, layer=layer, gate=prefix + name))
    return out
