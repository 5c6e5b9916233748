"""All diagnostics of one model on one batch, their key numbers, and their JSON form.

JSON has no NaN or infinity; :func:`to_jsonable` writes them as the strings ``"NaN"``,
``"Infinity"`` and ``"-Infinity"`` (so a non-finite gradient is never a zero or a null in the
file) and :func:`load_diagnostics` turns them back into floats.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.diagnostics.gates import GateSaturation, gate_saturation
from rnnzoo.diagnostics.gradients import GradientLag, LossFn, gradient_lag
from rnnzoo.diagnostics.jacobians import JacobianLag, jacobian_lag
from rnnzoo.diagnostics.weights import WeightReport, weight_report

_NONFINITE = {"NaN": float("nan"), "Infinity": float("inf"), "-Infinity": float("-inf")}


def summary_lags(steps: int) -> list[int]:
    """The lags worth a number: 1, 10, T/2 and T-1 (those below T, without repeats)."""
    return sorted({lag for lag in (1, 10, steps // 2, steps - 1) if 0 < lag < steps})


@dataclass
class ModelDiagnostics:
    """Everything :func:`diagnose` measured; None for what was switched off or does not apply."""

    gradient: GradientLag | None
    jacobian: JacobianLag | None
    weights: list[WeightReport]
    saturation: list[GateSaturation]
    notes: list[str]

    def scalars(self) -> dict[str, float]:
        """Key numbers by name (what the Lightning callback logs), NaN/inf kept.

        ``grad/lag_L``: mean ``||dL_t/dh_(t-L)||``; ``grad/ratio_L``: that over lag 1;
        ``grad/nonfinite``: 1.0 if any gradient was NaN/inf; ``lambda1/<layer>.<block>``;
        ``sat/<layer>.<gate>/low|high``: saturated fractions.
        """
        out: dict[str, float] = {}
        g = self.gradient
        if g is not None:
            for lag in summary_lags(g.seq_len):
                out[f"grad/lag_{lag}"] = g.at(lag)
                if lag != 1:
                    out[f"grad/ratio_{lag}"] = _ratio(g.at(lag), g.at(1))
            out["grad/nonfinite"] = float(g.nonfinite)
        for w in self.weights:
            out[f"lambda1/{w.layer}.{w.block}"] = w.lambda_1
        for s in self.saturation:
            if s.low_fraction is not None:
                out[f"sat/{s.layer}.{s.gate}/low"] = s.low_fraction
            if s.high_fraction is not None:
                out[f"sat/{s.layer}.{s.gate}/high"] = s.high_fraction
        return out

    def to_dict(self) -> dict[str, Any]:
        return {
            "gradient": self.gradient.to_dict() if self.gradient else None,
            "jacobian": self.jacobian.to_dict() if self.jacobian else None,
            "weights": [w.to_dict() for w in self.weights],
            "saturation": [s.to_dict() for s in self.saturation],
            "scalars": self.scalars(),
            "notes": self.notes,
        }


def _ratio(a: float, b: float) -> float:
    if b == 0.0:
        return float("nan") if a == 0.0 else math.copysign(float("inf"), a)
    return a / b


def diagnose(
    model: nn.Module,
    x: Tensor,
    *,
    lengths: Tensor | None = None,
    loss_fn: LossFn | None = None,
    layer: int = 0,
    gradient: bool = True,
    jacobian: bool = True,
    weights: bool = True,
    saturation: bool = True,
    jacobian_examples: int = 8,
    jacobian_method: str = "auto",
) -> ModelDiagnostics:
    """Run every diagnostic on ``model`` for the batch ``x`` ``(B, T, *F)`` (batch-first).

    The model is put in eval mode (no dropout) for the measurements and restored afterwards; its
    parameters' ``.grad`` are not touched (only ``torch.autograd.grad`` is used).
    """
    notes: list[str] = []
    was_training = model.training
    model.eval()
    try:
        grad = gradient_lag(model, x, lengths=lengths, loss_fn=loss_fn, layer=layer) if gradient else None
        if grad is not None and grad.fallback_reason and grad.method == "loop":
            notes.append(f"gradient: fell back to one backward per step ({grad.fallback_reason})")
        jac = None
        if jacobian:
            if lengths is not None:
                notes.append("jacobian: skipped (needs full-length sequences)")
            else:
                jac = jacobian_lag(model, x, layer=layer, examples=jacobian_examples, method=jacobian_method)
        reports = weight_report(model) if weights else []
        if weights and not reports:
            notes.append("weights: no registered recurrent matrices for this cell")
        sat = gate_saturation(model, x, lengths=lengths) if saturation else []
    finally:
        model.train(was_training)
    return ModelDiagnostics(grad, jac, reports, sat, notes)


def to_jsonable(obj: Any) -> Any:
    """Tensors to lists, dataclasses to dicts, non-finite floats to ``"NaN"``/``"Infinity"``/``"-Infinity"``."""
    if isinstance(obj, Tensor):
        return to_jsonable(obj.detach().cpu().tolist())
    if hasattr(obj, "to_dict"):
        return to_jsonable(obj.to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return to_jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, float):
        if math.isnan(obj):
            return "NaN"
        if math.isinf(obj):
            return "Infinity" if obj > 0 else "-Infinity"
        return obj
    if isinstance(obj, (bool, int, str)) or obj is None:
        return obj
    if isinstance(obj, torch.dtype | torch.device | Path):
        return str(obj)
    raise TypeError(f"to_jsonable: cannot encode {type(obj).__name__}")


def _decode(obj: Any) -> Any:
    if isinstance(obj, str) and obj in _NONFINITE:
        return _NONFINITE[obj]
    if isinstance(obj, dict):
        return {k: _decode(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_decode(v) for v in obj]
    return obj


def load_diagnostics(path: str | Path) -> dict[str, Any]:
    """Read a ``diagnostics.json``, turning ``"NaN"``/``"Infinity"``/``"-Infinity"`` back into floats."""
    with open(path) as f:
        return _decode(json.load(f))
