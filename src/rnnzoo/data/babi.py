"""bAbI question answering: the file format, a parser, a writer, and the encoding to padded tensors.

The bAbI tasks (Weston, Bordes, Chopra, Rush, van Merriënboer, Joulin & Mikolov 2015, arXiv:1502.05698), version
1.2, are released as ``tasks_1-20_v1-2.tar.gz`` (:data:`BABI_URL`); each task has files such as
``tasks_1-20_v1-2/en/qa1_single-supporting-fact_train.txt``. The format:

* one sentence per line, ``"<id> <text>"``; the id starts at 1 in every story, so **a new story begins when
  the id resets to 1**;
* a question line is ``"<id> <question>\\t<answer>\\t<supporting fact ids>"``; the supporting ids are the ids
  of earlier lines of the same story (question lines are numbered too, so ids count both kinds of line);
* the facts before a question, in the same story, are its memory; one story holds several questions.

The archive cannot be reached from this project's build machines, so :mod:`rnnzoo.data.babi_gen` regenerates
bAbI-style stories in this same format; everything here reads both. Regenerated data is labelled
"bAbI-style (regenerated)", never "bAbI".

**Checksum.** No checksum of the archive could be verified from a source when this was written, so
:data:`BABI_MD5` is None and :func:`archive_md5` only prints the md5 of a user's archive for them to compare; set
:data:`BABI_MD5` once it is known and :func:`check_archive` verifies it.

Encoding (:class:`Vocabulary`, :func:`encode`): one example per question, its memory the last ``memory_size``
facts before it, **in story order** (slot 0 the oldest kept fact), left-aligned and zero-padded:

* ``story`` int64 ``(N, M, L)``: word ids per fact (0 = padding), ``story_lengths`` ``(N,)`` facts kept;
* ``question`` int64 ``(N, L)``, ``question_lengths`` ``(N,)``;
* ``words`` int64 ``(N, W)``: the kept facts as one word sequence, ``word_lengths`` ``(N,)``, and
  ``sentence_ends`` int64 ``(N, M)``: the position in ``words`` of each fact's last word (-1 for an empty
  slot): what a DMN's input GRU reads (its facts are the hidden states at the sentence ends);
* targets: ``answer`` ``(N,)`` (a word id of the same vocabulary), ``supports`` ``(N, S)`` the memory slots of the
  supporting facts (-1 padding; a supporting fact outside the kept window is -1 too).
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = [
    "BABI_MD5",
    "BABI_URL",
    "TASK_FILES",
    "BabiInput",
    "BabiTarget",
    "Question",
    "Story",
    "Vocabulary",
    "archive_md5",
    "check_archive",
    "encode",
    "find_task_file",
    "parse",
    "parse_lines",
    "tokenize",
    "write",
]

BABI_URL = "http://www.thespermwhale.com/jaseweston/babi/tasks_1-20_v1-2.tar.gz"
BABI_MD5: str | None = None  # not verified from any source: see the module docstring

TASK_FILES = {
    1: "qa1_single-supporting-fact", 2: "qa2_two-supporting-facts", 3: "qa3_three-supporting-facts",
    4: "qa4_two-arg-relations", 5: "qa5_three-arg-relations", 6: "qa6_yes-no-questions", 7: "qa7_counting",
    8: "qa8_lists-sets", 9: "qa9_simple-negation", 10: "qa10_indefinite-knowledge",
    11: "qa11_basic-coreference", 12: "qa12_conjunction", 13: "qa13_compound-coreference",
    14: "qa14_time-reasoning", 15: "qa15_basic-deduction", 16: "qa16_basic-induction",
    17: "qa17_positional-reasoning", 18: "qa18_size-reasoning", 19: "qa19_path-finding",
    20: "qa20_agents-motivations",
}

_WORD = re.compile(r"[^\s.?!]+")


def tokenize(text: str) -> list[str]:
    """The words of a sentence, case kept, without the final ``.``/``?`` (``"Where is Mary?"`` ->
    ``["Where", "is", "Mary"]``)."""
    return _WORD.findall(text)


@dataclass(frozen=True)
class Question:
    """A question of a story.

    words: the question's tokens; answer: the answer string (one token in tasks 1-3, 6; a comma list in 8, 19);
    supports: indices into :attr:`Story.sentences` of the supporting facts; position: the number of facts of
    the story that come before the question (its memory is ``sentences[:position]``).
    """

    words: tuple[str, ...]
    answer: str
    supports: tuple[int, ...]
    position: int


@dataclass
class Story:
    """A bAbI story: its facts (``sentences``, token lists in order) and its questions."""

    sentences: list[list[str]] = field(default_factory=list)
    questions: list[Question] = field(default_factory=list)

    def lines(self) -> list[str]:
        """The story in the bAbI file format (numbered lines, questions with answer and supporting ids)."""
        out: list[str] = []
        line_of: list[int] = []  # fact index -> its line id
        pending = sorted(self.questions, key=lambda q: q.position)
        qi = 0
        for i in range(len(self.sentences) + 1):
            while qi < len(pending) and pending[qi].position == i:
                q = pending[qi]
                ids = " ".join(str(line_of[s]) for s in q.supports)
                out.append(f"{len(out) + 1} {' '.join(q.words)}?\t{q.answer}\t{ids}")
                qi += 1
            if i < len(self.sentences):
                line_of.append(len(out) + 1)
                out.append(f"{len(out) + 1} {' '.join(self.sentences[i])}.")
        return out


def parse_lines(lines: Iterable[str], *, source: str = "<lines>") -> list[Story]:
    """Stories from lines in the bAbI format (see the module docstring). Raises ValueError naming the line."""
    stories: list[Story] = []
    story: Story | None = None
    fact_of: dict[int, int] = {}
    last_id = 0
    for n, raw in enumerate(lines, 1):
        line = raw.rstrip("\n").rstrip("\r")
        if not line.strip():
            continue
        head, _, rest = line.partition(" ")
        if not head.isdigit() or not rest:
            raise ValueError(f"{source}:{n}: expected '<id> <text>', got {line!r}")
        ident = int(head)
        if ident == 1 or story is None:
            if ident != 1:
                raise ValueError(f"{source}:{n}: a story must start at id 1, got {ident}")
            story, fact_of, last_id = Story(), {}, 0
            stories.append(story)
        elif ident != last_id + 1:
            raise ValueError(f"{source}:{n}: expected line id {last_id + 1} (or 1 for a new story), got {ident}")
        last_id = ident
        if "\t" in rest:
            parts = rest.split("\t")
            if len(parts) < 2:
                raise ValueError(f"{source}:{n}: a question needs '<question>\\t<answer>', got {line!r}")
            supports = []
            for tok in (parts[2].split() if len(parts) > 2 else []):
                if not tok.isdigit() or int(tok) not in fact_of:
                    raise ValueError(f"{source}:{n}: supporting id {tok!r} is not an earlier fact of the story")
                supports.append(fact_of[int(tok)])
            story.questions.append(Question(tuple(tokenize(parts[0])), parts[1].strip(), tuple(supports),
                                            len(story.sentences)))
        else:
            fact_of[ident] = len(story.sentences)
            story.sentences.append(tokenize(rest))
    return stories


def parse(path: str | Path) -> list[Story]:
    """The stories of a bAbI file (real ``qaN_*_train.txt`` / ``_test.txt`` or one :func:`write` wrote)."""
    path = Path(path)
    with path.open(encoding="utf-8") as f:
        return parse_lines(f, source=str(path))


def write(stories: Sequence[Story], path: str | Path) -> Path:
    """Write ``stories`` to ``path`` in the bAbI format (so :func:`parse` reads them back); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8") as f:
        for story in stories:
            for line in story.lines():
                f.write(line + "\n")
    return path


