"""Two nodes simulated on one machine: two processes with ``--num-nodes 2 --devices 1 --strategy ddp``,
``MASTER_ADDR=127.0.0.1``, a free ``MASTER_PORT`` and ``NODE_RANK`` 0 and 1 (gloo), as ``docs/distributed.md``'s
manual launch runs on two machines. The result equals the one-process run with the same global batch (each process
takes half of every batch; the all-reduce's float order aside), and global rank 1 writes nothing.

The fast tests fork this (already imported) Python for each node and call the command line's ``main`` there: the
code path of ``rnnzoo train`` without two interpreter start-ups. The slow test runs the real command twice.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import lightning  # noqa: F401  (imported before forking: the nodes start warm)
import pytest
import torch

from rnnzoo import cli
from rnnzoo.train.config import TrainConfig

TINY = ["--model", "lstm", "--seq-len", "12", "--hidden-size", "8", "--batch-size", "16", "--val-every", "4",
        "--progress", "none", "--threads", "1", "--stop-at", "none", "--accelerator", "cpu",
        "--task-option", "valid_size=64", "--task-option", "test_size=64"]
TWO_NODES = ["--num-nodes", "2", "--devices", "1", "--strategy", "ddp"]
#: what a launcher around this test may have set: the nodes must see only their own launch
_LAUNCHER_VARS = ("TORCHELASTIC_RUN_ID", "SLURM_NTASKS", "SLURM_PROCID", "LOCAL_RANK", "RANK", "WORLD_SIZE",
                  "GROUP_RANK")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _node_env(rank: int, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _LAUNCHER_VARS}
    env.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), NODE_RANK=str(rank), OMP_NUM_THREADS="1")
    return env


def _node(rank: int, port: int, argv: list[str], conn: Any) -> None:
    os.environ.clear()
    os.environ.update(_node_env(rank, port))
    try:
        if argv[0] == "train()":  # the library call, to see what it returns on this rank
            from rnnzoo.train.run import train

            cfg = TrainConfig.from_dict(json.loads(argv[1]))
            conn.send((0, train(cfg, argv[2], echo=lambda _: None)))
        else:
            conn.send((cli.main(argv), None))
    except BaseException as err:  # reported to the test, which fails with it
        conn.send((99, repr(err)))
    finally:
        conn.close()
        os._exit(0)


def _fork_nodes(*argvs: list[str]) -> dict[int, tuple[int, Any]]:
    """Run ``argvs[r]`` as node ``r`` in a forked process; ``{rank: (exit status, returned)}``."""
    ctx = multiprocessing.get_context("fork")
    port = _free_port()
    pipes = [ctx.Pipe(duplex=False) for _ in argvs]
    procs = [ctx.Process(target=_node, args=(rank, port, argv, pipes[rank][1])) for rank, argv in enumerate(argvs)]
    for p in procs:
        p.start()
    out = {}
    for rank, (receive, _) in enumerate(pipes):
        out[rank] = receive.recv() if receive.poll(300) else (None, "no answer in 300 s")
    for p in procs:
        p.join(60)
        if p.is_alive():
            p.kill()
    return out


def _state(run: Path) -> dict[str, torch.Tensor]:
    ckpt = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    return {k: v for k, v in ckpt["state_dict"].items() if k.startswith("model.")}


def _assert_same_run(two: Path, one: Path, steps: int) -> None:
    a, b = _state(two), _state(one)
    assert a.keys() == b.keys()
    for k in a:  # the all-reduce averages two half-batch gradients: the float order differs, nothing else
        torch.testing.assert_close(a[k], b[k], rtol=1e-5, atol=1e-6, msg=k)
    ra, rb = (json.loads((r / "results.json").read_text()) for r in (two, one))
    assert ra["steps"] == rb["steps"] == steps
    for split in ("valid", "test"):
        for metric, value in rb[split].items():
            assert ra[split][metric] == pytest.approx(value, rel=1e-5), (split, metric)


def _skip_without_fork() -> None:
    if "fork" not in multiprocessing.get_all_start_methods():
        pytest.skip("needs the fork start method (POSIX)")


def test_two_nodes_equal_one_process_with_the_same_global_batch(tmp_path):
    _skip_without_fork()
    two, one = tmp_path / "two", tmp_path / "one"
    argv = ["train", *TINY, *TWO_NODES, "--max-steps", "6", "--run-dir", str(two)]
    out = _fork_nodes(argv, argv)
    assert out == {0: (0, None), 1: (0, None)}, out
    results = json.loads((two / "results.json").read_text())
    assert results["launch"] == {"accelerator": "cpu", "launcher": "manual", "world_size": 2, "backend": "gloo"}
    config = (two / "config.yaml").read_text()
    assert "num_nodes: 2" in config and "strategy: ddp" in config and "accelerator: cpu" in config
    assert cli.main(["train", *TINY, "--max-steps", "6", "--run-dir", str(one)]) == 0
    _assert_same_run(two, one, 6)


def test_rank_1_writes_nothing_and_returns_its_rank(tmp_path):
    _skip_without_fork()
    cfg = TrainConfig.from_dict({"model": "lstm", "seq_len": 12, "hidden_size": 8, "batch_size": 16, "val_every": 4,
                                 "progress": "none", "threads": 1, "stop_at": None, "accelerator": "cpu",
                                 "num_nodes": 2, "max_steps": 5, "task_options": {"valid_size": 64,
                                                                                 "test_size": 64}})
    zero, other = tmp_path / "rank0", tmp_path / "rank1"  # two disks, as two machines without a shared one
    out = _fork_nodes(["train()", json.dumps(cfg.to_dict()), str(zero)],
                      ["train()", json.dumps(cfg.to_dict()), str(other)])
    assert out[1] == (0, {"rank": 1, "world_size": 2, "run_dir": str(other), "steps": 5}), out
    assert out[0][0] == 0 and out[0][1]["steps"] == 5 and out[0][1]["launch"]["launcher"] == "manual", out
    assert not other.exists()
    assert {p.name for p in zero.iterdir()} >= {"config.yaml", "checkpoints", "results.json", "metrics.csv"}


def test_a_one_process_run_resumes_on_two_processes_as_if_never_stopped(tmp_path):
    """The data order is kept across a change of the process count: the checkpoint stops between two TBPTT windows
    (its carried state is the whole global batch's) and the resumed run shards the same global batches."""
    _skip_without_fork()
    run, fresh = tmp_path / "run", tmp_path / "fresh"
    # the copy task at T = 24 in windows of 6 (gradients through 9): 4 updates per batch; step 6 is inside batch 2
    tbptt = ["--task", "copy", "--seq-len", "24", "--tbptt", "6,9"]
    assert cli.main(["train", *TINY, *tbptt, "--max-steps", "6", "--run-dir", str(run)]) == 0
    assert torch.load(run / "checkpoints" / "last.ckpt", weights_only=True)["rnnzoo"]["tbptt"]["window"] == 2
    resume = ["train", "--resume", str(run), "--max-steps", "11", "--num-nodes", "2", "--progress", "none"]
    out = _fork_nodes(resume, resume)
    assert out == {0: (0, None), 1: (0, None)}, out
    assert json.loads((run / "results.json").read_text())["config"]["num_nodes"] == 2
    assert cli.main(["train", *TINY, *tbptt, "--max-steps", "11", "--run-dir", str(fresh)]) == 0
    _assert_same_run(run, fresh, 11)


@pytest.mark.slow  # two interpreters importing torch and Lightning, then a third run: ~30 s on 2 busy cores
def test_two_rnnzoo_train_commands_as_two_nodes(tmp_path):
    two, one = tmp_path / "two", tmp_path / "one"
    port = _free_port()
    cmd = [sys.executable, "-m", "rnnzoo", "train", *TINY, *TWO_NODES, "--max-steps", "6", "--run-dir", str(two)]
    src = str(Path(cli.__file__).resolve().parents[1])
    procs = []
    for rank in (0, 1):
        env = _node_env(rank, port)
        env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
        procs.append(subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    outs = [p.communicate(timeout=600) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], [o[1][-3000:] for o in outs]
    assert "results:" in outs[0][0] and outs[1][0] == ""  # rank 1 trains silently
    assert cli.main(["train", *TINY, "--max-steps", "6", "--run-dir", str(one)]) == 0
    _assert_same_run(two, one, 6)


@pytest.fixture
def _markov_lm():
    from rnnzoo.tasks import register_task
    from rnnzoo.tasks import registry as task_registry
    from rnnzoo.tasks.corpus import LanguageModelTask
    from tests.train.test_lm import markov_corpus

    register_task("_dist_lm", lambda seq_len=None: LanguageModelTask(markov_corpus(3000), name="_dist_lm",
                                                                     seq_len=seq_len),
                  "generated Markov token stream (tests)", "unigram")
    yield "_dist_lm"
    del task_registry._REGISTRY["_dist_lm"]


def test_a_language_model_on_two_nodes(tmp_path, _markov_lm):
    """One valid stream, fewer rows than processes: every process validates all of it (Lightning refuses an empty
    loader), and the run still equals the one-process run."""
    _skip_without_fork()
    from rnnzoo.train.run import train
    from tests.train.test_lm import lm_config

    cfg = lm_config(task=_markov_lm, num_nodes=2, accelerator="cpu")
    two, one = tmp_path / "two", tmp_path / "one"
    argv = ["train()", json.dumps(cfg.to_dict()), str(two)]
    out = _fork_nodes(argv, argv)
    assert out[0][0] == 0 and out[1] == (0, {"rank": 1, "world_size": 2, "run_dir": str(two), "steps": 6}), out
    train(cfg.replace(num_nodes=1), one, echo=lambda _: None)
    _assert_same_run(two, one, 6)


def test_two_nodes_equal_one_process_on_variable_length_per_step_targets(tmp_path):
    """``ntm_copy``: every sequence has its own length, so the two processes score different numbers of output frames;
    the update's loss is the global batch's frame mean (``_global_count``), as one process computes it, not the mean
    of the two processes' means."""
    _skip_without_fork()
    copy = ["--model", "lstm", "--task", "ntm_copy", "--seq-len", "6", "--hidden-size", "8", "--batch-size", "8",
            "--val-every", "3", "--progress", "none", "--threads", "1", "--stop-at", "none", "--accelerator", "cpu",
            "--task-option", "valid_size=32", "--task-option", "test_size=32"]
    two, one = tmp_path / "two", tmp_path / "one"
    out = _fork_nodes(*(["train", *copy, *TWO_NODES, "--max-steps", "4", "--run-dir", str(two)] for _ in range(2)))
    assert out == {0: (0, None), 1: (0, None)}, out
    assert cli.main(["train", *copy, "--max-steps", "4", "--run-dir", str(one)]) == 0
    _assert_same_run(two, one, 4)

