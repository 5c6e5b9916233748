"""coRNN's adding-problem claim: its configs validate, both runs are the same size and budget, coRNN runs with the
authors' adding values, and ``--quick`` runs it end to end."""

from __future__ import annotations

import json

import pytest

from rnnzoo import cli
from rnnzoo.reproduce.claims import get_claim


def test_cornn_adding_configs_compare_equal_sizes_and_budgets():
    claim = get_claim("cornn_adding")
    configs = claim.configs()
    assert sorted({seed for _, seed, _ in configs}) == [0, 1]
    by_label = {run.label: cfg for run, seed, cfg in configs if seed == 0}
    assert {cfg.model for cfg in by_label.values()} == {"cornn", "lstm"}
    keys = ("task", "seq_len", "hidden_size", "num_layers", "max_steps", "batch_size", "optimizer")
    assert {tuple(getattr(cfg, k) for k in keys) for cfg in by_label.values()} == {
        ("adding", 500, 32, 1, 250, 50, "adam")}
    assert by_label["cornn"].options == {"dt": 0.06, "gamma": 66.0, "epsilon": 15.0}
    assert claim.minutes <= 10


@pytest.mark.slow  # a smoke training run of both models (~50 s on the loaded shared cores)
def test_cornn_adding_quick_runs_end_to_end(tmp_path):
    run_dir = tmp_path / "cornn"
    assert cli.main(["reproduce", "cornn_adding", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "reproduce.json").read_text())
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    for label in ("cornn", "lstm"):
        res = json.loads((run_dir / f"{label}-s0" / "results.json").read_text())
        assert res["config"]["model"] == label and res["config"]["seq_len"] == 20
