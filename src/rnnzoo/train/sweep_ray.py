"""The Ray side of :func:`rnnzoo.train.sweep.run_sweep`: each plan a Ray task running the same
:func:`~rnnzoo.train.sweep.run_plan` as the in-process path, with resources from its configuration.

``num_cpus = (threads or 1) x devices``; ``num_gpus = devices`` for a GPU run (``accelerator`` gpu, or auto where the
cluster has GPUs). In the task torch gets ``threads`` (default 1) intra-op threads, so that concurrent runs do not
oversubscribe the cores. The driver keeps at most as many runs in flight as the cluster fits (and ``workers``
allows), so "running" in the progress lines is what runs; Ray never retries a task (``max_retries=0``): a run whose
worker died is reported failed and resumed from its checkpoint by the next sweep.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any

from rnnzoo.train.config import TrainConfig
from rnnzoo.train.errors import ConfigError
from rnnzoo.train.sweep_run import LOG, RAY_EXTRA, Outcome, Plan, TrainFn, one_line, run_plan

__all__ = ["import_ray", "resources", "run_ray", "why_ray"]

Echo = Callable[[str], None]


def resources(cfg: TrainConfig, *, gpus_present: bool = False) -> dict[str, float]:
    """The Ray resources of one run: ``num_cpus = (threads or 1) x devices``, and ``num_gpus = devices`` when the
    run trains on GPUs (``accelerator`` gpu, or auto where the cluster has GPUs)."""
    accelerator = getattr(cfg, "accelerator", "cpu")
    devices = int(cfg.devices)
    gpu = accelerator in ("gpu", "cuda") or (accelerator == "auto" and gpus_present)
    return {"num_cpus": float((cfg.threads or 1) * devices), "num_gpus": float(devices if gpu else 0)}


def _check_one_node(plans: list[Plan]) -> None:
    for plan in plans:
        nodes = getattr(plan.cfg, "num_nodes", 1)
        if nodes != 1:
            raise ConfigError(f"--num-nodes: a sweep runs each run as one Ray task on one machine, expected 1, got "
                              f"{nodes} (plan {plan.name!r}); launch a multi-node run with rnnzoo train")


def import_ray(why: str) -> Any:
    """``import ray``, or a ConfigError naming ``why`` Ray is needed and the extra that installs it."""
    try:
        import ray
    except ImportError as err:
        raise ConfigError(f"{why} runs the sweep on Ray, which is not installed ({err}); install the extra: "
                          f"{RAY_EXTRA}") from None
    return ray


def why_ray(workers: int | None, ray_address: str | None) -> str:
    return f"--ray-address {ray_address}" if ray_address is not None else f"--workers {workers}"


def _remote_run(plan: Plan, action: str, train_fn: TrainFn | None) -> Outcome:
    """A Ray task: torch's intra-op threads from the plan (default 1), then :func:`run_plan`."""
    import torch

    torch.set_num_threads(plan.cfg.threads or 1)
    return run_plan(plan, action, train_fn)


def run_ray(plans: list[Plan], actions: list[str], todo: list[int], *, workers: int | None, ray_address: str | None,
             train_fn: TrainFn | None, echo: Echo, finish: Callable[[int, Outcome, int], None]) -> None:
    ray = import_ray(why_ray(workers, ray_address))
    _check_one_node([plans[i] for i in todo])
    started_here = False
    if not ray.is_initialized():
        if ray_address in (None, "local"):  # a fresh Ray on this machine, for this sweep
            need = [resources(plans[i].cfg) for i in todo]
            cpus = int(max(r["num_cpus"] for r in need)) * (workers or os.cpu_count() or 1)
            ray.init(address="local", num_cpus=cpus, include_dashboard=False, log_to_driver=False,
                     configure_logging=False, object_store_memory=128 * 1024**2)
        else:
            try:
                ray.init(address=ray_address, include_dashboard=False, log_to_driver=False, configure_logging=False)
            except ConnectionError as err:
                raise ConfigError(f"--ray-address: cannot connect to a Ray cluster at {ray_address!r} ({err}); "
                                  "expected one started with `ray start --head` (Ray's token authentication: the "
                                  "head's token in RAY_AUTH_TOKEN, see docs/sweeps.md)") from None
        started_here = True
    try:
        total = ray.cluster_resources()
        gpus = total.get("GPU", 0.0) > 0
        need = {i: resources(plans[i].cfg, gpus_present=gpus) for i in todo}
        fits = []
        for key, name, flag, why in (("num_cpus", "CPU", "--threads", "threads x devices"),
                                     ("num_gpus", "GPU", "--devices", "devices")):
            most = max(r[key] for r in need.values())
            if most > total.get(name, 0.0):
                raise ConfigError(f"{flag}: a run requests {most:g} {name}(s) ({why}), the Ray cluster has "
                                  f"{total.get(name, 0.0):g}; expected at most that")
            if most > 0:
                fits.append(int(total.get(name, 0.0) // most))
        slots = max(1, min(fits))
        if workers is not None:
            slots = min(slots, workers)
        echo(f"[sweep] Ray: {total.get('CPU', 0):g} CPUs, {total.get('GPU', 0):g} GPUs; {slots} runs at a time, "
             f"each run's output in its {LOG}")
        task = ray.remote(max_retries=0)(_remote_run)
        queue = list(todo)
        inflight: dict[Any, int] = {}
        try:
            while queue or inflight:
                while queue and len(inflight) < slots:
                    i = queue.pop(0)
                    # a worker's current directory is not the driver's: it gets the absolute path
                    plan = dataclasses.replace(plans[i], run_dir=plans[i].run_dir.absolute())
                    ref = task.options(**need[i]).remote(plan, actions[i], train_fn)
                    inflight[ref] = i
                ready, _ = ray.wait(list(inflight), num_returns=1)
                for ref in ready:
                    i = inflight.pop(ref)
                    try:
                        outcome = ray.get(ref)
                    except Exception as err:  # the worker died (RayTaskError, WorkerCrashedError, ...)
                        outcome = Outcome(plans[i].name, plans[i].run_dir, "failed",
                                          error=f"Ray worker: {one_line(err)}", interrupted=True)
                    finish(i, outcome, len(inflight))
        except BaseException:
            for ref in inflight:
                ray.cancel(ref, force=True)
            raise
    finally:
        if started_here:
            ray.shutdown()
