"""Attention heatmaps for any model: every internal a cell reports with ``kind="attention"``.

A cell that attends (an attention decoder, a pointer network's decoder, a memory network's hop, an NTM head, a
match-LSTM) reports its weights over positions (source words, input points, memory slots) at each step with
``self.report(name, weights, kind="attention")``, weights ``(B, S)``. :func:`attention_maps` runs a model under a
:func:`rnnzoo.core.probe.record` block and collects those reports as one ``(steps, S)`` matrix per example and name
(steps where the example was padding are left out); :func:`plot_attention` draws them (step x position, as Bahdanau
et al.'s Fig. 3 and Graves et al.'s read/write weighting figures do). ``rnnzoo evaluate --plots`` calls both, so no
model needs its own plotting code.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.core import probe

__all__ = ["attention_maps", "plot_attention", "plot_split"]


def attention_maps(model: nn.Module, call: Callable[[], Any], *, examples: int = 1) -> dict[str, list[Tensor]]:
    """``{report name: [matrix (steps, S) for each of the first `examples` examples]}`` of the ``kind="attention"``
    reports made inside ``model`` while ``call()`` runs (e.g. ``lambda: model(x)``), in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad(), probe.record() as rec:
            call()
    finally:
        model.train(was_training)
    out: dict[str, list[Tensor]] = {}
    for name, rep in rec.within(model).items():
        if rep.kind != "attention" or not rep.values:
            continue
        values = rep.stacked()  # (T, B, *S)
        if values.dim() < 3:
            continue
        values = values.flatten(2)
        rows = []
        for b in range(min(examples, values.shape[1])):
            keep = [i for i, m in enumerate(rep.masks) if m is None or bool(m[b])]
            rows.append(values[keep, b].float().cpu())
        out[name] = rows
    return out


def plot_attention(maps: Mapping[str, Tensor], path: str | Path, *, title: str = "") -> Path:
    """One heatmap per entry of ``maps`` (name -> ``(steps, S)``), side by side, saved to ``path`` (PNG)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if not maps:
        raise ValueError("maps: nothing to plot (no report of kind 'attention')")
    n = len(maps)
    fig, axes = plt.subplots(1, n, figsize=(3.2 * n + 0.8, 3.2), squeeze=False)
    for ax, (name, m) in zip(axes[0], maps.items(), strict=True):
        image = ax.imshow(m.numpy(), aspect="auto", cmap="viridis", vmin=0.0, vmax=max(1e-9, float(m.max())),
                          interpolation="nearest")
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("position (source / slot)")
        ax.set_ylabel("step")
        fig.colorbar(image, ax=ax, fraction=0.046)
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def plot_split(model: nn.Module, task: Any, split: str, count: int, folder: str | Path) -> list[str]:
    """Heatmaps of the attention reports of the first ``count`` examples of ``task``'s split ``split`` (a trained
    :class:`~rnnzoo.train.heads.SequenceModel` or :class:`~rnnzoo.train.structured.WholeModel`), one PNG per
    example, ``folder/example<i>.png``; returns their paths ([] for a model that reports no attention)."""
    from rnnzoo.tasks.structured import StructuredTask

    data = task.split(split)
    if isinstance(task, StructuredTask):
        part = task.select(data, torch.arange(min(count, task.size(data))))  # cpu: indexes the task's CPU data
        maps = attention_maps(model, lambda: model(part.x), examples=count)
    else:
        x = data.x[:count]
        x = x.float() if x.is_floating_point() else x
        lengths = data.lengths[:count] if data.lengths is not None else None
        maps = attention_maps(model, lambda: model(x, lengths=lengths), examples=count)
    shown = min((len(rows) for rows in maps.values()), default=0)
    return [str(plot_attention({name: rows[i] for name, rows in maps.items()}, Path(folder) / f"example{i}.png",
                               title=f"{task.name} ({split}) example {i}")) for i in range(min(count, shown))]
