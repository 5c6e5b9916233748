"""The attention_length claim: its configs validate, the two runs differ only in attention, and ``--quick`` runs it
end to end."""

from __future__ import annotations

import json

from rnnzoo import cli
from rnnzoo.reproduce.claims import get_claim
from rnnzoo.tasks.registry import get_task


def test_attention_length_runs_differ_only_in_attention():
    claim = get_claim("attention_length")
    configs = claim.configs()
    assert sorted({seed for _, seed, _ in configs}) == [0, 1, 2]
    by_label = {run.label: cfg for run, seed, cfg in configs if seed == 0}
    assert by_label["attention"].options == {"attention": "additive"} and by_label["no_attention"].options == {}
    keys = ("task", "model", "seq_len", "hidden_size", "max_steps", "batch_size", "lr", "optimizer", "clip_norm")
    assert len({tuple(getattr(cfg, k) for k in keys) for cfg in by_label.values()}) == 1
    assert len({json.dumps(cfg.task_options, sort_keys=True) for cfg in by_label.values()}) == 1
    cfg = by_label["attention"]
    task = get_task(cfg.task, seq_len=cfg.seq_len, **cfg.task_options)
    # the test split is the long bucket of the training range, as the claim's setting says
    assert set(task.split("test").x.source_lengths.tolist()) == {13, 14, 15} and task.max_length == 15
    assert claim.metric == "sequence_accuracy"


def test_attention_length_quick_runs_end_to_end(tmp_path):
    run_dir = tmp_path / "attention"
    assert cli.main(["reproduce", "attention_length", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "reproduce.json").read_text())
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    for label in ("attention", "no_attention"):
        res = json.loads((run_dir / f"{label}-s0" / "results.json").read_text())
        assert res["config"]["model"] == "seq2seq"
        assert 0.0 <= res["test"]["sequence_accuracy"] <= 1.0
        assert res["test"]["sequence_accuracy"] == summary["measured"][label]["per_seed"]["0"]
