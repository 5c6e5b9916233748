"""PNG plots of the diagnostics, one line (or panel) per model.

Built on matplotlib's object API (``matplotlib.figure.Figure``, rendered by Agg), so importing this
module neither selects a backend nor touches pyplot's global state. Every function returns the
figure and, given ``path``, writes it there.

NaN or infinite values are never drawn as part of a line (matplotlib breaks the line at NaN) and
never as zero: they are marked with an ``x`` at the top edge of the axes and counted in the legend.
Exact zeros, which a log axis cannot show, are marked with a ``v`` at the bottom edge ("0 (underflow)").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.transforms import blended_transform_factory

from rnnzoo.diagnostics.gates import GateSaturation
from rnnzoo.diagnostics.gradients import GradientLag
from rnnzoo.diagnostics.jacobians import JacobianLag
from rnnzoo.diagnostics.weights import WeightReport

NONFINITE_LABEL = "NaN/inf"


def _save(fig: Figure, path: str | Path | None) -> Figure:
    if path is not None:
        fig.savefig(path, dpi=110)
    return fig


def _grid_size(n: int, width: float, height: float, cols: int = 2) -> tuple[float, float]:
    n = max(n, 1)
    return width * min(n, cols), height * -(-n // cols)


def _grid(fig: Figure, n: int, cols: int = 2) -> list[Axes]:
    """``n`` axes in rows of at most ``cols``; spare cells are switched off."""
    n = max(n, 1)
    axes = list(fig.subplots(-(-n // cols), min(n, cols), squeeze=False).flat)
    for ax in axes[n:]:
        ax.set_axis_off()
    return axes[:n]


def log_line(ax: Axes, x: Sequence[float] | np.ndarray, y: Sequence[float] | np.ndarray, *, label: str,
             color: str | None = None, **kw: Any) -> dict[str, Any]:
    """Plot ``y`` against ``x`` on a log y axis, marking non-finite values and exact zeros.

    Returns ``{"nonfinite": n, "zero": m, "color": c}``: how many points were marked instead of
    drawn, and the line's colour.
    """
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    bad = ~np.isfinite(y)
    zero = np.isfinite(y) & (y <= 0)
    shown = np.where(bad | zero, np.nan, y)
    (line,) = ax.plot(x, shown, label=label, color=color, **kw)
    color = line.get_color()
    edge = blended_transform_factory(ax.transData, ax.transAxes)
    if bad.any():
        ax.plot(x[bad], np.full(int(bad.sum()), 0.97), "x", color=color, transform=edge, clip_on=False,
                markersize=7, mew=2, label=f"{label}: {NONFINITE_LABEL} at {int(bad.sum())} points", gid="nonfinite")
    if zero.any():
        ax.plot(x[zero], np.full(int(zero.sum()), 0.03), "v", color=color, transform=edge, clip_on=False,
                label=f"{label}: 0 (underflow) at {int(zero.sum())} points", gid="zero")
    ax.set_yscale("log")
    return {"nonfinite": int(bad.sum()), "zero": int(zero.sum()), "color": color}


def plot_gradient_lag(results: Mapping[str, GradientLag], path: str | Path | None = None, *,
                      title: str | None = None) -> Figure:
    """Mean ``||dL_t/dh_(t-lag)||`` against the lag (log scale), one line per model (001 eq (15))."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for label, g in results.items():
        log_line(ax, np.arange(g.seq_len), g.by_lag.numpy(), label=label)
    ax.set_xlabel("lag t - k (steps)")
    ax.set_ylabel(r"mean over t of $\|\partial L_t / \partial h_k\|$")
    ax.set_title(title or "Gradient reaching step k from the loss at step t (001 eqs (10)-(15))")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_gradient_matrix(results: Mapping[str, GradientLag], path: str | Path | None = None) -> Figure:
    """``log10 ||dL_t/dh_k||`` as a T x T image per model; NaN/inf in red, exact zeros in grey."""
    fig = Figure(figsize=_grid_size(len(results), 4.4, 3.8), layout="constrained")
    axes = _grid(fig, len(results))
    for ax, (label, g) in zip(axes, results.items(), strict=True):
        m = g.matrix.numpy()
        steps = m.shape[0]
        upper = np.triu(np.ones_like(m, dtype=bool), k=1)
        bad = ~np.isfinite(m) & ~upper
        zero = np.isfinite(m) & (m <= 0) & ~upper
        with np.errstate(divide="ignore", invalid="ignore"):
            logm = np.log10(m)
        img = np.ma.masked_array(logm, mask=upper | bad | zero)
        im = ax.imshow(img, origin="upper", cmap="viridis", interpolation="nearest")
        overlay = np.zeros((steps, steps, 4))
        overlay[bad] = (0.85, 0.1, 0.1, 1.0)
        overlay[zero] = (0.6, 0.6, 0.6, 1.0)
        if bad.any() or zero.any():
            ax.imshow(overlay, origin="upper", interpolation="nearest")
        fig.colorbar(im, ax=ax, label=r"$\log_{10}\|\partial L_t/\partial h_k\|$")
        ax.set_xlabel("k (step of the state)")
        ax.set_ylabel("t (step of the loss)")
        extra = f"; {int(bad.sum())} {NONFINITE_LABEL} (red)" if bad.any() else ""
        ax.set_title(f"{label}{extra}", fontsize=9)
    return _save(fig, path)


