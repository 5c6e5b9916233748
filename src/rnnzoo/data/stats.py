"""Statistics of any dataset container, for ``rnnzoo data info NAME``.

Text: tokens and vocabulary per split, out-of-vocabulary rate of valid/test (ids outside the training split's set
of ids), ``<unk>`` share. Music: pieces, steps (min/median/max), pitch range, mean notes per step.
Classification: sequences, length min/median/max, features, class balance. Tagging: sentences, tokens,
sentence length min/median/max, words, tags, the most frequent tags.
"""

from __future__ import annotations

from collections import Counter
from statistics import median
from typing import Any

import torch

from rnnzoo.data.types import LabelledSequences, PianoRolls, TaggedCorpus, TextCorpus

__all__ = ["corpus_stats", "format_stats"]


def _lengths(values: list[int]) -> dict[str, float]:
    return {"min": min(values), "median": float(median(values)), "max": max(values)} if values else {}


def corpus_stats(data: Any) -> dict[str, Any]:
    """A JSON-able dict of the statistics of a :mod:`rnnzoo.data.types` container."""
    if isinstance(data, TextCorpus):
        seen = torch.unique(data.splits["train"])
        out: dict[str, Any] = {"unit": data.unit, "vocabulary": len(data.vocab), "splits": {}}
        unk = data.vocab.index("<unk>") if "<unk>" in data.vocab else None
        for split, ids in data.splits.items():
            row: dict[str, Any] = {"tokens": int(ids.numel()), "types": int(torch.unique(ids).numel())}
            row["oov_rate"] = float((~torch.isin(ids, seen)).float().mean()) if ids.numel() else 0.0
            if unk is not None:
                row["unk_rate"] = float((ids == unk).float().mean())
            out["splits"][split] = row
        return out
    if isinstance(data, PianoRolls):
        out = {"lowest_pitch": data.lowest_pitch, "splits": {}}
        for split, rolls in data.splits.items():
            steps = [int(r.shape[0]) for r in rolls]
            notes = sum(float(r.sum()) for r in rolls)
            out["splits"][split] = {"pieces": len(rolls), "steps": _lengths(steps), "pitches": int(rolls[0].shape[1])
                                    if rolls else 0, "notes_per_step": notes / max(sum(steps), 1)}
        return out
    if isinstance(data, LabelledSequences):
        out = {"classes": len(data.classes), "features": len(data.feature_names), "splits": {}}
        for split, seqs in data.splits.items():
            counts = torch.bincount(data.labels[split], minlength=len(data.classes)).tolist()
            out["splits"][split] = {"sequences": len(seqs), "length": _lengths([int(s.shape[0]) for s in seqs]),
                                    "class_balance": dict(zip(data.classes, counts, strict=True))}
        return out
    if isinstance(data, TaggedCorpus):
        out = {"tags": len(data.tags), "splits": {}}
        train_words = {w for words, _ in data.splits.get("train", []) for w in words}
        for split, sents in data.splits.items():
            tags = Counter(t for _, ts in sents for t in ts)
            words = [w for ws, _ in sents for w in ws]
            out["splits"][split] = {
                "sentences": len(sents), "tokens": len(words), "words": len(set(words)),
                "length": _lengths([len(ws) for ws, _ in sents]),
                "oov_rate": sum(w not in train_words for w in words) / max(len(words), 1),
                "top_tags": dict(tags.most_common(5))}
        return out
    raise TypeError(f"data: expected TextCorpus, PianoRolls, LabelledSequences or TaggedCorpus, "
                    f"got {type(data).__name__}")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_fmt(v)}" for k, v in value.items())
    return f"{value:,}" if isinstance(value, int) else str(value)


def format_stats(stats: dict[str, Any]) -> list[str]:
    """Printable lines of :func:`corpus_stats`' result."""
    lines = [f"{k}: {_fmt(v)}" for k, v in stats.items() if k != "splits"]
    for split, row in stats.get("splits", {}).items():
        lines.append(f"{split}: " + "; ".join(f"{k} {_fmt(v)}" for k, v in row.items()))
    return lines
