"""What a run says: why it stopped, the validation metric in the progress bar, how many processes, and a
resume that would train nothing refused before anything is written."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from rnnzoo import cli
from rnnzoo.tasks import get_task
from rnnzoo.train.config import TrainConfig
from rnnzoo.train.report import announce

TINY = ["--model", "lstm", "--seq-len", "12", "--hidden-size", "8", "--batch-size", "16", "--val-every", "5",
        "--threads", "1", "--task-option", "valid_size=64", "--task-option", "test_size=64"]


def _records(run: Path) -> dict[str, tuple[bytes, int]]:
    files = [run / "results.json", run / "config.yaml", run / "metrics.csv", *sorted((run / "checkpoints").iterdir())]
    return {f.name: (f.read_bytes(), f.stat().st_mtime_ns) for f in files}


@pytest.fixture(scope="module")
def stopped_run(tmp_path_factory) -> Path:
    """A run that stops on --stop-at at its first validation (step 5 of up to 40)."""
    run = tmp_path_factory.mktemp("runs") / "stopped"
    assert cli.main(["train", *TINY, "--progress", "none", "--stop-at", "10", "--max-steps", "40",
                     "--run-dir", str(run)]) == 0
    return run


def test_the_run_says_why_it_stopped(tmp_path, capsys):
    run = tmp_path / "r"
    assert cli.main(["train", *TINY, "--progress", "none", "--stop-at", "10", "--max-steps", "40",
                     "--run-dir", str(run)]) == 0
    out = capsys.readouterr().out
    assert "for up to 40 steps, stopping early once valid MSE < 10 (--stop-at)" in out
    results = json.loads((run / "results.json").read_text())
    assert results["steps"] == 5 and results["stop_rule"] == "stop_at"
    assert f"stopped early at step 5: valid MSE {results['valid']['mse']:.2g} below --stop-at 10" in out
    assert results["stop_reason"] in out
    assert cli.main(["train", *TINY, "--progress", "none", "--stop-at", "none", "--max-steps", "5",
                     "--run-dir", str(tmp_path / "full")]) == 0
    assert "reached --max-steps 5" in capsys.readouterr().out


def test_a_resume_that_would_train_nothing_is_refused(stopped_run, capsys):
    before = _records(stopped_run)
    for argv, words in [(["--max-steps", "5"], "already at step 5, got --max-steps 5"),
                        (["--max-steps", "3"], "already at step 5, got --max-steps 3"),
                        (["--max-steps", "40"], "--stop-at: the run in"),  # it would stop again at once
                        (["--max-steps", "40", "--stop-at", "20"], "would stop again")]:
        assert cli.main(["train", "--resume", str(stopped_run), "--progress", "none", *argv]) == 2, argv
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert _records(stopped_run) == before  # results.json, config.yaml, metrics, checkpoints untouched
    # what the messages ask for does continue the run
    assert cli.main(["train", "--resume", str(stopped_run), "--progress", "none", "--stop-at", "none",
                     "--max-steps", "10"]) == 0
    assert json.loads((stopped_run / "results.json").read_text())["steps"] == 10


def test_the_progress_bar_shows_the_validation_metric(tmp_path):
    # in a child process: the bar writes to the terminal's stderr, which capsys does not hold
    argv = [sys.executable, "-m", "rnnzoo", "train", *TINY, "--progress", "bar", "--max-steps", "10", "--stop-at",
            "none", "--run-dir", str(tmp_path / "bar")]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert re.search(r"valid/mse[=:] ?0\.\d", proc.stdout + proc.stderr)


def test_several_processes_are_announced():
    cfg = TrainConfig.from_dict({"devices": 2, "batch_size": 64, "stop_at": None})
    line = announce(cfg, get_task("adding", valid_size=8, test_size=8), 100, "mse", Path("runs/x"))
    assert "on 2 processes (DDP over gloo, 32 of the 64 sequences of each batch per process)" in line
    assert "processes" not in announce(cfg.replace(devices=1), get_task("adding", valid_size=8, test_size=8), 100,
                                       "mse", Path("runs/x"))
