"""Who launched a run (torchrun, srun, by hand, nobody), its global rank, and the hardware checks: pure functions of
the configuration and the environment, no process started."""

from __future__ import annotations

import pytest
import torch

from rnnzoo import cli
from rnnzoo.train.config import TrainConfig
from rnnzoo.train.errors import ConfigError, RunDirError
from rnnzoo.train.launch import require_run_dir, resolve_accelerator, resolve_launch, strategy_for


def _cfg(**values) -> TrainConfig:
    return TrainConfig.from_dict({"batch_size": 16, **values})


def test_config_records_the_new_keys_with_their_defaults():
    d = TrainConfig().to_dict()
    assert (d["accelerator"], d["devices"], d["num_nodes"], d["strategy"], d["precision"]) == (
        "auto", 1, 1, "auto", "32-true")
    assert TrainConfig.from_dict({**d, "num_nodes": 2, "precision": "16-mixed", "accelerator": "gpu"}).num_nodes == 2


@pytest.mark.parametrize("values,flag", [
    ({"precision": "16-mixed", "accelerator": "cpu"}, "--precision"),
    ({"precision": "bf16-true"}, "--precision"),
    ({"strategy": "fsdp", "accelerator": "cpu"}, "--strategy"),
    ({"strategy": "fsdp", "precision": "64-true"}, "--precision"),
    ({"strategy": "deepspeed"}, "--strategy"),
    ({"accelerator": "tpu"}, "--accelerator"),
    ({"num_nodes": 0}, "--num-nodes"),
    ({"devices": 2, "num_nodes": 3}, "--batch-size"),  # 16 sequences over 6 processes
])
def test_bad_combinations_name_the_flag(values, flag):
    with pytest.raises(ConfigError) as err:
        _cfg(**values)
    assert str(err.value).startswith(flag + ":"), err.value


def test_the_global_batch_is_split_over_devices_times_nodes():
    assert _cfg(devices=2, num_nodes=4, batch_size=16).world_size == 8
    with pytest.raises(ConfigError, match=r"--devices 2 x --num-nodes 3 = 6"):
        _cfg(devices=2, num_nodes=3, batch_size=16)


def test_accelerator_resolution_without_cuda():
    assert resolve_accelerator(_cfg(), cuda_devices=0) == "cpu"
    assert resolve_accelerator(_cfg(), cuda_devices=2) == "gpu"
    with pytest.raises(ConfigError, match=r"^--accelerator: gpu needs CUDA"):
        resolve_accelerator(_cfg(accelerator="gpu"), cuda_devices=0)
    with pytest.raises(ConfigError, match=r"^--devices: expected at most the 2 CUDA"):
        resolve_accelerator(_cfg(accelerator="gpu", devices=4), cuda_devices=2)
    # auto on a machine without CUDA is the CPU: 16-mixed and fsdp are refused, saying why
    with pytest.raises(ConfigError, match=r"^--precision: 16-mixed .*\(--accelerator auto found no CUDA"):
        resolve_accelerator(_cfg(precision="16-mixed"), cuda_devices=0)
    with pytest.raises(ConfigError, match=r"^--strategy: fsdp needs GPUs"):
        resolve_accelerator(_cfg(strategy="fsdp"), cuda_devices=0)
    assert resolve_accelerator(_cfg(precision="16-mixed", strategy="fsdp"), cuda_devices=1) == "gpu"


