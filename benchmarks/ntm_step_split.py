"""Where an NTM step's time goes: controller, addressing and memory (read, erase, add), at the paper's 128 x 20
memory, batch 16, a 100-unit LSTM controller, one read and one write head (Graves et al. 2014; Collier & Beel 2018).

The cell wraps its parts in ``torch.profiler.record_function("ntm/controller" | "ntm/addressing" | "ntm/memory")``;
this script profiles forward passes of a sequence and prints each part's share of the forward time (the
profiler's self-and-children CPU time of each range over the wall time of the profiled passes), then the
forward + backward time per step without the profiler. The backward is not split (autograd runs it outside the
ranges). Run: ``PYTHONPATH=src python benchmarks/ntm_step_split.py [--batch 16] [--steps 20] [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import time

import torch
from torch.profiler import ProfilerActivity, profile

import rnnzoo

PARTS = ("ntm/controller", "ntm/addressing", "ntm/memory")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--hidden", type=int, default=100)
    ap.add_argument("--slots", type=int, default=128)
    ap.add_argument("--width", type=int, default=20)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    cell = rnnzoo.model_info("ntm").build(9, args.hidden, memory_slots=args.slots, memory_width=args.width)
    x = torch.randn(args.batch, args.steps, 9)
    for _ in range(2):  # warm up
        rnnzoo.run(cell, x).output.sum().backward()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        start = time.perf_counter()
        with torch.no_grad():
            for _ in range(args.repeats):
                rnnzoo.run(cell, x)
        wall = time.perf_counter() - start
    totals = {e.key: e.cpu_time_total / 1e6 for e in prof.key_averages() if e.key in PARTS}
    print(f"NTM {args.slots}x{args.width}, controller lstm({args.hidden}), batch {args.batch}, {args.steps} steps, "
          f"{args.threads} thread(s); forward under the profiler: {1e3 * wall / (args.repeats * args.steps):.3f} "
          "ms/step")
    for part in PARTS:
        share = totals.get(part, 0.0) / wall
        print(f"  {part:16s} {100 * share:5.1f}% of the forward time")
    print(f"  {'other':16s} {100 * (1 - sum(totals.values()) / wall):5.1f}% (the runner, output, head concat)")
    best = float("inf")
    for _ in range(args.repeats):
        start = time.perf_counter()
        rnnzoo.run(cell, x).output.sum().backward()
        best = min(best, time.perf_counter() - start)
    print(f"forward + backward without the profiler: {1e3 * best / args.steps:.3f} ms/step "
          f"(best of {args.repeats}), {best:.4f} s per sequence batch")


if __name__ == "__main__":
    main()