def find_task_file(data_dir: str | Path, task: int, split: str) -> Path:
    """The file of task ``task`` and ``split`` (``"train"``/``"test"``) under ``data_dir`` (searched
    recursively, ``en/`` preferred to ``en-10k/``). Raises FileNotFoundError saying what was looked for."""
    if task not in TASK_FILES:
        raise ValueError(f"task must be 1..20, got {task!r}")
    name = f"{TASK_FILES[task]}_{split}.txt"
    found = sorted(Path(data_dir).rglob(name), key=lambda p: ("en-10k" in p.parts, len(p.parts), str(p)))
    if not found:
        raise FileNotFoundError(f"data_dir: no {name} under {data_dir} (extract {BABI_URL} there)")
    return found[0]


def archive_md5(path: str | Path) -> str:
    """The md5 hex digest of a file (to compare a downloaded archive with a published checksum)."""
    digest = hashlib.md5(usedforsecurity=False)
    with Path(path).open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def check_archive(path: str | Path) -> str:
    """The md5 of the archive at ``path``; raises ValueError when :data:`BABI_MD5` is known and differs.

    While no checksum is known (:data:`BABI_MD5` is None) it verifies nothing and only returns the digest."""
    md5 = archive_md5(path)
    if BABI_MD5 is not None and md5 != BABI_MD5:
        raise ValueError(f"path: {path} has md5 {md5}, expected {BABI_MD5} for {BABI_URL}")
    return md5


class BabiInput(NamedTuple):
    """A batch of bAbI questions (every leaf batch first; shapes in the module docstring)."""

    story: Tensor
    story_lengths: Tensor
    question: Tensor
    question_lengths: Tensor
    words: Tensor
    word_lengths: Tensor
    sentence_ends: Tensor


class BabiTarget(NamedTuple):
    """Targets: ``answer`` int64 ``(N,)`` word ids; ``supports`` int64 ``(N, S)`` memory slots (-1 padding)."""

    answer: Tensor
    supports: Tensor


