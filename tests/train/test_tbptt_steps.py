"""Under --tbptt a step is an optimizer update everywhere: --max-steps, --val-every, --log-every,
metrics.csv's step column, checkpoints (which may fall between two windows of a batch and resume exactly)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from rnnzoo import cli

#: copy memory, T = 24 in windows of 6 (gradients through 9): 4 updates per batch
COPY = ["--task", "copy", "--seq-len", "24", "--tbptt", "6,9", "--hidden-size", "8", "--batch-size", "16",
        "--progress", "none", "--threads", "1", "--task-option", "valid_size=64", "--task-option", "test_size=64"]


def _rows(run: Path) -> list[dict[str, str]]:
    with (run / "metrics.csv").open() as fh:
        return list(csv.DictReader(fh))


def _weights(run: Path) -> dict[str, torch.Tensor]:
    return torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]


def test_val_every_log_every_and_metrics_count_updates(tmp_path):
    run = tmp_path / "run"
    assert cli.main(["train", *COPY, "--max-steps", "10", "--val-every", "3", "--log-every", "1",
                     "--run-dir", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["steps"] == 10 and results["batches"] == 2  # exactly 10 updates: 2 whole batches and a half
    rows = _rows(run)
    assert [int(r["step"]) for r in rows if r["train/loss"]] == list(range(10))  # one row per update
    assert [int(r["step"]) for r in rows if r["valid/cross_entropy"]] == [2, 5, 8]  # after updates 3, 6, 9
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["global_step"] == 10 and ckpt["rnnzoo"]["tbptt"]["window"] == 2


def test_a_checkpoint_between_two_windows_resumes_exactly(tmp_path):
    extra = ["--val-every", "3", "--variational-dropout", "0.2"]  # dropout masks too follow (batch, window)
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert cli.main(["train", *COPY, *extra, "--max-steps", "10", "--run-dir", str(whole)]) == 0
    assert cli.main(["train", *COPY, *extra, "--max-steps", "6", "--run-dir", str(part)]) == 0
    assert torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)["rnnzoo"]["tbptt"]["window"] == 2
    assert cli.main(["train", "--resume", str(part), "--max-steps", "10", "--progress", "none"]) == 0
    a, b = _weights(whole), _weights(part)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_one_update_per_batch_for_a_last_step_target(tmp_path):
    run = tmp_path / "adding"
    assert cli.main(["train", "--seq-len", "12", "--tbptt", "4", "--hidden-size", "8", "--batch-size", "16",
                     "--progress", "none", "--threads", "1", "--task-option", "valid_size=64", "--task-option",
                     "test_size=64", "--max-steps", "5", "--val-every", "5", "--run-dir", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["steps"] == 5 and results["batches"] == 5  # only the window with the last step scores
