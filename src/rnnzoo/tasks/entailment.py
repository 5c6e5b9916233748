"""``babi_entailment``: entailment pairs built from bAbI-style stories (a substitute for SNLI, which cannot be reached);
and ``babi_dmn``: the ``babi`` task with the supporting facts given to the loss (a DMN's gate supervision).

SNLI (Bowman et al. 2015, arXiv:1508.05326), the data set of match-LSTM's claim (Wang & Jiang 2016,
arXiv:1512.08849: 86.1% test accuracy), cannot be downloaded here. This task asks the same question, *does the
premise entail, contradict, or say nothing about the hypothesis*, of pairs built from the regenerated bAbI-style
task-1 stories of :func:`rnnzoo.data.babi_gen.generate` (labelled "bAbI-style (regenerated)", never "bAbI"):

* **premise**: the facts of a story before one of its questions ("Where is X?"), the last ``max_facts`` of them,
  as one word sequence ("mary went to the kitchen john moved to the garden ...", lower case);
* **hypothesis**: "X is in the Y", with the label drawn uniformly:

  - ``0`` entailment: Y is X's location after the premise (the question's answer, from X's last move);
  - ``1`` neutral: every fact about X is removed from the premise (X's location is not said), Y any location;
    when no fact would remain, the example takes one of the other two labels;
  - ``2`` contradiction: Y is another location than X's.

Neither side alone predicts the label (Y is uniform over the locations under each label, and the story and question
are drawn before the label), so the trivial predictor scores 1/3; entailment against contradiction needs X's
*last* move, found among moves of the other actors: word-by-word matching of the hypothesis against the premise is what
match-LSTM adds over a sentence encoder.

``babi_dmn`` (:class:`BabiSupportsTask`) is :class:`rnnzoo.tasks.babi.BabiTask` (same data, options, splits and
scoring) whose :meth:`~BabiSupportsTask.loss_of` adds :func:`rnnzoo.cells.dmn.supervision_loss`: the
cross-entropy of a DMN's gates against ``BabiTarget.supports`` when the model was built with
``gate_supervision=True`` (Kumar et al. 2016, arXiv:1506.07285, section 2.4). ``babi``'s own ``loss_of`` cannot add
it: a model's ``aux_loss`` cannot see the targets.

Batches of ``babi_entailment``: ``x`` :class:`~rnnzoo.cells.match_lstm.SentencePair` (premise ids ``(B, S)``,
lengths, hypothesis ids ``(B, 5)``, lengths; id 0 is padding), ``y`` int64 ``(B,)`` labels. Training batches
are fresh stories drawn with the trainer's generator; ``valid`` (1,000 pairs) and ``test`` (2,000) come from
their own seeds. Metrics: ``accuracy`` (monitored) and ``cross_entropy``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import torch
from torch import Tensor

from rnnzoo.cells.dmn import supervision_loss
from rnnzoo.cells.match_lstm import SentencePair
from rnnzoo.core.registry import InputKind
from rnnzoo.data.babi import Vocabulary, tokenize
from rnnzoo.data.babi_gen import ACTORS, LOCATIONS, OBJECTS, generate

from .babi import BabiTask
from .base import Batch, check_generator, check_int
from .registry import register_task
from .structured import LabelTask

__all__ = ["LABELS", "BabiSupportsTask", "EntailmentTask", "make_pairs"]

LABELS = ("entailment", "neutral", "contradiction")
_SPLIT_SEEDS = {"valid": 1_618_033_988, "test": 2_236_067_977}


def _vocabulary() -> Vocabulary:
    """Every word the task-1 generator and the hypothesis template can write (fixed, independent of the data)."""
    from rnnzoo.data import babi_gen

    words = {"is", "in", "the", *ACTORS, *LOCATIONS, *OBJECTS}
    for template in (*babi_gen.GO, *babi_gen.GET, *babi_gen.DROP):
        words.update(tokenize(template.format(a="x", l="x", o="x")))
    return Vocabulary(words)


def make_pairs(n: int, seed: int, vocab: Vocabulary, max_facts: int) -> tuple[SentencePair, Tensor]:
    """``n`` labelled pairs from task-1 stories generated with ``seed`` (see the module docstring)."""
    rng = np.random.default_rng([seed, 7])
    stories = generate(1, max(1, math.ceil(n / 5) + 2), seed)
    premises: list[list[int]] = []
    hypotheses: list[list[int]] = []
    labels: list[int] = []
    for story in stories:
        for q in story.questions:
            if len(labels) == n:
                break
            actor, place = q.words[-1], q.answer
            facts = story.sentences[max(0, q.position - max_facts):q.position]
            label = int(rng.integers(3))
            if label == 1:
                kept = [f for f in facts if actor not in f]
                if kept:
                    facts = kept
                else:
                    label = 0 if rng.random() < 0.5 else 2
            if label == 0:
                y = place
            elif label == 2:
                others = [loc for loc in LOCATIONS if loc != place]
                y = others[int(rng.integers(len(others)))]
            else:
                y = LOCATIONS[int(rng.integers(len(LOCATIONS)))]
            premises.append(vocab.ids([w for f in facts for w in f]))
            hypotheses.append(vocab.ids([actor, "is", "in", "the", y]))
            labels.append(label)
    S, N = max(map(len, premises)), max(map(len, hypotheses))
    prem = torch.zeros(n, S, dtype=torch.long)
    hyp = torch.zeros(n, N, dtype=torch.long)
    for i, (p, h) in enumerate(zip(premises, hypotheses, strict=True)):
        prem[i, :len(p)] = torch.tensor(p)
        hyp[i, :len(h)] = torch.tensor(h)
    x = SentencePair(prem, torch.tensor([len(p) for p in premises]), hyp, torch.tensor([len(h) for h in hypotheses]))
    return x, torch.tensor(labels, dtype=torch.long)


class EntailmentTask(LabelTask):
    """Entailment over regenerated bAbI-style stories (module docstring). Options: ``max_facts`` (premise window,
    default 10: every fact of a task-1 story before its question), ``valid_size`` and ``test_size`` (pairs)."""

    num_classes = len(LABELS)

    name = "babi_entailment"
    input_kind = InputKind.SENTENCE_PAIR
    metrics = ["accuracy", "cross_entropy"]  # noqa: RUF012
    split_names = ("valid", "test")

    def __init__(self, max_facts: int = 10, valid_size: int = 1000, test_size: int = 2000) -> None:
        self.max_facts = check_int("max_facts", max_facts, 1)
        self.split_sizes = {"valid": check_int("valid_size", valid_size, 1),
                            "test": check_int("test_size", test_size, 1)}
        self.vocab = _vocabulary()
        self.seq_len = 0
        self.output_size = len(LABELS)
        self.model_options: dict[str, Any] = {"vocab_size": len(self.vocab), "num_classes": len(LABELS)}
        self._cache: dict[tuple[str, int], Batch] = {}

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        check_int("batch_size", batch_size, 1)
        seed = int(torch.randint(0, 2**62, (1,), generator=check_generator(generator)))
        x, y = make_pairs(batch_size, seed, self.vocab, self.max_facts)
        return Batch(x, y, None)

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        self.check_split_name(name)
        seed = _SPLIT_SEEDS[name] if generator_seed is None else check_int("generator_seed", generator_seed, 0)
        key = (name, seed)
        if key not in self._cache:
            x, y = make_pairs(self.split_sizes[name], seed, self.vocab, self.max_facts)
            self._cache[key] = Batch(x, y, None)
        return self._cache[key]

    def baseline(self) -> dict[str, float]:
        return {"accuracy": 1.0 / 3.0, "cross_entropy": math.log(3.0)}


def _factory(max_facts: int = 10, valid_size: int = 1000, test_size: int = 2000) -> EntailmentTask:
    return EntailmentTask(max_facts=max_facts, valid_size=valid_size, test_size=test_size)


register_task("babi_entailment", _factory,
              "Entailment (entail / neutral / contradict) of 'X is in the Y' by bAbI-style (regenerated) task-1 facts; "
              "a substitute for SNLI", "accuracy 1/3 (uniform labels)", seq_len="premise <= 60 words",
              train_defaults={"seq_len": None})  # no --seq-len: the stories set the lengths


class BabiSupportsTask(BabiTask):
    """``babi`` whose loss also trains a DMN's gates on the supporting facts (module docstring)."""

    name = "babi_dmn"

    def loss_of(self, output: Any, batch: Batch) -> Tensor:
        loss = super().loss_of(output, batch)
        extra = supervision_loss(output, batch.y.supports)
        return loss if extra is None else loss + extra


register_task("babi_dmn", BabiSupportsTask, "the babi task, its loss adding a DMN's supporting-fact gate "
              "cross-entropy (models built with gate_supervision=True)", "the most frequent training answer",
              seq_len="T = memory slots (facts kept, at most memory_size = 50)",
              train_defaults={"seq_len": None})  # no --seq-len: the stories set the lengths
