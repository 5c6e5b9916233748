"""Tasks on real corpora: language modelling on a :class:`~rnnzoo.data.types.TextCorpus`.

A task takes a container (so that tests can hand it a generated one); the registered factories load the
real data lazily with :func:`rnnzoo.data.load` (``--task-option root=DIR``, ``--task-option download=true``).

Language modelling follows Zaremba, Sutskever & Vinyals 2014 (arXiv:1409.2329, their ``ptb_iterator``):
the training stream of ``N`` tokens is cut into ``B`` contiguous streams, ``data[:B*L].view(B, L)`` with
``L = N // B`` (the last ``N - B*L`` tokens are unused), and one training batch is that whole ``(B, L)``
array: one epoch. The trainer runs it in TBPTT windows of k steps carrying the state across windows
(``--tbptt k``), one update per window. Targets are the next token (head ``next_token``): the input at step
t of a stream predicts its token at t+1, across window boundaries; the last token of each of the B streams
has no successor in its row and is not scored (Zaremba's reader drops instead the ``(L - 1) mod k`` steps
that do not fill a last window: per epoch we score ``B (L - 1)`` tokens, it scores ``B k floor((L-1)/k)``).
Valid and test are one stream each (B = 1: every token has all its context, as Zaremba's test), evaluated
in windows carrying the state.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor

from rnnzoo.data.types import TextCorpus

from .base import Batch, Task, check_generator, check_int

__all__ = ["LanguageModelTask", "describe_defaults", "register"]

SPLITS = ("train", "valid", "test")

#: Zaremba et al. 2014, small non-regularised model: 2 x 200 LSTM, batch 20, 20 steps, SGD lr 1 (halved
#: every epoch after the 4th), clip 5, 13 epochs; the window loss is summed over steps, averaged over the batch;
#: no cell options (the default job's LSTM forget-gate bias of 1 is dropped: Zaremba's LSTM has none)
WORD_DEFAULTS: dict[str, Any] = {
    "options": {}, "head": "next_token", "seq_len": None, "hidden_size": 200, "num_layers": 2, "batch_size": 20,
    "tbptt": [20, 20], "optimizer": "sgd", "lr": 1.0, "momentum": 0.0, "clip_norm": 5.0,
    "time_reduction": "sum", "schedule": "epoch_decay", "lr_decay_start": 4, "gamma": 0.5, "epochs": 13,
    "val_every": None, "stop_at": None, "eval_batch_size": 1, "init": "uniform=0.1",
}
#: characters: a 1 x 256 model, batch 32, windows of 100 steps, Adam 2e-3, clip 5, 3 epochs
CHAR_DEFAULTS: dict[str, Any] = {
    "options": {}, "head": "next_token", "seq_len": None, "hidden_size": 256, "num_layers": 1, "batch_size": 32,
    "tbptt": [100, 100], "optimizer": "adam", "lr": 2e-3, "clip_norm": 5.0, "time_reduction": "mean",
    "schedule": "constant", "epochs": 3, "val_every": None, "stop_at": None, "eval_batch_size": 1,
}


def describe_defaults(defaults: dict[str, Any]) -> str:
    """``rnnzoo list``'s line of a task's training defaults, as flags."""
    parts = []
    for key, value in defaults.items():
        if key in ("seq_len", "stop_at", "eval_batch_size") or isinstance(value, dict):
            continue
        name = "--" + key.replace("_", "-")
        if isinstance(value, bool):
            parts.append(name if value else "--no-" + name[2:])
            continue
        shown = ",".join(map(str, value)) if isinstance(value, list) else ("none" if value is None else value)
        parts.append(f"{name} {shown}")
    return "defaults: " + " ".join(parts)


class LanguageModelTask(Task):
    """Next-token prediction on a :class:`TextCorpus` laid out as B contiguous streams (module docstring).

    Args:
        corpus: a corpus with int64 ``(N,)`` streams ``train``, ``valid``, ``test`` of ids < ``len(vocab)``.
        name: the task name (default ``corpus.name``).
        seq_len: must be None: a training batch is the whole stream (the window is ``--tbptt K``).

    ``sample(B, generator)``: ``x = y = train[:B*L].view(B, L)`` int64 (the generator is not used: the
    layout is fixed). ``split(name)``: ``(1, N)`` int64. Metrics: perplexity (words) or bits per character.
    Baseline: the unigram distribution of the training tokens (add-one smoothed) scored on the test stream.
    """

    target = "per_step"
    loss = "cross_entropy"
    stream = True
    split_names = ("valid", "test")

    def __init__(self, corpus: TextCorpus, *, name: str | None = None, seq_len: int | None = None) -> None:
        if not isinstance(corpus, TextCorpus):
            raise TypeError(f"corpus: expected a rnnzoo.data.TextCorpus, got {type(corpus).__name__}")
        if seq_len is not None:
            raise ValueError(f"seq_len: a language-model task trains on the whole stream (the window length is "
                             f"--tbptt K), expected none, got {seq_len!r}")
        vocab = len(corpus.vocab)
        for split in SPLITS:
            if split not in corpus.splits:
                raise ValueError(f"corpus: expected splits {list(SPLITS)}, got {sorted(corpus.splits)}")
            ids = corpus.splits[split]
            if not isinstance(ids, Tensor) or ids.dtype != torch.int64 or ids.dim() != 1 or ids.numel() < 2:
                what = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, Tensor) else type(ids).__name__
                raise ValueError(f"corpus.splits[{split!r}]: expected int64 token ids of shape (N,), N >= 2, "
                                 f"got {what}")
            if int(ids.min()) < 0 or int(ids.max()) >= vocab:
                raise ValueError(f"corpus.splits[{split!r}]: expected ids in [0, {vocab}), got "
                                 f"[{int(ids.min())}, {int(ids.max())}]")
        self.corpus = corpus
        self.name = name or corpus.name
        self.unit = corpus.unit
        self.input_vocab = vocab
        self.input_size = vocab
        self.output_size = vocab
        self.train_size = int(corpus.splits["train"].numel())
        self.seq_len = self.train_size
        self.metrics = ["bpc", "perplexity"] if corpus.unit == "char" else ["perplexity", "bpc"]

    def layout(self, batch_size: int) -> Tensor:
        """The training stream as ``batch_size`` contiguous rows: ``train[:B*L].view(B, L)``, ``L = N // B``."""
        check_int("batch_size", batch_size, 1)
        steps = self.train_size // batch_size
        if steps < 2:
            raise ValueError(f"batch_size: the training stream of {self.train_size} tokens needs at least 2 per "
                             f"stream, expected batch_size <= {self.train_size // 2}, got {batch_size}")
        return self.corpus.splits["train"][: batch_size * steps].view(batch_size, steps)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """One epoch: ``x = y`` int64 ``(B, L)`` (see :meth:`layout`); ``generator`` is checked, not used."""
        check_generator(generator)
        x = self.layout(batch_size)
        return Batch(x, x)

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        """The ``valid`` or ``test`` stream as one row: ``x = y`` int64 ``(1, N)``."""
        self.check_split_name(name)
        ids = self.corpus.splits[name].view(1, -1)
        return Batch(ids, ids)

    def unigram(self) -> Tensor:
        """Log-probabilities ``(V,)`` of the training tokens' frequencies, add-one smoothed."""
        counts = torch.bincount(self.corpus.splits["train"], minlength=self.output_size).double() + 1.0
        return (counts / counts.sum()).log()

    def baseline(self) -> dict[str, float]:
        """Cross-entropy (nats per token) of the unigram model on the test stream's predicted tokens."""
        targets = self.corpus.splits["test"][1:]
        return {"cross_entropy": float(-self.unigram()[targets].mean())}

    def baseline_output(self, x: Tensor) -> Tensor:
        """Unigram log-probabilities ``(B, T, V)`` at every step (whatever the input)."""
        return self.unigram().float().expand(x.shape[0], x.shape[1], -1)

    def evaluate(self, output: Tensor, y: Tensor) -> dict[str, float]:
        """Perplexity / bpc of next-token log-probabilities ``output`` ``(B, T, V)`` against ``y`` ``(B, T)``."""
        logits = output[:, :-1].reshape(-1, output.shape[-1]).double()
        ce = float(torch.nn.functional.cross_entropy(logits, y[:, 1:].reshape(-1)))
        return {"cross_entropy": ce, "perplexity": math.exp(ce), "bpc": ce / math.log(2.0)}


