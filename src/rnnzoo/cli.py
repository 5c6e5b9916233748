"""The ``rnnzoo`` command line (also ``python -m rnnzoo``).

::

    rnnzoo list                                   models and tasks
    rnnzoo train                                  the default job: LSTM on the adding problem, T = 100
    rnnzoo train --model gru --task copy --seq-len 70 --clip-norm 1 --max-steps 2000
    rnnzoo train --resume RUN_DIR [--max-steps N] continue an interrupted (or finished) run
    rnnzoo evaluate RUN_DIR/checkpoints/last.ckpt --split test
    rnnzoo compare --models elman,lstm,gru --tasks adding --seq-lens 50,100 --seeds 0,1 [--workers 2]
    rnnzoo bench ... / rnnzoo diagnose ...        delegated to rnnzoo.bench / rnnzoo.diagnostics.cli

Exit status: 0 success; 1 training diverged (NaN/inf); 2 bad input (unknown name, invalid value,
unusable run directory or checkpoint); 130 / 143 stopped by SIGINT / SIGTERM after saving a checkpoint.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from rnnzoo._cli_flags import add_training_flags, explicit_values
from rnnzoo._cli_parser import Parser, ints, names, positive_int, version_text
from rnnzoo.train.config import TrainConfig, flag, layer
from rnnzoo.train.config_file import ConfigFile, load_config_file
from rnnzoo.train.defaults import DEFAULT_JOB
from rnnzoo.train.errors import CheckpointError, ConfigError, RunDirError, TrainingDiverged
from rnnzoo.train.sweep import add_sweep_flags

PROG = "rnnzoo"
#: keys that ``--resume`` may change; the others define the run and must stay as they were. The process count
#: (devices, num_nodes) keeps the data order (every process takes its share of the same global batch); precision
#: may change among the float32-weight ones (not to or from 64-true); strategy stays (FSDP's optimizer state is
#: laid out otherwise than DDP's). docs/distributed.md says what stays exact.
RESUMABLE = ("max_steps", "devices", "num_nodes", "accelerator", "precision", "val_every", "early_stopping",
             "stop_at", "monitor", "progress", "log_every", "diagnose_every", "deterministic", "threads",
             "eval_batch_size", "compile", "epochs")
_DELEGATES = {"bench": ("rnnzoo.bench.cli", "main"), "diagnose": ("rnnzoo.diagnostics.cli", "main"),
              "export": ("rnnzoo.export.cli", "main"), "data": ("rnnzoo.data.cli", "main"),
              "reproduce": ("rnnzoo.reproduce.cli", "main")}
#: what ``rnnzoo --help`` says of each delegated command (one with no entry here gets a pointer to its --help)
_DELEGATE_HELP = {
    "bench": "time and memory of a training step of every model, as ratios to torch.nn.LSTM",
    "diagnose": "gradient flow through time, Jacobian spectra and gate saturation of models on a task",
    "export": "a trained run's model (with its head) to ONNX or torch.export, checked against eager",
    "data": "real datasets: list, fetch (canonical source, then the registry package) and statistics",
    "reproduce": "a paper's claim as one command: published vs measured (median over seeds) and a verdict",
}

__all__ = ["PROG", "RESUMABLE", "build_parser", "explicit_values", "layer", "main", "resolve_config",
           "resume_config"]


def build_parser() -> argparse.ArgumentParser:
    """The ``rnnzoo`` argument parser."""
    parser = Parser(prog=PROG, description="Recurrent architectures of the literature: list them, train them on "
                                           "long-range-dependency tasks, evaluate, compare, time and diagnose them.")
    parser.add_argument("--version", action="version", version=version_text(PROG))
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    p = parser.add_command(sub, "list", help="registered models and tasks",
                           description="The registered models (paper, capabilities) and tasks (sequence length, "
                                       "trivial baseline).")
    p.set_defaults(func=cmd_list)

    p = parser.add_command(
        sub, "train", help="train a model on a task (no arguments: the default job)",
        argument_default=argparse.SUPPRESS,
        description="Train a registered model on a task. With no arguments: an LSTM on the adding problem, T = 100, "
                    "until the valid MSE is below 0.001 (at most 3,000 updates): solved at step 1,250 (test MSE "
                    "~5e-4 against the baseline 0.167) in about 30 s of CPU time.")
    add_training_flags(p, single=True)
    p.add_argument("--run-dir", help="output directory (default runs/<model>-<task>-T<seq>-<timestamp>; required "
                                      "under torchrun, srun or a launch by hand on several nodes, where every "
                                      "process runs this command: docs/distributed.md)")
    p.add_argument("--resume", metavar="RUN_DIR|CKPT",
                   help="continue a run from its last.ckpt (or a checkpoint), exactly as if never stopped, up to a "
                        "--max-steps beyond the step it reached; only " + ", ".join(flag(k) for k in RESUMABLE)
                        + " may change")
    p.set_defaults(func=cmd_train)

    p = parser.add_command(sub, "evaluate", help="evaluate a checkpoint on a split",
                           description="Evaluate a checkpoint (a run directory: its last.ckpt) on a split of its "
                                       "task; write the metrics as JSON.")
    p.add_argument("checkpoint", metavar="CKPT|RUN_DIR")
    p.add_argument("--split", default="test", help="valid or test (default test)")
    p.add_argument("--out", help="JSON output (default <checkpoint>.<split>.json next to the checkpoint)")
    p.add_argument("--batch-size", type=positive_int, help="evaluation batch size (default: the run's)")
    p.add_argument("--plots", type=positive_int, default=0, metavar="N",
                   help="also draw the attention heatmaps (target step x source position, memory slots, pointer "
                        "distributions: whatever the model reports as attention) of the split's first N examples")
    p.set_defaults(func=cmd_evaluate)

    p = parser.add_command(sub, "compare", help="train every model x task x length x seed and tabulate/plot",
                           argument_default=argparse.SUPPRESS,
                           description="Train each combination in its own sub run directory; write compare.md, "
                                       "compare.csv and compare.png. Flags not given take the default job's values.")
    p.add_argument("--models", type=names, required=True, help="comma-separated model names")
    p.add_argument("--tasks", type=names, help="comma-separated task names (default adding)")
    p.add_argument("--seq-lens", type=ints, help="comma-separated sequence lengths (default: each task's)")
    p.add_argument("--seeds", type=ints, help="comma-separated seeds (default 0)")
    p.add_argument("--run-dir", help="output directory (default runs/compare-<timestamp>); used again, the "
                                     "comparison resumes: finished runs of the same configuration are skipped, "
                                     "failed ones retried, interrupted ones resumed")
    add_sweep_flags(p)
    add_training_flags(p, single=False)
    p.set_defaults(func=cmd_compare)

    for name in _DELEGATES:
        parser.add_command(sub, name, help=_DELEGATE_HELP.get(name, f"see `{PROG} {name} --help`"), add_help=False)
    return parser


# ------------------------------------------------------------------------------------- configuration


def config_file(args: argparse.Namespace) -> ConfigFile | None:
    """The ``--config`` file, read (None without ``--config``)."""
    return load_config_file(args.config) if getattr(args, "config", None) else None


def resolve_config(args: argparse.Namespace, explicit: dict[str, Any] | None = None,
                   file: ConfigFile | None = None) -> TrainConfig:
    """DEFAULT_JOB <- ``--config`` file <- flags. An error in a value the file set names the file, the key
    and its line; one in a flag names the flag."""
    explicit = explicit_values(args) if explicit is None else explicit
    file = config_file(args) if file is None else file
    values = dict(DEFAULT_JOB)
    if file is not None:
        try:  # the file on its own: a bad value in it is an error even where a flag overrides it
            values = layer(values, file.values)
            TrainConfig.from_dict(values)
        except ConfigError as err:
            raise file.blame(err) from None
    try:
        return TrainConfig.from_dict(layer(values, explicit))
    except ConfigError as err:
        raise (file.blame(err, explicit) if file is not None else err) from None


def resume_config(args: argparse.Namespace, checkpoint: dict[str, Any]) -> TrainConfig:
    """The checkpoint's configuration with the changes ``--resume`` allows (see :data:`RESUMABLE`)."""
    if getattr(args, "config", None):
        raise ConfigError("--config: not with --resume (the run's configuration is in its checkpoint)")
    base = dict(checkpoint["rnnzoo"]["config"])
    defaults = TrainConfig().to_dict()  # what a checkpoint written before a key existed ran with
    explicit = explicit_values(args)
    for key, value in explicit.items():
        if key not in RESUMABLE and value != base.get(key, defaults.get(key)):
            raise ConfigError(f"{flag(key)}: cannot change when resuming (the run has {base.get(key)!r}, got "
                              f"{value!r}); only {', '.join(flag(k) for k in RESUMABLE)} may change")
    old, new = base.get("precision", "32-true"), explicit.get("precision", base.get("precision", "32-true"))
    if "64-true" in (old, new) and old != new:
        raise ConfigError(f"--precision: cannot change between 64-true and another precision when resuming (the "
                          f"weights' dtype would change), the run has {old!r}, got {new!r}")
    return TrainConfig.from_dict({**base, **explicit})


