"""The ``babi`` task: answer a question about a story (bAbI-style (regenerated), or the real files from ``data_dir``).

Data (:mod:`rnnzoo.data.babi`, :mod:`rnnzoo.data.babi_gen`): without ``data_dir``, ``train_stories`` stories of
task ``task_id`` (1, 2, 3 or 6) are generated from :data:`TRAIN_SEED` and the last 10% of them are held out as
``valid`` (as Sukhbaatar et al. 2015 held out 10% of the training set); ``test`` is ``test_stories`` stories from
:data:`TEST_SEED`. With 5 questions a story, the defaults (200 + 200 stories) are the released files' "1k"
(1,000 training and 1,000 test questions). With ``data_dir`` (an extracted ``tasks_1-20_v1-2``), the real
``qa<N>_*_train.txt`` / ``_test.txt`` of ``en/`` are read instead (any task 1..20).

Batches: ``x`` a :class:`~rnnzoo.data.babi.BabiInput` (stories ``(B, M, L)``, questions ``(B, L)``, the word form
for a DMN), ``y`` a :class:`~rnnzoo.data.babi.BabiTarget` (answer ``(B,)``, supporting memory slots ``(B, S)``).
A model's output is answer logits ``(B, V)`` over the vocabulary, or an object with a ``logits`` field and,
optionally, an ``aux_loss`` scalar (e.g. a DMN's supporting-fact supervision) that :meth:`loss_of` adds.
Metric: ``accuracy`` (the arg-max answer is right; the paper reports error = 1 - accuracy).
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from rnnzoo.core.registry import InputKind
from rnnzoo.data.babi import BabiInput, BabiTarget, Story, Vocabulary, encode, find_task_file, parse
from rnnzoo.data.babi_gen import TASKS, generate

from .base import Batch, check_generator, check_int
from .registry import register_task
from .structured import StructuredTask

__all__ = ["TEST_SEED", "TRAIN_SEED", "BabiTask", "answer_logits"]

TRAIN_SEED = 150_308_895  # arXiv:1503.08895 (MemN2N)
TEST_SEED = 150_205_698  # arXiv:1502.05698 (bAbI)


def answer_logits(output: Any) -> Tensor:
    """The ``(B, V)`` answer logits of a model output (a tensor, or anything with a ``logits`` field)."""
    logits = output if isinstance(output, Tensor) else getattr(output, "logits", None)
    if not isinstance(logits, Tensor) or logits.dim() != 2:
        raise TypeError(f"output: expected answer logits (B, V) or an object with a .logits (B, V) tensor, got "
                        f"{type(output).__name__}" + (f" {tuple(logits.shape)}" if isinstance(logits, Tensor) else ""))
    return logits


class BabiTask(StructuredTask):
    """Question answering over bAbI stories (module docstring). ``label`` says which data it is."""

    name = "babi"
    input_kind = InputKind.STORY_QUESTION
    metrics = ["accuracy"]  # noqa: RUF012

    def __init__(self, task_id: int = 1, train_stories: int = 200, test_stories: int = 200,
                 data_dir: str | None = None, memory_size: int = 50) -> None:
        self.task_id = check_int("task_id", task_id, 1)
        self.memory_size = check_int("memory_size", memory_size, 1)
        if data_dir is None:
            if task_id not in TASKS:
                raise ValueError(f"task_id: the regenerated tasks are {sorted(TASKS)} (others need data_dir with "
                                 f"the real files), got {task_id}")
            check_int("train_stories", train_stories, 2)
            check_int("test_stories", test_stories, 1)
            train_all = generate(task_id, train_stories, TRAIN_SEED)
            test = generate(task_id, test_stories, TEST_SEED)
            self.label = f"bAbI-style (regenerated) task {task_id} ({TASKS[task_id]})"
        else:
            train_all = parse(find_task_file(data_dir, task_id, "train"))
            test = parse(find_task_file(data_dir, task_id, "test"))
            self.label = f"bAbI v1.2 task {task_id} ({Path(data_dir)})"
        n_valid = max(1, round(0.1 * len(train_all)))
        stories = {"train": train_all[:-n_valid], "valid": train_all[-n_valid:], "test": test}
        self.stories: dict[str, list[Story]] = stories
        self.vocab = Vocabulary.build(*stories.values())
        slots = min(self.memory_size, max(q.position for s in train_all + test for q in s.questions) or 1)
        sentence_len = max(len(w) for ss in stories.values() for s in ss
                           for w in [*s.sentences, *(q.words for q in s.questions)])
        word_len = max(1, max(sum(len(w) for w in s.sentences[max(0, q.position - slots):q.position])
                              for ss in stories.values() for s in ss for q in s.questions))
        self._data = {k: Batch(*encode(v, self.vocab, memory_size=slots, sentence_len=sentence_len,
                                       word_len=word_len, pad_memory=True), None)
                      for k, v in stories.items()}
        self.train_size = self.size(self._data["train"])
        self.seq_len = slots
        self.model_options = {"vocab_size": len(self.vocab), "memory_size": slots, "sentence_len": sentence_len}

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` training questions drawn uniformly with replacement by ``generator``."""
        check_int("batch_size", batch_size, 1)
        index = torch.randint(self.train_size, (batch_size,), generator=check_generator(generator))
        return self.select(self._data["train"], index)

    def epoch_batch(self, generator: torch.Generator, part: int, batch_size: int) -> Batch:
        """Batch ``part`` of the epoch whose order ``generator`` draws (a permutation of the training questions)."""
        check_int("batch_size", batch_size, 1)
        parts = math.ceil(self.train_size / batch_size)
        if not 0 <= part < parts:
            raise ValueError(f"part: expected 0 <= part < {parts} (batches per epoch), got {part}")
        order = torch.randperm(self.train_size, generator=check_generator(generator))
        return self.select(self._data["train"], order[part * batch_size:(part + 1) * batch_size])

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        """The whole ``valid`` or ``test`` split (fixed: ``generator_seed`` is not used)."""
        self.check_split_name(name)
        return self._data[name]

    def loss_of(self, output: Any, batch: Batch) -> Tensor:
        """Cross-entropy of the answer over the vocabulary (mean over the batch), plus ``output.aux_loss``."""
        target: BabiTarget = batch.y
        loss = F.cross_entropy(answer_logits(output), target.answer)
        aux = getattr(output, "aux_loss", None)
        return loss if aux is None else loss + aux

    def score(self, model: nn.Module, batch: Batch) -> dict[str, tuple[Tensor, Tensor]]:
        x: BabiInput = batch.x
        target: BabiTarget = batch.y
        right = (answer_logits(model(x)).argmax(-1) == target.answer).sum()
        return {"accuracy": (right, torch.tensor(target.answer.numel()))}

    def baseline(self) -> dict[str, float]:
        """Always the training set's most frequent answer: its accuracy on the test split."""
        train, test = self._data["train"].y.answer, self._data["test"].y.answer
        most = Counter(train.tolist()).most_common(1)[0][0]
        return {"accuracy": float((test == most).double().mean())}


register_task("babi", BabiTask, "answer a question about a story: bAbI-style (regenerated) tasks 1/2/3/6, or the "
              "real bAbI v1.2 files from task_options data_dir", "the most frequent training answer",
              seq_len="T = memory slots (facts kept, at most memory_size = 50)",
              train_defaults={"seq_len": None})  # no --seq-len: the stories set the lengths
