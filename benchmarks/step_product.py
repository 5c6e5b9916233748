"""The per-step recurrent product in its two forms (:mod:`rnnzoo.fused.products`): row ``addmm(u, h, W.t())``
against column ``u + (W @ h.T).T``, the latter's transposed add included, over a grid of batch B, hidden size H and
weight rows G (H, 2H, 4H). Interleaved (row, column, column, row, ...), medians of the per-pair time ratios
row / column: above 1 the column form is faster. The rule in ``rnnzoo.fused.products`` (column on the CPU with
more than one thread, weights of at least 2 MiB, B <= 128) comes from this table.

Usage: ``python benchmarks/step_product.py [--threads N] [--rounds R]``.

Measured here (2026-12-01, 2-core AMD EPYC, torch 2.13 CPU/MKL, float32, 25 rounds), row/column:

=====  =====  ===================  ====================  ====================
H      B      G = H                G = 2H                G = 4H
=====  =====  ===================  ====================  ====================
2 threads
256    16     1.02                 1.07                  1.10
256    64     0.90                 0.93                  1.11
256    128    0.68                 0.78                  0.88
512    16     1.15                 1.14                  1.36
512    64     0.92                 1.19                  1.36
512    128    0.91                 1.00                  1.11
1024   16     1.64                 1.94                  1.98
1024   64     1.17                 1.41                  1.59
1024   128    1.23                 1.26                  1.24
1 thread
256    64     0.86                 0.89                  0.92
512    64     0.95                 0.95                  0.97
1024   64     1.04                 1.05                  1.11
=====  =====  ===================  ====================  ====================
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch


def ratio(B: int, H: int, G: int, rounds: int) -> tuple[float, float]:
    """Median of row/column time ratios and the row form's median time (s) at one grid point."""
    W, h, u = torch.randn(G, H), torch.randn(B, H), torch.randn(B, G)
    out, scratch = torch.empty(B, G), torch.empty(G, B)

    def row() -> None:
        torch.addmm(u, h, W.t(), out=out)

    def column() -> None:
        torch.add(u, torch.mm(W, h.t(), out=scratch).t(), out=out)

    times: dict[str, list[float]] = {"row": [], "column": []}
    for _ in range(3):
        row(), column()
    for r in range(rounds):
        for name, fn in (("row", row), ("column", column)) if r % 2 else (("column", column), ("row", row)):
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    return (statistics.median(a / b for a, b in zip(times["row"], times["column"], strict=True)),
            statistics.median(times["row"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="intra-op threads")
    parser.add_argument("--rounds", type=int, default=25, help="interleaved pairs per grid point")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"threads {torch.get_num_threads()}; row/column time (above 1: the column form is faster)")
    for H in (256, 512, 1024):
        for B in (16, 32, 64, 128):
            cells = []
            for G in (H, 2 * H, 4 * H):
                r, t = ratio(B, H, G, args.rounds)
                cells.append(f"G={G:5d} {r:4.2f}x (row {t * 1e6:6.0f} us)")
            print(f"H={H:5d} B={B:4d}  " + "  ".join(cells))


if __name__ == "__main__":
    main()
