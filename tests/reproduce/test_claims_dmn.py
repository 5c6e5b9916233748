"""The DMN and match-LSTM claims: configurations validate against the registered models and tasks, and both run
end to end at the --quick smoke scale."""

from __future__ import annotations

import pytest

import rnnzoo
from rnnzoo.reproduce import get_claim, reproduce
from rnnzoo.reproduce.claims_dmn import ENTAILMENT_MARGIN
from rnnzoo.reproduce.verdict import Ordering, Threshold
from rnnzoo.tasks.registry import get_task


def test_dmn_claim_configs():
    claim = get_claim("dmn_babi")
    configs = claim.configs()
    assert len(claim.seeds) >= 3 and len(configs) == 2 * len(claim.seeds)
    assert {cfg.model for _, _, cfg in configs} == {"dmn"}
    assert {cfg.task_options["task_id"] for _, _, cfg in configs} == {1, 6}
    assert all(cfg.options == {"gate_supervision": True} for _, _, cfg in configs)
    assert set(claim.published_values) == {"task1", "task6"}
    assert claim.conditions == (Threshold("task1", ">=", 0.99), Threshold("task6", ">=", 0.901))
    assert "regenerated" in claim.setting
    for _, _, cfg in configs[:2]:  # the task builds, and the model takes its options
        task = get_task(cfg.task, **cfg.task_options)
        rnnzoo.create(cfg.model, hidden_size=cfg.hidden_size, **task.model_options, **cfg.options)


def test_entailment_claim_configs():
    claim = get_claim("match_lstm_entailment")
    configs = claim.configs()
    assert len(claim.seeds) >= 3
    assert {cfg.model for _, _, cfg in configs} == {"match_lstm", "sentence_lstm"}
    assert {cfg.task for _, _, cfg in configs} == {"babi_entailment"}
    assert claim.conditions == (Ordering(("match_lstm",), ("sentence_lstm",), margin=ENTAILMENT_MARGIN),)
    assert ENTAILMENT_MARGIN > 0
    equal = {k: v for k, v in claim.values(claim.runs[0], 0).items() if k != "model"}
    assert equal == {k: v for k, v in claim.values(claim.runs[1], 0).items() if k != "model"}
@pytest.mark.slow
@pytest.mark.parametrize("name", ["dmn_babi", "match_lstm_entailment"])
def test_quick_run_end_to_end(name, tmp_path):
    claim = get_claim(name)
    summary = reproduce(claim, seeds=[0], run_dir=tmp_path / "q", quick=True, echo=lambda _: None)
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    assert set(summary["measured"]) == set(claim.labels)
