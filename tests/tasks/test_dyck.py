"""The Dyck parsing task: strings are balanced and within their bounds, labels agree with an independent
string-rewriting computation, operations are the parser's oracle, splits are deterministic per seed and the test
split is longer and deeper than training."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import torch

import rnnzoo
from rnnzoo.cells.stack_lstm import NOOP, POP, PUSH
from rnnzoo.tasks import get_task
from rnnzoo.tasks.dyck import IGNORE, LABELS, SYMBOLS, depth_of, dyck_string, encode
from rnnzoo.tasks.structured import score_model


def _balanced(s: str) -> bool:
    while "()" in s or "[]" in s:
        s = s.replace("()", "").replace("[]", "")
    return s == ""


def _label(prefix: str) -> int:
    """Independently of the task's stack: delete matched pairs until none is left; what remains is the open
    brackets, and the last one must close next."""
    while re.search(r"\(\)|\[\]", prefix):
        prefix = re.sub(r"\(\)|\[\]", "", prefix)
    assert set(prefix) <= {"(", "["}, prefix
    return 0 if not prefix else 1 + "([".index(prefix[-1])


def _decode(tokens: torch.Tensor, actions: torch.Tensor) -> str:
    return "".join(SYMBOLS[int(k)] for k, a in zip(tokens.argmax(-1), actions, strict=True) if a != NOOP)


def test_strings_are_balanced_and_bounded():
    rng = np.random.default_rng(0)
    for pairs, depth in ((1, 1), (5, 2), (12, 4), (20, 20)):
        for _ in range(50):
            s = dyck_string(rng, pairs, depth)
            assert len(s) == 2 * pairs and _balanced(s) and depth_of(s) <= depth


def test_labels_and_oracle_operations_are_right():
    task = get_task("dyck_parse", valid_size=60, test_size=40)
    for split in ("valid", "test"):
        batch = task.split(split)
        for b in range(batch.y.shape[0]):
            s = _decode(batch.x.tokens[b], batch.x.actions[b])
            n = len(s)
            assert _balanced(s)
            assert torch.equal(batch.x.actions[b, n:], torch.full_like(batch.x.actions[b, n:], NOOP))
            assert bool((batch.y[b, n:] == IGNORE).all()) and not bool(batch.x.tokens[b, n:].any())
            assert batch.x.actions[b, :n].tolist() == [PUSH if ch in "([" else POP for ch in s]
            assert batch.y[b, :n].tolist() == [_label(s[:t + 1]) for t in range(n)]
    assert LABELS == ("none", ")", "]")


def test_splits_are_deterministic_and_the_test_split_is_longer_and_deeper():
    task = get_task("dyck_parse", max_pairs=6, max_depth=3, test_pairs=12, test_depth=6, valid_size=80, test_size=80)
    again = get_task("dyck_parse", max_pairs=6, max_depth=3, test_pairs=12, test_depth=6, valid_size=80, test_size=80)
    for split in ("valid", "test"):
        assert torch.equal(task.split(split).y, again.split(split).y)
    assert not torch.equal(task.split("valid", generator_seed=1).y[:, :4], task.split("valid").y[:, :4])
    valid = [_decode(t, a) for t, a in zip(*task.split("valid").x, strict=True)]
    test = [_decode(t, a) for t, a in zip(*task.split("test").x, strict=True)]
    assert all(2 <= len(s) <= 12 and depth_of(s) <= 3 for s in valid)
    assert all(14 <= len(s) <= 24 and 4 <= depth_of(s) <= 6 for s in test)
    one = task.sample(8, torch.Generator().manual_seed(5))
    assert torch.equal(one.y, task.sample(8, torch.Generator().manual_seed(5)).y)
    assert not torch.equal(one.x.tokens, task.sample(8, torch.Generator().manual_seed(6)).x.tokens)
    assert task.model_options == {"input_size": 4, "num_classes": 3, "capacity": 12}


def test_scores_and_bad_arguments():
    task = get_task("dyck_parse", valid_size=30, test_size=20)
    batch = task.split("valid")
    torch.manual_seed(0)
    model = rnnzoo.create("stack_lstm", hidden_size=6, **task.model_options)
    logits = model(batch.x)
    valid = batch.y != IGNORE
    right = (logits.argmax(-1) == batch.y) & valid
    got = score_model(task, model, batch)
    assert got["accuracy"] == pytest.approx(float(right.sum() / valid.sum()))
    assert got["sequence_accuracy"] == pytest.approx(float((right | ~valid).all(1).double().mean()))
    assert torch.isfinite(task.loss_of(logits, batch))
    assert task.baseline()["accuracy"] == pytest.approx(1 / 3) and task.baseline()["cross_entropy"] == math.log(3)
    with pytest.raises(ValueError, match="output: expected logits of shape"):
        task.loss_of(logits[..., :2], batch)
    with pytest.raises(ValueError, match="test_depth must be an integer >= 5"):
        get_task("dyck_parse", test_depth=4)
    with pytest.raises(ValueError, match="not a Dyck string"):
        encode(["(]"])