def _lm_factory(dataset: str) -> Callable[..., Task]:
    def factory(seq_len: int | None = None, root: str | None = None, download: bool = False) -> Task:
        from rnnzoo.data import load  # the loaders (and their optional packages) only when the task is built

        return LanguageModelTask(load(dataset, root=root, download=download), name=dataset, seq_len=seq_len)

    factory.__name__ = f"{dataset}_task"
    return factory


def register(register_task: Callable[..., None]) -> None:
    """Register the corpus tasks with ``register_task`` (called once by :mod:`rnnzoo.tasks.registry`, which passes
    its own: this module never imports the registry, so there is no import cycle)."""

    unigram = "unigram of the training tokens (add-one): test perplexity / bpc of that distribution"
    for name, what, defaults in (
        ("ptb_word", "Penn Treebank word-level language modelling (Mikolov's 10k vocabulary; Zaremba et al. "
                     "2014); needs rnnzoo[ptb]", WORD_DEFAULTS),
        ("ptb_char", "Penn Treebank character-level language modelling; needs rnnzoo[ptb]", CHAR_DEFAULTS),
        ("shakespeare", "Shakespeare character-level language modelling", CHAR_DEFAULTS),
    ):
        register_task(name, _lm_factory(name), what, unigram,
                      "B contiguous streams, one epoch per batch; " + describe_defaults(defaults), defaults)
    from .corpus_music import register as register_music
    from .corpus_sequences import register as register_sequences
    from .corpus_tagging import register as register_tagging

    register_sequences(register_task, describe_defaults)
    register_music(register_task, describe_defaults)
    register_tagging(register_task, describe_defaults)
