"""The flags of ``rnnzoo train`` and ``rnnzoo compare``: one per :class:`~rnnzoo.train.config.TrainConfig`
key, with help texts that say what the code does (defaults read from the default job and the config).

A flag not given is absent from the namespace (the sub-parsers' default is ``argparse.SUPPRESS``), so that
:func:`explicit_values` tells the flags given from those left alone.
"""

from __future__ import annotations

import argparse
from typing import Any

from rnnzoo._cli_parser import key_value, number
from rnnzoo.train.config import TrainConfig
from rnnzoo.train.defaults import DEFAULT_JOB

STEP = "optimizer updates (with --tbptt every chunk's update counts)"


def default(key: str) -> Any:
    """The value of ``key`` in the default job, else the configuration's default."""
    return DEFAULT_JOB.get(key, TrainConfig.__dataclass_fields__[key].default)


def add_training_flags(p: argparse.ArgumentParser, *, single: bool) -> None:
    """Flags shared by ``train`` and ``compare`` (``single``: also --model, --task, --seq-len, --seed)."""
    d = default
    g = p.add_argument_group("model")
    if single:
        g.add_argument("--model", help=f"registry name, see `rnnzoo list` (default {d('model')})")
    g.add_argument("--hidden-size", type=number(int),
                   help=f"units per layer and direction (default {d('hidden_size')})")
    g.add_argument("--num-layers", type=number(int), help=f"stacked layers (default {d('num_layers')})")
    g.add_argument("--bidirectional", action=argparse.BooleanOptionalAction,
                   help="bidirectional layers (default off)")
    g.add_argument("--dropout", type=number(float),
                   help="dropout between layers; token models (language modelling) also drop the embedding output "
                        "and the backbone output, Zaremba et al. 2014's non-recurrent connections (default 0)")
    g.add_argument("--embedding-size", type=number(int, nullable=True),
                   help="token tasks: embedding size; none = --hidden-size (default none)")
    g.add_argument("--tie-weights", action=argparse.BooleanOptionalAction,
                   help="token tasks: share the embedding with the output layer (Press & Wolf 2017); needs "
                        "embedding size = the backbone's output size (default off)")
    g.add_argument("--variational-dropout", type=number(float, nullable=True), metavar="P",
                   help="variational dropout (Gal & Ghahramani 2016): one mask per sequence on each layer's input, "
                        "output and recurrent state, probability P (separate rates: a mapping of input/output/"
                        "state in --config); default none")
    g.add_argument("--zoneout", type=number(float, nullable=True), metavar="P",
                   help="zoneout (Krueger et al. 2017): at each step every state unit keeps its previous value "
                        "with probability P (per field: a mapping such as {h: 0.05, c: 0.5} in --config); "
                        "default none")
    g.add_argument("--weight-drop", type=number(float, nullable=True), metavar="P",
                   help="DropConnect on the recurrent weights, one mask per forward pass (AWD-LSTM, Merity et "
                        "al. 2018), probability P; default none")
    g.add_argument("--layer-norm", action=argparse.BooleanOptionalAction,
                   help="layer normalisation (Ba et al. 2016): the cell's own option where it has one, else the "
                        "rnnzoo.LayerNorm wrapper on its state (default off)")
    options = ", ".join(f"{k}={v}" for k, v in d("options").items())
    g.add_argument("--option", action="append", type=key_value, metavar="KEY=VALUE",
                   help="a cell option, value parsed as YAML, repeatable (e.g. --option activation=relu); "
                        f"the default job's {d('model')} has {options}, dropped when --model names another model")
    g.add_argument("--init", metavar="SPEC", type=number(str, nullable=True),
                   help="initialisation of the recurrent weights (rnnzoo.diagnostics.apply_init): "
                        "spectral_radius=R, orthogonal[=GAIN], identity[=SCALE] (IRNN), forget_bias=B; "
                        "default none: the cell's own")
    g.add_argument("--head", choices=("auto", "last", "per_step", "next_token"),
                   help="output head (default auto: the task's target)")
    g.add_argument("--crf", action=argparse.BooleanOptionalAction,
                   help="a linear-chain CRF output layer over the per-step head (tagging; Lample et al. 2016, Ma & "
                        "Hovy 2016): trained by the sentence NLL averaged over the batch, evaluated by the Viterbi "
                        "path (accuracy, error_rate, nll_per_token, nll_per_sentence); full BPTT only (default off)")
    g = p.add_argument_group("task")
    if single:
        g.add_argument("--task", help=f"task name, see `rnnzoo list` (default {d('task')})")
        g.add_argument("--seq-len", type=number(int, nullable=True), metavar="T",
                       help="sequence length T, the whole input (copy: T = delay + 20); default: the task's, "
                            f"as `rnnzoo list` shows ({d('seq_len')} for the default job's {d('task')} task)")
    g.add_argument("--task-option", action="append", type=key_value, metavar="KEY=VALUE",
                   help="a task option, e.g. --task-option num_classes=8 (repeatable)")
    g = p.add_argument_group("optimisation")
    g.add_argument("--batch-size", type=number(int),
                   help=f"global batch size, split evenly over --devices x --num-nodes processes "
                        f"(default {d('batch_size')})")
    g.add_argument("--eval-batch-size", type=number(int),
                   help=f"evaluation batch size (default {d('eval_batch_size')})")
    g.add_argument("--optimizer", choices=("sgd", "adam", "rmsprop"), help=f"(default {d('optimizer')})")
    g.add_argument("--lr", type=number(float), help=f"learning rate (default {d('lr')})")
    g.add_argument("--momentum", type=number(float),
                   help=f"SGD/RMSprop momentum, unused by Adam (default {d('momentum')})")
    g.add_argument("--weight-decay", type=number(float), help="L2 weight decay (default 0)")
    g.add_argument("--schedule", choices=("constant", "cosine", "step", "epoch_decay"),
                   help="learning-rate schedule after warm-up: constant, cosine to 0 at --max-steps, step, or "
                        "epoch_decay (times --gamma ** max(0, epoch - --lr-decay-start), 1-based epochs; needs "
                        "--epochs; Zaremba et al. 2014) (default constant; language-model tasks: see `rnnzoo list`)")
    g.add_argument("--lr-decay-start", type=number(int),
                   help=f"epoch_decay: epochs at the full rate before the decay (default {d('lr_decay_start')})")
    g.add_argument("--epochs", type=number(int, nullable=True),
                   help="train this many epochs (passes over the training data; replaces --max-steps); none = "
                        "use --max-steps (default none; language-model tasks: see `rnnzoo list`)")
    g.add_argument("--time-reduction", choices=("mean", "sum"),
                   help="loss of an update: mean over its scored steps (a language model: its window's), or sum "
                        "over its steps / batch size (Zaremba et al. 2014) (default mean)")
    g.add_argument("--warmup-steps", type=number(int), help="linear warm-up, in optimizer updates (default 0)")
    g.add_argument("--step-size", type=number(int),
                   help=f"step schedule: multiply the rate by --gamma every N updates (default {d('step_size')})")
    g.add_argument("--gamma", type=number(float), help=f"step schedule: factor (default {d('gamma')})")
    g.add_argument("--max-steps", type=number(int), help=f"train for this many {STEP} (default {d('max_steps')})")
    g.add_argument("--clip-norm", type=number(float, nullable=True),
                   help=f"clip the global gradient norm (Pascanu et al. 2013); none = off (default {d('clip_norm')})")
    g.add_argument("--clip-value", type=number(float, nullable=True), help="clip each gradient element (default none)")
    g.add_argument("--tbptt", metavar="K1[,K2]",
                   help="truncated BPTT: an update every K1 time steps, gradients through K2 >= K1 time steps; "
                        "each update is a step of --max-steps, --val-every and metrics.csv (default: full BPTT)")
    g = p.add_argument_group("run")
    if single:
        g.add_argument("--seed", type=number(int), help=f"random seed (default {d('seed')})")
    g.add_argument("--accelerator", choices=("auto", "cpu", "gpu"),
                   help="where to train: auto = a GPU when CUDA is available, else the CPU (default auto)")
    g.add_argument("--devices", type=number(int),
                   help="processes per node: GPUs, or CPU processes; N > 1 trains with DDP, each process on its "
                        "share of the global batch (default 1)")
    g.add_argument("--num-nodes", type=number(int),
                   help="machines; each runs the command under torchrun or srun, or by hand with MASTER_ADDR, "
                        "MASTER_PORT and NODE_RANK set (docs/distributed.md) (default 1)")
    g.add_argument("--strategy", choices=("auto", "ddp", "fsdp"),
                   help="auto or ddp: DistributedDataParallel, NCCL on GPUs, gloo on CPU; fsdp: Lightning's "
                        "FSDPStrategy (GPUs only) (default auto)")
    g.add_argument("--precision", choices=("32-true", "64-true", "bf16-mixed", "16-mixed"),
                   help="float32, float64, or float32 weights with bfloat16 / float16 autocast (16-mixed: GPUs "
                        "only, with a gradient scaler) (default 32-true)")
    g.add_argument("--deterministic", action=argparse.BooleanOptionalAction,
                   help="torch.use_deterministic_algorithms (default off)")
    g.add_argument("--compile", action=argparse.BooleanOptionalAction,
                   help="torch.compile the recurrent model (about a minute to compile; pays on long runs; "
                        "default off)")
    g.add_argument("--threads", type=number(int, nullable=True),
                   help=f"torch threads per process; none = torch's default (default {d('threads')})")
    g.add_argument("--val-every", type=number(int, nullable=True),
                   help=f"validate (and save last.ckpt) every N {STEP}; none = once per epoch (needs --epochs) "
                        f"(default {d('val_every')})")
    g.add_argument("--early-stopping", type=number(int, nullable=True), metavar="PATIENCE",
                   help="stop after PATIENCE validations without improvement and report the best weights "
                        "(default none)")
    g.add_argument("--monitor", type=number(str, nullable=True),
                   help="valid metric for --stop-at, --early-stopping and best.ckpt: mse, accuracy, error_rate, "
                        "cross_entropy, perplexity or bpc; with --crf accuracy, error_rate, nll_per_token or "
                        "nll_per_sentence (default: the task's own, mse for adding and "
                        "multiplication, cross_entropy for copy, accuracy for the others)")
    g.add_argument("--stop-at", type=number(float, nullable=True), metavar="VALUE",
                   help="stop once the monitored valid metric is better than VALUE (below it; above it for "
                        f"accuracy); the default job stops at {d('stop_at')} on the "
                        f"{d('task')} task's MSE, other tasks and --monitor default to none")
    g.add_argument("--diagnose-every", type=number(int, nullable=True), metavar="N",
                   help=f"run rnnzoo.diagnostics every N {STEP} (default none)")
    g.add_argument("--log-every", type=number(int),
                   help=f"log training metrics every N {STEP} (default {d('log_every')})")
    g.add_argument("--progress", choices=("auto", "bar", "log", "none"),
                   help="a progress bar, one line per validation, or nothing (default auto: the bar on a "
                        "terminal, lines otherwise)")
    g.add_argument("--config", metavar="FILE.yaml",
                   help="configuration file (keys as in RUN_DIR/config.yaml); flags given override it")
    g.add_argument("--overwrite", action="store_true", help="replace a run directory that already holds a run")


_FLAG_KEYS = [k for k in TrainConfig.keys() if k not in ("options", "task_options")]


def explicit_values(args: argparse.Namespace) -> dict[str, Any]:
    """The config values given on the command line (a flag not given is absent from ``args``)."""
    out: dict[str, Any] = {}
    for key in _FLAG_KEYS:
        if hasattr(args, key):  # flags default to argparse.SUPPRESS: present = given (maybe as none)
            out[key] = getattr(args, key)
    if getattr(args, "option", None):
        out["options"] = dict(args.option)
    if getattr(args, "task_option", None):
        out["task_options"] = dict(args.task_option)
    return out
