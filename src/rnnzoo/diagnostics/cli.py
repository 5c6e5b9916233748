"""``rnnzoo diagnose``: what a recurrent network remembers, as plots and numbers.

::

    rnnzoo diagnose --model elman --model lstm --task adding --seq-len 100 \\
        --init elman:spectral_radius=0.9 --init lstm:forget_bias=1.0 --out runs/diag

For each ``--model`` it builds the model (``rnnzoo.create``, the task's input size), applies the
``--init`` specs and ``--option`` values, or loads ``--checkpoint``, draws one batch of the task
with ``--seed`` and writes into ``--out``:

* ``gradient_vs_lag.png``: mean ``||dL_t/dh_k||`` against the lag t - k, log scale, one line per
  model (001 eqs (10)-(15)); ``gradient_matrix.png``: the full T x T matrix per model;
* ``jacobian_vs_lag.png``: singular values of the Jacobian product ``dh_t/dh_k`` (001 eq (11));
* ``singular_values.png``: the recurrent weights' spectra against ``1/gamma`` (001 eq (14));
* ``gate_saturation.png``: each gate's activation histogram with the saturated fractions;
* ``diagnostics.json``: every number behind those plots (NaN/inf written as "NaN"/"Infinity").

``--init``, ``--option`` and ``--checkpoint`` apply to every model, or to one when prefixed by its
label: ``--init lstm:forget_bias=1.0``. A model's label is its name, or ``--model NAME:LABEL``
(``--model elman:slow --model elman:fast --init slow:spectral_radius=0.9 ...``).

Checkpoints: an rnnzoo training checkpoint (``rnnzoo train``'s ``.ckpt``; the model is rebuilt from
the configuration stored in it with :mod:`rnnzoo.train.run`), a Lightning-style
``{"state_dict": ...}`` whose keys end in the model's parameter names (``model.backbone.``
prefixes are stripped), or a plain ``torch.save(model.state_dict())`` of the model this command
builds. Loaded with ``weights_only=True``.

Exit status: 0 success; 2 bad input (unknown name, invalid value, unusable checkpoint, an existing
``diagnostics.json`` without ``--overwrite``).
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

import rnnzoo
from rnnzoo._cli_parser import Parser
from rnnzoo.diagnostics.init import apply_init, parse_init
from rnnzoo.diagnostics.plots import (
    plot_gate_saturation,
    plot_gradient_lag,
    plot_gradient_matrix,
    plot_jacobian_lag,
    plot_singular_values,
)
from rnnzoo.diagnostics.report import ModelDiagnostics, diagnose, summary_lags, to_jsonable

PROG = "rnnzoo diagnose"
JSON_NAME = "diagnostics.json"
PLOTS = {
    "gradient_vs_lag.png": "models.<label>.gradient.by_lag (against gradient.lags)",
    "gradient_matrix.png": "models.<label>.gradient.matrix",
    "jacobian_vs_lag.png": "models.<label>.jacobian.norm and .singular_values (against .lag)",
    "singular_values.png": "models.<label>.weights[*].singular_values, .gamma",
    "gate_saturation.png": "models.<label>.saturation[*].counts, .edges, .low_fraction, .high_fraction",
}


class UsageError(Exception):
    """Bad command-line input: exit status 2."""


class _Parser(Parser):
    """The rnnzoo command line's parser: one-line errors that suggest the closest flag or choice."""


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog=PROG, description="Gradient norm against time lag, Jacobian products, recurrent-weight "
                                       "spectra and gate saturation of registered models on a task batch.",
                formatter_class=argparse.RawDescriptionHelpFormatter,
                epilog="Example:\n  rnnzoo diagnose --model elman --model lstm --task adding --seq-len 100 "
                       "--init elman:spectral_radius=0.9 --init lstm:forget_bias=1.0 --out runs/diag")
    p.add_argument("--model", action="append", required=True, metavar="NAME[:LABEL]",
                   help="a registered model (repeatable; see `rnnzoo list`)")
    p.add_argument("--task", required=True, help="task name (see `rnnzoo list`)")
    p.add_argument("--seq-len", type=int, help="sequence length T (default: the task's)")
    p.add_argument("--task-option", action="append", default=[], metavar="KEY=VALUE", help="a task option")
    p.add_argument("--checkpoint", action="append", default=[], metavar="[LABEL:]PATH",
                   help="weights to load (one per model, prefixed by label when there are several)")
    p.add_argument("--init", action="append", default=[], metavar="[LABEL:]SPEC",
                   help="spectral_radius=R, orthogonal[=GAIN], identity[=SCALE], forget_bias=B (repeatable)")
    p.add_argument("--option", action="append", default=[], metavar="[LABEL:]KEY=VALUE",
                   help="an rnnzoo.create option, e.g. activation=relu or num_layers=2 (repeatable)")
    p.add_argument("--hidden-size", type=int, default=64, help="units per layer (default 64)")
    p.add_argument("--batch-size", type=int, default=32, help="examples in the diagnostic batch (default 32)")
    p.add_argument("--seed", type=int, default=0, help="seed of the weights and the batch (default 0)")
    p.add_argument("--layer", type=int, default=0, help="layer whose state is probed (default 0, the bottom)")
    p.add_argument("--dtype", choices=("float32", "float64"), default="float32", help="(default float32)")
    p.add_argument("--jacobian", action=argparse.BooleanOptionalAction, default=True,
                   help="measure the Jacobian products (default on)")
    p.add_argument("--jacobian-method", choices=("auto", "exact", "power"), default="auto",
                   help="exact (small states) or power iteration (default auto)")
    p.add_argument("--jacobian-examples", type=int, default=8, help="examples for the Jacobians (default 8)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory")
    p.add_argument("--overwrite", action="store_true", help=f"replace an existing DIR/{JSON_NAME}")
    return p


