"""``rnnzoo export RUN_DIR`` on a tiny run: the file lands next to the run without replacing one, holds the
whole predictor (model and head), matches eager on the task's held-out data, and the command says how to
load it; bad input exits 2 with one line."""

from __future__ import annotations

import re
from pathlib import Path

import onnxruntime as ort
import pytest
import torch

from rnnzoo import cli
from rnnzoo.train.build import build_task
from rnnzoo.train.config import TrainConfig
from rnnzoo.train.run import load_checkpoint, model_from_checkpoint

TINY = ["--model", "gru", "--seq-len", "8", "--hidden-size", "6", "--batch-size", "8", "--val-every", "3",
        "--progress", "none", "--threads", "1", "--stop-at", "none", "--task-option", "valid_size=32",
        "--task-option", "test_size=32", "--max-steps", "3"]


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Path:
    run_dir = tmp_path_factory.mktemp("runs") / "tiny"
    assert cli.main(["train", *TINY, "--run-dir", str(run_dir)]) == 0
    return run_dir


def _predictor_and_test_data(run_dir: Path):
    ckpt = load_checkpoint(run_dir)
    task = build_task(TrainConfig.from_dict(dict(ckpt["rnnzoo"]["config"])))
    return model_from_checkpoint(ckpt).eval(), task.split("test")


def test_onnx_next_to_the_run_checked_and_never_replacing_a_file(run, capsys):
    taken = run / "gru-last.onnx"
    taken.write_bytes(b"someone else's file")
    capsys.readouterr()
    assert cli.main(["export", str(run)]) == 0
    out = capsys.readouterr().out
    written = run / "gru-last-1.onnx"
    assert taken.read_bytes() == b"someone else's file"
    assert f"writing {written.name} instead" in out
    assert "max |onnx - eager| = " in out and "32 test sequences" in out
    assert "sequence length: dynamic" in out
    assert "import onnxruntime as ort" in out and str(written) in out

    model, test = _predictor_and_test_data(run)
    session = ort.InferenceSession(str(written), providers=["CPUExecutionProvider"])
    got = session.run(None, {"x": test.x.float().numpy()})
    with torch.no_grad():
        want, _ = model(test.x.float())
    assert got[0].shape == tuple(want.shape)  # the head's prediction, not the recurrent features
    torch.testing.assert_close(torch.from_numpy(got[0]), want, atol=1e-5, rtol=0)


def test_torch_export_program_loads_with_torch_export_load(run, capsys):
    assert cli.main(["export", str(run / "checkpoints" / "last.ckpt"), "--format", "torch-export",
                     "--split", "valid"]) == 0
    out = capsys.readouterr().out
    assert "torch.export.load" in out and "valid sequences" in out
    model, test = _predictor_and_test_data(run)
    program = torch.export.load(str(run / "gru-last.pt2"))
    x = test.x[:5, :6].float()  # another batch size and a shorter sequence than the task's
    with torch.no_grad():
        torch.testing.assert_close(program.module()(x)[0], model(x)[0], atol=1e-5, rtol=0)


def test_bad_input_exits_2_with_one_line(run, tmp_path, capsys):
    existing = tmp_path / "mine.onnx"
    existing.write_bytes(b"x")
    cases = [
        (["export", str(run), "--out", str(existing)], "--out: .*mine.onnx already exists"),
        (["export", str(run), "--out", str(tmp_path / "m.pt2")], "--out: expected a file ending in .onnx"),
        (["export", str(run), "--split", "train"], "--split: expected one of"),
        (["export", str(tmp_path / "nowhere")], "checkpoint: no such file"),
        (["export", str(run), "--format", "tflite"], "invalid choice: 'tflite'"),
    ]
    for argv, message in cases:
        assert cli.main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "Traceback" not in err
        assert re.search(message, err), (argv, err)
    assert existing.read_bytes() == b"x"