def plot_jacobian_lag(results: Mapping[str, JacobianLag], path: str | Path | None = None) -> Figure:
    """``||dh_t/dh_k||_2`` (solid) and the next singular values (thin) against the lag (001 eq (11))."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    for label, j in results.items():
        order = np.argsort(j.lag.numpy(), kind="stable")
        lag = j.lag.numpy()[order]
        info = log_line(ax, lag, j.norm.numpy()[order], label=f"{label} ({j.method})", marker="o", markersize=3)
        color = info["color"]
        sv = j.singular_values.numpy()[order]
        for i in range(1, sv.shape[1]):
            ax.plot(lag, np.where(np.isfinite(sv[:, i]) & (sv[:, i] > 0), sv[:, i], np.nan), color=color,
                    lw=0.7, alpha=0.5)
    ax.set_xlabel("lag t - k (steps)")
    ax.set_ylabel(r"singular values of $\partial h_t/\partial h_k$")
    ax.set_title("Jacobian products of 001 eq (11): largest (solid) and next singular values")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)


def plot_singular_values(reports: Mapping[str, Sequence[WeightReport]], path: str | Path | None = None) -> Figure:
    """Singular-value spectra of each recurrent block, with 001 eq (14)'s ``1/gamma`` as dashed lines."""
    fig = Figure(figsize=_grid_size(len(reports), 5.5, 4), layout="constrained")
    axes = _grid(fig, len(reports))
    for ax, (label, reps) in zip(axes, reports.items(), strict=False):
        gammas: set[float] = set()
        for r in reps:
            sv = r.singular_values.numpy()
            rho = "" if r.spectral_radius is None else f", rho={r.spectral_radius:.3g}"
            log_line(ax, np.arange(1, len(sv) + 1), sv,
                     label=f"{r.layer}.{r.block} ({r.activation}): lambda_1={r.lambda_1:.3g}{rho}")
            gammas.add(r.gamma)
        for gamma in sorted(gammas):
            ax.axhline(1.0 / gamma, ls="--", color="k", lw=0.8, alpha=0.7)
            ax.annotate(f"1/gamma = {1 / gamma:g}", (1.0, 1.0 / gamma), textcoords="offset points",
                        xytext=(2, 2), fontsize=7)
        ax.set_xlabel("index")
        ax.set_ylabel("singular value")
        ax.set_title(f"{label}: recurrent weights", fontsize=9)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=6)
    return _save(fig, path)


def plot_gate_saturation(saturation: Mapping[str, Sequence[GateSaturation]], path: str | Path | None = None
                         ) -> Figure:
    """Histogram of each gate's activations (one row per model), saturated regions shaded."""
    rows = max(len(saturation), 1)
    cols = max([len(v) for v in saturation.values()] + [1])
    fig = Figure(figsize=(2.6 * cols, 2.2 * rows), layout="constrained")
    axes = fig.subplots(rows, cols, squeeze=False)
    for r, (label, sats) in enumerate(saturation.items()):
        for c in range(cols):
            ax = axes[r][c]
            if c >= len(sats):
                ax.set_axis_off()
                continue
            s = sats[c]
            edges = s.edges.numpy()
            total = max(float(s.counts.sum()), 1.0)
            ax.bar(edges[:-1], s.counts.numpy() / total, width=np.diff(edges), align="edge", color="C0")
            lo, hi = edges[0], edges[-1]
            if s.low_threshold is not None and s.kind != "relu":
                ax.axvspan(lo, s.low_threshold, color="C3", alpha=0.15)
            if s.high_threshold is not None:
                ax.axvspan(s.high_threshold, hi, color="C3", alpha=0.15)
            parts = []
            if s.low_fraction is not None:
                parts.append(f"low {100 * s.low_fraction:.0f}%")
            if s.high_fraction is not None:
                parts.append(f"high {100 * s.high_fraction:.0f}%")
            if s.nonfinite_fraction:
                parts.append(f"{NONFINITE_LABEL} {100 * s.nonfinite_fraction:.0f}%")
            ax.set_title(f"{label} L{s.layer} {s.gate}\n{', '.join(parts)}", fontsize=8)
            ax.tick_params(labelsize=7)
    return _save(fig, path)


def plot_history(history: Sequence[Mapping[str, float]], path: str | Path | None = None, *,
                 prefix: str = "diag/", title: str | None = None) -> Figure:
    """The gradient norm at each logged lag against the training step, from
    :attr:`rnnzoo.diagnostics.DiagnosticsCallback.history` (or the rows of the loggers' metrics.csv
    holding its columns): gradients vanishing or recovering while the model trains."""
    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    key = f"{prefix}grad/lag_"
    rows = [r for r in history if any(str(k).startswith(key) and r[k] not in ("", None) for k in r)]
    lags = sorted({int(str(k)[len(key):]) for r in rows for k in r if str(k).startswith(key)})
    steps = np.array([float(r["step"]) for r in rows])
    for lag in lags:
        values = [float(r.get(f"{key}{lag}", "nan") or "nan") for r in rows]
        log_line(ax, steps, values, label=f"lag {lag}", marker="o", markersize=3)
    ax.set_xlabel("training step")
    ax.set_ylabel(r"mean over t of $\|\partial L_t / \partial h_{t-\mathrm{lag}}\|$")
    ax.set_title(title or "Gradient reaching back in time, during training")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    return _save(fig, path)
