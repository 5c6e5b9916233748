"""The ggnn_babi claim: one run per task and question type, 3 seeds, the paper's 50 training stories, a pass rule
on every run; ``--quick`` runs it end to end."""

from __future__ import annotations

import json

from rnnzoo import cli
from rnnzoo.reproduce.claims import get_claim
from rnnzoo.tasks import get_task


def test_ggnn_babi_configs() -> None:
    claim = get_claim("ggnn_babi")
    configs = claim.configs()
    assert sorted({seed for _, seed, _ in configs}) == [0, 1, 2]
    by_label = {run.label: cfg for run, seed, cfg in configs if seed == 0}
    assert set(by_label) == {"task4_n", "task4_s", "task4_w", "task4_e", "task15", "task16", "task18_gt",
                             "task18_lt"}
    assert {c.task for c in by_label.values()} == {f"babi_symbolic_{i}" for i in (4, 15, 16, 18)}
    for label, cfg in by_label.items():
        assert cfg.model == "ggnn" and cfg.task_options["train_size"] == 50 and cfg.monitor == "accuracy"
        task = get_task(cfg.task, **cfg.task_options)
        if label.startswith("task4_"):
            assert task.question == label[-1]
        assert claim.published_values[label] == 1.0
    assert {get_task(c.task, **c.task_options).question for c in by_label.values()
            if c.task == "babi_symbolic_18"} == {">", "<"}
    assert {c.describe(claim.metric) for c in claim.conditions} == {
        f"{label} accuracy >= 0.9995" for label in by_label}


def test_ggnn_babi_quick_runs_end_to_end(tmp_path) -> None:
    run_dir = tmp_path / "ggnn"
    assert cli.main(["reproduce", "ggnn_babi", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "reproduce.json").read_text())
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    res = json.loads((run_dir / "task18_gt-s0" / "results.json").read_text())
    assert res["config"]["model"] == "ggnn" and res["config"]["task"] == "babi_symbolic_18"
    assert res["test"]["accuracy"] == summary["measured"]["task18_gt"]["per_seed"]["0"]


def test_ggsnn_babi19_configs_and_quick(tmp_path) -> None:
    claim = get_claim("ggsnn_babi19")
    configs = claim.configs()
    assert sorted(seed for _, seed, _ in configs) == [0, 1, 2]
    cfg = configs[0][2]
    assert (cfg.model, cfg.task, cfg.task_options["train_size"]) == ("ggsnn", "babi_symbolic_19", 250)
    assert get_task(cfg.task, **cfg.task_options).model_options["output_steps"] == 2
    run_dir = tmp_path / "ggsnn"
    assert cli.main(["reproduce", "ggsnn_babi19", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]) == 0
    res = json.loads((run_dir / "task19-s0" / "results.json").read_text())
    assert 0.0 <= res["test"]["accuracy"] <= 1.0
