"""Pointer-network decoding throughput (sequences/s), beam width 1 and 5, at the paper's sizes.

Vinyals et al. 2015 use LSTMs of 256-512 units; TSP with n = 5 and 10 points, the convex hull up to n = 50.
The model is untrained (the cost of decoding does not depend on the weights: every hypothesis runs n + 1 steps
under ``stop="all"``). Prints one row per (n, width) and the width-5 / width-1 time ratio.

    PYTHONPATH=src python benchmarks/pointer_decode.py [--hidden 256] [--batch 128] [--repeats 3] [--sizes 5 10 50]
"""

from __future__ import annotations

import argparse
import time

import torch

import rnnzoo


def throughput(model: torch.nn.Module, points: torch.Tensor, width: int, repeats: int) -> float:
    lengths = torch.full((points.shape[0],), points.shape[1], dtype=torch.long)
    model.generate((points, lengths), width=width)  # warm-up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        model.generate((points, lengths), width=width)
        best = min(best, time.perf_counter() - start)
    return points.shape[0] / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hidden", type=int, default=256)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[5, 10, 50])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = rnnzoo.create("pointer_net", input_size=2, hidden_size=args.hidden).to(args.device).eval()
    print(f"pointer_net H={args.hidden} batch={args.batch} device={args.device} threads={torch.get_num_threads()}")
    print(f"{'n':>4} {'width':>5} {'seq/s':>10} {'ratio w5/w1 time':>17}")
    for n in args.sizes:
        points = torch.rand(args.batch, n, 2, device=args.device)
        rates = {w: throughput(model, points, w, args.repeats) for w in (1, 5)}
        for w, rate in rates.items():
            ratio = f"{rates[1] / rates[5]:17.2f}" if w == 5 else ""
            print(f"{n:>4} {w:>5} {rate:>10.1f} {ratio}")


if __name__ == "__main__":
    main()
