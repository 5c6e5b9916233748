"""The stack_dyck claim: the stack LSTM and the same model with stack=False on the same held-out Dyck strings;
``--quick`` runs it end to end."""

from __future__ import annotations

import json

import pytest

from rnnzoo import cli
from rnnzoo.reproduce.claims import get_claim
from rnnzoo.tasks import get_task


def test_stack_dyck_configs() -> None:
    claim = get_claim("stack_dyck")
    configs = claim.configs()
    assert sorted({seed for _, seed, _ in configs}) == [0, 1, 2]
    by_label = {run.label: cfg for run, seed, cfg in configs if seed == 0}
    assert by_label["stack_lstm"].options == {"stack": True} and by_label["lstm"].options == {"stack": False}
    for cfg in by_label.values():
        assert (cfg.model, cfg.task, cfg.monitor, cfg.hidden_size) == ("stack_lstm", "dyck_parse",
                                                                        "sequence_accuracy", 32)
        task = get_task(cfg.task, **cfg.task_options)
        assert task.test_depth > task.max_depth and task.test_pairs > task.max_pairs
    assert claim.metric == "sequence_accuracy" and claim.minutes <= 10
    assert [c.describe(claim.metric) for c in claim.conditions] == [
        "stack_lstm sequence_accuracy >= 0.95", "stack_lstm above lstm in sequence_accuracy by more than 0.5"]


@pytest.mark.slow  # about 20 s: two Lightning runs end to end at the smoke scale
def test_stack_dyck_quick_runs_end_to_end(tmp_path) -> None:
    run_dir = tmp_path / "stack"
    assert cli.main(["reproduce", "stack_dyck", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "reproduce.json").read_text())
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    res = json.loads((run_dir / "lstm-s0" / "results.json").read_text())
    assert res["config"]["options"] == {"stack": False} and res["config"]["task"] == "dyck_parse"
    assert res["test"]["sequence_accuracy"] == summary["measured"]["lstm"]["per_seed"]["0"]
