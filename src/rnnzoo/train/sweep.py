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
import contextlib
import json
import re
import sys
import time
import traceback
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import yaml

from rnnzoo.train.config import TrainConfig
from rnnzoo.train.errors import CheckpointError, ConfigError, RunDirError, TrainingDiverged

__all__ = ["EXECUTION_KEYS", "LOG", "OUTCOME", "Outcome", "Plan", "add_sweep_flags", "one_line", "plan_actions",
           "run_plan", "run_sweep"]

Echo = Callable[[str], None]
TrainFn = Callable[..., dict[str, Any]]
#: the run's console output (progress lines, warnings, a failure's traceback), appended on every attempt
LOG = "train.log"
#: a diverged or failed run's outcome (a finished run has results.json instead)
OUTCOME = "outcome.json"
#: configuration keys that change how a run executes, not what it computes: a finished run whose configuration
#: differs from the plan's only in these is still the plan's run (skipped, not refused)
EXECUTION_KEYS = ("threads", "progress")
RAY_EXTRA = "pip install 'rnnzoo[ray]'"


@dataclass(frozen=True)
class Plan:
    """One run of a sweep: its configuration and its run directory (``name``: how progress lines call it)."""

    cfg: TrainConfig
    run_dir: Path
    name: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "run_dir", Path(self.run_dir))
        if not self.name:
            object.__setattr__(self, "name", self.run_dir.name)


@dataclass
class Outcome:
    """What became of one plan.

    Attributes:
        status: ``ok``, ``diverged`` or ``failed``.
        results: the run's results dict (``results.json``) when ``ok``.
        error: ``failed``: the exception in one line; ``diverged``: the divergence message.
        step: the step at which a run diverged (None when unknown).
        skipped: finished by an earlier sweep (same configuration); nothing was trained now.
        resumed: continued from the ``last.ckpt`` of an interrupted attempt.
        interrupted: stopped by a signal with a checkpoint (a re-run resumes it).
    """

    name: str
    run_dir: Path
    status: str
    results: dict[str, Any] | None = None
    error: str | None = None
    step: int | None = None
    skipped: bool = False
    resumed: bool = False
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def label(self) -> str:
        """The table's status: ``ok``, ``diverged at step N`` (or ``diverged``) or ``failed: <one line>``."""
        if self.status == "diverged":
            return f"diverged at step {self.step}" if self.step is not None else "diverged"
        if self.status == "failed":
            return f"failed: {self.error}"
        return self.status


# --------------------------------------------------------------------------------- run directories


def _normal(cfg: dict[str, Any] | TrainConfig) -> dict[str, Any]:
    """A configuration as plain JSON values, without :data:`EXECUTION_KEYS` (a YAML/JSON round trip turns tuples
    into lists; a key written before it existed takes its default)."""
    d = cfg.to_dict() if isinstance(cfg, TrainConfig) else TrainConfig.from_dict(dict(cfg)).to_dict()
    d = json.loads(json.dumps(d))
    for key in EXECUTION_KEYS:
        d.pop(key, None)
    return d


def _expected(cfg: TrainConfig) -> dict[str, Any]:
    """What ``train`` writes as the run's configuration (``--epochs`` resolved into ``max_steps``)."""
    from rnnzoo.train.build import build_task
    from rnnzoo.train.epochs import resolve_epochs

    return _normal(resolve_epochs(cfg, build_task(cfg)))


def _stored(run_dir: Path) -> dict[str, Any] | None:
    """The configuration of the run in ``run_dir`` (results.json, else config.yaml, else outcome.json), or None."""
    for name, read in (("results.json", json.loads), ("config.yaml", yaml.safe_load), (OUTCOME, json.loads)):
        path = run_dir / name
        if path.exists():
            data = read(path.read_text())
            cfg = data.get("config") if name != "config.yaml" else data
            if isinstance(cfg, dict):
                return cfg
    return None


def _differences(a: dict[str, Any], b: dict[str, Any]) -> str:
    keys = [k for k in dict.fromkeys([*a, *b]) if a.get(k) != b.get(k)]
    shown = ", ".join(f"{k}: {a.get(k)!r} there, {b.get(k)!r} planned" for k in keys[:3])
    return shown + (f" and {len(keys) - 3} more" if len(keys) > 3 else "")


def plan_actions(plans: list[Plan], *, overwrite: bool = False, refuse_hint: str = "") -> list[str]:
    """What :func:`run_sweep` will do with each plan's run directory, checked before anything trains.

    ``"skip"``: it holds the plan's finished run (``results.json``, or ``outcome.json`` of a diverged run, whose
    configuration equals the plan's apart from :data:`EXECUTION_KEYS`); ``"resume"``: an interrupted attempt
    (``checkpoints/last.ckpt``, no outcome); ``"retry"``: a failed attempt, retrained from scratch; ``"new"``:
    nothing there yet; ``"overwrite"``: ``overwrite=True`` (every plan retrains, its old artifacts cleared).

    Raises:
        RunDirError: a run directory holds a run of another configuration (named, with the differences and
            ``refuse_hint``), is not a directory, or two plans share one.
    """
    seen: dict[Path, str] = {}
    actions = []
    for plan in plans:
        sub = plan.run_dir
        if sub in seen:
            raise RunDirError(f"--run-dir: plans {seen[sub]!r} and {plan.name!r} both write {sub}")
        seen[sub] = plan.name
        if sub.exists() and not sub.is_dir():
            raise RunDirError(f"--run-dir: {sub} exists and is not a directory")
        if overwrite:
            actions.append("overwrite")
            continue
        stored = _stored(sub) if sub.is_dir() else None
        if stored is None:
            actions.append("new")
            continue
        have, want = _normal(stored), _expected(plan.cfg)
        if have != want and have != _normal(plan.cfg):  # outcome.json of a run that failed before config.yaml
            raise RunDirError(f"--run-dir: {sub} holds a run of a different configuration ({_differences(have, want)})"
                              f"; it is never overwritten: choose another --run-dir{refuse_hint}")
        outcome = _read_outcome(sub)
        if (sub / "results.json").exists() or (outcome or {}).get("status") == "diverged":
            actions.append("skip")
        elif outcome is None and (sub / "checkpoints" / "last.ckpt").exists():
            actions.append("resume")
        else:
            actions.append("retry")
    return actions


