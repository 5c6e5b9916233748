"""The ``rnnzoo`` command line (also ``python -m rnnzoo``).

::

    rnnzoo list                                   models and tasks
    rnnzoo train                                  the default job: LSTM on the adding problem, T = 100
    rnnzoo train --model gru --task copy --seq-len 70 --clip-norm 1 --max-steps 2000
    rnnzoo train --resume RUN_DIR [--max-steps N] continue an interrupted (or finished) run
    rnnzoo evaluate RUN_DIR/checkpoints/last.ckpt --split test
    rnnzoo compare --models elman,lstm,gru --tasks adding --seq-lens 50,100 --seeds 0,1
    rnnzoo bench ... / rnnzoo diagnose ...        delegated to rnnzoo.bench / rnnzoo.diagnostics.cli

Exit status: 0 success; 1 training diverged (NaN/inf); 2 bad input (unknown name, invalid value,
unusable run directory or checkpoint); 130 / 143 stopped by SIGINT / SIGTERM after saving a checkpoint.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import yaml

from rnnzoo.train.config import TrainConfig, flag, layer
from rnnzoo.train.defaults import DEFAULT_JOB
from rnnzoo.train.errors import CheckpointError, ConfigError, RunDirError, TrainingDiverged

PROG = "rnnzoo"
#: keys that ``--resume`` may change; the others define the run and must stay as they were
RESUMABLE = ("max_steps", "devices", "val_every", "early_stopping", "stop_at", "monitor", "progress", "log_every",
             "diagnose_every", "deterministic", "threads", "eval_batch_size", "compile")
_DELEGATES = {"bench": ("rnnzoo.bench.cli", "main"), "diagnose": ("rnnzoo.diagnostics.cli", "main"),
              "export": ("rnnzoo.export.cli", "main")}


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors: ``rnnzoo train: error: argument --lr: expected a number, got 'x'``."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (a batch size of 0 or -5 is refused, not replaced)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def _number(kind: type, nullable: bool = False) -> Any:
    what = "an integer" if kind is int else "a number"

    def parse(text: str) -> Any:
        if nullable and text.strip().lower() in ("none", "null", "off"):
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {what}{' or none' if nullable else ''}, got {text!r}") from None

    parse.__name__ = kind.__name__
    return parse


def _key_value(text: str) -> tuple[str, Any]:
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value (e.g. activation=relu), got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"expected key=value with a YAML value, got {text!r}") from None
    return key.strip(), parsed


def _names(text: str) -> list[str]:
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def _ints(text: str) -> list[int]:
    items = _names(text)
    try:
        return [int(t) for t in items]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def _default(key: str) -> Any:
    return DEFAULT_JOB.get(key, TrainConfig.__dataclass_fields__[key].default)


def _add_training_flags(p: argparse.ArgumentParser, *, single: bool) -> None:
    """Flags shared by ``train`` and ``compare`` (the sub-parser's default is SUPPRESS: a flag not
    given is absent from the namespace)."""
    d = _default
    g = p.add_argument_group("model")
    if single:
        g.add_argument("--model", help=f"registry name, see `rnnzoo list` (default {d('model')})")
    g.add_argument("--hidden-size", type=_number(int),
                   help=f"units per layer and direction (default {d('hidden_size')})")
    g.add_argument("--num-layers", type=_number(int), help=f"stacked layers (default {d('num_layers')})")
    g.add_argument("--bidirectional", action=argparse.BooleanOptionalAction,
                   help="bidirectional layers (default off)")
    g.add_argument("--dropout", type=_number(float), help="dropout between layers (default 0)")
    g.add_argument("--variational-dropout", type=_number(float, nullable=True), metavar="P",
                   help="variational dropout (Gal & Ghahramani 2016): one mask per sequence on each layer's input, "
                        "output and recurrent state, probability P (separate rates: a mapping of input/output/"
                        "state in --config); default none")
    g.add_argument("--zoneout", type=_number(float, nullable=True), metavar="P",
                   help="zoneout (Krueger et al. 2017): at each step every state unit keeps its previous value "
                        "with probability P (per field: a mapping such as {h: 0.05, c: 0.5} in --config); "
                        "default none")
    g.add_argument("--weight-drop", type=_number(float, nullable=True), metavar="P",
                   help="DropConnect on the recurrent weights, one mask per forward pass (AWD-LSTM, Merity et "
                        "al. 2018), probability P; default none")
    g.add_argument("--layer-norm", action=argparse.BooleanOptionalAction,
                   help="layer normalisation (Ba et al. 2016): the cell's own option where it has one, else the "
                        "rnnzoo.LayerNorm wrapper on its state (default off)")
    g.add_argument("--option", action="append", type=_key_value, metavar="KEY=VALUE",
                   help="a cell option, value parsed as YAML, repeatable (e.g. --option activation=relu "
                        f"--option forget_bias=1.0); default job: {d('options')}")
    g.add_argument("--init", metavar="SPEC", type=_number(str, nullable=True),
                   help="initialisation of the recurrent weights (rnnzoo.diagnostics.apply_init): "
                        "spectral_radius=R, orthogonal[=GAIN], identity[=SCALE] (IRNN), forget_bias=B")
    g.add_argument("--head", choices=("auto", "last", "per_step", "next_token"),
                   help="output head (default auto: the task's target)")
    g = p.add_argument_group("task")
    if single:
        g.add_argument("--task", help=f"task name, see `rnnzoo list` (default {d('task')})")
        g.add_argument("--seq-len", type=_number(int, nullable=True),
                       help=f"sequence length T (default {d('seq_len')}; none = the task's default)")
    g.add_argument("--task-option", action="append", type=_key_value, metavar="KEY=VALUE",
                   help="a task option, e.g. --task-option num_classes=8 (repeatable)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--batch-size", type=_number(int), help=f"global batch size (default {d('batch_size')})")
    g.add_argument("--eval-batch-size", type=_number(int),
                   help=f"evaluation batch size (default {d('eval_batch_size')})")
    g.add_argument("--optimizer", choices=("sgd", "adam", "rmsprop"), help=f"(default {d('optimizer')})")
    g.add_argument("--lr", type=_number(float), help=f"learning rate (default {d('lr')})")
    g.add_argument("--momentum", type=_number(float), help=f"SGD/RMSprop momentum (default {d('momentum')})")
    g.add_argument("--weight-decay", type=_number(float), help="L2 weight decay (default 0)")
    g.add_argument("--schedule", choices=("constant", "cosine", "step"),
                   help="learning-rate schedule after warm-up (default constant)")
    g.add_argument("--warmup-steps", type=_number(int), help="linear warm-up steps (default 0)")
    g.add_argument("--step-size", type=_number(int), help=f"step schedule: period (default {d('step_size')})")
    g.add_argument("--gamma", type=_number(float), help=f"step schedule: factor (default {d('gamma')})")
    g.add_argument("--max-steps", type=_number(int), help=f"optimizer updates (default {d('max_steps')})")
    g.add_argument("--clip-norm", type=_number(float, nullable=True),
                   help=f"clip the global gradient norm (Pascanu et al. 2013); none = off (default {d('clip_norm')})")
    g.add_argument("--clip-value", type=_number(float, nullable=True), help="clip each gradient element (default none)")
    g.add_argument("--tbptt", metavar="K1[,K2]",
                   help="truncated BPTT: update every K1 steps, backpropagate K2 >= K1 steps (default: full BPTT)")
    g = p.add_argument_group("run")
    if single:
        g.add_argument("--seed", type=_number(int), help=f"random seed (default {d('seed')})")
    g.add_argument("--devices", type=_number(int), help="CPU processes; > 1 trains with DDP over gloo (default 1)")
    g.add_argument("--precision", choices=("32-true", "64-true", "bf16-mixed"), help="(default 32-true)")
    g.add_argument("--deterministic", action=argparse.BooleanOptionalAction,
                   help="torch.use_deterministic_algorithms (default off)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="torch.compile the recurrent model (about a minute to compile; pays on long runs)")
    g.add_argument("--threads", type=_number(int, nullable=True),
                   help=f"torch threads per process; none = torch's default (default {d('threads')})")
    g.add_argument("--val-every", type=_number(int), help=f"validate every N steps (default {d('val_every')})")
    g.add_argument("--early-stopping", type=_number(int, nullable=True), metavar="PATIENCE",
                   help="stop after PATIENCE validations without improvement; report the best weights")
    g.add_argument("--monitor", help="valid metric for early stopping and best.ckpt (default: the task's first)")
    g.add_argument("--stop-at", type=_number(float, nullable=True),
                   help=f"stop once the monitored valid metric reaches this (default {d('stop_at')})")
    g.add_argument("--diagnose-every", type=_number(int, nullable=True), metavar="N",
                   help="run rnnzoo.diagnostics every N steps")
    g.add_argument("--log-every", type=_number(int), help="log training metrics every N steps (default 10)")
    g.add_argument("--progress", choices=("auto", "bar", "log", "none"),
                   help="progress bar, one line per validation, or nothing (default auto: bar on a terminal)")
    g.add_argument("--config", metavar="FILE.yaml", help="configuration file (keys as in RUN_DIR/config.yaml)")
    g.add_argument("--overwrite", action="store_true", help="replace a run directory that already holds a run")


def build_parser() -> argparse.ArgumentParser:
    """The ``rnnzoo`` argument parser."""
    parser = _Parser(prog=PROG, description="Recurrent architectures of the literature: list, train, evaluate, "
                                            "compare.")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    p = sub.add_parser("list", help="registered models and tasks")
    p.set_defaults(func=cmd_list)

    p = sub.add_parser("train", help="train a model on a task (no arguments: the default job)",
                       argument_default=argparse.SUPPRESS,
                       description="Train a registered model on a task. With no arguments: an LSTM on the adding "
                                   "problem, T = 100, solved (test MSE ~5e-4 against the baseline 0.167) in "
                                   "about 30 s of CPU time.")
    _add_training_flags(p, single=True)
    p.add_argument("--run-dir", help="output directory (default runs/<model>-<task>-T<seq>-<timestamp>)")
    p.add_argument("--resume", metavar="RUN_DIR|CKPT", help="continue from a run directory's last.ckpt or a "
                   "checkpoint; only " + ", ".join(flag(k) for k in RESUMABLE) + " may change")
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="evaluate a checkpoint on a split")
    p.add_argument("checkpoint", metavar="CKPT|RUN_DIR")
    p.add_argument("--split", default="test", help="split name (default test)")
    p.add_argument("--out", help="JSON output (default <checkpoint>.<split>.json next to the checkpoint)")
    p.add_argument("--batch-size", type=_positive_int, help="evaluation batch size")
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("compare", help="train every model x task x length x seed and tabulate/plot",
                       argument_default=argparse.SUPPRESS,
                       description="Train each combination in its own sub run directory; write compare.md, "
                                   "compare.csv and compare.png.")
    p.add_argument("--models", type=_names, required=True, help="comma-separated model names")
    p.add_argument("--tasks", type=_names, help="comma-separated task names (default adding)")
    p.add_argument("--seq-lens", type=_ints, help="comma-separated sequence lengths (default: the task's)")
    p.add_argument("--seeds", type=_ints, help="comma-separated seeds (default 0)")
    p.add_argument("--run-dir", help="output directory (default runs/compare-<timestamp>)")
    _add_training_flags(p, single=False)
    p.set_defaults(func=cmd_compare)

    for name, (module, _) in _DELEGATES.items():
        sub.add_parser(name, help=f"delegated to {module}.main (its own --help)", add_help=False)
    return parser


# ------------------------------------------------------------------------------------- configuration


_FLAG_KEYS = [k for k in TrainConfig.keys() if k not in ("options", "task_options")]


def explicit_values(args: argparse.Namespace) -> dict[str, Any]:
    """The config values given on the command line (flags left at None were not given)."""
    out: dict[str, Any] = {}
    for key in _FLAG_KEYS:
        if hasattr(args, key):  # flags default to argparse.SUPPRESS: present = given (maybe as none)
            out[key] = getattr(args, key)
    if getattr(args, "option", None):
        out["options"] = dict(args.option)
    if getattr(args, "task_option", None):
        out["task_options"] = dict(args.task_option)
    return out


def resolve_config(args: argparse.Namespace, explicit: dict[str, Any] | None = None) -> TrainConfig:
    """DEFAULT_JOB <- ``--config`` file <- flags."""
    from rnnzoo.train.run import load_config_file

    explicit = explicit_values(args) if explicit is None else explicit
    values = dict(DEFAULT_JOB)
    if getattr(args, "config", None):
        values = layer(values, load_config_file(args.config))
        TrainConfig.from_dict(values, source=args.config)
    return TrainConfig.from_dict(layer(values, explicit))


def resume_config(args: argparse.Namespace, checkpoint: dict[str, Any]) -> TrainConfig:
    """The checkpoint's configuration with the changes ``--resume`` allows (see :data:`RESUMABLE`)."""
    if getattr(args, "config", None):
        raise ConfigError("--config: not with --resume (the run's configuration is in its checkpoint)")
    base = dict(checkpoint["rnnzoo"]["config"])
    defaults = TrainConfig().to_dict()  # what a checkpoint written before a key existed ran with
    explicit = explicit_values(args)
    for key, value in explicit.items():
        if key not in RESUMABLE and value != base.get(key, defaults.get(key)):
            name = "--option" if key == "options" else "--task-option" if key == "task_options" else flag(key)
            raise ConfigError(f"{name}: cannot change when resuming (the run has {base.get(key)!r}, got {value!r}); "
                              f"only {', '.join(flag(k) for k in RESUMABLE)} may change")
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
        print(f"  {t.name:<{width}}  {t.description}\n  {'':<{width}}  baseline: {t.baseline}")
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
    else:
        cfg = resolve_config(args)
    results = train(cfg, getattr(args, "run_dir", None), resume=resume, overwrite=overwrite)
    print(summary(results))
    return 0


def cmd_evaluate(args: argparse.Namespace) -> int:
    from rnnzoo.train.run import evaluate_checkpoint

    result = evaluate_checkpoint(args.checkpoint, args.split, out=args.out, batch_size=args.batch_size)
    metrics = "  ".join(f"{k} {v:.4g}" for k, v in result["metrics"].items())
    base = "  ".join(f"{k} {v:.4g}" for k, v in result["baseline"].items())
    print(f"{result['model']} on {result['task']} T={result['seq_len']} ({result['split']}, step {result['steps']}): "
          f"{metrics}\nbaseline: {base}\nwritten to {result['out']}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from rnnzoo.train.compare import compare

    explicit = explicit_values(args)
    base = resolve_config(args, explicit)
    out = compare(base, explicit, models=args.models, tasks=getattr(args, "tasks", None),
                  seq_lens=getattr(args, "seq_lens", None), seeds=getattr(args, "seeds", None) or [base.seed],
                  run_dir=getattr(args, "run_dir", None), overwrite=getattr(args, "overwrite", False))
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

