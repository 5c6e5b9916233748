"""Sweeps on a local Ray with 2 workers: the same tables as the sequential run, a failed run reported while the
others finish, a re-run skipping finished runs and retrying the failed one, reproduce through Ray. One Ray session
for the module (its start-up and the workers' first imports are most of the time)."""

from __future__ import annotations

import csv
import json
import sys

import pytest

from rnnzoo import cli
from rnnzoo.train import sweep
from rnnzoo.train.config import TrainConfig
from rnnzoo.train.errors import ConfigError

ray = pytest.importorskip("ray", reason="the Ray tests need the optional extra: pip install 'rnnzoo[ray]'")

GRID = ["compare", "--models", "elman,gru", "--seeds", "0,1", "--seq-lens", "8", "--hidden-size", "4",
        "--max-steps", "3", "--val-every", "3", "--progress", "none", "--threads", "1",
        "--task-option", "valid_size=32", "--task-option", "test_size=32"]
#: the columns that differ between two runs of the same grid (where and how long)
UNEQUAL = ("run_dir", "wall_seconds")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False,
             object_store_memory=128 * 1024**2)
    yield
    ray.shutdown()


def _csv(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def test_two_workers_give_the_sequential_tables(tmp_path, capsys):
    assert cli.main([*GRID, "--run-dir", str(tmp_path / "seq")]) == 0
    capsys.readouterr()
    assert cli.main([*GRID, "--run-dir", str(tmp_path / "ray"), "--workers", "2"]) == 0
    out = capsys.readouterr().out
    assert "[sweep] Ray: 2 CPUs, 0 GPUs; 2 runs at a time" in out and "[sweep] 4/4 done, 0 running, 0 failed" in out
    assert (tmp_path / "ray" / "compare.md").read_text() == (tmp_path / "seq" / "compare.md").read_text()
    seq, par = _csv(tmp_path / "seq" / "compare.csv"), _csv(tmp_path / "ray" / "compare.csv")
    assert [list(r) for r in par] == [list(r) for r in seq] and len(seq) == 4
    for a, b in zip(seq, par, strict=True):
        assert {k: v for k, v in a.items() if k not in UNEQUAL} == {k: v for k, v in b.items() if k not in UNEQUAL}
        assert a["status"] == "ok" and float(a["test_mse"]) > 0
    log = (tmp_path / "ray" / "gru-adding-T8-s1" / sweep.LOG).read_text()
    assert "training gru" in log and "training gru" not in out  # a worker's output is in its run's log only


def _fails_for_seed_1(cfg, run_dir, **kw):  # runs in a Ray worker (pickled by value)
    from rnnzoo.train.run import train

    if cfg.seed == 1 and cfg.model == "elman":
        raise ValueError("a failure the test makes")
    return train(cfg, run_dir, **kw)


def test_a_failed_run_does_not_lose_the_others_and_is_retried(tmp_path):
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    base = {"task": "adding", "seq_len": 8, "hidden_size": 4, "max_steps": 3, "val_every": 3, "progress": "none",
            "task_options": {"valid_size": 32, "test_size": 32}}
    plans = [sweep.Plan(TrainConfig.from_dict({**base, "model": m, "seed": s}), tmp_path / f"{m}-s{s}")
             for m in ("elman", "gru") for s in (0, 1)]
    lines: list[str] = []
    outcomes = sweep.run_sweep(plans, workers=2, train_fn=_fails_for_seed_1, echo=lines.append)
    assert [o.status for o in outcomes] == ["ok", "failed", "ok", "ok"]
    assert outcomes[1].label == "failed: ValueError: a failure the test makes"
    assert "Traceback" in (tmp_path / "elman-s1" / sweep.LOG).read_text()
    assert any("4/4 done, 0 running, 1 failed" in line for line in lines)
    finished = {p.name: (p.run_dir / "results.json").stat().st_mtime_ns for p in plans if p.name != "elman-s1"}

    again = sweep.run_sweep(plans, workers=2, echo=lines.append)
    assert [(o.status, o.skipped) for o in again] == [("ok", True), ("ok", False), ("ok", True), ("ok", True)]
    assert {n: (tmp_path / n / "results.json").stat().st_mtime_ns for n in finished} == finished
    assert again[0].results == outcomes[0].results  # read back from results.json


def test_reproduce_through_two_workers_equals_sequential(tmp_path, capsys):
    argv = ["reproduce", "pascanu_temporal_order", "--quick", "--seeds", "0"]
    assert cli.main([*argv, "--run-dir", str(tmp_path / "seq")]) == 0
    assert "[sweep] Ray" not in capsys.readouterr().out
    assert cli.main([*argv, "--run-dir", str(tmp_path / "ray"), "--workers", "2"]) == 0
    assert "[sweep] Ray: 2 CPUs, 0 GPUs; 2 runs at a time" in capsys.readouterr().out
    seq, par = (json.loads((tmp_path / d / "reproduce.json").read_text()) for d in ("seq", "ray"))
    assert par["measured"] == seq["measured"] and par["verdict"] == seq["verdict"]
    assert [r["status"] for r in par["runs"]] == ["ok", "ok"]
    assert (tmp_path / "ray" / "reproduce.md").read_text().split("Seeds")[0] == \
        (tmp_path / "seq" / "reproduce.md").read_text().split("Seeds")[0]


def test_a_run_larger_than_the_cluster_is_refused_before_anything_runs(tmp_path):
    cfg = TrainConfig.from_dict({"model": "elman", "task": "adding", "seq_len": 8, "threads": 3})
    with pytest.raises(ConfigError, match=r"a run requests 3 CPU\(s\) \(threads x devices\), the Ray cluster has 2"):
        sweep.run_sweep([sweep.Plan(cfg, tmp_path / "big")], workers=2, echo=lambda _: None)
    assert not (tmp_path / "big").exists()
