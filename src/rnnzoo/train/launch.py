"""How a training run's processes are started, and which of them writes the run directory.

Lightning's cluster environments say who launched us (:func:`resolve_launch`):

``single``
    one process (``devices x num_nodes = 1``).
``spawn``
    nobody launched us and the run has several processes on this node: ``Trainer.fit`` runs in ``devices``
    workers started with ``ddp_spawn``; the launching process keeps the run directory, the configuration and the
    final evaluation (Lightning's ``ddp`` launcher would re-execute the command line once per process, which
    would also re-run everything around the fit).
``torchrun``
    ``torchrun`` started every process (:class:`~lightning.fabric.plugins.environments.TorchElasticEnvironment`).
``slurm``
    ``srun`` started every process (:class:`~lightning.fabric.plugins.environments.SLURMEnvironment`).
``manual``
    one command per node with ``MASTER_ADDR``, ``MASTER_PORT`` and ``NODE_RANK`` in the environment
    (:class:`~lightning.fabric.plugins.environments.LightningEnvironment`); on each node Lightning starts the
    node's other ``devices - 1`` processes by running the same command line again. ``--strategy fsdp`` on one
    node is launched the same way (Lightning's FSDPStrategy has no spawn launcher).

In the last three every process runs :func:`rnnzoo.train.run.train` itself; only global rank 0 checks and
writes the run directory, so a run directory must be named (``--run-dir``): the default name holds a
timestamp that would differ between processes and nodes.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from rnnzoo.train.config import TrainConfig, check_hardware
from rnnzoo.train.errors import ConfigError, RunDirError

MODES = ("single", "spawn", "torchrun", "slurm", "manual")


@dataclass(frozen=True)
class Launch:
    """What :func:`resolve_launch` found: the resolved ``accelerator`` (``cpu`` or ``gpu``), ``mode`` (see the
    module docstring), ``world_size``, this process's ``global_rank`` (0 in the launching process of ``spawn``)
    and the process-group ``backend`` (``nccl`` on GPUs, ``gloo`` on CPU; None for one process)."""

    accelerator: str
    mode: str
    world_size: int
    global_rank: int
    backend: str | None

    @property
    def writes(self) -> bool:
        """Whether this process owns the run directory (global rank 0)."""
        return self.global_rank == 0

    @property
    def external(self) -> bool:
        """Whether every process runs ``train()`` itself (torchrun, SLURM, manual)."""
        return self.mode in ("torchrun", "slurm", "manual")

    def record(self) -> dict[str, Any]:
        """What results.json records of the launch."""
        return {"accelerator": self.accelerator, "launcher": self.mode, "world_size": self.world_size,
                "backend": self.backend}


def _cuda_devices() -> int:
    import torch

    return torch.cuda.device_count() if torch.cuda.is_available() else 0


def resolve_accelerator(cfg: TrainConfig, cuda_devices: int | None = None) -> str:
    """``cpu`` or ``gpu``: ``auto`` is a GPU when CUDA is available. ConfigError for a GPU asked where there is
    none, more GPUs per node than this machine has, or a combination :func:`check_hardware` refuses."""
    n = _cuda_devices() if cuda_devices is None else cuda_devices
    accelerator = cfg.accelerator
    if accelerator == "auto":
        accelerator = "gpu" if n > 0 else "cpu"
    if accelerator == "gpu" and n == 0:
        import torch

        raise ConfigError(f"--accelerator: gpu needs CUDA, and this torch ({torch.__version__}) sees no CUDA device; "
                          "use --accelerator cpu (or auto)")
    if accelerator == "gpu" and cfg.devices > n:
        raise ConfigError(f"--devices: expected at most the {n} CUDA device(s) of this node, got {cfg.devices}")
    check_hardware(cfg, accelerator)
    return accelerator


def _env_int(env: Mapping[str, str], name: str, flag: str) -> int:
    try:
        return int(env[name])
    except (KeyError, ValueError):
        raise ConfigError(f"{flag}: expected the launcher to set {name} to an integer, got "
                          f"{env.get(name)!r}") from None


def resolve_launch(cfg: TrainConfig, env: Mapping[str, str] | None = None, *,
                   cuda_devices: int | None = None) -> Launch:
    """Who launched this process, its global rank and the backend (see the module docstring).

    ConfigError (naming the flag) when the launcher started another number of processes than
    ``--devices x --num-nodes``, or when a multi-node run lacks ``MASTER_ADDR``/``MASTER_PORT``/``NODE_RANK``."""
    env = os.environ if env is None else env
    accelerator = resolve_accelerator(cfg, cuda_devices)
    world = cfg.world_size
    backend = None if world == 1 else ("nccl" if accelerator == "gpu" else "gloo")
    shape = f"--devices {cfg.devices} x --num-nodes {cfg.num_nodes} = {world}"
    # what TorchElasticEnvironment.detect() and SLURMEnvironment.detect() look at (an interactive SLURM shell,
    # job name bash or interactive, is no launcher; nor is a one-task allocation: the run spawns its processes)
    torchrun = "TORCHELASTIC_RUN_ID" in env
    slurm_tasks = _env_int(env, "SLURM_NTASKS", "--devices") if "SLURM_NTASKS" in env else 0
    slurm = slurm_tasks > 1 and env.get("SLURM_JOB_NAME") not in ("bash", "interactive")
    if torchrun:
        started = _env_int(env, "WORLD_SIZE", "--devices")
        if started != world:
            raise ConfigError(f"--devices: torchrun started {started} processes (WORLD_SIZE), expected {shape}; "
                              "pass --devices = --nproc-per-node and --num-nodes = --nnodes")
        return Launch(accelerator, "torchrun" if world > 1 else "single", world, _env_int(env, "RANK", "--devices"),
                      backend)
    if slurm:
        if slurm_tasks != world:
            raise ConfigError(f"--devices: srun started {slurm_tasks} tasks (SLURM_NTASKS), expected {shape}; "
                              "pass --devices = --ntasks-per-node and --num-nodes = --nodes")
        return Launch(accelerator, "slurm", world, _env_int(env, "SLURM_PROCID", "--num-nodes"), backend)
    if world == 1:
        return Launch(accelerator, "single", 1, 0, None)
    if cfg.num_nodes == 1 and cfg.strategy != "fsdp":
        return Launch(accelerator, "spawn", world, 0, backend)
    if cfg.num_nodes > 1:
        missing = [name for name in ("MASTER_ADDR", "MASTER_PORT", "NODE_RANK") if not env.get(name)]
        if missing:
            raise ConfigError(f"--num-nodes: {cfg.num_nodes} nodes need a launcher (torchrun, srun) or "
                              f"MASTER_ADDR, MASTER_PORT and NODE_RANK in the environment of each node's command; "
                              f"{', '.join(missing)} not set")
    node = _env_int(env, "NODE_RANK", "--num-nodes") if cfg.num_nodes > 1 else 0
    if not 0 <= node < cfg.num_nodes:
        raise ConfigError(f"--num-nodes: NODE_RANK must be in 0..{cfg.num_nodes - 1}, got {node}")
    local = int(env.get("LOCAL_RANK", "0") or 0)
    return Launch(accelerator, "manual", world, node * cfg.devices + local, backend)


def require_run_dir(launch: Launch, run_dir: Any, resume: Any) -> None:
    """RunDirError when every process runs ``train()`` but the run directory is not named."""
    if launch.external and run_dir is None and resume is None:
        raise RunDirError(f"--run-dir: a run launched by {launch.mode} ({launch.world_size} processes, each running "
                          "`rnnzoo train`) needs a --run-dir that every process is given (the default name holds a "
                          "timestamp that would differ between processes), got none")


def strategy_for(cfg: TrainConfig, launch: Launch) -> Any:
    """The Lightning strategy of ``launch``: ``auto`` for one process; DDP (spawned, or under the launcher's
    cluster environment) or FSDP otherwise."""
    if launch.world_size == 1 and cfg.strategy != "fsdp":
        return "auto"
    from lightning.fabric.plugins.environments import LightningEnvironment, SLURMEnvironment, TorchElasticEnvironment
    from lightning.pytorch.strategies import DDPStrategy, FSDPStrategy

    environment = {"torchrun": TorchElasticEnvironment, "slurm": SLURMEnvironment}.get(launch.mode,
                                                                                        LightningEnvironment)()
    if cfg.strategy == "fsdp":
        return FSDPStrategy(cluster_environment=environment, process_group_backend=launch.backend)
    start = "spawn" if launch.mode == "spawn" else "popen"
    return DDPStrategy(cluster_environment=environment, process_group_backend=launch.backend, start_method=start)
