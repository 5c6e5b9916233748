"""Symbolic bAbI tasks 4, 15, 16, 18 and 19 for gated graph networks, regenerated in the project (bAbI-style).

Li, Tarlow, Brockschmidt & Zemel 2016 (arXiv:1511.05493, section 5.1) trained GG-NNs on the *symbolic* form of
bAbI (Weston et al. 2015, arXiv:1502.05698), where every fact is ``source relation target`` over single-letter
entities and a question is an ``eval`` line, as DGL's example shows them::

    task 4  (two-argument relations)   1 C e A / 2 A e B / 3 eval A w<TAB>C       ("from A, west reaches C")
    task 15 (basic deduction)          1 I has_fear C / 2 H is C / ... / 9 eval H has_fear<TAB>I
    task 16 (basic induction)          1 J has_color F / ... / 4 G is D / ... / 10 eval G has_color<TAB>I
    task 18 (size reasoning)           1 G > B / ... / 7 eval G < A<TAB>false
    task 19 (path finding)             1 D n A / 2 D s E / 3 G w D / 4 E s B / 5 eval path G A<TAB>w,n

``X d Y`` with a direction d reads "going d from X reaches Y". The released bAbI data cannot be reached here, so
:func:`generate_story` writes such stories from the tasks' rules with a seeded numpy Generator (the world rules of
facebookarchive/bAbI-tasks, re-implemented; not the released files: "bAbI-style (regenerated)"), and
:func:`parse_stories` reads the text format back, the generator's files and a user's alike. Each story is a
graph: one node per entity (numbered in order of appearance), one typed directed edge per fact; the question
marks nodes in the annotations (DGL's encoding: task 4/15/16 one bit on the question's node; 18 and 19 two bits,
the first and second entity). Outputs: node selection (4, 15, 16), a true/false graph class (18), a sequence of
two directions (19, a GGS-NN). As in the paper and DGL, one model is trained per question type (``question``).

Splits: a finite training set of ``train_size`` stories (50 in the paper) from ``train_seed``; ``valid`` and
``test`` fixed by their own seeds (``test`` 10,000 stories: the paper's 10 test sets of 1,000, pooled).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.attention import masked_log_softmax
from rnnzoo.cells.ggnn import NodeScores, graph_batch, select_graphs
from rnnzoo.core.registry import InputKind

from .base import Batch, check_int
from .registry import register_task
from .structured import StructuredTask

__all__ = ["RELATIONS", "BabiSymbolicTask", "GraphTask", "Story", "generate_story", "parse_stories", "write_stories"]

DIRS = ("n", "s", "w", "e")
OPPOSITE = {"n": "s", "s": "n", "w": "e", "e": "w"}
STEP = {"n": (0, 1), "s": (0, -1), "w": (-1, 0), "e": (1, 0)}
RELATIONS: dict[int, tuple[str, ...]] = {4: DIRS, 15: ("is", "has_fear"), 16: ("is", "has_color"), 18: (">", "<"),
                                         19: DIRS}
QUESTIONS: dict[int, tuple[str, ...]] = {4: DIRS, 15: ("has_fear",), 16: ("has_color",), 18: (">", "<"), 19: ("path",)}
LETTERS = [chr(ord("A") + i) for i in range(26)]


@dataclass(frozen=True)
class Story:
    """One parsed story: facts ``(source, relation, target)``, the question's words after ``eval``, the answer."""

    facts: tuple[tuple[str, str, str], ...]
    question: tuple[str, ...]
    answer: str


# ----------------------------------------------------------------------------------------------- generation


def _grid_tree(rng: np.random.Generator, links: list[tuple[int, str, int]], cells: list[tuple[int, int]],
               size: int) -> None:
    """Grow a tree of ``size`` links on distinct grid cells (so every direction from a cell reaches one cell)."""
    while len(links) < size:
        at, d = int(rng.integers(len(cells))), str(rng.choice(DIRS))
        cell = (cells[at][0] + STEP[d][0], cells[at][1] + STEP[d][1])
        if cell not in cells:
            cells.append(cell)
            links.append((at, d, len(cells) - 1))