def _value(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _key_value(text: str, what: str) -> tuple[str, Any]:
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise UsageError(f"{what}: expected KEY=VALUE, got {text!r}")
    return key.strip(), _value(raw.strip())


@dataclass
class ModelSpec:
    """One ``--model`` with what applies to it."""

    name: str
    label: str
    options: dict[str, Any] = field(default_factory=dict)
    inits: list[str] = field(default_factory=list)
    checkpoint: str | None = None


def _specs(args: argparse.Namespace) -> list[ModelSpec]:
    specs: list[ModelSpec] = []
    for text in args.model:
        name, _, label = text.partition(":")
        rnnzoo.model_info(name)  # unknown names raise with suggestions
        label = label or name
        if any(s.label == label for s in specs):
            raise UsageError(f"--model: label {label!r} given twice; name them, e.g. --model {name}:{label}2")
        specs.append(ModelSpec(name, label))

    def targets(text: str, what: str) -> tuple[list[ModelSpec], str]:
        head, sep, rest = text.partition(":")
        if sep:
            chosen = [s for s in specs if head in (s.label, s.name)]
            if chosen:
                return chosen, rest
        return specs, text

    for text in args.option:
        chosen, rest = targets(text, "--option")
        key, value = _key_value(rest, "--option")
        for s in chosen:
            s.options[key] = value
    for text in args.init:
        chosen, rest = targets(text, "--init")
        parse_init(rest)  # validate now
        for s in chosen:
            s.inits.append(rest)
    for text in args.checkpoint:
        chosen, rest = targets(text, "--checkpoint")
        if len(chosen) != 1:
            raise UsageError(f"--checkpoint: {len(chosen)} models; prefix the path with a label, e.g. "
                             f"{specs[0].label}:{text}")
        if chosen[0].checkpoint is not None:
            raise UsageError(f"--checkpoint: two checkpoints for {chosen[0].label!r}")
        chosen[0].checkpoint = rest
    for s in specs:
        if s.checkpoint and s.inits:
            raise UsageError(f"--init/--checkpoint: both given for {s.label!r}; the checkpoint's weights would "
                             "replace the initialisation")
    return specs


def _strip_prefix(state: dict[str, Tensor], wanted: set[str]) -> dict[str, Tensor]:
    """Keep the entries whose key ends in one of ``wanted`` after one common prefix (e.g. ``model.backbone.``)."""
    if wanted <= set(state):
        return {k: state[k] for k in wanted}
    prefixes: dict[str, int] = {}
    for key in state:
        for w in wanted:
            if key.endswith("." + w):
                prefixes[key[: -len(w)]] = prefixes.get(key[: -len(w)], 0) + 1
    for prefix, _ in sorted(prefixes.items(), key=lambda kv: -kv[1]):
        if all(prefix + w in state for w in wanted):
            return {w: state[prefix + w] for w in wanted}
    missing = sorted(wanted - set(state))[:4]
    raise UsageError(f"--checkpoint: no prefix of its keys fits the model's parameters (e.g. missing {missing}; "
                     f"found {sorted(state)[:4]})")


def load_weights(model: nn.Module, path: str, input_size: int) -> tuple[nn.Module, str]:
    """The model with the checkpoint's weights, and how they were read (see the module docstring)."""
    if not Path(path).is_file():
        raise UsageError(f"--checkpoint: no such file: {path}")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as err:  # torch raises many types for unreadable files
        raise UsageError(f"--checkpoint: cannot read {path} ({type(err).__name__}: "
                         f"{str(err).strip().splitlines()[0] if str(err).strip() else ''})") from None
    if isinstance(obj, dict) and "rnnzoo" in obj:
        try:
            from rnnzoo.train.run import load_checkpoint, model_from_checkpoint
        except ImportError as err:
            raise UsageError(f"--checkpoint: {path} is an rnnzoo training checkpoint but rnnzoo.train is not "
                             f"available ({err})") from None
        try:
            backbone = model_from_checkpoint(load_checkpoint(path)).backbone
        except Exception as err:
            raise UsageError(f"--checkpoint: {err}") from None
        if backbone.input_size != input_size:
            raise UsageError(f"--checkpoint: the model reads {backbone.input_size} features, the task gives "
                             f"{input_size}")
        return backbone, "rnnzoo training checkpoint (model rebuilt from its stored configuration)"
    state = obj.get("state_dict", obj) if isinstance(obj, dict) else obj
    if not isinstance(state, dict) or not all(isinstance(v, Tensor) for v in state.values()):
        raise UsageError(f"--checkpoint: {path} holds no state dict of tensors")
    state = _strip_prefix(state, set(model.state_dict()))
    try:
        model.load_state_dict(state)
    except RuntimeError as err:
        raise UsageError(f"--checkpoint: weights do not fit the model: {str(err).splitlines()[0]}") from None
    return model, "state dict"


def _build(spec: ModelSpec, args: argparse.Namespace, input_size: int, dtype: torch.dtype
           ) -> tuple[nn.Module, dict[str, Any]]:
    torch.manual_seed(args.seed)
    try:
        model: nn.Module = rnnzoo.create(spec.name, input_size=input_size, hidden_size=args.hidden_size,
                                         **spec.options)
    except TypeError as err:
        raise UsageError(f"--option: {spec.label}: {err}") from None
    gen = torch.Generator().manual_seed(args.seed)
    for init in spec.inits:
        apply_init(model, init, generator=gen)
    source = "fresh initialisation"
    if spec.checkpoint:
        model, source = load_weights(model, spec.checkpoint, input_size)
    model.to(dtype)
    info = {"name": spec.name, "options": spec.options, "init": spec.inits, "checkpoint": spec.checkpoint,
            "weights": source, "config": getattr(model, "config", None),
            "parameters": sum(p.numel() for p in model.parameters())}
    return model, info


def _summary_line(label: str, d: ModelDiagnostics) -> str:
    parts = [f"{label}:"]
    g = d.gradient
    if g is not None:
        for lag in summary_lags(g.seq_len):
            parts.append(f"grad[lag {lag}]={g.at(lag):.3g}")
        ref = min(50, g.seq_len - 1)
        if ref > 1:
            parts.append(f"lag{ref}/lag1={g.ratio(ref):.3g}")
        if g.nonfinite:
            parts.append(f"NaN/inf at {len(g.nonfinite_lags)} lags (from lag {g.nonfinite_lags[0]})"
                         if g.nonfinite_lags else "NaN/inf in dL_t/dh_k")
    for w in d.weights:
        parts.append(f"lambda_1[{w.layer}.{w.block}]={w.lambda_1:.3g}")
    return " ".join(parts)


def run(args: argparse.Namespace, argv: list[str]) -> int:
    out = Path(args.out)
    if (out / JSON_NAME).exists() and not args.overwrite:
        raise UsageError(f"--out: {out / JSON_NAME} exists; pass --overwrite to replace it")
    for name, value, least in (("--hidden-size", args.hidden_size, 1), ("--batch-size", args.batch_size, 1),
                               ("--jacobian-examples", args.jacobian_examples, 1), ("--seed", args.seed, 0)):
        if value < least:
            raise UsageError(f"{name}: expected an integer >= {least}, got {value}")
    from rnnzoo.tasks import get_task

    task_options = dict(_key_value(t, "--task-option") for t in args.task_option)
    try:
        task = get_task(args.task, seq_len=args.seq_len, **task_options)
    except (KeyError, ValueError, TypeError) as err:
        raise UsageError(f"--task: {err}") from None
    try:
        specs = _specs(args)
    except ValueError as err:
        raise UsageError(str(err)) from None
    dtype = torch.float64 if args.dtype == "float64" else torch.float32
    batch = task.sample(args.batch_size, torch.Generator().manual_seed(args.seed))
    x = batch.x.to(dtype)
    lengths = getattr(batch, "lengths", None)
    built: dict[str, tuple[nn.Module, dict[str, Any]]] = {}
    with torch.random.fork_rng():
        for spec in specs:
            try:
                built[spec.label] = _build(spec, args, task.input_size, dtype)
            except ValueError as err:
                raise UsageError(str(err)) from None
    results: dict[str, ModelDiagnostics] = {}
    for label, (model, _) in built.items():
        results[label] = diagnose(model, x, lengths=lengths, layer=args.layer, jacobian=args.jacobian,
                                  jacobian_examples=args.jacobian_examples, jacobian_method=args.jacobian_method)
        print(_summary_line(label, results[label]))

    out.mkdir(parents=True, exist_ok=True)
    title = f"{task.name}, T = {x.shape[1]}, batch {x.shape[0]}: gradient reaching step k from the loss at t"
    grads = {k: v.gradient for k, v in results.items() if v.gradient is not None}
    jacs = {k: v.jacobian for k, v in results.items() if v.jacobian is not None}
    written = []
    plot_gradient_lag(grads, out / "gradient_vs_lag.png", title=title)
    plot_gradient_matrix(grads, out / "gradient_matrix.png")
    written += ["gradient_vs_lag.png", "gradient_matrix.png"]
    if jacs:
        plot_jacobian_lag(jacs, out / "jacobian_vs_lag.png")
        written.append("jacobian_vs_lag.png")
    plot_singular_values({k: v.weights for k, v in results.items()}, out / "singular_values.png")
    plot_gate_saturation({k: v.saturation for k, v in results.items()}, out / "gate_saturation.png")
    written += ["singular_values.png", "gate_saturation.png"]

    doc = {
        "command": ["rnnzoo", "diagnose", *argv],
        "rnnzoo_version": rnnzoo.__version__, "torch_version": torch.__version__,
        "task": {"name": task.name, "seq_len": int(x.shape[1]), "input_size": task.input_size,
                 "options": task_options},
        "batch_size": int(x.shape[0]), "seed": args.seed, "dtype": args.dtype, "layer": args.layer,
        "plots": {name: PLOTS[name] for name in written},
        "models": {label: {**built[label][1], **results[label].to_dict()} for label in results},
    }
    tmp = out / (JSON_NAME + ".tmp")
    with open(tmp, "w") as f:
        json.dump(to_jsonable(doc), f, allow_nan=False, separators=(",", ":"))
    os.replace(tmp, out / JSON_NAME)
    print(f"{PROG}: wrote {', '.join(written)} and {JSON_NAME} to {out}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point (``rnnzoo diagnose ARGS`` calls ``main(ARGS)``); returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exit_:  # --help, or a usage error already printed by argparse
        return int(exit_.code or 0)
    try:
        return run(args, argv)
    except UsageError as err:
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2
    except KeyError as err:  # unknown model/task names (their messages list the choices)
        print(f"{PROG}: error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
