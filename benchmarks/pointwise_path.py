"""Which whole-sequence path a PointwiseCell should take: the generic Function (rnnzoo.fused.pointwise) or its step
in a plain autograd loop (rnnzoo.fused.loop). Prints the median time of a train step (forward + backward, one thread)
of each, interleaved A B A B, and their ratio.

    PYTHONPATH=src python benchmarks/pointwise_path.py janet,cfn,ugrnn --sizes 32,100,64,128 64,100,256,256
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnzoo
from rnnzoo.fused.loop import autograd_loop
from rnnzoo.fused.pointwise import pointwise_recurrence


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", help="comma-separated PointwiseCell registry names")
    parser.add_argument("--sizes", nargs="+", default=["32,100,64,128", "64,100,256,256"], help="B,T,I,H")
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for name in args.models.split(","):
        for size in args.sizes:
            B, T, I, H = (int(v) for v in size.split(","))
            cell = rnnzoo.model_info(name).build(I, H)
            x = torch.randn(T, B, I)
            s0 = cell.initial_state(B)

            def function(cell=cell, x=x, s0=s0) -> None:  # type: ignore[no-untyped-def]
                out, _ = pointwise_recurrence(cell, cell.project(x), s0, None)
                out.sum().backward()

            def loop(cell=cell, x=x, s0=s0) -> None:  # type: ignore[no-untyped-def]
                out, _ = autograd_loop(cell.step, cell.project(x), s0, None)
                out.sum().backward()

            times: dict[str, list[float]] = {"function": [], "loop": []}
            for _ in range(args.reps):
                for key, fn in (("function", function), ("loop", loop)):
                    start = time.perf_counter()
                    fn()
                    times[key].append(time.perf_counter() - start)
            med = {k: statistics.median(v) for k, v in times.items()}
            print(f"{name} B,T,I,H={size}: function {med['function'] * 1e3:.0f} ms, loop {med['loop'] * 1e3:.0f} ms, "
                  f"function/loop {med['function'] / med['loop']:.2f}")


if __name__ == "__main__":
    main()
