"""Run many training runs (a sweep) on Ray, or one after another in this process: the executor of ``rnnzoo compare``
and ``rnnzoo reproduce``.

A plan is a configuration and its run directory. :func:`run_sweep` runs each plan's :func:`rnnzoo.train.train`,
returns one :class:`Outcome` per plan (in plan order) and never loses the other runs when one fails:

- ``ok``: ``results.json`` was written; ``diverged``: a NaN/inf loss or gradient (``TrainingDiverged``), a result of
  the configuration; ``failed``: any other exception (its traceback is in the run's ``train.log``), or a Ray worker
  that died.
- Each run's output (the training's progress lines, warnings, a failure's traceback) goes to ``RUN_DIR/train.log``.
- Re-running the same plans into the same directories (see :func:`plan_actions`): a run with ``results.json`` (or
  ``outcome.json`` saying it diverged) of the same configuration is skipped and its results read back; a failed one
  is retrained from scratch (its last checkpoint may be the state the failure came from); an interrupted one (a
  checkpoint but no outcome: Ctrl-C, a killed worker, a lost node) resumes from ``checkpoints/last.ckpt``, exactly
  as ``rnnzoo train --resume`` does. A directory holding a run of a different configuration is refused before
  anything trains; ``overwrite=True`` retrains every plan.

Dispatch: ``workers=1`` (or None) without ``ray_address`` runs the plans in this process one after another (no Ray
needed, no start-up cost, Ctrl-C stops the run with a checkpoint as ``rnnzoo train`` does). ``workers >= 2`` starts
a local Ray with that many concurrent runs; ``ray_address`` joins an existing cluster (``ray start --head``), where
``workers`` caps the concurrent runs (default: as many as the cluster's resources fit). Every Ray task runs the same
:func:`run_plan` as the in-process path, with ``num_cpus = (threads or 1) x devices`` and ``num_gpus = devices`` for
a GPU run, and torch set to ``threads`` (default 1) intra-op threads so that concurrent runs do not oversubscribe
the cores (:mod:`rnnzoo.train.sweep_ray`). With several machines, the run directories must be on a file system all
of them see at the same path.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable

from rnnzoo.train.errors import ConfigError
from rnnzoo.train.sweep_run import (
    EXECUTION_KEYS,
    LOG,
    OUTCOME,
    RAY_EXTRA,
    Echo,
    Outcome,
    Plan,
    TrainFn,
    _finished,
    one_line,
    plan_actions,
    run_plan,
)

__all__ = ["EXECUTION_KEYS", "LOG", "OUTCOME", "Outcome", "Plan", "add_sweep_flags", "one_line", "plan_actions",
           "run_plan", "run_sweep"]


def _progress(done: int, total: int, running: int, failed: int, tail: str) -> str:
    return f"[sweep] {done}/{total} done, {running} running, {failed} failed ({tail})"


def run_sweep(plans: list[Plan], *, workers: int | None = None, ray_address: str | None = None,
              overwrite: bool = False, echo: Echo = print, train_fn: TrainFn | None = None,
              use_ray: bool | None = None, refuse_hint: str = "",
              on_outcome: Callable[[int, Outcome], None] | None = None) -> list[Outcome]:
    """Run every plan (see the module docstring); returns their outcomes in plan order.

    Args:
        plans: the runs; their run directories are checked first (:func:`plan_actions`).
        workers: concurrent runs. None or 1 without ``ray_address``: in this process, one after another;
            >= 2: a local Ray with that many; with ``ray_address``: at most that many (default: what the cluster fits).
        ray_address: an existing Ray cluster (``ray start --head`` prints it; ``auto`` finds a local one), or
            ``local``: a fresh Ray on this machine even for ``workers=1``.
        overwrite: retrain every plan, clearing its run directory's artifacts.
        echo: where the progress lines go (``[sweep] 5/12 done, 2 running, 1 failed (...)``).
        train_fn: what trains one plan (default :func:`rnnzoo.train.train`), called as ``train_fn(cfg, run_dir,
            overwrite=..., echo=...)`` or ``(cfg, run_dir, resume=run_dir, echo=...)``; pickled to Ray workers.
        use_ray: force (True) or forbid (False) Ray; None decides as ``workers``/``ray_address`` say.
        refuse_hint: appended to the error about a directory holding another configuration.
        on_outcome: called with (plan index, outcome) as each run finishes (also the skipped ones, first).

    Raises:
        ConfigError: bad ``workers``/``ray_address``, Ray missing, a run that needs more than the cluster has.
        RunDirError: a run directory that holds another configuration (nothing trained).
        Interrupted, KeyboardInterrupt: Ctrl-C; the runs finished so far were reported to ``on_outcome``.
    """
    if workers is not None and (isinstance(workers, bool) or not isinstance(workers, int) or workers < 1):
        raise ConfigError(f"--workers: expected an integer >= 1, got {workers!r}")
    if ray_address is not None and (not isinstance(ray_address, str) or not ray_address.strip()):
        raise ConfigError(f"--ray-address: expected an address such as 127.0.0.1:6379 or auto, got {ray_address!r}")
    if use_ray is None:
        use_ray = ray_address is not None or (workers or 1) > 1
    if not use_ray and ray_address is not None:
        raise ConfigError("--ray-address: given, but use_ray=False runs the sweep in this process")
    if use_ray:
        from rnnzoo.train.sweep_ray import import_ray, why_ray

        import_ray(why_ray(workers, ray_address))  # missing Ray: said before anything else
    actions = plan_actions(plans, overwrite=overwrite, refuse_hint=refuse_hint)
    outcomes: list[Outcome | None] = [None] * len(plans)
    todo = [i for i, a in enumerate(actions) if a != "skip"]
    skipped = len(plans) - len(todo)
    for i, action in enumerate(actions):
        if action == "skip":
            outcomes[i] = _finished(plans[i])
            if on_outcome is not None:
                on_outcome(i, outcomes[i])  # type: ignore[arg-type]
    retried = sum(a == "retry" for a in actions)
    resumed = sum(a == "resume" for a in actions)
    echo(f"[sweep] {len(plans)} runs: {skipped} finished before (skipped), {resumed} to resume, {retried} failed "
         f"before (retried from scratch), {len(todo) - resumed - retried} new"
         + (" (--overwrite: all retrained)" if overwrite else ""))
    state = {"done": skipped, "failed": 0}

    def finish(i: int, outcome: Outcome, running: int) -> None:
        outcomes[i] = outcome
        state["done"] += 1
        state["failed"] += outcome.status == "failed"
        tail = f"{outcome.name}: {outcome.label}" + (f", {outcome.seconds:.0f} s" if outcome.seconds else "")
        echo(_progress(state["done"], len(plans), running, state["failed"], tail))
        if on_outcome is not None:
            on_outcome(i, outcome)

    if not use_ray:
        for i in todo:  # the run's lines go to the console and to its train.log
            finish(i, run_plan(plans[i], actions[i], train_fn, console=True), 0)
    elif todo:
        from rnnzoo.train.sweep_ray import run_ray

        run_ray(plans, actions, todo, workers=workers, ray_address=ray_address, train_fn=train_fn, echo=echo,
                finish=finish)
    return [o for o in outcomes if o is not None]


# ------------------------------------------------------------------------------------------ command line


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected an integer >= 1 (concurrent runs), got {text!r}")
    return value


def _address(text: str) -> str:
    if not text.strip() or any(c.isspace() for c in text.strip()):
        raise argparse.ArgumentTypeError(f"expected a Ray address such as 10.0.0.5:6379, ray://host:10001 or auto, "
                                          f"got {text!r}")
    return text.strip()


def add_sweep_flags(p: argparse.ArgumentParser) -> None:
    """``--workers`` and ``--ray-address`` (``rnnzoo compare``, ``rnnzoo reproduce``); absent when not given."""
    g = p.add_argument_group("sweep (docs/sweeps.md)")
    g.add_argument("--workers", type=_workers, default=argparse.SUPPRESS, metavar="N",
                   help="concurrent runs: 1 (default) trains them one after another in this process; N >= 2 starts "
                        f"a local Ray with N worker processes ({RAY_EXTRA}); each run uses --threads torch threads "
                        "(default 1 under Ray) and logs to RUN_DIR/<run>/train.log")
    g.add_argument("--ray-address", type=_address, default=argparse.SUPPRESS, metavar="ADDR",
                   help="run on an existing Ray cluster (`ray start --head` prints the address; auto: the local "
                        "one; local: a fresh Ray on this machine, also for --workers 1); --workers then caps the "
                        "concurrent runs (default: what the cluster's CPUs/GPUs fit); "
                        "run directories must be on a file system every node sees")
