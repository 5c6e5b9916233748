"""What the dataset loaders return: plain containers of tensors, with no training logic.

The tasks of :mod:`rnnzoo.tasks.corpus` turn them into batches; ``rnnzoo data info`` prints their
statistics. Every container records ``source``: where its data was read from (a cache file with its
checksum, or the registry package), so that a report can say which copy a number was measured on.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor

__all__ = ["LabelledSequences", "PianoRolls", "TaggedCorpus", "TextCorpus"]


@dataclass(frozen=True)
class TextCorpus:
    """A language-modelling corpus: a vocabulary and one token-id stream per split.

    unit: ``"word"`` or ``"char"``.
    vocab: id -> token (word level: ``"<eos>"`` marks each end of line, Mikolov's convention).
    splits: ``{"train", "valid", "test"}`` -> int64 ``(N,)`` token ids, in corpus order.
    """

    name: str
    unit: str
    vocab: tuple[str, ...]
    splits: dict[str, Tensor]
    source: str
    notes: str = ""


@dataclass(frozen=True)
class PianoRolls:
    """Polyphonic music: per split a list of binary piano rolls, one ``(T_i, P)`` float32 tensor per piece
    (``P`` pitches, ``lowest_pitch`` the MIDI number of column 0; a row is one time step)."""

    name: str
    lowest_pitch: int
    splits: dict[str, list[Tensor]]
    source: str
    notes: str = ""


@dataclass(frozen=True)
class LabelledSequences:
    """Variable-length multivariate sequences with one class each.

    splits: per split a list of ``(T_i, F)`` float32 tensors. labels: per split int64 ``(N,)`` indices into
    ``classes``. ``feature_names`` has ``F`` entries.
    """

    name: str
    classes: tuple[str, ...]
    feature_names: tuple[str, ...]
    splits: dict[str, list[Tensor]]
    labels: dict[str, Tensor]
    source: str
    notes: str = ""


@dataclass(frozen=True)
class TaggedCorpus:
    """Sentences with one tag per token: per split a list of ``(words, tags)`` pairs of equal length."""

    name: str
    tags: tuple[str, ...]
    splits: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]]
    source: str
    notes: str = ""
    extra: dict[str, object] = field(default_factory=dict)