def _state(rng: np.random.Generator, names: list[str], links: list[tuple[int, str, int]]) -> list[str]:
    """Each link ``a -d-> b`` as the fact ``a d b`` or, at random, ``b opposite(d) a``."""
    return [f"{names[a]} {d} {names[b]}" if rng.random() < 0.5 else f"{names[b]} {OPPOSITE[d]} {names[a]}"
            for a, d, b in links]


def _task4(rng: np.random.Generator, question: str) -> list[str]:
    # bAbI's task 4 stories are three places in a line, two facts in one direction ("C e A / A e B"); the question
    # asks along it or against it
    d = question if rng.random() < 0.5 else OPPOSITE[question]
    a, b, c = rng.choice(LETTERS, 3, replace=False).tolist()
    facts = [f"{a} {d} {b}", f"{b} {d} {c}"]
    rng.shuffle(facts)
    pairs = [(a, b), (b, c)] if d == question else [(b, a), (c, b)]
    s, t = pairs[int(rng.integers(2))]
    return facts + [f"eval {s} {question}\t{t}"]


def _task15(rng: np.random.Generator, question: str) -> list[str]:
    names = rng.choice(LETTERS, 8, replace=False).tolist()
    kinds, beings = names[:4], names[4:]
    fears = {k: kinds[int(rng.choice([j for j in range(4) if kinds[j] != k]))] for k in kinds}
    kind_of = dict(zip(beings, rng.permutation(kinds).tolist(), strict=True))
    facts = [f"{k} has_fear {fears[k]}" for k in kinds] + [f"{b} is {kind_of[b]}" for b in beings]
    rng.shuffle(facts)
    who = beings[int(rng.integers(4))]
    return facts + [f"eval {who} has_fear\t{fears[kind_of[who]]}"]


def _task16(rng: np.random.Generator, question: str) -> list[str]:
    n_kinds = int(rng.integers(1, 4))
    names = rng.choice(LETTERS, 5 + 2 * n_kinds, replace=False).tolist()
    beings, kinds, colours = names[:5], names[5:5 + n_kinds], names[5 + n_kinds:]
    colour_of = dict(zip(kinds, colours, strict=True))
    kind_of = {b: kinds[int(rng.integers(n_kinds))] for b in beings[:4]}
    kind_of[beings[4]] = kind_of[beings[int(rng.integers(4))]]  # the asked being's kind is seen with a colour
    facts = [f"{b} is {kind_of[b]}" for b in beings] + [f"{b} has_color {colour_of[kind_of[b]]}" for b in beings[:4]]
    rng.shuffle(facts)
    return facts + [f"eval {beings[4]} has_color\t{colour_of[kind_of[beings[4]]]}"]


def _task18(rng: np.random.Generator, question: str) -> list[str]:
    n = int(rng.integers(4, 7))
    names = rng.choice(LETTERS, n, replace=False).tolist()  # names[0] biggest
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    order = rng.permutation(len(pairs))
    chosen = [pairs[k] for k in order[: int(rng.integers(n - 1, n + 2))]]
    above = np.eye(n, dtype=bool)  # transitive closure of the stated "i bigger than j"
    for i, j in chosen:
        above[i, j] = True
    for k in range(n):
        above |= above[:, [k]] & above[[k], :]
    known = [(i, j) for i in range(n) for j in range(n) if i != j and above[i, j]]
    facts = [f"{names[i]} > {names[j]}" if rng.random() < 0.5 else f"{names[j]} < {names[i]}" for i, j in chosen]
    rng.shuffle(facts)
    i, j = known[int(rng.integers(len(known)))]  # i bigger than j
    if rng.random() < 0.5:
        i, j = j, i
    truth = (question == ">") == bool(above[i, j])
    return facts + [f"eval {names[i]} {question} {names[j]}\t{'true' if truth else 'false'}"]


