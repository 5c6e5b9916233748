"""The sweep executor in this process (no Ray): failed runs reported, re-runs skip finished runs and retry failed
ones, interrupted runs resume, a directory of another configuration refused; bad --workers / --ray-address."""

from __future__ import annotations

import csv
import functools
import json
import os
import signal
import sys

import pytest

from rnnzoo import cli
from rnnzoo.train import compare as compare_mod
from rnnzoo.train import sweep, sweep_ray
from rnnzoo.train.config import TrainConfig
from rnnzoo.train.errors import ConfigError, RunDirError, TrainingDiverged
from rnnzoo.train.run import Interrupted, train

TINY = ["--hidden-size", "4", "--max-steps", "3", "--val-every", "3", "--progress", "none", "--threads", "1",
        "--task-option", "valid_size=32", "--task-option", "test_size=32", "--seq-lens", "8"]


def _compare(run_dir, *extra):
    return cli.main(["compare", "--models", "elman,gru", "--seeds", "0", *TINY, "--run-dir", str(run_dir), *extra])


def _rows(run_dir):
    with open(run_dir / "compare.csv", newline="") as fh:
        return {r["model"]: r for r in csv.DictReader(fh)}


def _mtime(path):
    return path.stat().st_mtime_ns


def _failing_gru(cfg, run_dir, **kw):
    if cfg.model == "gru":
        raise OSError("disk full (a failure the test makes)\nsecond line")
    return train(cfg, run_dir, **kw)


def test_failed_run_is_reported_then_retried_while_finished_runs_are_skipped(tmp_path, monkeypatch, capsys):
    out = tmp_path / "cmp"
    monkeypatch.setattr(compare_mod, "run_sweep", functools.partial(sweep.run_sweep, train_fn=_failing_gru))
    assert _compare(out) == 0
    rows = _rows(out)
    assert rows["gru"]["status"] == "failed: OSError: disk full (a failure the test makes)"
    assert rows["elman"]["status"] == "ok" and float(rows["elman"]["test_mse"]) > 0
    assert "| gru | failed |" in (out / "compare.md").read_text()
    assert "Traceback" in (out / "gru-adding-T8-s0" / sweep.LOG).read_text()
    assert json.loads((out / "gru-adding-T8-s0" / sweep.OUTCOME).read_text())["status"] == "failed"
    assert "1 failed" in capsys.readouterr().out
    finished = _mtime(out / "elman-adding-T8-s0" / "results.json")

    monkeypatch.undo()  # the same command again, with the real training
    assert _compare(out) == 0
    assert "1 finished before (skipped)" in capsys.readouterr().out
    assert _mtime(out / "elman-adding-T8-s0" / "results.json") == finished  # not retrained
    rows = _rows(out)
    assert rows["gru"]["status"] == "ok" and float(rows["gru"]["test_mse"]) > 0
    assert not (out / "gru-adding-T8-s0" / sweep.OUTCOME).exists()

    assert _compare(out, "--overwrite") == 0  # --overwrite still retrains everything
    assert _mtime(out / "elman-adding-T8-s0" / "results.json") != finished


