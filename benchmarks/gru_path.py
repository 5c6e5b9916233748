"""Re-measure which fast path the ``gru`` cell (reset="after") should take on this machine: torch's own GRU
kernel (``torch._VF.gru``) or the rnnzoo GRU Function (:func:`rnnzoo.fused.gru_recurrence`), issue 11.

Each size builds one ``rnnzoo.create("gru", I, H)`` model and times its train step (forward on a fixed random
``(B, T, I)`` input, ``output.sum().backward()``, zero_grad untimed) with each path forced, beside
``torch.nn.LSTM(I, H)`` for reference, all interleaved in the same rounds (:func:`rnnzoo.bench.measure.
interleaved_samples`, the order rotated each round). Reported: the median over rounds of the paired ratio
kernel / Function (above 1: the Function is faster) and each path's ratio to nn.LSTM. The rule the cell
follows is :func:`rnnzoo.cells.gru.torch_kernel_is_faster` (device, batch, threads); the "rule picks" column says
what it picks at this process's number of threads (``OMP_NUM_THREADS=1`` for one thread).

    PYTHONPATH=src python benchmarks/gru_path.py                          # default sizes, 9 reps, default threads
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/gru_path.py        # one thread
    PYTHONPATH=src python benchmarks/gru_path.py --sizes 32x100x64x128,1 --reps 15 --out results/x.md
"""

from __future__ import annotations

import argparse
import datetime as _dt
import functools
import platform
import statistics
from pathlib import Path
from unittest import mock

import torch
from torch import nn

import rnnzoo
from rnnzoo.bench.cases import Size, parse_sizes, train_step
from rnnzoo.bench.measure import interleaved_samples, paired_iqr, paired_ratio
from rnnzoo.cells import gru as gru_module

DEFAULT_SIZES = ("1x100x64x128,8x100x64x128,16x100x64x128,1,48x100x64x128,64x100x64x128,128x100x64x128,"
                 "256x100x64x128,8x100x128x128,32x100x256x256,48x100x256x256,2,128x100x256x256,16x100x512x512,3")


class Forced(nn.Module):
    """The same rnnzoo GRU model, its fast path forced: ``kernel`` True runs torch's kernel, False the Function."""

    def __init__(self, model: nn.Module, kernel: bool) -> None:
        super().__init__()
        self.model = model
        self.kernel = kernel

    def forward(self, x: torch.Tensor):  # noqa: ANN201
        with mock.patch.object(gru_module, "torch_kernel_is_faster", lambda *a, **k: self.kernel):
            return self.model(x)


def measure_size(size: Size, reps: int, warmup: int) -> str:
    """One table row: the paired ratios at ``size``, and which path the rule picks there."""
    torch.manual_seed(0)
    gru = rnnzoo.create("gru", input_size=size.I, hidden_size=size.H)
    lstm = nn.LSTM(size.I, size.H, batch_first=True)
    x = torch.randn(size.B, size.T, size.I)
    kernel, function = Forced(gru, True), Forced(gru, False)
    with torch.no_grad():  # the two paths compute the same function (tests/cells/test_gru_path.py)
        a, b = kernel(x)[0], function(x)[0]
    assert torch.allclose(a, b, atol=1e-4), f"paths disagree at {size}: {(a - b).abs().max()}"
    models = {"lstm": lstm, "kernel": kernel, "function": function}
    steps = {k: functools.partial(train_step, m, x) for k, m in models.items()}
    zero = {k: functools.partial(m.zero_grad, set_to_none=True) for k, m in models.items()}
    s = interleaved_samples(steps, reps, warmup, prepare=zero)
    kf = paired_ratio(s["kernel"], s["function"])
    q = paired_iqr(s["kernel"], s["function"]) or (kf, kf)
    rule = "kernel" if gru_module.torch_kernel_is_faster(torch.device("cpu"), size.B) else "Function"
    return (f"| {size} | {kf:.2f} | {q[0]:.2f}-{q[1]:.2f} | {paired_ratio(s['kernel'], s['lstm']):.2f} | "
            f"{paired_ratio(s['function'], s['lstm']):.2f} | {1e3 * statistics.median(s['lstm']):.1f} | "
            f"{'Function' if kf > 1 else 'kernel'} | {rule} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sizes", default=DEFAULT_SIZES, help="presets 1-3 or BxTxIxH, comma-separated")
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--out", type=Path, default=None, help="also write the markdown table here")
    args = p.parse_args()
    lines = [f"gru path, {_dt.datetime.now().isoformat(timespec='seconds')}: torch {torch.__version__}, "
             f"{torch.get_num_threads()} threads, {platform.processor() or platform.machine()}, reps {args.reps} "
             f"(+{args.warmup} warm-up), interleaved, paired medians", "",
             "| size (B,T,I,H) | kernel / Function | IQR | kernel / nn.LSTM | Function / nn.LSTM | "
             "nn.LSTM ms | faster | rule picks |", "|---|---|---|---|---|---|---|---|"]
    print("\n".join(lines), flush=True)
    for size in parse_sizes(args.sizes):
        line = measure_size(size, args.reps, args.warmup)
        print(line, flush=True)
        lines.append(line)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