def _task19(rng: np.random.Generator, question: str, decoys: int = 2) -> list[str]:
    d1 = str(rng.choice(DIRS))
    d2 = str(rng.choice([d for d in DIRS if d != OPPOSITE[d1]]))
    cells = [(0, 0), STEP[d1], (STEP[d1][0] + STEP[d2][0], STEP[d1][1] + STEP[d2][1])]
    links = [(0, d1, 1), (1, d2, 2)]
    _grid_tree(rng, links, cells, 2 + decoys)  # decoy branches; a tree, so the path stays unique
    names = rng.choice(LETTERS, len(cells), replace=False).tolist()
    facts = _state(rng, names, links)
    rng.shuffle(facts)
    return facts + [f"eval path {names[0]} {names[2]}\t{d1},{d2}"]


_GENERATORS = {4: _task4, 15: _task15, 16: _task16, 18: _task18, 19: _task19}


def generate_story(task_id: int, rng: np.random.Generator, question: str | None = None) -> list[str]:
    """One story of symbolic bAbI task ``task_id`` as numbered lines (``"1 C e A"``, ..., ``"3 eval A w\\tC"``).

    ``question``: the question type (``QUESTIONS[task_id]``; default its first)."""
    if task_id not in _GENERATORS:
        raise ValueError(f"task_id: expected one of {sorted(_GENERATORS)}, got {task_id!r}")
    question = QUESTIONS[task_id][0] if question is None else question
    if question not in QUESTIONS[task_id]:
        raise ValueError(f"question: task {task_id} asks {QUESTIONS[task_id]}, got {question!r}")
    lines = _GENERATORS[task_id](rng, question)
    return [f"{i} {line}" for i, line in enumerate(lines, start=1)]


def write_stories(path: str, task_id: int, count: int, seed: int, question: str | None = None) -> None:
    """Write ``count`` stories (a file in the symbolic bAbI format) generated from ``seed``."""
    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8") as f:
        for _ in range(count):
            f.write("\n".join(generate_story(task_id, rng, question)) + "\n")


def parse_stories(lines: Iterable[str]) -> list[Story]:
    """Parse the symbolic bAbI text format: a story restarts at line number 1; every ``eval`` line is a question
    about the facts since the story began (``eval <words...><TAB><answer>``)."""
    stories: list[Story] = []
    facts: list[tuple[str, str, str]] = []
    for k, raw in enumerate(lines, start=1):
        line = raw.rstrip("\n")
        if not line.strip():
            continue
        number, _, rest = line.partition(" ")
        if not number.isdigit():
            raise ValueError(f"line {k}: expected '<number> <fact or eval ...>', got {line!r}")
        if number == "1":
            facts = []
        if rest.startswith("eval "):
            words, tab, answer = rest[len("eval "):].partition("\t")
            if not tab or not answer.strip():
                raise ValueError(f"line {k}: an eval line needs '<question>\\t<answer>', got {line!r}")
            stories.append(Story(tuple(facts), tuple(words.split()), answer.strip()))
        else:
            parts = rest.split()
            if len(parts) != 3:
                raise ValueError(f"line {k}: expected a fact 'source relation target', got {line!r}")
            facts.append((parts[0], parts[1], parts[2]))
    return stories


# ----------------------------------------------------------------------------------------------- tasks