def test_a_run_of_another_configuration_is_refused_before_anything_trains(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert _compare(out) == 0
    before = _mtime(out / "gru-adding-T8-s0" / "results.json")
    capsys.readouterr()
    assert _compare(out, "--lr", "0.5") == 2
    err = capsys.readouterr().err
    assert f"{out / 'elman-adding-T8-s0'} holds a run of a different configuration (lr: 0.01 there, 0.5 planned)" \
        in err and "--overwrite" in err
    assert _mtime(out / "gru-adding-T8-s0" / "results.json") == before
    assert _compare(out, "--threads", "2") == 0  # threads change how a run executes, not the run: skipped
    assert _mtime(out / "gru-adding-T8-s0" / "results.json") == before


def test_diverged_runs_are_results_and_not_retried(tmp_path):
    calls = []

    def diverging(cfg, run_dir, **kw):
        calls.append(cfg.model)
        raise TrainingDiverged(step=2, loss=float("nan"), grad_norm=float("inf"), clipped=False)

    cfg = TrainConfig.from_dict({"model": "elman", "task": "adding", "seq_len": 8, "hidden_size": 4, "max_steps": 3})
    plans = [sweep.Plan(cfg, tmp_path / "a")]
    outcome, = sweep.run_sweep(plans, train_fn=diverging, echo=lambda _: None)
    assert (outcome.status, outcome.label, outcome.skipped) == ("diverged", "diverged at step 2", False)
    again, = sweep.run_sweep(plans, train_fn=diverging, echo=lambda _: None)
    assert (again.label, again.skipped, calls) == ("diverged at step 2", True, ["elman"])


def _sigint_at_step(step, real_step):
    def training_step(self, batch, batch_idx):
        if self.global_step == step:
            os.kill(os.getpid(), signal.SIGINT)
        return real_step(self, batch, batch_idx)
    return training_step


def test_an_interrupted_run_resumes_from_its_checkpoint(tmp_path, monkeypatch):
    from rnnzoo.train.module import LitSequenceModel

    cfg = TrainConfig.from_dict({"model": "gru", "task": "adding", "seq_len": 8, "hidden_size": 4, "max_steps": 6,
                                 "val_every": 2, "progress": "none", "threads": 1,
                                 "task_options": {"valid_size": 32, "test_size": 32}})
    whole, = sweep.run_sweep([sweep.Plan(cfg, tmp_path / "whole")], echo=lambda _: None)
    plan = sweep.Plan(cfg, tmp_path / "cut")
    monkeypatch.setattr(LitSequenceModel, "training_step", _sigint_at_step(3, LitSequenceModel.training_step))
    with pytest.raises(Interrupted):  # Ctrl-C stops the sweep in process, with a checkpoint
        sweep.run_sweep([plan], echo=lambda _: None)
    monkeypatch.undo()
    assert not (plan.run_dir / "results.json").exists() and not (plan.run_dir / sweep.OUTCOME).exists()
    assert sweep.plan_actions([plan]) == ["resume"]
    resumed, = sweep.run_sweep([plan], echo=lambda _: None)
    assert resumed.resumed and resumed.results["steps"] == 6
    assert resumed.results["test"] == whole.results["test"]  # exactly the uninterrupted run


def test_bad_sweep_arguments_name_the_flag(tmp_path, monkeypatch, capsys):
    cfg = TrainConfig.from_dict({"model": "elman", "task": "adding", "seq_len": 8})
    plans = [sweep.Plan(cfg, tmp_path / "a")]
    for kw, match in (({"workers": 0}, "--workers: expected an integer >= 1, got 0"),
                      ({"workers": True}, "--workers: expected an integer >= 1, got True"),
                      ({"ray_address": " "}, "--ray-address: expected an address")):
        with pytest.raises(ConfigError, match=match):
            sweep.run_sweep(plans, **kw)
    with pytest.raises(RunDirError, match="both write"):
        sweep.run_sweep(plans * 2)
    monkeypatch.setitem(sys.modules, "ray", None)  # Ray not installed
    with pytest.raises(ConfigError, match=r"--workers 2 runs the sweep on Ray, which is not installed .*"
                                          r"pip install 'rnnzoo\[ray\]'"):
        sweep.run_sweep(plans, workers=2)
    assert not (tmp_path / "a").exists()
    for argv, message in ((["--workers", "0"], "--workers: expected an integer >= 1 (concurrent runs), got '0'"),
                          (["--workers", "two"], "--workers: expected an integer >= 1"),
                          (["--ray-address", ""], "--ray-address: expected a Ray address")):
        assert cli.main(["compare", "--models", "elman", "--run-dir", str(tmp_path / "b"), *argv]) == 2
        assert message in capsys.readouterr().err
        assert cli.main(["reproduce", "pascanu_temporal_order", "--quick", *argv]) == 2
        assert message in capsys.readouterr().err


def test_resources_follow_the_configuration():
    cfg = TrainConfig.from_dict({"model": "elman", "task": "adding", "seq_len": 8, "threads": 3, "devices": 2,
                                 "batch_size": 8})
    assert sweep_ray.resources(cfg) == {"num_cpus": 6.0, "num_gpus": 0.0}
    assert sweep_ray.resources(cfg.replace(threads=None)) == {"num_cpus": 2.0, "num_gpus": 0.0}
    gpu = cfg.replace(threads=None)
    object.__setattr__(gpu, "accelerator", "gpu")  # the key another change of issue 14 adds
    assert sweep_ray.resources(gpu) == {"num_cpus": 2.0, "num_gpus": 2.0}
    object.__setattr__(gpu, "accelerator", "auto")  # auto: the GPUs where the cluster has them
    assert sweep_ray.resources(gpu, gpus_present=True)["num_gpus"] == 2.0
    assert sweep_ray.resources(gpu, gpus_present=False)["num_gpus"] == 0.0
