"""``listops``: ListOps (Nangia & Bowman 2018, "ListOps: A Diagnostic Dataset for Latent Tree Learning", NAACL SRW,
arXiv:1804.06028), generated in the project with its gold parse trees.

An expression is a nested list of operations on single digits, ``[MAX 2 9 [MIN 4 7 ] 0 ]``; the label is its value
(10 classes): ``MIN``, ``MAX``, ``MED`` (the median, truncated to an int as the generator's ``int(np.median)``) and
``SM`` (the sum modulo 10). The generator follows the published one (google-research/long-range-arena,
``lra_benchmarks/data/listops.py``, written again here, not copied): a node at depth ``d < max_depth`` is a value with
probability 0.75 (``VALUE_P`` = 0.25 for an operator; at the root too), else an operator with 2 to ``max_args``
arguments drawn recursively; at ``max_depth`` always a value. An expression's length counts every token (an operator 2
for itself and its ``]``); only expressions with ``min_length < length < max_length`` are kept, and each split holds
distinct expressions (the generator keeps a set). Labels come from :func:`evaluate` over the parsed tree.

Every example carries its gold tree and its token sequence (:class:`~rnnzoo.data.trees.TreeBatch`), so a tree model
(``tree_lstm``, ``s_lstm``) and a sequential one (``tree_seq_lstm``) train on the same batches. ``form``: ``"binary"``
(default; the generator's own left-branching binary bracketing ``((((op a1) a2) ...) ])``, whose leaves are the tokens:
what every model here reads, the N-ary Tree-LSTM and the S-LSTM included) or ``"nary"`` (an operator node with its
arguments as children: the child-sum Tree-LSTM only).

Splits: a finite training set of ``train_size`` expressions from ``train_seed`` (none of them in valid or test), fixed
``valid`` and ``test`` splits from their own seeds. Metrics: ``accuracy`` (monitored) and ``cross_entropy``.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from rnnzoo.core.registry import InputKind
from rnnzoo.data.trees import FORMS, LISTOPS_END, LISTOPS_OPERATORS, LISTOPS_VALUES, Tree, batch_trees, parse_listops

from .base import Batch, check_choice, check_int
from .registry import register_task
from .structured import LabelTask

__all__ = ["VOCAB", "ListOpsTask", "evaluate", "generate_expression", "make_split"]

VALUE_P = 0.25  # the generator's probability of an operator below max_depth
VOCAB = {token: i + 1 for i, token in enumerate((*LISTOPS_OPERATORS, LISTOPS_END, *LISTOPS_VALUES))}  # 0 = none
_SPLIT_SEEDS = {"valid": 180_406_028, "test": 180_406_029}


def generate_expression(rng: np.random.Generator, max_depth: int, max_args: int, depth: int = 1
                        ) -> tuple[list[str], int]:
    """One random expression as ``(tokens, length)`` by the published generator's rule (module docstring)."""
    if depth < max_depth and rng.random() <= VALUE_P:
        tokens: list[str] = []
        for _ in range(int(rng.integers(2, max_args + 1))):
            tokens += generate_expression(rng, max_depth, max_args, depth + 1)[0]
        op = LISTOPS_OPERATORS[int(rng.integers(len(LISTOPS_OPERATORS)))]
        tokens = [op, *tokens, LISTOPS_END]
        return tokens, len(tokens)
    return [LISTOPS_VALUES[int(rng.integers(10))]], 1


