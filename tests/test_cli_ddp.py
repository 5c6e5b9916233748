"""SIGTERM to a two-process DDP run (CPU, gloo, ``--devices 2``) leaves a checkpoint that resumes exactly:
the resumed run ends with the weights and metrics of a run never stopped.

In this process (the DDP workers are spawned either way): the signal goes to this process, the launcher,
as ``kill <pid of rnnzoo train>`` would, and is forwarded to the workers. The run uses truncated BPTT with
a validation every 3 of the 4 updates of a batch, so checkpoints fall between two windows of a batch and
carry the state gathered from both processes.
"""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest
import torch

from rnnzoo import cli

DDP = ["train", "--task", "copy", "--seq-len", "24", "--tbptt", "6,9", "--hidden-size", "8", "--batch-size", "16",
       "--devices", "2", "--val-every", "3", "--progress", "none", "--threads", "1", "--task-option",
       "valid_size=64", "--task-option", "test_size=64"]


def _signal_when(path: Path, signum: int, timeout: float = 240.0) -> threading.Thread:
    """Send ``signum`` to this process once ``path`` exists (training is under way: its first checkpoint)."""

    def wait() -> None:
        deadline = time.time() + timeout
        while not path.exists() and time.time() < deadline:
            time.sleep(0.05)
        os.kill(os.getpid(), signum)

    thread = threading.Thread(target=wait, daemon=True)
    thread.start()
    return thread


@pytest.mark.slow  # three DDP runs, each spawning two workers that import torch and Lightning: ~50 s on 2 cores
@pytest.mark.skipif(os.name != "posix", reason="POSIX signals")
def test_sigterm_to_ddp_leaves_a_checkpoint_that_resumes_exactly(tmp_path, capsys):
    run = tmp_path / "interrupted"
    thread = _signal_when(run / "checkpoints" / "last.ckpt", signal.SIGTERM)
    assert cli.main([*DDP, "--max-steps", "1000000", "--run-dir", str(run)]) == 128 + signal.SIGTERM
    thread.join(5)
    out, err = capsys.readouterr()
    assert "on 2 processes" in out
    assert "SIGTERM: training stopped at step" in err and f"--resume {run}" in err and "Traceback" not in err
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)
    step = ckpt["global_step"]
    assert step >= 3 and ckpt["rnnzoo"]["updates"] == step and not (run / "results.json").exists()

    target = str(step + 6)
    assert cli.main(["train", "--resume", str(run), "--max-steps", target, "--progress", "none"]) == 0
    fresh = tmp_path / "fresh"
    assert cli.main([*DDP, "--max-steps", target, "--run-dir", str(fresh)]) == 0
    a = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(fresh / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    resumed, never = (json.loads((r / "results.json").read_text()) for r in (run, fresh))
    assert resumed["steps"] == never["steps"] == int(target)
    assert resumed["valid"] == never["valid"] and resumed["test"] == never["test"]
