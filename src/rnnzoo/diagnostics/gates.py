"""Gate and hidden-unit saturation: how many activations sit where their derivative is near zero.

A saturated sigmoid gate (near 0 or 1) or tanh unit (near -1 or 1) has ``f' ~ 0``, the small
``diag(f')`` of 001 eqs (12)-(13) that makes gradients vanish; for the LSTM a forget gate saturated
*at 1* is what carries error unchanged through time (000's constant error carousel, 001 eq (18)).

The activations are recomputed, without touching the cells, from what ``run(...,
return_states=True)`` returns: a layer's inputs, its states and its initial state, with the cell's
own ``project`` and weights. :func:`gate_activations` dispatches on the cell class (register more
with :func:`register_gate_activations`):

* LSTM (001 eqs (16)-(20)): ``pre = cell.project(x_t) + h_(t-1) @ weight_hh.T`` chunked in the
  cell's gate order ``(i, f, g, o)`` (``(i, g, o)`` when ``cell.gates.n == 3``), peepholes added as
  the cell does; also ``tanh(c)`` and ``h``. ConvLSTM: the same with a convolution.
* GRU (001 eqs (36)-(39)): ``(r, z, n)`` in the cell's ``reset`` form; also ``h``.
* Elman (001 eq (1)) and SCRN (001 eq (33)): the hidden units ``h``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.cells.convlstm import ConvLSTMCell
from rnnzoo.cells.elman import ElmanCell
from rnnzoo.cells.gru import GRUCell
from rnnzoo.cells.lstm import LSTMCell
from rnnzoo.cells.scrn import SCRNCell
from rnnzoo.core.cell import Cell
from rnnzoo.core.tree import tree_map
from rnnzoo.diagnostics._unroll import unroll, valid_mask

_TANH_LIKE = ("tanh", "piecewise_linear", "sine")


@dataclass
class Activations:
    """values: ``(B, T, H)`` (``(B, T, H, Y, X)`` spatial); kind: the activation's name
    (``"sigmoid"``, ``"tanh"``, ...) deciding what counts as saturated."""

    values: Tensor
    kind: str


GateFn = Callable[[Cell, Tensor, Any, Any], dict[str, Activations]]
_GATES: dict[type, GateFn] = {}


def register_gate_activations(cls: type) -> Callable[[GateFn], GateFn]:
    """Register ``fn(cell, x, states, prev_states) -> {name: Activations}`` for a cell class.

    ``x`` ``(B, T, *F)``; ``states`` the per-step states (leaves ``(B, T, ...)``); ``prev_states``
    the states before each step (the initial state, then ``states[:, :-1]``).
    """

    def deco(fn: GateFn) -> GateFn:
        _GATES[cls] = fn
        return fn

    return deco


def gate_activations(cell: Cell, x: Tensor, states: Any, initial_state: Any = None) -> dict[str, Activations]:
    """Every gate's (and bounded hidden unit's) activation at every step, recomputed from the states.

    Args:
        cell: the layer's cell. x: ``(B, T, *F)`` the layer's input sequence.
        states: per-step states as ``run(..., return_states=True)`` returns them (batch-first).
        initial_state: the state before step 0 (leaves ``(B, ...)``); None = zeros.

    Returns:
        ``{name: Activations}`` in the cell's gate order, e.g. ``i, f, g, o, tanh(c), h`` for an LSTM.
    """
    if initial_state is None:
        initial_state = cell.initial_state(x.shape[0], device=x.device, dtype=x.dtype,
                                           input_shape=tuple(x.shape[2:]))
    prev = tree_map(lambda s0, s: torch.cat([s0.unsqueeze(1), s[:, :-1]], 1), initial_state, states)
    for cls in type(cell).__mro__:
        if cls in _GATES:
            return _GATES[cls](cell, x, states, prev)
    raise NotImplementedError(
        f"cell: no gate_activations registered for {type(cell).__name__} (register one with "
        "rnnzoo.diagnostics.register_gate_activations)"
    )


def _lstm_like(cell: Any, pre: Tensor, c_prev: Tensor, c: Tensor) -> dict[str, Activations]:
    """Gates from pre-activations ``(B, T, n*H, ...)`` as :class:`rnnzoo.cells.lstm.LSTMGates` computes them."""
    gates = cell.gates
    names = ("i", "f", "g", "o") if gates.n == 4 else ("i", "g", "o")
    parts = dict(zip(names, pre.chunk(gates.n, 2), strict=True))
    if getattr(cell, "peephole", False):
        parts["i"] = parts["i"] + cell.weight_ci * c_prev
        if "f" in parts:
            parts["f"] = parts["f"] + cell.weight_cf * c_prev
        parts["o"] = parts["o"] + cell.weight_co * c
    out = {}
    for name in names:
        if name == "g":
            out["g"] = Activations(gates.input_fn(parts["g"]), gates.input_activation)
        else:
            out[name] = Activations(torch.sigmoid(parts[name]), "sigmoid")
    if gates.cell_activation:
        out["tanh(c)"] = Activations(torch.tanh(c), "tanh")
    return out


@register_gate_activations(LSTMCell)
def _lstm_gates(cell: LSTMCell, x: Tensor, states: Any, prev: Any) -> dict[str, Activations]:
    pre = cell.project(x) + prev.h @ cell.weight_hh.t()  # (B, T, n*H)
    out = _lstm_like(cell, pre, prev.c, states.c)
    if not cell.proj_size and cell.gates.cell_activation:
        out["h"] = Activations(states.h, "tanh")  # o * tanh(c), in (-1, 1)
    return out


@register_gate_activations(ConvLSTMCell)
def _convlstm_gates(cell: ConvLSTMCell, x: Tensor, states: Any, prev: Any) -> dict[str, Activations]:
    h = prev.h.flatten(0, 1)
    rec = F.conv2d(h, cell.weight_hh, padding=cell.kernel_size // 2)
    pre = cell.project(x) + rec.view(*prev.h.shape[:2], *rec.shape[1:])  # (B, T, 4H, Y, X)
    out = _lstm_like(cell, pre, prev.c, states.c)
    out["h"] = Activations(states.h, "tanh")
    return out


@register_gate_activations(GRUCell)
def _gru_gates(cell: GRUCell, x: Tensor, states: Any, prev: Any) -> dict[str, Activations]:
    H = cell.hidden_size
    h = prev.h
    xr, xz, xn = cell.project(x).chunk(3, 2)
    if cell.reset == "after":
        hh = h @ cell.weight_hh.t()
        if cell.bias_hh is not None:
            hh = hh + cell.bias_hh
        hr, hz, hn = hh.chunk(3, 2)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + r * hn)
    else:
        hr, hz = (h @ cell.weight_hh[:2 * H].t()).chunk(2, 2)
        r, z = torch.sigmoid(xr + hr), torch.sigmoid(xz + hz)
        n = torch.tanh(xn + (r * h) @ cell.weight_hh[2 * H:].t())
    return {"r": Activations(r, "sigmoid"), "z": Activations(z, "sigmoid"), "n": Activations(n, "tanh"),
            "h": Activations(states.h, "tanh")}


@register_gate_activations(ElmanCell)
def _elman_units(cell: ElmanCell, x: Tensor, states: Any, prev: Any) -> dict[str, Activations]:
    return {"h": Activations(states.h, cell.activation.name)}


@register_gate_activations(SCRNCell)
def _scrn_units(cell: SCRNCell, x: Tensor, states: Any, prev: Any) -> dict[str, Activations]:
    return {"h": Activations(states.h, "sigmoid")}


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
    counts = torch.histc(v, bins=bins, min=rng[0], max=rng[1]) if v.numel() else torch.zeros(bins, dtype=torch.float64)
    edges = torch.linspace(rng[0], rng[1], bins + 1, dtype=torch.float64)
    return GateSaturation(layer, gate, kind, lo_t, hi_t, lo_f, hi_f, nonfinite, n, counts.to(torch.float64), edges)


def gate_saturation(model: nn.Module, x: Tensor, *, lengths: Tensor | None = None, low: float = 0.1,
                    high: float = 0.9, tanh_threshold: float = 0.9, bins: int = 20) -> list[GateSaturation]:
    """Saturation of every gate and bounded hidden unit of every layer of ``model`` on ``x``.

    Args:
        model: a model from :func:`rnnzoo.create` (or a Stacked/Recurrent layer or a cell) with
            unidirectional layers.
        x: ``(B, T, *F)`` batch-first input. lengths: ``(B,)``; padded steps are left out.
        low, high: sigmoid thresholds; tanh_threshold: ``|a|`` above it counts as saturated.
        bins: histogram bins.

    Cells without registered gate activations are skipped.
    """
    with torch.no_grad():
        _, runs = unroll(model, x, lengths=lengths)
        mask = valid_mask(x, lengths)
        out = []
        for r in runs:
            try:
                acts = gate_activations(r.cell, r.inputs, r.states, r.initial_state)
            except NotImplementedError:
                continue
            for name, a in acts.items():
                out.append(saturation(a.values[mask], a.kind, low=low, high=high, tanh_threshold=tanh_threshold,
                                      bins=bins, layer=r.index, gate=name))
    return out