def test_launch_modes_from_the_environment():
    two = _cfg(devices=2)
    assert resolve_launch(_cfg(), {}, cuda_devices=0).mode == "single"
    spawn = resolve_launch(two, {}, cuda_devices=0)
    assert (spawn.mode, spawn.global_rank, spawn.backend, spawn.writes) == ("spawn", 0, "gloo", True)
    nodes = _cfg(devices=2, num_nodes=2)
    tr = resolve_launch(nodes, {"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "4", "RANK": "3"}, cuda_devices=2)
    assert (tr.mode, tr.global_rank, tr.backend, tr.writes, tr.external) == ("torchrun", 3, "nccl", False, True)
    slurm = {"SLURM_NTASKS": "4", "SLURM_PROCID": "2", "SLURM_JOB_NAME": "lm"}
    sl = resolve_launch(nodes, slurm, cuda_devices=0)
    assert (sl.mode, sl.global_rank, sl.backend) == ("slurm", 2, "gloo")
    # an interactive SLURM shell, and a one-task allocation, launch nothing: the run spawns its processes
    assert resolve_launch(two, {**slurm, "SLURM_JOB_NAME": "bash"}, cuda_devices=0).mode == "spawn"
    assert resolve_launch(two, {"SLURM_NTASKS": "1", "SLURM_JOB_NAME": "lm"}, cuda_devices=0).mode == "spawn"
    manual = {"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500", "NODE_RANK": "1"}
    m = resolve_launch(nodes, manual, cuda_devices=0)
    assert (m.mode, m.global_rank, m.world_size) == ("manual", 2, 4)
    assert resolve_launch(nodes, {**manual, "LOCAL_RANK": "1"}, cuda_devices=0).global_rank == 3


@pytest.mark.parametrize("env,message", [
    ({"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "2", "RANK": "0"}, r"^--devices: torchrun started 2 processes"),
    ({"SLURM_NTASKS": "8", "SLURM_PROCID": "0"}, r"^--devices: srun started 8 tasks"),
    ({"MASTER_ADDR": "10.0.0.1", "NODE_RANK": "0"}, r"^--num-nodes: .*MASTER_PORT not set"),
    ({"MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "1", "NODE_RANK": "2"}, r"^--num-nodes: NODE_RANK must be in 0..1"),
])
def test_a_launch_that_does_not_match_the_flags_is_refused(env, message):
    with pytest.raises(ConfigError, match=message):
        resolve_launch(_cfg(devices=2, num_nodes=2), env, cuda_devices=0)


def test_a_launched_run_needs_a_named_run_dir():
    launched = resolve_launch(_cfg(num_nodes=2), {"MASTER_ADDR": "a", "MASTER_PORT": "1", "NODE_RANK": "0"},
                              cuda_devices=0)
    with pytest.raises(RunDirError, match=r"^--run-dir: a run launched by manual"):
        require_run_dir(launched, None, None)
    require_run_dir(launched, "runs/x", None)
    require_run_dir(launched, None, "runs/x")  # a resumed run continues in the checkpoint's directory
    require_run_dir(resolve_launch(_cfg(devices=2), {}, cuda_devices=0), None, None)  # spawn: one launcher


def test_strategies():
    from lightning.fabric.plugins.environments import LightningEnvironment, TorchElasticEnvironment
    from lightning.pytorch.strategies import DDPStrategy

    assert strategy_for(_cfg(), resolve_launch(_cfg(), {}, cuda_devices=0)) == "auto"
    two = _cfg(devices=2)
    spawn = strategy_for(two, resolve_launch(two, {}, cuda_devices=0))
    assert isinstance(spawn, DDPStrategy) and spawn._start_method == "spawn"
    assert isinstance(spawn.cluster_environment, LightningEnvironment) and spawn.process_group_backend == "gloo"
    env = {"TORCHELASTIC_RUN_ID": "x", "WORLD_SIZE": "2", "RANK": "1"}
    tr = strategy_for(two, resolve_launch(two, env, cuda_devices=2))
    assert isinstance(tr.cluster_environment, TorchElasticEnvironment) and tr.process_group_backend == "nccl"
    assert tr._start_method == "popen"


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the error on a machine without CUDA")
def test_cli_gpu_without_cuda_is_one_line(tmp_path, capsys):
    assert cli.main(["train", "--accelerator", "gpu", "--run-dir", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("rnnzoo train: error: --accelerator: gpu needs CUDA") and len(err.splitlines()) == 1
    assert not (tmp_path / "x").exists()


def test_cli_launched_without_run_dir_is_refused(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for name, value in {"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29999", "NODE_RANK": "0"}.items():
        monkeypatch.setenv(name, value)
    assert cli.main(["train", "--num-nodes", "2", "--accelerator", "cpu"]) == 2
    assert "--run-dir: a run launched by manual" in capsys.readouterr().err
    assert not (tmp_path / "runs").exists()


def test_resume_may_change_the_process_count_not_the_strategy_nor_to_64_bit():
    ckpt = {"rnnzoo": {"config": TrainConfig.from_dict({"batch_size": 16}).to_dict()}}
    parser = cli.build_parser()

    def resumed(*flags: str) -> TrainConfig:
        return cli.resume_config(parser.parse_args(["train", "--resume", "x", *flags]), ckpt)

    cfg = resumed("--devices", "2", "--num-nodes", "2", "--accelerator", "cpu", "--precision", "bf16-mixed")
    assert (cfg.devices, cfg.num_nodes, cfg.accelerator, cfg.precision) == (2, 2, "cpu", "bf16-mixed")
    with pytest.raises(ConfigError, match=r"^--strategy: cannot change when resuming"):
        resumed("--strategy", "fsdp")
    with pytest.raises(ConfigError, match=r"^--precision: cannot change between 64-true"):
        resumed("--precision", "64-true")