class Vocabulary:
    """Lower-cased words to ids; id 0 is padding. Answers share the vocabulary (MemN2N's output is over it)."""

    PAD = "<pad>"

    def __init__(self, words: Iterable[str]) -> None:
        self.itos: list[str] = [self.PAD, *sorted({w.lower() for w in words} - {self.PAD})]
        self.stoi: dict[str, int] = {w: i for i, w in enumerate(self.itos)}

    @classmethod
    def build(cls, *story_lists: Sequence[Story]) -> Vocabulary:
        """The vocabulary of every word, question word and answer of the given story lists."""
        words: set[str] = set()
        for stories in story_lists:
            for story in stories:
                for s in story.sentences:
                    words.update(s)
                for q in story.questions:
                    words.update(q.words)
                    words.add(q.answer)
        return cls(words)

    def __len__(self) -> int:
        return len(self.itos)

    def id(self, word: str) -> int:
        """The id of ``word`` (case-insensitive); KeyError naming it when unknown."""
        try:
            return self.stoi[word.lower()]
        except KeyError:
            raise KeyError(f"word {word!r} is not in the vocabulary ({len(self)} words)") from None

    def ids(self, words: Sequence[str]) -> list[int]:
        return [self.id(w) for w in words]


def encode(stories: Sequence[Story], vocab: Vocabulary, *, memory_size: int = 50,
           sentence_len: int | None = None, word_len: int | None = None, pad_memory: bool = False,
           max_supports: int = 3) -> tuple[BabiInput, BabiTarget]:
    """Every question of ``stories`` as one example (see the module docstring for the tensors).

    memory_size: facts kept per question (the most recent ``memory_size``; MemN2N's paper uses 50);
    pad_memory: make ``M = memory_size`` (default: the most facts any question keeps), so that splits encoded
    apart have the same shapes; sentence_len: words per fact and question (default: the longest); word_len:
    the width ``W`` of ``words`` (default: the longest); longer ones raise ValueError naming the argument;
    max_supports: width of ``supports``.
    """
    if memory_size < 1:
        raise ValueError(f"memory_size must be >= 1, got {memory_size}")
    examples = []
    for story in stories:
        for q in story.questions:
            start = max(0, q.position - memory_size)
            facts = story.sentences[start:q.position]
            sup = [s - start if s >= start else -1 for s in q.supports]
            examples.append((facts, list(q.words), q.answer, sup))
    if not examples:
        raise ValueError("stories: no question to encode")
    longest = max(max((len(f) for f in ex[0]), default=0) for ex in examples)
    longest = max(longest, max(len(ex[1]) for ex in examples))
    L = longest if sentence_len is None else sentence_len
    if longest > L:
        raise ValueError(f"sentence_len: a sentence has {longest} words, more than sentence_len={L}")
    n = len(examples)
    M = memory_size if pad_memory else max(1, max(len(ex[0]) for ex in examples))
    most_words = max(1, max(sum(len(f) for f in ex[0]) for ex in examples))
    W = most_words if word_len is None else word_len
    if most_words > W:
        raise ValueError(f"word_len: a memory has {most_words} words, more than word_len={W}")
    story = torch.zeros(n, M, L, dtype=torch.long)
    story_lengths = torch.zeros(n, dtype=torch.long)
    question = torch.zeros(n, L, dtype=torch.long)
    question_lengths = torch.zeros(n, dtype=torch.long)
    words = torch.zeros(n, W, dtype=torch.long)
    word_lengths = torch.zeros(n, dtype=torch.long)
    ends = torch.full((n, M), -1, dtype=torch.long)
    answer = torch.zeros(n, dtype=torch.long)
    supports = torch.full((n, max_supports), -1, dtype=torch.long)
    for i, (facts, qwords, ans, sup) in enumerate(examples):
        pos = 0
        for j, f in enumerate(facts):
            ids = vocab.ids(f)
            story[i, j, :len(ids)] = torch.tensor(ids, dtype=torch.long)
            words[i, pos:pos + len(ids)] = torch.tensor(ids, dtype=torch.long)
            pos += len(ids)
            ends[i, j] = pos - 1
        story_lengths[i] = len(facts)
        word_lengths[i] = pos
        question[i, :len(qwords)] = torch.tensor(vocab.ids(qwords), dtype=torch.long)
        question_lengths[i] = len(qwords)
        answer[i] = vocab.id(ans)
        if len(sup) > max_supports:
            raise ValueError(f"max_supports: a question has {len(sup)} supporting facts, more than {max_supports}")
        supports[i, :len(sup)] = torch.tensor(sup, dtype=torch.long) if sup else supports[i, :0]
    return (BabiInput(story, story_lengths, question, question_lengths, words, word_lengths, ends),
            BabiTarget(answer, supports))
