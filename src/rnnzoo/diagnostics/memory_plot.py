"""A memory model's read and write weightings over time, drawn as Graves, Wayne & Danihelka (2014, arXiv:1410.5401)
draw them in their figures 6, 9 and 13: the inputs and outputs (features x time) above, then one heatmap per head
(memory slot x time) for the write and the read heads, one example of a batch.

The weightings come from a probe recording (:func:`rnnzoo.core.probe.record`): every report of kind ``"attention"``
whose name ends in ``read<k>`` or ``write<k>`` (what :class:`~rnnzoo.cells.ntm.NTMCell` reports, under any prefix a
stack adds). Built on matplotlib's object API (``Figure``, rendered by Agg), as :mod:`rnnzoo.diagnostics.plots`.

Example::

    with rnnzoo.core.probe.record() as rec:
        out, _ = model(x)
    fig = memory_figure(rec.within(model), inputs=x, outputs=torch.sigmoid(head(out)), path="memory.png")
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from torch import Tensor

from rnnzoo.core.probe import Report

__all__ = ["head_weightings", "memory_figure"]

_HEAD = re.compile(r"(?:^|\.)(read|write)(\d+)$")


def head_weightings(reports: Mapping[str, Report], example: int = 0) -> dict[str, np.ndarray]:
    """``{name: (N slots, T steps) array}`` of every read and write head in ``reports`` (as
    :meth:`Recorder.within <rnnzoo.core.probe.Recorder.within>` returns them), for batch row ``example``;
    write heads first, then read heads, each in head order. Raises when there is none."""
    found = []
    for name, rep in reports.items():
        m = _HEAD.search(name)
        if m is None or rep.kind != "attention":
            continue
        values = rep.stacked()  # (T, B, N)
        if values.dim() != 3:
            raise ValueError(f"reports[{name!r}]: expected per-step weightings (B, N), got steps of shape "
                             f"{tuple(values.shape[1:])}")
        if not 0 <= example < values.shape[1]:
            raise ValueError(f"example: expected a batch row in [0, {values.shape[1]}), got {example}")
        found.append(((m.group(1) != "write", int(m.group(2)), name), values[:, example].t().double().numpy()))
    if not found:
        raise ValueError(f"reports: expected reports of kind 'attention' named read<k>/write<k>, got "
                         f"{sorted(reports)}")
    return {key[2]: w for key, w in sorted(found, key=lambda kv: kv[0])}


def memory_figure(reports: Mapping[str, Report], *, inputs: Tensor | None = None, outputs: Tensor | None = None,
                  example: int = 0, slots: tuple[int, int] | None = None, length: int | None = None,
                  path: str | Path | None = None) -> Figure:
    """The figure: ``inputs`` / ``outputs`` (``(B, T, F)``, e.g. the task's x and the model's sigmoid outputs) as
    features x time, then each head's weighting as slot x time (darker = more weight), for row ``example``.

    ``slots``: the slot range ``[start, stop)`` drawn (the paper zooms on the slots in use; default all);
    ``length``: the steps drawn (the example's valid length; default all). Saved to ``path`` when given."""
    heads = head_weightings(reports, example)
    panels: list[tuple[str, np.ndarray, str]] = []
    for label, t in (("inputs", inputs), ("outputs", outputs)):
        if t is not None:
            if t.dim() != 3 or not 0 <= example < t.shape[0]:
                raise ValueError(f"{label}: expected (B, T, F) with row {example}, got shape {tuple(t.shape)}")
            panels.append((label, t[example].detach().double().cpu().numpy().T, "feature"))
    steps = next(iter(heads.values())).shape[1]
    for name, w in heads.items():
        if slots is not None:
            lo, hi = slots
            if not 0 <= lo < hi <= w.shape[0]:
                raise ValueError(f"slots: expected 0 <= start < stop <= {w.shape[0]}, got {slots}")
            w = w[lo:hi]
        panels.append((f"{name} weighting", w, "slot"))
    stop = steps if length is None else length
    if not 0 < stop <= steps:
        raise ValueError(f"length: expected 1..{steps} steps, got {length}")
    fig = Figure(figsize=(max(4.0, 0.25 * stop + 2), 1.8 * len(panels)), layout="constrained")
    axes = fig.subplots(len(panels), 1, squeeze=False)[:, 0]
    for ax, (title, data, ylabel) in zip(axes, panels, strict=True):
        lo = slots[0] if slots is not None and ylabel == "slot" else 0
        ax.imshow(data[:, :stop], aspect="auto", cmap="Greys", interpolation="nearest", origin="lower",
                  extent=(-0.5, stop - 0.5, lo - 0.5, lo + data.shape[0] - 0.5), vmin=0.0,
                  vmax=max(1.0, float(np.nanmax(data[:, :stop])) if data.size else 1.0))
        ax.set_title(title, fontsize=9)
        ax.set_ylabel(ylabel)
    axes[-1].set_xlabel("time step")
    if path is not None:
        fig.savefig(path)
    return fig
