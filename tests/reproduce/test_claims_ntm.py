"""The NTM copy claim: its configs validate, the two models are the same size and trained alike, the test split is
twice the training length, and ``--quick`` runs it end to end."""

from __future__ import annotations

import json

import rnnzoo
from rnnzoo import cli
from rnnzoo.reproduce.claims import get_claim
from rnnzoo.tasks import get_task


def _parameters(cfg) -> int:
    task = get_task(cfg.task, seq_len=cfg.seq_len, **cfg.task_options)
    body = rnnzoo.create(cfg.model, input_size=task.input_size, hidden_size=cfg.hidden_size, **cfg.options)
    return sum(p.numel() for p in body.parameters()) + body.output_size * task.output_size + task.output_size


def test_ntm_copy_configs_compare_equal_sizes_and_budgets():
    claim = get_claim("ntm_copy")
    configs = claim.configs()
    assert sorted({seed for _, seed, _ in configs}) == [0, 1, 2]
    by_label = {run.label: cfg for run, seed, cfg in configs if seed == 0}
    assert {cfg.model for cfg in by_label.values()} == {"ntm", "lstm"}
    keys = ("task", "seq_len", "max_steps", "batch_size", "lr", "optimizer", "clip_norm", "stop_at")
    assert {tuple(getattr(cfg, k) for k in keys) for cfg in by_label.values()} == {
        ("ntm_copy", 10, 20_000, 16, 1e-3, "adam", 10.0, 0.01)}
    sizes = {label: _parameters(cfg) for label, cfg in by_label.items()}
    assert sizes == {"ntm": 62_660, "lstm": 63_848}  # the numbers the claim's setting states
    task = get_task("ntm_copy", seq_len=10, **by_label["ntm"].task_options)
    assert (task.split("test").lengths == 2 * 20 + 1).all() and task.split("valid").lengths.max() <= 2 * 10 + 1
    cell = rnnzoo.model_info("ntm").build(9, 100)
    assert (cell.slots, cell.width, cell.memory_init, cell.init_value) == (128, 20, "constant", 1e-6)


def test_ntm_copy_quick_runs_end_to_end(tmp_path):
    run_dir = tmp_path / "ntm"
    assert cli.main(["reproduce", "ntm_copy", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "reproduce.json").read_text())
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    for label in ("ntm", "lstm"):
        res = json.loads((run_dir / f"{label}-s0" / "results.json").read_text())
        assert res["config"]["model"] == label and res["config"]["task_options"]["test_len"] == 6
        assert res["test"]["nll"] == summary["measured"][label]["per_seed"]["0"]
