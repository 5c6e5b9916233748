"""The ``rnnzoo`` command line end to end, on tiny runs (in-process where possible)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from rnnzoo import cli

#: a tiny, fast run: an LSTM with 8 units on the adding problem with T = 12 and small eval splits
TINY = ["--model", "lstm", "--seq-len", "12", "--hidden-size", "8", "--batch-size", "16", "--val-every", "5",
        "--progress", "none", "--threads", "1", "--stop-at", "none", "--task-option", "valid_size=64",
        "--task-option", "test_size=64"]


def _train(run_dir: Path, *extra: str, steps: int = 10) -> int:
    return cli.main(["train", *TINY, "--max-steps", str(steps), "--run-dir", str(run_dir), *extra])


def _weights(run_dir: Path, name: str = "last.ckpt") -> dict[str, torch.Tensor]:
    ckpt = torch.load(run_dir / "checkpoints" / name, map_location="cpu", weights_only=True)
    return {k: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}


def _assert_same_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def _err_line(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err
    return err


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    run = tmp_path_factory.mktemp("runs") / "tiny"
    assert _train(run, steps=10) == 0
    return run


def test_train_writes_the_run_directory(finished_run):
    for name in ("config.yaml", "metrics.csv", "results.json", "checkpoints/last.ckpt", "checkpoints/best.ckpt"):
        assert (finished_run / name).exists(), name
    assert list((finished_run / "tensorboard").glob("version_*/events.*"))
    results = json.loads((finished_run / "results.json").read_text())
    for key in ("model", "task", "valid", "test", "baseline", "steps", "wall_seconds", "parameters"):
        assert key in results
    assert results["model"] == "lstm" and results["task"] == "adding" and results["steps"] == 10
    assert set(results["test"]) == {"mse"} and results["baseline"]["mse"] == pytest.approx(1 / 6)
    assert results["parameters"] == sum(v.numel() for v in _weights(finished_run).values())
    header = (finished_run / "metrics.csv").read_text().splitlines()[0]
    assert "train/loss" in header and "valid/mse" in header
    cfg = yaml.safe_load((finished_run / "config.yaml").read_text())
    # the default job's model and task: its cell option stays, the task options given are added
    assert cfg["hidden_size"] == 8 and cfg["options"] == {"forget_bias": 1.0}
    assert cfg["task_options"] == {"valid_size": 64, "test_size": 64}


def test_config_yaml_repeats_the_run(finished_run, tmp_path):
    again = tmp_path / "again"
    assert cli.main(["train", "--config", str(finished_run / "config.yaml"), "--run-dir", str(again)]) == 0
    _assert_same_weights(_weights(finished_run), _weights(again))
    a = json.loads((finished_run / "results.json").read_text())
    b = json.loads((again / "results.json").read_text())
    assert a["test"] == b["test"]


def test_resume_gives_the_uninterrupted_weights(finished_run, tmp_path):
    part = tmp_path / "part"
    assert _train(part, steps=4) == 0
    assert cli.main(["train", "--resume", str(part), "--max-steps", "10", "--progress", "none"]) == 0
    _assert_same_weights(_weights(finished_run), _weights(part))
    assert json.loads((part / "results.json").read_text())["steps"] == 10
    assert yaml.safe_load((part / "config.yaml").read_text())["max_steps"] == 10


def test_resume_refuses_to_change_the_run(finished_run, capsys):
    assert cli.main(["train", "--resume", str(finished_run), "--lr", "0.5"]) == 2
    err = _err_line(capsys)
    assert "--lr" in err and "cannot change" in err


def test_evaluate_writes_json_next_to_the_checkpoint(finished_run, tmp_path, capsys):
    assert cli.main(["evaluate", str(finished_run)]) == 0
    out = finished_run / "checkpoints" / "last.test.json"
    result = json.loads(out.read_text())
    results = json.loads((finished_run / "results.json").read_text())
    assert result["metrics"]["mse"] == pytest.approx(results["test"]["mse"], rel=1e-5)
    assert "mse" in capsys.readouterr().out
    other = tmp_path / "valid.json"
    assert cli.main(["evaluate", str(finished_run / "checkpoints" / "best.ckpt"), "--split", "valid",
                     "--out", str(other)]) == 0
    assert json.loads(other.read_text())["split"] == "valid"
    assert cli.main(["evaluate", str(finished_run), "--split", "train"]) == 2
    assert "--split" in _err_line(capsys)
    for bad in ("0", "-5"):
        assert cli.main(["evaluate", str(finished_run), "--batch-size", bad]) == 2
        assert "--batch-size: expected a positive integer" in _err_line(capsys)


def test_finished_run_dir_is_not_overwritten(finished_run, tmp_path, capsys):
    copy = tmp_path / "copy"
    shutil.copytree(finished_run, copy)
    before = (copy / "results.json").read_text()
    assert _train(copy, steps=2) == 2
    err = _err_line(capsys)
    assert "finished run" in err and "--overwrite" in err
    assert (copy / "results.json").read_text() == before
    assert _train(copy, "--overwrite", steps=2) == 0
    assert json.loads((copy / "results.json").read_text())["steps"] == 2


def test_unfinished_run_dir_suggests_resume(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    assert _train(run, steps=2) == 2
    assert "--resume" in _err_line(capsys)


def test_unknown_model_suggests_close_names(tmp_path, capsys):
    assert cli.main(["train", "--model", "lstn", "--run-dir", str(tmp_path / "x")]) == 2
    err = _err_line(capsys)
    assert "'lstm'" in err and "did you mean" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_unknown_task_suggests_close_names(tmp_path, capsys):
    assert cli.main(["train", "--task", "addng", "--run-dir", str(tmp_path / "x")]) == 2
    err = _err_line(capsys)
    assert "'adding'" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


@pytest.mark.parametrize("argv,flag", [
    (["--lr", "-1"], "--lr"),
    (["--lr", "fast"], "--lr"),
    (["--optimizer", "adamw"], "--optimizer"),
    (["--tbptt", "5,2"], "--tbptt"),
    (["--tbptt", "a"], "--tbptt"),
    (["--hidden-size", "0"], "--hidden-size"),
    (["--clip-norm", "0"], "--clip-norm"),
    (["--option", "novalue"], "--option"),
    (["--option", "activation=relu"], "--option"),
    (["--batch-size", "5", "--devices", "2"], "--batch-size"),
    (["--batch-size", "6", "--devices", "2", "--num-nodes", "2"], "--batch-size"),
    (["--num-nodes", "0"], "--num-nodes"),
    (["--precision", "16-mixed", "--accelerator", "cpu"], "--precision"),
    (["--strategy", "fsdp", "--accelerator", "cpu"], "--strategy"),
    (["--bidirectional", "--tbptt", "4"], "--tbptt"),
    (["--monitor", "accuracy"], "--monitor"),
    (["--head", "per_step"], "--head"),
    (["--model", "convlstm"], "--model"),
    (["--weight-drop", "1.5"], "--weight-drop"),
    (["--zoneout", "-0.1"], "--zoneout"),
    (["--variational-dropout", "x"], "--variational-dropout"),
])
def test_invalid_values_give_one_line(argv, flag, tmp_path, capsys):
    assert cli.main(["train", *argv, "--run-dir", str(tmp_path / "x")]) == 2
    err = _err_line(capsys)
    assert len(err.splitlines()) == 1, err
    assert flag in err
    assert any(word in err for word in ("got", "invalid choice", "Allowed", "options are")), err
    assert not (tmp_path / "x").exists()


REGULARISERS = ["--variational-dropout", "0.2", "--zoneout", "0.1", "--weight-drop", "0.3", "--layer-norm"]


def test_regularisers_define_the_run_and_resume_exactly(tmp_path, capsys):
    whole, part = tmp_path / "whole", tmp_path / "part"
    assert _train(whole, *REGULARISERS, steps=6) == 0
    cfg = yaml.safe_load((whole / "config.yaml").read_text())
    assert (cfg["variational_dropout"], cfg["zoneout"], cfg["weight_drop"], cfg["layer_norm"]) == (0.2, 0.1, 0.3, True)
    weights = _weights(whole)
    # VD(Zoneout(WeightDrop(LSTMCell))): the LSTM's own layer_norm option, no LayerNorm wrapper
    assert "model.backbone.layers.0.cell.inner.inner.inner.ln_hh_weight" in weights
    assert _train(part, *REGULARISERS, steps=4) == 0
    for change in (["--weight-drop", "0.5"], ["--no-layer-norm"], ["--zoneout", "none"]):
        assert cli.main(["train", "--resume", str(part), *change]) == 2
        err = _err_line(capsys)
        assert change[0].replace("--no-", "--") in err and "cannot change" in err
    assert cli.main(["train", "--resume", str(part), "--max-steps", "6", "--progress", "none"]) == 0
    _assert_same_weights(weights, _weights(part))  # the masks follow the batch index: resume stays exact
    assert cli.main(["evaluate", str(part)]) == 0  # rebuilt from the checkpoint's model config, in eval mode


def test_regulariser_mappings_in_a_config_file(tmp_path, capsys):
    good = tmp_path / "good.yaml"
    good.write_text("zoneout: {h: 0.05, c: 0.5}\nvariational_dropout: {state: 0.25}\n")
    run = tmp_path / "run"
    assert _train(run, "--config", str(good), steps=2) == 0
    cfg = yaml.safe_load((run / "config.yaml").read_text())
    assert cfg["zoneout"] == {"h": 0.05, "c": 0.5} and cfg["variational_dropout"] == {"state": 0.25}
    bad = tmp_path / "bad.yaml"
    bad.write_text("zoneout: {q: 0.1}\n")
    assert cli.main(["train", *TINY, "--config", str(bad), "--run-dir", str(tmp_path / "x")]) == 2
    err = _err_line(capsys)
    assert err.endswith(f"{bad}, line 1: zoneout (model 'lstm'): LSTMCell's state has the fields h, c; got 'q'"), err
    bad.write_text("variational_dropout: {hidden: 0.1}\n")
    assert cli.main(["train", *TINY, "--config", str(bad), "--run-dir", str(tmp_path / "x")]) == 2
    err = _err_line(capsys)
    assert "line 1: variational_dropout: expected a probability in [0, 1) or a mapping of keys among" in err


def test_bad_config_file(tmp_path, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text("lr: 0.1\nlearning_rate: 3\n")
    assert cli.main(["train", "--config", str(bad)]) == 2
    assert "learning_rate" in _err_line(capsys)
    assert cli.main(["train", "--config", str(tmp_path / "missing.yaml")]) == 2
    assert "no such file" in _err_line(capsys)


def test_missing_truncated_and_foreign_checkpoints(finished_run, tmp_path, capsys):
    ckpt = finished_run / "checkpoints" / "last.ckpt"
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(ckpt.read_bytes()[: ckpt.stat().st_size // 2])
    foreign = tmp_path / "foreign.ckpt"
    torch.save({"state_dict": {"w": torch.zeros(2)}, "epoch": 3}, foreign)
    garbage = tmp_path / "garbage.ckpt"
    garbage.write_text("not a checkpoint")
    cases = [(tmp_path / "nope.ckpt", "no such file"), (truncated, "truncated"), (foreign, "not an rnnzoo"),
             (garbage, "truncated, corrupt or not a PyTorch checkpoint")]
    for path, words in cases:
        before = sorted(p.name for p in tmp_path.iterdir())
        assert cli.main(["train", "--resume", str(path), "--progress", "none"]) == 2
        assert words in _err_line(capsys)
        assert cli.main(["evaluate", str(path)]) == 2
        assert words in _err_line(capsys)
        assert sorted(p.name for p in tmp_path.iterdir()) == before  # nothing written


def test_nan_loss_stops_with_the_step_and_a_hint(tmp_path, capsys, monkeypatch):
    import rnnzoo.train.module as module

    real = module.full_loss
    calls = {"n": 0}

    def poisoned(pred, targets, loss):
        calls["n"] += 1
        value = real(pred, targets, loss)
        return value * float("nan") if calls["n"] == 7 else value

    monkeypatch.setattr(module, "full_loss", poisoned)
    run = tmp_path / "nan"
    assert _train(run, steps=20) == 1
    err = _err_line(capsys)
    assert "step 6" in err and "--clip-norm" in err or "clip" in err
    assert not (run / "results.json").exists()
    for value in _weights(run).values():  # the checkpoint of step 5 is clean
        assert torch.isfinite(value).all()


def test_real_divergence_is_caught(tmp_path, capsys):
    run = tmp_path / "boom"
    rc = cli.main(["train", *TINY, "--model", "elman", "--option", "activation=relu", "--optimizer", "sgd",
                   "--lr", "1e6", "--clip-norm", "none", "--max-steps", "50", "--run-dir", str(run)])
    assert rc == 1
    err = _err_line(capsys)
    assert "diverged at step" in err and "--clip-norm" in err


def test_tbptt_and_heads_through_the_cli(tmp_path):
    run = tmp_path / "tbptt"
    # copy memory: a label per step; T = 24 in chunks of 6 -> 4 updates per batch
    assert cli.main(["train", *TINY, "--task", "copy", "--seq-len", "24", "--tbptt", "6,9", "--max-steps", "8",
                     "--run-dir", str(run)]) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["steps"] == 8 and results["batches"] == 2
    assert {"accuracy", "error_rate", "cross_entropy", "perplexity", "bpc"} <= set(results["test"])
    nt = tmp_path / "next"
    assert cli.main(["train", *TINY, "--task", "copy", "--seq-len", "22", "--head", "next_token", "--max-steps", "2",
                     "--run-dir", str(nt)]) == 0
    bi = tmp_path / "bi"
    assert cli.main(["train", *TINY, "--model", "gru", "--bidirectional", "--num-layers", "2", "--max-steps", "2",
                     "--run-dir", str(bi)]) == 0


def test_schedules_and_optimizers(tmp_path):
    for i, extra in enumerate([["--optimizer", "sgd", "--schedule", "cosine", "--warmup-steps", "2"],
                               ["--optimizer", "rmsprop", "--schedule", "step", "--step-size", "2",
                                "--clip-value", "0.5", "--deterministic"]]):
        assert _train(tmp_path / str(i), *extra, steps=4) == 0


def test_early_stopping_reports_best_weights(tmp_path):
    run = tmp_path / "es"
    assert _train(run, "--early-stopping", "1", "--lr", "0.5", "--val-every", "2", steps=40) == 0
    results = json.loads((run / "results.json").read_text())
    assert results["weights"] == "best"
    assert results["steps"] < 40


def test_compare_writes_table_csv_and_plot(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert cli.main(["compare", "--models", "elman,gru", "--tasks", "adding", "--seq-lens", "8,12",
                     "--hidden-size", "4", "--max-steps", "3", "--val-every", "3", "--progress", "none",
                     "--task-option", "valid_size=32", "--task-option", "test_size=32", "--run-dir", str(out)]) == 0
    for name in ("compare.md", "compare.csv", "compare.png"):
        assert (out / name).stat().st_size > 0
    table = (out / "compare.md").read_text()
    assert "| elman |" in table and "| gru |" in table and "T=8" in table and "baseline" in table
    assert len((out / "compare.csv").read_text().strip().splitlines()) == 5
    assert (out / "gru-adding-T12-s0" / "results.json").exists()
    capsys.readouterr()
    assert cli.main(["compare", "--models", "elman", "--seq-lens", "8", "--run-dir", str(out)]) == 2
    assert "--overwrite" in _err_line(capsys)


def test_list_shows_models_and_tasks(capsys):
    assert cli.main(["list"]) == 0
    out = capsys.readouterr().out
    assert "lstm" in out and "Gers" in out and "adding" in out and "0.1667" in out
    assert "input image_sequence; fast path rnnzoo; causal; chunkable" in out  # convlstm's typed fields
    assert "converts to torch.nn.LSTM" in out


def test_help_exits_zero(capsys):
    assert cli.main(["train", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--tbptt" in out
    for name in ("--variational-dropout", "--zoneout", "--weight-drop", "--layer-norm"):
        assert name in out


def test_delegated_commands_missing_module(monkeypatch, capsys):
    monkeypatch.setitem(cli._DELEGATES, "bench", ("rnnzoo._no_such_module", "main"))
    assert cli.main(["bench", "--sizes", "1"]) == 2
    assert "not available" in _err_line(capsys)


def test_delegated_commands_pass_argv(monkeypatch):
    import types

    seen = {}
    fake = types.ModuleType("rnnzoo._fake_diag")
    fake.main = lambda argv: seen.setdefault("argv", argv) and 0
    monkeypatch.setitem(sys.modules, "rnnzoo._fake_diag", fake)
    monkeypatch.setitem(cli._DELEGATES, "diagnose", ("rnnzoo._fake_diag", "main"))
    assert cli.main(["diagnose", "--model", "lstm", "-x"]) == 0
    assert seen["argv"] == ["--model", "lstm", "-x"]


def test_diagnose_every_without_diagnostics(monkeypatch, tmp_path, capsys):
    monkeypatch.setitem(sys.modules, "rnnzoo.diagnostics", None)
    assert _train(tmp_path / "d", "--diagnose-every", "5", steps=2) == 2
    assert "--diagnose-every" in _err_line(capsys)
    assert not (tmp_path / "d").exists()


def test_diagnose_every_adds_the_callback(tmp_path):
    pytest.importorskip("rnnzoo.diagnostics.callback")
    run = tmp_path / "d"
    assert _train(run, "--diagnose-every", "5", steps=5) == 0
    assert yaml.safe_load((run / "config.yaml").read_text())["diagnose_every"] == 5
    assert "diag/" in (run / "metrics.csv").read_text().splitlines()[0]


# ------------------------------------------------------------------------------------ subprocesses


def _env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def test_console_entry_point():
    exe = Path(sys.executable).with_name("rnnzoo")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "rnnzoo"]
    proc = subprocess.run([*cmd, "train", "--model", "lstmm"], capture_output=True, text=True, timeout=300,
                          env=_env())
    assert proc.returncode == 2
    assert "did you mean 'lstm'" in proc.stderr and "Traceback" not in proc.stderr


def test_sigint_leaves_a_checkpoint_that_resumes_exactly(tmp_path):
    run = tmp_path / "interrupted"
    cmd = [sys.executable, "-m", "rnnzoo", "train", *TINY, "--val-every", "10", "--progress", "log",
           "--max-steps", "1000000", "--run-dir", str(run)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env())
    try:
        deadline = time.time() + 240
        for line in proc.stdout:  # wait for the first progress line: training is under way
            if line.startswith("step") or time.time() > deadline:
                break
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "--resume" in err and "Traceback" not in err
    step = torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["global_step"]
    assert step >= 10 and not (run / "results.json").exists()
    target = str(step + 6)
    assert cli.main(["train", "--resume", str(run), "--max-steps", target, "--progress", "none"]) == 0
    fresh = tmp_path / "fresh"
    assert _train(fresh, steps=int(target)) == 0
    _assert_same_weights(_weights(run), _weights(fresh))


def test_ddp_two_processes(tmp_path):
    run = tmp_path / "ddp"
    cmd = [sys.executable, "-m", "rnnzoo", "train", *TINY, "--devices", "2", "--max-steps", "6",
           "--run-dir", str(run)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads((run / "results.json").read_text())
    assert results["steps"] == 6 and results["config"]["devices"] == 2
    # each process takes half of the same global batch: one process computes the same run
    single = tmp_path / "single"
    assert _train(single, steps=6) == 0
    a, b = _weights(run), _weights(single)
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5, msg=k)
