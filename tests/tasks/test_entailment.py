"""babi_entailment: labels checked against the premise text by an independent reading; fixed splits; scoring."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.data.babi_gen import ACTORS, LOCATIONS
from rnnzoo.tasks.registry import get_task
from rnnzoo.tasks.structured import score_model


def words(task, ids, length):
    return [task.vocab.itos[int(i)] for i in ids[:length]]


def last_location(premise: list[str], actor: str) -> str | None:
    """Where the premise last puts ``actor``: the first location word after its last mention."""
    where = None
    for i, w in enumerate(premise):
        if w == actor:
            where = next(v for v in premise[i + 1:] if v in LOCATIONS)
    return where


def test_labels_agree_with_an_independent_reading_of_the_premise():
    task = get_task("babi_entailment")
    batch = task.split("valid")
    x, y = batch.x, batch.y
    actors, locations = {a.lower() for a in ACTORS}, set(LOCATIONS)
    seen = set()
    for i in range(len(y)):
        p = words(task, x.premise[i], int(x.premise_lengths[i]))
        h = words(task, x.hypothesis[i], int(x.hypothesis_lengths[i]))
        assert h[1:4] == ["is", "in", "the"] and h[0] in actors and h[4] in locations
        assert all(w != "<pad>" for w in p) and len(p) <= 10 * 6
        where = last_location(p, h[0])
        label = int(y[i])
        seen.add(label)
        if label == 0:
            assert where == h[4]
        elif label == 2:
            assert where is not None and where != h[4]
        else:
            assert where is None
    assert seen == {0, 1, 2}
    counts = torch.bincount(y, minlength=3).double() / len(y)
    assert bool((counts - 1 / 3).abs().max() < 0.05), counts


def test_splits_are_fixed_and_training_batches_follow_the_generator():
    a, b = get_task("babi_entailment"), get_task("babi_entailment")
    for name in ("valid", "test"):
        sa, sb = a.split(name), b.split(name)
        assert torch.equal(sa.x.premise, sb.x.premise) and torch.equal(sa.y, sb.y)
    assert len(a.split("test").y) == 2000 and len(a.split("valid").y) == 1000
    assert not torch.equal(a.split("valid").x.premise[:5], a.split("test").x.premise[:5])
    s1 = a.sample(16, torch.Generator().manual_seed(3))
    s2 = b.sample(16, torch.Generator().manual_seed(3))
    s3 = b.sample(16, torch.Generator().manual_seed(4))
    assert torch.equal(s1.x.premise, s2.x.premise) and torch.equal(s1.y, s2.y)
    assert not torch.equal(s1.y, s3.y) or not torch.equal(s1.x.premise[:, :5], s3.x.premise[:, :5])
    assert s1.y.shape == (16,) and s1.x.premise.shape[0] == 16


def test_max_facts_bounds_the_premise():
    task = get_task("babi_entailment", max_facts=2)
    assert int(task.split("valid").x.premise_lengths.max()) <= 2 * 6
    with pytest.raises(ValueError, match="max_facts"):
        get_task("babi_entailment", max_facts=0)


@pytest.mark.parametrize("model", ["match_lstm", "sentence_lstm"])
def test_score_and_loss(model: str):
    task = get_task("babi_entailment")
    torch.manual_seed(0)
    net = rnnzoo.create(model, hidden_size=6, **task.model_options)
    batch = task.sample(8, torch.Generator().manual_seed(0))
    loss = task.loss_of(net(batch.x), batch)
    assert loss.dim() == 0 and math.isfinite(float(loss.detach()))
    scores = task.score(net.eval(), batch)
    with torch.no_grad():
        logits = net(batch.x).logits
    assert float(scores["accuracy"][0]) == float((logits.argmax(-1) == batch.y).sum())
    assert float(scores["accuracy"][1]) == 8.0
    mean = score_model(task, net, batch, batch_size=3)
    assert mean["accuracy"] == pytest.approx(float(scores["accuracy"][0]) / 8)
    assert task.baseline() == {"accuracy": pytest.approx(1 / 3), "cross_entropy": pytest.approx(math.log(3))}
    with pytest.raises(ValueError, match="output"):
        task.loss_of(torch.zeros(8, 4), batch)


def test_babi_dmn_adds_the_gate_loss_only_for_a_supervised_dmn():
    from rnnzoo.cells.dmn import gate_loss

    task = get_task("babi_dmn", task_id=1, train_stories=20, test_stories=4)
    batch = task.sample(6, torch.Generator().manual_seed(0))
    assert bool((batch.y.supports[:, 0] >= 0).all())
    for flag in (False, True):
        torch.manual_seed(0)
        model = rnnzoo.create("dmn", hidden_size=6, gate_supervision=flag, **task.model_options)
        out = model(batch.x)
        answer = torch.nn.functional.cross_entropy(out.logits, batch.y.answer)
        expected = answer + gate_loss(out, batch.y.supports) if flag else answer
        torch.testing.assert_close(task.loss_of(out, batch), expected)
    assert float(gate_loss(out, batch.y.supports).detach()) > 0
    plain = get_task("babi", task_id=1, train_stories=20, test_stories=4)
    torch.testing.assert_close(plain.loss_of(out, batch), answer)
