"""JANET's pixel-digits claim: its configs validate, JANET and the LSTM get the same size, data and budget, JANET's
chrono initialisation is set to the sequence length, and ``--quick`` runs it end to end."""

from __future__ import annotations

import json

import pytest

import rnnzoo
from rnnzoo import cli
from rnnzoo.reproduce.claims import get_claim


def test_janet_digits_configs_compare_equal_sizes_and_budgets():
    claim = get_claim("janet_digits")
    configs = claim.configs()
    assert sorted({seed for _, seed, _ in configs}) == [0, 1, 2]
    by_label = {run.label: cfg for run, seed, cfg in configs if seed == 0}
    assert {label: (cfg.model, cfg.task) for label, cfg in by_label.items()} == {
        "janet": ("janet", "digits"), "lstm": ("lstm", "digits"),
        "janet-permuted": ("janet", "permuted_digits"), "lstm-permuted": ("lstm", "permuted_digits")}
    keys = ("hidden_size", "num_layers", "max_steps", "batch_size", "lr", "optimizer", "clip_norm")
    assert len({tuple(getattr(cfg, k) for k in keys) for cfg in by_label.values()}) == 1
    assert by_label["janet"].options == {"t_max": 64} and by_label["lstm"].options == {"forget_bias": 1.0}
    cell = rnnzoo.model_info("janet").build(1, 8, **by_label["janet"].options)
    assert cell.t_max == 64 and cell.beta == 1.0 and float(cell.bias[8:].abs().max()) == 0.0


@pytest.mark.slow
def test_janet_digits_quick_runs_end_to_end(tmp_path):
    run_dir = tmp_path / "janet"
    assert cli.main(["reproduce", "janet_digits", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "reproduce.json").read_text())
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    for label in ("janet", "lstm", "janet-permuted", "lstm-permuted"):
        res = json.loads((run_dir / f"{label}-s0" / "results.json").read_text())
        assert res["test"]["accuracy"] == summary["measured"][label]["per_seed"]["0"]