def _read_outcome(run_dir: Path) -> dict[str, Any] | None:
    path = run_dir / OUTCOME
    return json.loads(path.read_text()) if path.exists() else None


def _finished(plan: Plan) -> Outcome:
    """The outcome of a plan :func:`plan_actions` found finished, read back from its run directory."""
    sub = plan.run_dir
    if (sub / "results.json").exists():
        return Outcome(plan.name, sub, "ok", results=json.loads((sub / "results.json").read_text()), skipped=True)
    stored = _read_outcome(sub) or {}
    return Outcome(plan.name, sub, "diverged", error=stored.get("error"), step=stored.get("step"), skipped=True)


# ------------------------------------------------------------------------------------------ one run


class _Tee:
    """A text stream writing to several (the run's log and, in process, the console)."""

    def __init__(self, *streams: TextIO) -> None:
        self.streams = streams

    def write(self, text: str) -> int:
        for s in self.streams:
            s.write(text)
        return len(text)

    def flush(self) -> None:
        for s in self.streams:
            s.flush()

    def isatty(self) -> bool:
        return False


@contextlib.contextmanager
def _logged(run_dir: Path, console: bool) -> Iterator[TextIO]:
    """Send stdout and stderr to ``run_dir/train.log`` (and to the console too if ``console``)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / LOG, "a", buffering=1) as log:
        out: Any = _Tee(log, sys.stdout) if console else log
        err: Any = _Tee(log, sys.stderr) if console else log
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            yield out


def one_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def run_plan(plan: Plan, action: str = "new", train_fn: TrainFn | None = None, *, console: bool = False) -> Outcome:
    """Train one plan into its run directory as ``action`` (see :func:`plan_actions`) says; the function a Ray task
    runs and the in-process path calls. Exceptions become a ``failed`` outcome, except an interruption
    (``Interrupted``, ``KeyboardInterrupt``) in this process's main thread with ``console`` (the in-process path),
    which propagates so that Ctrl-C stops the sweep."""
    from rnnzoo.train.run import Interrupted, train

    train_fn = train if train_fn is None else train_fn
    sub, cfg = plan.run_dir, plan.cfg
    if action == "skip":
        return _finished(plan)
    started = time.time()
    with _logged(sub, console) as out:
        def echo(line: str) -> None:
            print(line, file=out, flush=True)

        echo(f"[sweep] {time.strftime('%Y-%m-%d %H:%M:%S')} {plan.name}: {action}")
        (sub / OUTCOME).unlink(missing_ok=True)
        resumed = False
        try:
            if action == "resume":
                try:
                    results = train_fn(cfg, sub, resume=sub, echo=echo)
                    resumed = True
                except CheckpointError as err:  # a checkpoint cut short by a hard kill: start again
                    echo(f"[sweep] cannot resume ({err}); training from scratch")
                    results = train_fn(cfg, sub, overwrite=True, echo=echo)
            else:
                results = train_fn(cfg, sub, overwrite=action in ("retry", "overwrite"), echo=echo)
            return Outcome(plan.name, sub, "ok", results=results, resumed=resumed, seconds=time.time() - started)
        except TrainingDiverged as err:
            outcome = Outcome(plan.name, sub, "diverged", error=str(err), step=err.step)
        except (Interrupted, KeyboardInterrupt) as err:
            if console:
                raise
            outcome = Outcome(plan.name, sub, "failed", error=f"interrupted: {one_line(err)}", interrupted=True)
        except Exception as err:
            if isinstance(err, RuntimeError) and str(err).startswith("training diverged"):  # from a DDP worker
                step = re.search(r"at step (\d+)", str(err))
                outcome = Outcome(plan.name, sub, "diverged", error=str(err), step=int(step[1]) if step else None)
            else:
                traceback.print_exc(file=out)
                outcome = Outcome(plan.name, sub, "failed", error=one_line(err))
        outcome.seconds = time.time() - started
        if not outcome.interrupted:  # an interrupted run has no outcome yet: a re-run resumes it
            record = {"status": outcome.status, "error": outcome.error, "step": outcome.step,
                      "config": json.loads(json.dumps(cfg.to_dict()))}
            (sub / OUTCOME).write_text(json.dumps(record, indent=2) + "\n")
        echo(f"[sweep] {plan.name}: {outcome.label}")
        return outcome


# ------------------------------------------------------------------------------------------ the sweep


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
