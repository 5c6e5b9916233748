"""``rnnzoo export RUN_DIR [--format onnx|torch-export]``: a trained run's model as a file, checked.

The file holds the whole predictor of the run, the recurrent model *and* its task head
(:class:`~rnnzoo.train.heads.SequenceModel`): inputs ``x`` (and ``lengths`` when the task has variable
lengths) to the task's outputs (``(B, O)`` for a "last" head, ``(B, T, O)`` per step), then the final
state. It is written next to the run (``RUN_DIR/<model>-<checkpoint>.onnx`` or ``.pt2``; an existing
file is never replaced: the name gets a ``-1``, ``-2`` ... suffix, and ``--out`` refuses an existing
path), checked against eager PyTorch on held-out data (the task's test split, or ``--split``), and the
command prints the largest difference and how to load the file.

Exit status: 0 written and checked; 1 the file differs from eager by more than ``--atol``; 2 bad
input (run directory, checkpoint, split, path).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import sys
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path

PROG = "rnnzoo export"


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog=PROG, description="Export a trained run's model (with its task head) to ONNX "
                                "or a torch.export program, checked against eager PyTorch on held-out data.")
    p.add_argument("run", metavar="RUN_DIR|CKPT", help="a run directory (its checkpoints/last.ckpt) or a checkpoint")
    p.add_argument("--format", choices=("onnx", "torch-export"), default="onnx",
                   help="onnx (run with onnxruntime; default) or torch-export (a .pt2 for torch.export.load)")
    p.add_argument("--out", help="output file (default RUN_DIR/<model>-<checkpoint>.onnx|.pt2, suffixed if taken); "
                                 "an existing --out is refused")
    p.add_argument("--split", help="held-out split to check on (default test, else valid)")
    p.add_argument("--check-size", type=int, default=256, help="held-out sequences to check on (default 256)")
    p.add_argument("--fixed-length", action="store_true",
                   help="specialise the graph to the task's sequence length instead of a dynamic one")
    p.add_argument("--atol", type=float, default=1e-4, help="largest accepted |file - eager| (default 1e-4)")
    return p


def free_path(path: Path) -> Path:
    """``path``, or ``stem-1.suffix``, ``stem-2.suffix``... the first that does not exist."""
    if not path.exists():
        return path
    n = 1
    while (candidate := path.with_name(f"{path.stem}-{n}{path.suffix}")).exists():
        n += 1
    return candidate


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """Without torch's exporter chatter (missing torchvision ops, its own deprecation warnings)."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            yield
    finally:
        logger.setLevel(level)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point (``rnnzoo export ...``); returns the exit status."""
    try:
        args = build_parser().parse_args(list(sys.argv[1:] if argv is None else argv))
    except SystemExit as exit_:  # --help (0) or a usage error (2, message already printed)
        return int(exit_.code or 0)
    from rnnzoo.export.core import SUFFIXES, ExportMismatch, export
    from rnnzoo.train.build import build_task
    from rnnzoo.train.config import TrainConfig
    from rnnzoo.train.errors import CheckpointError, ConfigError
    from rnnzoo.train.run import load_checkpoint, model_from_checkpoint, resolve_checkpoint

    def fail(message: str, status: int = 2) -> int:
        print(f"{PROG}: error: {message}", file=sys.stderr)
        return status

    if args.check_size < 1:
        return fail(f"--check-size: expected a positive integer, got {args.check_size}")
    try:
        ckpt_file = resolve_checkpoint(args.run)
        ckpt = load_checkpoint(ckpt_file)
        cfg = TrainConfig.from_dict(dict(ckpt["rnnzoo"]["config"]))
        task = build_task(cfg)
        model = model_from_checkpoint(ckpt).float().eval()
    except (CheckpointError, ConfigError) as err:
        return fail(str(err))
    split = args.split or ("test" if "test" in task.split_names else "valid")
    if split not in task.split_names:
        return fail(f"--split: expected one of {', '.join(task.split_names)}, got {split!r}")
    run_dir = ckpt_file.parent.parent if ckpt_file.parent.name == "checkpoints" else ckpt_file.parent
    suffix = SUFFIXES[args.format]
    if args.out is not None:
        target = Path(args.out)
        if target.exists():
            return fail(f"--out: {target} already exists; choose another path (nothing was written)")
        if target.suffix != suffix:
            return fail(f"--out: expected a file ending in {suffix} for --format {args.format}, got {str(target)!r}")
    else:
        wanted = run_dir / f"{cfg.model}-{ckpt_file.stem}{suffix}"
        target = free_path(wanted).resolve()
        if target.name != wanted.name:
            print(f"{PROG}: {wanted} exists (kept); writing {target.name} instead")

    data = task.split(split)
    n = min(args.check_size, data.x.shape[0])
    lengths = data.lengths
    example = data.x[:min(4, n)].float()
    example_lengths = lengths[:min(4, n)] if lengths is not None else None
    check = (data.x[:n].float(), lengths[:n] if lengths is not None else None)
    print(f"{PROG}: {cfg.model} with its {model.head_kind!r} head from {ckpt_file} -> {target}")
    try:
        with _quiet():
            result = export(model, example, target, format=args.format, lengths=example_lengths,
                            dynamic_steps=not args.fixed_length, check_inputs=[check], atol=args.atol)
    except ExportMismatch as err:
        return fail(str(err), 1)
    print(f"  format      {result.format}; inputs {', '.join(result.input_names)}; outputs {result.output_names[0]} "
          f"(the task's prediction) and {len(result.output_names) - 1} final-state tensors")
    print(f"  batch size: {'dynamic' if result.dynamic_batch else 'fixed'}; {result.sequence_length_note()}")
    print(f"  checked     max |{result.format} - eager| = {result.max_abs_diff:.3g} on {n} {split} sequences "
          f"and the capture example, (B, T) {result.checked} ({result.seconds:.1f} s)")
    print("  load it with:\n")
    print("\n".join("    " + line for line in result.load_snippet().splitlines()))
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
