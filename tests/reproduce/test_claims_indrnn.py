"""IndRNN's adding-problem claim: its configs validate, both runs are the same size and budget, and ``--quick``
runs it end to end."""

from __future__ import annotations

import json

import rnnzoo
from rnnzoo import cli
from rnnzoo.reproduce.claims import get_claim


def test_indrnn_adding_configs_compare_equal_sizes_and_budgets():
    claim = get_claim("indrnn_adding")
    configs = claim.configs()
    assert sorted({seed for _, seed, _ in configs}) == [0, 1, 2]
    by_label = {run.label: cfg for run, seed, cfg in configs if seed == 0}
    assert {cfg.model for cfg in by_label.values()} == {"indrnn", "lstm"}
    keys = ("task", "seq_len", "hidden_size", "num_layers", "max_steps", "batch_size", "lr", "optimizer")
    assert {tuple(getattr(cfg, k) for k in keys) for cfg in by_label.values()} == {
        ("adding", 1000, 64, 2, 1500, 50, 2e-3, "adam")}
    assert rnnzoo.model_info("indrnn").factory(1, 4).recurrent_max == 1.0  # the bound the claim's setting names


def test_indrnn_adding_quick_runs_end_to_end(tmp_path, capsys):
    run_dir = tmp_path / "indrnn"
    assert cli.main(["reproduce", "indrnn_adding", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "reproduce.json").read_text())
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    for label in ("indrnn", "lstm"):
        res = json.loads((run_dir / f"{label}-s0" / "results.json").read_text())
        assert res["config"]["model"] == label and res["config"]["seq_len"] == 20
        assert res["test"]["mse"] == summary["measured"][label]["per_seed"]["0"]
