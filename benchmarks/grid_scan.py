"""The 2-D scan's cost: seconds per forward + backward and runner steps of the grid models at S x S images, beside a
ConvLSTM over the rows (issue 13, "Speed": the wavefront scan's time should grow with H + W, not H x W).

Models (batch 32, 32 units, one input channel): ``mdlstm`` with one direction and with all four (Graves et al.'s
model), ``spatial_lstm`` (one layer, radius 1), and ``convlstm`` reading the image row by row (each row a step of
``(1, 1, S)``, kernel 3, 32 channels). Runner steps per forward: ``H + W - 1`` fronts for the wavefront models (what
:class:`~rnnzoo.core.order.Wavefront` runs, tested in ``tests/core/test_order.py``; the 4 directions of a layer are
one run, each front 4 directions wide), ``H`` rows for the ConvLSTM. The steps grow with H + W; the time does only
while a step's fixed cost dominates its work: each front holds up to ``min(H, W)`` positions (the padded front ``H``),
so once the work dominates (one CPU thread at 28 pixels and more) the time grows with the cells, H x W. The printed
ratios compare each model's time at the sizes with the growth of H + W (x2 per doubling) and of H x W (x4).

Measured here (one thread of the shared 2-core machine, load varying; medians of 3, seconds per forward + backward
at 14 / 28 / 56 pixels): batch 32, 32 units, the issue's size: mdlstm 1 direction 0.098 / 0.405 / 1.87 (x4.1, x4.6),
4 directions in one run 0.466 / 1.72 / 8.38 (x3.7, x4.9), spatial_lstm 0.302 / 0.654 / 3.51, ConvLSTM over rows
0.030 / 0.151 / 0.511: the steps double, the time grows with the cells (H x W), the work dominates. Batch 1, 8 units
(``--batch 1 --hidden 8``): mdlstm 0.026 / 0.048 / 0.099 (x1.8, x2.1), 4 directions 0.027 / 0.056 / 0.129 (x2.1,
x2.3), spatial_lstm x2.0, x2.6: where a step's fixed cost dominates, the time follows the H + W steps.

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/grid_scan.py                 # 14, 28, 56 on the CPU
    PYTHONPATH=src python benchmarks/grid_scan.py --device cuda --out benchmarks/results/grid_scan_cuda.md
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import torch

import rnnzoo
from rnnzoo.cells.convlstm import ConvLSTMCell
from rnnzoo.core.order import GridInput
from rnnzoo.core.runner import run


def timed(fn: Callable[[], torch.Tensor], reps: int, device: torch.device) -> float:
    """Median seconds of ``fn().backward()`` over ``reps`` (after one warm-up)."""
    samples = []
    for k in range(reps + 1):
        if device.type == "cuda":
            torch.cuda.synchronize()
        t0 = time.perf_counter()
        fn().backward()
        if device.type == "cuda":
            torch.cuda.synchronize()
        if k:
            samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


Case = tuple[str, int, Callable[[], torch.Tensor]]


def cases(side: int, batch: int, hidden: int, device: torch.device) -> list[Case]:
    """``(name, runner steps per forward, loss function)`` for each model at ``side x side``."""
    g = torch.Generator().manual_seed(0)
    grid = torch.rand(batch, side, side, 1, generator=g).to(device)
    x = GridInput(grid, torch.full((batch, 2), side, dtype=torch.long, device=device))
    out = []
    opts = {"input_size": 1, "hidden_size": hidden, "grid_shape": (side, side)}
    md1 = rnnzoo.create("mdlstm", num_classes=10, num_directions=1, **opts).to(device)
    md4 = rnnzoo.create("mdlstm", num_classes=10, **opts).to(device)
    sp = rnnzoo.create("spatial_lstm", num_layers=1, **opts).to(device)
    conv = ConvLSTMCell(1, hidden, kernel_size=3).to(device)
    rows = grid.permute(0, 1, 3, 2).unsqueeze(3)  # (B, T=S rows, C=1, Y=1, X=S)
    fronts = 2 * side - 1
    out.append(("mdlstm, 1 direction", fronts, lambda: md1(x).sum()))
    out.append(("mdlstm, 4 directions (one run)", fronts, lambda: md4(x).sum()))
    out.append(("spatial_lstm, 1 layer", fronts, lambda: sp(x).log_density.sum()))
    out.append(("convlstm over rows", side, lambda: run(conv, rows).output.sum()))
    return out


def ratios(sides: list[int], power: int) -> str:
    """The growth of ``side ** power`` between consecutive sizes, e.g. ``x2, x2`` for H + W at 14, 28, 56."""
    return ", ".join(f"x{(b / a) ** power:g}" for a, b in zip(sides, sides[1:], strict=False))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sides", default="14,28,56")
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--hidden", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=None, help="also write the markdown table here")
    args = parser.parse_args()
    device = torch.device(args.device)
    sides = [int(s) for s in args.sides.split(",")]
    rows: dict[str, list[tuple[int, int, float]]] = {}
    for side in sides:
        for name, steps, fn in cases(side, args.batch, args.hidden, device):
            rows.setdefault(name, []).append((side, steps, timed(fn, args.reps, device)))
    lines = [f"grid scan, batch {args.batch}, {args.hidden} units, {device} ({platform.processor() or 'cpu'}, "
             f"{torch.get_num_threads()} threads), median of {args.reps}; seconds per forward + backward", "",
             "| model | " + " | ".join(f"{s}x{s}: steps, s" for s in sides) + " | time ratios between the sizes "
             f"(H+W: {ratios(sides, 1)}; HxW: {ratios(sides, 2)}) |", "|---" * (len(sides) + 2) + "|"]
    for name, vals in rows.items():
        cells = [f"{steps}, {sec:.3f}" for _, steps, sec in vals]
        growth = ", ".join(f"x{b[2] / a[2]:.2f}" for a, b in zip(vals, vals[1:], strict=False))
        lines.append(f"| {name} | " + " | ".join(cells) + f" | {growth} |")
    text = "\n".join(lines)
    print(text)
    if args.out:
        Path(args.out).write_text(text + "\n")


if __name__ == "__main__":
    main()
