"""One run of a sweep (:mod:`rnnzoo.train.sweep`): its plan, its outcome, whether it is new, finished, failed or
interrupted (:func:`plan_actions`), and running it with its output in its ``train.log`` (:func:`run_plan`). Shared by
the in-process executor and the Ray one (:mod:`rnnzoo.train.sweep_ray`)."""

from __future__ import annotations

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
from rnnzoo.train.errors import CheckpointError, RunDirError, TrainingDiverged

__all__ = ["EXECUTION_KEYS", "LOG", "OUTCOME", "RAY_EXTRA", "Outcome", "Plan", "TrainFn", "one_line", "plan_actions",
           "run_plan"]


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