class GraphTask(StructuredTask):
    """A graph task for ``ggnn``/``ggsnn``: ``x`` a GraphBatch, ``y`` int64 ``(B,)`` node or class, or ``(B, K)``.

    Subclasses set ``output`` (``"node"``, ``"graph"``, ``"sequence"``) and build batches with :meth:`_batch`.
    """

    input_kind = InputKind.GRAPH
    output: str
    seq_len = 0

    def select(self, batch: Batch, index: Tensor) -> Batch:
        return Batch(select_graphs(batch.x, index), batch.y.index_select(0, index.to(batch.y.device)), None)

    def _log_probs(self, output: Any) -> tuple[Tensor, Tensor | None]:
        if self.output == "node":
            if not isinstance(output, NodeScores):
                raise TypeError(f"output: task {self.name!r} selects nodes; expected NodeScores (ggnn with "
                                f"output='node'), got {type(output).__name__}")
            mask = output.mask.unsqueeze(1) if output.scores.dim() == 3 else output.mask  # (B, K, S): a GGS-NN's
            return masked_log_softmax(output.scores, mask), output.mask
        if not isinstance(output, Tensor):
            raise TypeError(f"output: task {self.name!r} expected class logits, got {type(output).__name__}")
        return torch.log_softmax(output, dim=-1), None

    def loss_of(self, output: Any, batch: Batch) -> Tensor:
        logp, _ = self._log_probs(output)
        if logp.shape[:-1] != batch.y.shape:
            raise ValueError(f"output: expected scores of shape {tuple(batch.y.shape)} + (classes,), got "
                             f"{tuple(logp.shape)} (task {self.name!r})")
        return F.nll_loss(logp.reshape(-1, logp.shape[-1]), batch.y.reshape(-1))

    def score(self, model: nn.Module, batch: Batch) -> dict[str, tuple[Tensor, Tensor]]:
        logp, _ = self._log_probs(model(batch.x))
        right = logp.argmax(-1) == batch.y
        if right.dim() == 2:
            right = right.all(-1)  # a sequence counts only when every output is right (as the paper scores 19)
        nll = -logp.gather(-1, batch.y.unsqueeze(-1)).squeeze(-1)
        nll = nll.sum(-1) if nll.dim() == 2 else nll
        n = torch.tensor(float(right.numel()))
        return {"accuracy": (right.double().sum(), n), "cross_entropy": (nll.double().sum(), n)}

    def _batch(self, examples: Sequence[tuple[Tensor, list[tuple[int, int, int]], Any]], width: int) -> Batch:
        xs, edges, ys = zip(*examples, strict=True)
        return Batch(graph_batch(list(xs), list(edges), width=width), torch.tensor(list(ys), dtype=torch.long), None)


