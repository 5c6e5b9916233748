"""Polyphonic music: next-frame prediction on :class:`~rnnzoo.data.types.PianoRolls` (the JSB chorales of
:func:`rnnzoo.data.load`), as Boulanger-Lewandowski et al. 2012 and Chung et al. 2014 (arXiv:1412.3555).

The input at step t is frame t of a piece (P binary pitches), the target is frame t + 1 (head
``next_token``; the last frame of a piece predicts nothing), scored by independent Bernoullis (loss
``bce``); the reported ``nll`` is the sum over the P pitches of the binary cross-entropy, averaged over the
predicted frames. Pieces are zero-padded to the longest in their batch with their ``lengths`` passed on;
training visits the pieces in epochs of a seeded shuffle (batch index -> (epoch, slice)), under full BPTT.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rnnzoo.data.types import PianoRolls

from .base import Batch, Task
from .corpus_sequences import ItemTask, pad

__all__ = ["PianoRollTask"]

#: about Chung et al. 2014's size (~20k parameters for an LSTM of 36 units on 88 pitches)
DEFAULTS: dict[str, Any] = {
    "head": "next_token", "seq_len": None, "tbptt": None, "hidden_size": 36, "num_layers": 1, "batch_size": 8,
    "optimizer": "adam", "lr": 3e-3, "clip_norm": 1.0, "epochs": 50, "val_every": None, "stop_at": None,
    "time_reduction": "mean", "schedule": "constant", "eval_batch_size": 512,
}


class PianoRollTask(ItemTask):
    """Next-frame prediction on piano rolls (module docstring).

    Args:
        rolls: a :class:`PianoRolls` with splits ``train``, ``valid``, ``test`` of ``(T_i, P)`` binary float32.
        name: the task name (default ``rolls.name``).
        seq_len: must be None (pieces keep their lengths).

    Batches: ``x = y`` float32 ``(B, T_max, P)`` zero-padded, ``lengths`` int64 ``(B,)``.
    Baseline: independent Bernoullis per pitch with the training frequencies (add-one smoothed), NLL on test.
    """

    target = "per_step"
    loss = "bce"  # type: ignore[assignment]
    split_names = ("valid", "test")

    def __init__(self, rolls: PianoRolls, *, name: str | None = None, seq_len: int | None = None) -> None:
        if not isinstance(rolls, PianoRolls):
            raise TypeError(f"rolls: expected a rnnzoo.data.PianoRolls, got {type(rolls).__name__}")
        if seq_len is not None:
            raise ValueError(f"seq_len: pieces keep their lengths, expected none, got {seq_len!r}")
        if sorted(rolls.splits) != ["test", "train", "valid"]:
            raise ValueError(f"rolls.splits: expected train, valid and test, got {sorted(rolls.splits)}")
        pitches = rolls.splits["train"][0].shape[1] if rolls.splits["train"] else 0
        for split, pieces in rolls.splits.items():
            if not pieces:
                raise ValueError(f"rolls.splits[{split!r}]: expected at least one piece, got none")
            for piece in pieces:
                if piece.dim() != 2 or piece.shape[1] != pitches or piece.shape[0] < 2:
                    raise ValueError(f"rolls.splits[{split!r}]: expected (T_i >= 2, {pitches}) rolls, got "
                                     f"{tuple(piece.shape)}")
        self.rolls, self.name = rolls, name or rolls.name
        self.input_size = self.output_size = pitches
        self.train_size = len(rolls.splits["train"])
        self.seq_len = max(p.shape[0] for pieces in rolls.splits.values() for p in pieces)
        self.metrics = ["nll"]
        self._cache: dict[str, Batch] = {}

    def _rows(self, split: str, rows: list[int]) -> Batch:
        x, lengths = pad([self.rolls.splits[split][i].float() for i in rows])
        return Batch(x, x, lengths)

    def _split_size(self, name: str) -> int:
        return len(self.rolls.splits[name])

    def frequencies(self) -> Tensor:
        """Per-pitch probability of being on in a training frame ``(P,)``, add-one smoothed."""
        frames = torch.cat(self.rolls.splits["train"]).double()
        return (frames.sum(0) + 1.0) / (frames.shape[0] + 2.0)

    def baseline(self) -> dict[str, float]:
        """NLL per predicted test frame (frames 1.. of each piece) of the independent-Bernoulli model."""
        p = self.frequencies()
        frames = torch.cat([piece[1:] for piece in self.rolls.splits["test"]]).double()
        nll = -(frames * p.log() + (1 - frames) * (1 - p).log()).sum(1).mean()
        return {"nll": float(nll)}

    def baseline_output(self, x: Tensor) -> Tensor:
        """The baseline's logits ``(B, T, P)`` at every step."""
        p = self.frequencies()
        return (p.log() - (1 - p).log()).float().expand(x.shape[0], x.shape[1], -1)

    def evaluate(self, output: Tensor, y: Tensor) -> dict[str, float]:
        """``nll`` of next-frame logits ``output`` ``(B, T, P)`` against rolls ``y`` (full-length rows)."""
        bce = torch.nn.functional.binary_cross_entropy_with_logits(output[:, :-1].double(), y[:, 1:].double(),
                                                                   reduction="none")
        return {"nll": float(bce.sum(-1).mean())}


def _factory(dataset: str) -> Callable[..., Task]:
    def factory(seq_len: int | None = None, root: str | None = None, download: bool = False) -> Task:
        from rnnzoo.data import load  # the loader (and music21) only when the task is built

        return PianoRollTask(load(dataset, root=root, download=download), name=dataset, seq_len=seq_len)

    factory.__name__ = f"{dataset}_task"
    return factory


def register(register_task: Callable[..., None], describe_defaults: Callable[[dict[str, Any]], str]) -> None:
    """Register ``jsb_chorales`` (called by :mod:`rnnzoo.tasks.corpus` with the registry's ``register_task``)."""

    register_task("jsb_chorales", _factory("jsb_chorales"),
                  "JSB chorales next-frame prediction (Boulanger-Lewandowski et al. 2012; Chung et al. 2014), "
                  "piano rolls from music21's Bach chorales; needs rnnzoo[music]",
                  "independent Bernoulli per pitch with the training frequencies: NLL per frame on test",
                  "variable lengths, epochs of a seeded shuffle; " + describe_defaults(DEFAULTS), DEFAULTS)