def evaluate(tree: Tree) -> int:
    """The value of a ListOps tree in the ``"nary"`` form (nodes in post-order: children before parents)."""
    values: list[int] = []
    for token, kids in zip(tree.tokens, tree.children, strict=True):
        if not kids:
            if token not in LISTOPS_VALUES:
                raise ValueError(f"tree: a leaf must be a digit in the nary form, got {token!r}")
            values.append(int(token))
            continue
        args = sorted(values[k] for k in kids)
        if token == "[MIN":
            values.append(args[0])
        elif token == "[MAX":
            values.append(args[-1])
        elif token == "[MED":
            mid = len(args) // 2
            values.append(args[mid] if len(args) % 2 else (args[mid - 1] + args[mid]) // 2)
        elif token == "[SM":
            values.append(sum(args) % 10)
        else:
            raise ValueError(f"tree: expected an operator at an inner node, got {token!r}")
    return values[-1]


def make_split(count: int, seed: int, *, max_depth: int, max_args: int, min_length: int, max_length: int,
               exclude: set[str] | frozenset[str] = frozenset()) -> tuple[list[str], list[int]]:
    """``count`` distinct expressions (not in ``exclude``) drawn with ``seed`` and their labels."""
    rng = np.random.default_rng([seed, 1804])
    texts: list[str] = []
    seen = set(exclude)
    for _ in range(10_000 * count + 100_000):
        tokens, length = generate_expression(rng, max_depth, max_args)
        text = " ".join(tokens)
        if min_length < length < max_length and text not in seen:
            seen.add(text)
            texts.append(text)
            if len(texts) == count:
                return texts, [evaluate(parse_listops(t, form="nary")) for t in texts]
    raise ValueError(f"count: found only {len(texts)} distinct expressions of length in ({min_length}, {max_length}) "
                     f"with max_depth {max_depth}, max_args {max_args}; asked for {count}")


class ListOpsTask(LabelTask):
    """ListOps with gold trees (module docstring).

    Options: max_depth (4), max_args (5), min_length / max_length (exclusive bounds on the token count: 4 and 60),
    form (``"binary"`` or ``"nary"``), train_size (4,000), train_seed (0), valid_size / test_size (1,000 each)."""

    num_classes = 10

    name = "listops"
    input_kind = InputKind.TREE
    metrics = ["accuracy", "cross_entropy"]  # noqa: RUF012
    split_names = ("valid", "test")

    def __init__(self, *, max_depth: int = 4, max_args: int = 5, min_length: int = 4, max_length: int = 60,
                 form: str = "binary", train_size: int = 4000, train_seed: int = 0, valid_size: int = 1000,
                 test_size: int = 1000) -> None:
        self.max_depth = check_int("max_depth", max_depth, 1)
        self.max_args = check_int("max_args", max_args, 2)
        self.min_length = check_int("min_length", min_length, 0)
        self.max_length = check_int("max_length", max_length, self.min_length + 2)
        self.form = str(check_choice("form", form, FORMS))
        self.train_size = check_int("train_size", train_size, 1)
        self.train_seed = check_int("train_seed", train_seed, 0)
        self.split_sizes = {"valid": check_int("valid_size", valid_size, 1),
                            "test": check_int("test_size", test_size, 1)}
        self.seq_len = 0
        self.output_size = 10
        self.model_options: dict[str, Any] = {"vocab_size": len(VOCAB) + 1, "num_classes": 10}
        self.texts: dict[str, list[str]] = {}
        self._cache: dict[tuple[str, int], Batch] = {}

    def _options(self) -> dict[str, int]:
        return {"max_depth": self.max_depth, "max_args": self.max_args, "min_length": self.min_length,
                "max_length": self.max_length}

    def _batch(self, name: str, texts: list[str], labels: list[int]) -> Batch:
        self.texts[name] = texts
        trees = [parse_listops(t, form=self.form) for t in texts]
        return Batch(batch_trees(trees, VOCAB), torch.tensor(labels, dtype=torch.long), None)

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        self.check_split_name(name)
        seed = _SPLIT_SEEDS[name] if generator_seed is None else check_int("generator_seed", generator_seed, 0)
        key = (name, seed)
        if key not in self._cache:
            texts, labels = make_split(self.split_sizes[name], seed, **self._options())
            self._cache[key] = self._batch(name, texts, labels)
        return self._cache[key]

    def train_set(self) -> Batch:
        """The finite training set: ``train_size`` expressions, none of them in the valid or test split."""
        key = ("train", self.train_seed)
        if key not in self._cache:
            held_out = {t for name in self.split_names for t in self._split_texts(name)}
            texts, labels = make_split(self.train_size, self.train_seed, exclude=held_out, **self._options())
            self._cache[key] = self._batch("train", texts, labels)
        return self._cache[key]

    def _split_texts(self, name: str) -> list[str]:
        self.split(name)
        return self.texts[name]

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        """``batch_size`` training expressions drawn without replacement (all of them if fewer) with ``generator``."""
        return self.draw(self.train_set(), batch_size, generator)

    def baseline(self) -> dict[str, float]:
        """The training labels' frequencies as the prediction, scored on the test split: accuracy of the most
        frequent label, cross-entropy of the frequencies (the labels are far from uniform)."""
        train, test = self.train_set().y, self.split("test").y
        freq = (torch.bincount(train, minlength=10).double() + 1.0) / (len(train) + 10.0)  # add-one: no log(0)
        label = int(freq.argmax())
        return {"accuracy": float((test == label).double().mean()), "cross_entropy": float(-freq[test].log().mean())}


def _factory(max_depth: int = 4, max_args: int = 5, min_length: int = 4, max_length: int = 60, form: str = "binary",
             train_size: int = 4000, train_seed: int = 0, valid_size: int = 1000, test_size: int = 1000
             ) -> ListOpsTask:
    return ListOpsTask(max_depth=max_depth, max_args=max_args, min_length=min_length, max_length=max_length,
                       form=form, train_size=train_size, train_seed=train_seed, valid_size=valid_size,
                       test_size=test_size)


register_task("listops", _factory,
              "ListOps (Nangia & Bowman 2018): the value of nested MIN/MAX/MED/SM lists of digits, generated with "
              "gold parse trees and token sequences (tree and sequential models on the same batches)",
              "the most frequent training label", seq_len="no sequence length (expressions of < max_length tokens)",
              train_defaults={"seq_len": None})