class BabiSymbolicTask(GraphTask):
    """Symbolic bAbI task ``task_id`` (module docstring), regenerated; metrics accuracy, cross-entropy.

    Args:
        task_id: 4, 15, 16, 18 or 19. question: the question type (task 4: n/s/w/e, 18: > or <).
        train_size: training stories (50 as the paper). train_seed: seed of the training set.
        valid_size, test_size: stories in the fixed splits.
    """

    SPLIT_SEEDS: dict[str, int] = {"valid": 2_718_281_828, "test": 3_141_592_653}
    split_names = ("valid", "test")
    metrics = ["accuracy", "cross_entropy"]  # noqa: RUF012

    def __init__(self, task_id: int, *, question: str | None = None, train_size: int = 50, train_seed: int = 0,
                 valid_size: int = 1000, test_size: int = 10000) -> None:
        if task_id not in RELATIONS:
            raise ValueError(f"task_id: expected one of {sorted(RELATIONS)}, got {task_id!r}")
        self.task_id = task_id
        self.question = QUESTIONS[task_id][0] if question is None else question
        if self.question not in QUESTIONS[task_id]:
            raise ValueError(f"question: task {task_id} asks {QUESTIONS[task_id]}, got {question!r}")
        self.name = f"babi_symbolic_{task_id}"
        self.relations = RELATIONS[task_id]
        self.output = {18: "graph", 19: "sequence"}.get(task_id, "node")
        self.annotation_size = 2 if task_id in (18, 19) else 1
        self.width = {4: 3, 15: 8, 16: 11, 18: 6, 19: 5}[task_id]
        options: dict[str, Any] = {"annotation_size": self.annotation_size, "num_edge_types": len(self.relations)}
        if self.output == "graph":
            options.update(output="graph", num_classes=2)
        elif self.output == "sequence":
            options.update(output="graph", num_classes=len(DIRS), output_steps=2)
        self.model_options = options
        self.train_size = check_int("train_size", train_size, 1)
        self.train_seed = check_int("train_seed", train_seed, 0)
        self.split_sizes = {"valid": check_int("valid_size", valid_size, 1),
                            "test": check_int("test_size", test_size, 1)}
        self._cache: dict[tuple[str, int], Batch] = {}

    def stories(self, count: int, seed: int) -> list[Story]:
        """``count`` stories generated from ``seed``, written as text and parsed back (the parser is on the path)."""
        rng = np.random.default_rng(seed)
        lines = [line for _ in range(count) for line in generate_story(self.task_id, rng, self.question)]
        return parse_stories(lines)

    def encode(self, story: Story) -> tuple[Tensor, list[tuple[int, int, int]], Any]:
        """A story as (annotations ``(n, D)``, edges ``(source, type, target)``, target)."""
        ids: dict[str, int] = {}
        for s, _, t in story.facts:
            ids.setdefault(s, len(ids))
            ids.setdefault(t, len(ids))
        try:
            edges = [(ids[s], self.relations.index(r), ids[t]) for s, r, t in story.facts]
        except ValueError as err:
            raise ValueError(f"story: task {self.task_id} has relations {self.relations}; {err}") from None
        x = torch.zeros(len(ids), self.annotation_size)
        q = story.question
        if self.task_id == 19:  # path <from> <to>
            x[ids[q[1]], 0], x[ids[q[2]], 1] = 1.0, 1.0
            y: Any = [DIRS.index(d) for d in story.answer.split(",")]
        elif self.task_id == 18:  # <a> <rel> <b>
            x[ids[q[0]], 0], x[ids[q[2]], 1] = 1.0, 1.0
            y = int(story.answer == "true")
        else:  # <entity> <rel>
            x[ids[q[0]], 0] = 1.0
            y = ids[story.answer]
        return x, edges, y

    def _make(self, count: int, seed: int) -> Batch:
        return self._batch([self.encode(s) for s in self.stories(count, seed)], self.width)

    def train_set(self) -> Batch:
        key = ("train", self.train_seed)
        if key not in self._cache:
            self._cache[key] = self._make(self.train_size, self.train_seed)
        return self._cache[key]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` training stories drawn without replacement (all of them if fewer) with ``generator``."""
        return self.draw(self.train_set(), batch_size, generator)

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        self.check_split_name(name)
        seed = self.SPLIT_SEEDS[name] if generator_seed is None else check_int("generator_seed", generator_seed, 0)
        key = (name, seed)
        if key not in self._cache:
            self._cache[key] = self._make(self.split_sizes[name], seed)
        return self._cache[key]

    def baseline(self) -> dict[str, float]:
        """A uniform guess: accuracy E[1/n] over the test split's graphs (node selection), 1/2 (task 18), 1/16 (19)."""
        if self.output == "node":
            n = self.split("test").x.node_mask.sum(1).double()
            return {"accuracy": float((1 / n).mean()), "cross_entropy": float(n.log().mean())}
        if self.output == "graph":
            return {"accuracy": 0.5, "cross_entropy": math.log(2)}
        return {"accuracy": 1 / 16, "cross_entropy": 2 * math.log(4)}


def _factory(task_id: int) -> Any:
    def factory(question: str | None = None, train_size: int = 50, train_seed: int = 0, valid_size: int = 1000,
                test_size: int = 10000) -> BabiSymbolicTask:
        return BabiSymbolicTask(task_id, question=question, train_size=train_size, train_seed=train_seed,
                                valid_size=valid_size, test_size=test_size)

    return factory


_WHAT = {4: "two-argument relations (node selection)", 15: "basic deduction (node selection)",
         16: "basic induction (node selection)", 18: "size reasoning (graph classification, true/false)",
         19: "path finding (a GGS-NN's sequence of two directions)"}
for _id in (4, 15, 16, 18, 19):
    register_task(f"babi_symbolic_{_id}", _factory(_id),
                  f"bAbI-style (regenerated) symbolic task {_id}: {_WHAT[_id]}; Li et al. 2016's GG-NN setting",
                  {18: "guess: accuracy 0.5", 19: "guess: accuracy 1/16"}.get(_id, "guess a node: accuracy E[1/n]"),
                  seq_len="no sequence length (graphs)", train_defaults={"batch_size": 10})