# ------------------------------------------------------------------------------------------ commands


def capabilities(info: Any) -> str:
    """One line of an entry's typed fields, as ``rnnzoo list`` prints them."""
    flags = [f"input {info.input_kind}", f"fast path {info.fast_path}"]
    flags += [label for label, on in (("causal", info.causal), ("chunkable (TBPTT, streaming)", info.chunkable),
                                      ("bidirectional", info.bidirectional_ok), ("gated", info.gated),
                                      (f"converts to torch.nn.{info.torch_module}", info.torch_module)) if on]
    if info.peers:
        flags.append(f"peers {', '.join(info.peers)}")
    return "; ".join(flags)


def cmd_list(args: argparse.Namespace) -> int:
    import rnnzoo
    from rnnzoo.tasks import list_tasks

    print("models:")
    names = rnnzoo.list_models()
    width = max(len(n) for n in names)
    for name in names:
        info = rnnzoo.model_info(name)
        paper = f"{info.paper.authors} {info.paper.year}"
        print(f"  {name:<{width}}  {paper}: {info.description}")
        print(f"  {'':<{width}}  {capabilities(info)}")
    print("\ntasks:")
    tasks = list_tasks()
    width = max(len(t.name) for t in tasks)
    for t in tasks:
        length = f"{t.seq_len}; " if t.seq_len else ""
        print(f"  {t.name:<{width}}  {t.description}\n  {'':<{width}}  {length}baseline: {t.baseline}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from rnnzoo.train.run import load_checkpoint, resolve_checkpoint, summary, train

    resume = getattr(args, "resume", None)
    overwrite = getattr(args, "overwrite", False)
    if resume is not None:
        if overwrite:
            raise ConfigError("--overwrite: not with --resume (resuming continues the run in its directory)")
        ckpt = load_checkpoint(resolve_checkpoint(resume))
        cfg = resume_config(args, ckpt)
        file = None
    else:
        file = config_file(args)
        cfg = resolve_config(args, file=file)
    try:
        results = train(cfg, getattr(args, "run_dir", None), resume=resume, overwrite=overwrite)
    except ConfigError as err:  # a model, task or option the registries refuse: blame the file if it set it
        raise (file.blame(err, explicit_values(args)) if file is not None else err) from None
    if "rank" not in results:  # global rank > 0 of a launched run: rank 0 reports
        print(summary(results))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rnnzoo.train.run import evaluate_checkpoint

    result = evaluate_checkpoint(args.checkpoint, args.split, out=args.out, batch_size=args.batch_size,
                                 plots=args.plots)
    metrics = "  ".join(f"{k} {v:.4g}" for k, v in result["metrics"].items())
    base = "  ".join(f"{k} {v:.4g}" for k, v in result["baseline"].items())
    print(f"{result['model']} on {result['task']} T={result['seq_len']} ({result['split']}, step {result['steps']}): "
          f"{metrics}\nbaseline: {base}\nwritten to {result['out']}")
    if args.plots:
        drawn = result.get("plots", [])
        print(f"attention heatmaps: {', '.join(drawn)}" if drawn else
              f"attention heatmaps: none ({result['model']} reports no attention)")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rnnzoo.train.compare import compare

    explicit = explicit_values(args)
    file = config_file(args)
    base = resolve_config(args, explicit, file)
    try:
        out = compare(base, explicit, models=args.models, tasks=getattr(args, "tasks", None),
                      seq_lens=getattr(args, "seq_lens", None), seeds=getattr(args, "seeds", None) or [base.seed],
                      run_dir=getattr(args, "run_dir", None), overwrite=getattr(args, "overwrite", False),
                      workers=getattr(args, "workers", None), ray_address=getattr(args, "ray_address", None))
    except ConfigError as err:
        raise (file.blame(err, explicit) if file is not None else err) from None
    print(f"compare: {out / 'compare.md'}, {out / 'compare.csv'}, {out / 'compare.png'}")
    print((out / "compare.md").read_text())
    return 0


def delegate(name: str, argv: list[str]) -> int:
    """Run ``rnnzoo.bench.main(argv)`` / ``rnnzoo.diagnostics.cli.main(argv)`` if installed."""
    module_name, func = _DELEGATES[name]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        if err.name is not None and not module_name.startswith(err.name) and err.name != module_name:
            raise
        print(f"{PROG} {name}: error: {module_name} is not available in this installation ({err})", file=sys.stderr)
        return 2
    entry = getattr(module, func, None)
    if entry is None:
        print(f"{PROG} {name}: error: {module_name} has no {func}(argv)", file=sys.stderr)
        return 2
    result = entry(argv)
    return int(result or 0)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit status (see the module docstring)."""
    args_list = list(sys.argv[1:] if argv is None else argv)
    if args_list and args_list[0] in _DELEGATES:
        return delegate(args_list[0], args_list[1:])
    parser = build_parser()
    try:
        args = parser.parse_args(args_list)
    except SystemExit as exit_:  # --help (0) or a usage error (2, message already printed)
        return int(exit_.code or 0)
    command = f"{PROG} {args.command}"
    try:
        return int(args.func(args))
    except (ConfigError, RunDirError, CheckpointError) as err:
        print(f"{command}: error: {err}", file=sys.stderr)
        return 2
    except TrainingDiverged as err:
        print(f"{command}: error: {err}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"\n{command}: interrupted", file=sys.stderr)
        return 130
    except Exception as err:
        from rnnzoo.train.run import Interrupted

        if isinstance(err, Interrupted):
            print(f"{command}: {err}", file=sys.stderr)
            return 128 + int(err.signum)
        if isinstance(err, RuntimeError) and str(err).startswith("training diverged"):
            print(f"{command}: error: {err}", file=sys.stderr)
            return 1
        raise


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())

