"""The listops task: generated as the published generator does, deterministic per seed, labels checked by an evaluator
written independently here (a stack machine over the token string, not the parsed tree), gold trees consistent with
the token sequences, and a tree model and a sequential model both trainable on the same batches."""

from __future__ import annotations

import statistics

import numpy as np
import pytest
import torch

import rnnzoo
from rnnzoo.data.trees import parse_listops
from rnnzoo.tasks import get_task
from rnnzoo.tasks.listops import VOCAB, evaluate, generate_expression

SMALL = {"train_size": 60, "valid_size": 40, "test_size": 40}


def stack_value(text: str) -> int:
    """ListOps by a stack machine over the tokens (independent of rnnzoo.data.trees and listops.evaluate)."""
    stack: list = []
    for tok in text.split():
        if tok.startswith("["):
            stack.append(tok)
        elif tok == "]":
            args = []
            while not isinstance(stack[-1], str):
                args.append(stack.pop())
            op = stack.pop()
            value = {"[MIN": min, "[MAX": max, "[SM": lambda a: sum(a) % 10,
                     "[MED": lambda a: int(statistics.median(a))}[op](args)
            stack.append(value)
        else:
            stack.append(int(tok))
    assert len(stack) == 1
    return stack[0]


@pytest.mark.parametrize(("text", "value"), [
    ("[MAX 2 9 [MIN 4 7 ] 0 ]", 9), ("[MED 1 2 ]", 1), ("[MED 3 8 1 ]", 3), ("[MED 1 2 6 9 ]", 4),
    ("[SM 5 7 ]", 2), ("[SM [MAX 9 9 ] [MIN 3 8 ] ]", 2), ("7", 7),
])
def test_the_evaluator_on_worked_examples(text: str, value: int) -> None:
    assert evaluate(parse_listops(text)) == value == stack_value(text)


def test_labels_match_an_independent_evaluator_and_the_trees_match_the_tokens() -> None:
    task = get_task("listops", **SMALL)
    for name in ("valid", "test"):
        batch = task.split(name)
        for i, text in enumerate(task.texts[name]):
            assert int(batch.y[i]) == stack_value(text)
            n = int(batch.x.lengths[i])
            assert [t for t in batch.x.sequence[i, :n].tolist()] == [VOCAB[w] for w in text.split()]
            leaves = (batch.x.children[i] < 0).all(-1) & batch.x.node_mask[i]
            assert batch.x.tokens[i][leaves].tolist() == batch.x.sequence[i, :n].tolist()  # binary form: leaves


def test_splits_are_deterministic_bounded_and_disjoint() -> None:
    a, b = get_task("listops", **SMALL), get_task("listops", **SMALL)
    assert a.split("test").y.tolist() == b.split("test").y.tolist() and a.texts["test"] == b.texts["test"]
    a.train_set()
    for text in a.texts["train"]:
        assert 4 < len(text.split()) < 60 and text not in a.texts["valid"] + a.texts["test"]
        depth, most = 0, 0
        for tok in text.split():
            depth += tok.startswith("[") - (tok == "]")
            most = max(most, depth)
        assert most <= 3  # max_depth 4 counts the values' level: operators nest at most 3 deep
    assert len(set(a.texts["train"])) == len(a.texts["train"])
    other = get_task("listops", **SMALL, train_seed=1)
    assert other.train_set().y.tolist() != a.train_set().y.tolist()
    gen = torch.Generator().manual_seed(0)
    drawn = a.sample(8, gen)
    assert drawn.y.shape == (8,) and drawn.x.tokens.shape[0] == 8


def test_generator_follows_the_published_rule() -> None:
    rng = np.random.default_rng(0)
    lengths, ops = [], 0
    for _ in range(2000):
        tokens, length = generate_expression(rng, max_depth=3, max_args=4)
        assert length == len(tokens)
        lengths.append(length)
        ops += tokens[0].startswith("[")
    assert abs(ops / 2000 - 0.25) < 0.04  # the root is an operator with probability VALUE_P = 0.25
    assert max(lengths) <= 2 + 4 * (2 + 4)  # depth 3: an operator of operators of values


def test_tree_and_sequence_models_train_on_the_same_batches() -> None:
    task = get_task("listops", **SMALL)
    batch = task.sample(6, torch.Generator().manual_seed(1))
    for name in ("tree_lstm", "s_lstm", "tree_seq_lstm"):
        model = rnnzoo.create(name, hidden_size=8, **task.model_options)
        loss = task.loss_of(model(batch.x), batch)
        loss.backward()
        assert torch.isfinite(loss)
        metrics = task.score(model.eval(), batch)
        assert set(metrics) == {"accuracy", "cross_entropy"}
    nary = get_task("listops", form="nary", **SMALL)
    x = nary.split("valid").x
    assert int((x.children >= 0).sum(-1).max()) > 2  # operators with more than two arguments
    rnnzoo.create("tree_lstm", hidden_size=4, **nary.model_options)(x)
    base = task.baseline()
    assert 0.0 < base["accuracy"] < 0.5 and base["cross_entropy"] > 0


def test_bad_options_are_named() -> None:
    with pytest.raises(ValueError, match="form"):
        get_task("listops", form="ternary")
    with pytest.raises(ValueError, match="max_args"):
        get_task("listops", max_args=1)
