"""Sequence-to-sequence tasks on symbols: reversal, sorting and copying of variable-length sequences.

The synthetic stand-in for Bahdanau, Cho & Bengio's (2015, arXiv:1409.0473) length analysis (their Fig. 2: BLEU
against sentence length, RNNencdec falling with length, RNNsearch not), as RESEARCH.md's "(d)" proposes: a source of
``L`` symbols drawn uniformly from ``vocab`` symbols, ``L`` uniform in ``[min_length, max_length]``, and the target

* ``seq_reverse``: the source reversed; ``seq_sort``: the source sorted (ascending ids); ``seq_copy``: the source.

Ids: ``0`` pad, ``1`` start, ``2`` end (:data:`rnnzoo.cells.seq2seq.PAD`, ``START``, ``END``), symbols ``3 ..
vocab + 2``; the model's ``vocab_size`` is ``vocab + 3`` (:attr:`model_options`). A batch: ``x`` a
:class:`~rnnzoo.cells.seq2seq.Seq2SeqInput` (source, its lengths, the decoder's input ``[start, t_1 .. t_L]`` and
its length ``L + 1``) and ``y`` int64 ``(B, T)`` the reference ``[t_1 .. t_L, end]`` padded with 0.

Loss: teacher-forced cross-entropy, the mean over an example's ``L + 1`` target tokens, averaged over examples.
Metrics (:meth:`SymbolTask.score`, greedy decoding until ``end``): ``sequence_accuracy`` (the whole output,
``end`` included, equals the reference) and ``token_accuracy`` (the fraction of the reference's ``L + 1`` positions
where the decoded token is right).

Splits: ``valid`` draws lengths as training does; ``test`` draws them uniformly from ``test_lengths`` (default: the
training range), so ``test_lengths=(18, 19, 20)`` makes the test split the long bucket; ``len<L>`` (one per length
in ``test_lengths``) holds ``test_size`` sequences of length exactly ``L``, for accuracy against length. Every split
comes from its own fixed seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.cells.seq2seq import END, PAD, START, Seq2SeqInput
from rnnzoo.core.registry import InputKind

from .base import Batch, check_generator, check_int
from .registry import register_task
from .structured import StructuredTask

__all__ = ["SYMBOL_TASKS", "SymbolTask"]

SYMBOL_TASKS = ("reverse", "sort", "copy")
_SEEDS = {"valid": 7_019_331, "test": 7_019_332}
_FIRST = 3  # the first symbol id


class SymbolTask(StructuredTask):
    """Reversal, sorting or copying of symbol sequences (see the module docstring).

    Args:
        kind: ``"reverse"``, ``"sort"`` or ``"copy"``. vocab: number of symbols. min_length, max_length: the
        training lengths (``seq_len`` is ``max_length``). test_lengths: the lengths of the test split (default
        ``min_length .. max_length``; may exceed ``max_length`` to test generalisation). valid_size, test_size:
        examples per split (``test_size`` also per ``len<L>`` split).
    """

    input_kind = InputKind.SEQUENCE_TO_SEQUENCE
    metrics = ["sequence_accuracy", "token_accuracy"]  # noqa: RUF012

    def __init__(self, kind: str = "reverse", *, vocab: int = 10, min_length: int = 1, max_length: int = 10,
                 test_lengths: Sequence[int] | None = None, valid_size: int = 500, test_size: int = 500) -> None:
        if kind not in SYMBOL_TASKS:
            raise ValueError(f"kind: expected one of {SYMBOL_TASKS}, got {kind!r}")
        self.kind, self.name = kind, f"seq_{kind}"
        self.vocab = check_int("vocab", vocab, 2)
        self.min_length = check_int("min_length", min_length, 1)
        self.max_length = check_int("max_length", max_length, min_length)
        if test_lengths is None:
            test_lengths = range(min_length, max_length + 1)
        lengths = tuple(test_lengths)
        if not lengths or any(isinstance(n, bool) or not isinstance(n, int) or n < 1 for n in lengths):
            raise ValueError(f"test_lengths: expected a non-empty sequence of positive ints, got {test_lengths!r}")
        self.test_lengths = tuple(sorted(set(lengths)))
        self.split_sizes = {"valid": check_int("valid_size", valid_size, 1),
                            "test": check_int("test_size", test_size, 1)}
        self.split_names = ("valid", "test", *(f"len{n}" for n in self.test_lengths))
        self.seq_len = self.max_length
        self.model_options = {"vocab_size": self.vocab + _FIRST}
        self._cache: dict[str, Batch] = {}

    # ------------------------------------------------------------------ data

    def make(self, lengths: Tensor, generator: torch.Generator) -> Batch:
        """A batch of sources with the given ``lengths`` (int64 ``(B,)``) drawn with ``generator``."""
        b, s = lengths.shape[0], int(lengths.max())
        valid = torch.arange(s).unsqueeze(0) < lengths.unsqueeze(1)
        symbols = torch.randint(_FIRST, _FIRST + self.vocab, (b, s), generator=generator)
        source = symbols.masked_fill(~valid, PAD)
        if self.kind == "copy":
            target = source
        elif self.kind == "reverse":
            index = (lengths.unsqueeze(1) - 1 - torch.arange(s)).clamp(min=0)
            target = source.gather(1, index).masked_fill(~valid, PAD)
        else:  # sort: the padding (a large key) sorts last
            big = torch.iinfo(torch.long).max
            target = source.masked_fill(~valid, big).sort(1).values.masked_fill(~valid, PAD)
        out = torch.full((b, s + 1), PAD, dtype=torch.long)
        out[:, :s] = target
        out.scatter_(1, lengths.unsqueeze(1), END)  # [t_1 .. t_L, end]
        target_in = torch.cat([torch.full((b, 1), START, dtype=torch.long), target], 1)
        x = Seq2SeqInput(source, lengths.clone(), target_in, lengths + 1)
        return Batch(x, out, None)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_int("batch_size", batch_size, 1)
        g = check_generator(generator)
        lengths = torch.randint(self.min_length, self.max_length + 1, (batch_size,), generator=g)
        return self.make(lengths, g)

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        self.check_split_name(name)
        key = f"{name}:{generator_seed}"
        if key not in self._cache:
            if name.startswith("len"):
                n = int(name[3:])
                seed = _SEEDS["test"] + 1000 * n if generator_seed is None else generator_seed
                g = torch.Generator().manual_seed(seed)
                self._cache[key] = self.make(torch.full((self.split_sizes["test"],), n, dtype=torch.long), g)
            else:
                g = torch.Generator().manual_seed(_SEEDS[name] if generator_seed is None else generator_seed)
                size = self.split_sizes[name]
                if name == "valid":
                    lengths = torch.randint(self.min_length, self.max_length + 1, (size,), generator=g)
                else:
                    choice = torch.tensor(self.test_lengths)
                    lengths = choice[torch.randint(0, len(choice), (size,), generator=g)]
                self._cache[key] = self.make(lengths, g)
        return self._cache[key]

    # ------------------------------------------------------------------ loss and metrics

    def loss_of(self, output: Tensor, batch: Batch) -> Tensor:
        """Teacher-forced cross-entropy: mean over each example's target tokens, then over examples."""
        y, lengths = batch.y, batch.x.target_lengths
        if output.dim() != 3 or tuple(output.shape[:2]) != tuple(y.shape):
            raise ValueError(f"output: expected logits of shape ({y.shape[0]}, {y.shape[1]}, V), got "
                             f"{tuple(output.shape)}")
        nll = F.cross_entropy(output.transpose(1, 2), y.to(output.device), reduction="none")  # (B, T)
        valid = (torch.arange(y.shape[1], device=output.device).unsqueeze(0)
                 < lengths.to(output.device).unsqueeze(1))
        return ((nll * valid).sum(1) / lengths.to(output.device).to(nll.dtype)).mean()

    def score(self, model: nn.Module, batch: Batch) -> dict[str, tuple[Tensor, Tensor]]:
        y, lengths = batch.y, batch.x.target_lengths
        beams = model.generate(batch.x, width=1, max_steps=y.shape[1])  # type: ignore[operator]
        pred = beams.tokens[:, 0].cpu()
        if pred.shape[1] < y.shape[1]:  # every hypothesis ended early: pad to the reference's width
            pred = F.pad(pred, (0, y.shape[1] - pred.shape[1]), value=PAD)
        pred = pred[:, :y.shape[1]]
        valid = torch.arange(y.shape[1]).unsqueeze(0) < lengths.cpu().unsqueeze(1)
        right = (pred == y.cpu()) & valid
        seq = (right.sum(1) == lengths.cpu()).double()
        tok = right.sum(1).double() / lengths.cpu().double()
        n = torch.tensor(float(y.shape[0]), dtype=torch.float64)
        return {"sequence_accuracy": (seq.sum(), n), "token_accuracy": (tok.sum(), n)}

    def baseline(self) -> dict[str, float]:
        """A guess uniform over the symbols: token accuracy 1/vocab, sequence accuracy mean of vocab^-L."""
        seq = sum(float(self.vocab) ** -n for n in self.test_lengths) / len(self.test_lengths)
        return {"sequence_accuracy": seq, "token_accuracy": 1.0 / self.vocab}


def _factory(kind: str):  # noqa: ANN202
    def make(seq_len: int = 10, *, vocab: int = 10, min_length: int = 1, test_lengths: Sequence[int] | None = None,
             valid_size: int = 500, test_size: int = 500) -> SymbolTask:
        """``seq_len`` is the longest training sequence (``max_length``)."""
        return SymbolTask(kind, vocab=vocab, min_length=min_length, max_length=seq_len, test_lengths=test_lengths,
                          valid_size=valid_size, test_size=test_size)
    return make


for _kind, _what in (("reverse", "the source reversed"), ("sort", "the source sorted"), ("copy", "the source")):
    register_task(f"seq_{_kind}", _factory(_kind),
                  f"sequence to sequence: output {_what} (variable-length symbol sequences; Bahdanau et al. Fig. 2 "
                  "scaled)", "uniform symbol guess: token accuracy 1/vocab",
                  seq_len="T = 10 by default (the longest training source)")
