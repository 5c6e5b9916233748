"""Operations per second of the stack LSTM against torch.nn.LSTM steps per second on the same tokens (issue 13).

The stack LSTM (``rnnzoo.create("stack_lstm")``, one ``rnnzoo.run`` of its step loop) reads B = 32 sequences of T
random valid operations (push with probability 0.6, else pop; never a pop on the empty stack); torch.nn.LSTM reads the
same B x T tokens as one sequence each (its fused kernel). Both count B x T token-steps; the ratio is the stack LSTM's
operations per second over torch's steps per second (forward, and forward + backward)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/stack_ops.py              # H = 32 and 128, T = 64
    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/stack_ops.py --steps 128 --hidden 64

A step costs an LSTM step (for every example: a pop discards it) plus an out-of-place scatter into the store
``(B, capacity + 1, H)`` (a copy of the store: the capacity is set to the most pushes of any sequence here) and a
gather from it; the copies are about a third of the time in torch's profiler at H = 32 and 128 (capacity 64). torch's
kernel runs the whole sequence in one call, so the ratio measures the price of the per-step Python loop and the
stack bookkeeping on this machine. Measured on the shared 2-core machine at a load average of 11 (2026-12-01):
ratio 0.08 (H = 32) and 0.15 (H = 128), forward and forward + backward alike.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

import rnnzoo
from rnnzoo.cells.stack_lstm import PUSH, random_operations


def _median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(batch: int, steps: int, input_size: int, hidden: int, repeats: int) -> dict[str, float]:
    """Token-steps per second of both models, forward and forward + backward."""
    torch.manual_seed(0)
    x = random_operations(batch, steps, input_size, generator=torch.Generator().manual_seed(0), padding=False)
    pushes = int((x.actions == PUSH).sum(1).max())  # the smallest store that holds the run: a step copies it
    model = rnnzoo.create("stack_lstm", input_size=input_size, hidden_size=hidden, capacity=pushes)
    ref = torch.nn.LSTM(input_size, hidden, batch_first=True)

    def stack_fwd() -> None:
        with torch.no_grad():
            model(x)

    def stack_train() -> None:
        model.zero_grad()
        model(x).sum().backward()

    def torch_fwd() -> None:
        with torch.no_grad():
            ref(x.tokens)

    def torch_train() -> None:
        ref.zero_grad()
        ref(x.tokens)[0].sum().backward()

    n = batch * steps
    return {name: n / _median_seconds(fn, repeats) for name, fn in
            (("stack_fwd", stack_fwd), ("stack_train", stack_train), ("torch_fwd", torch_fwd),
             ("torch_train", torch_train))}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--steps", type=int, default=64)
    p.add_argument("--input-size", type=int, default=32)
    p.add_argument("--hidden", default="32,128", help="comma-separated hidden sizes")
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    print(f"B = {args.batch}, T = {args.steps}, I = {args.input_size}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s); token-steps per second (median of {args.repeats})")
    print(f"{'H':>4s} {'pass':>14s} {'stack ops/s':>12s} {'nn.LSTM steps/s':>16s} {'ratio':>7s}")
    for hidden in (int(h) for h in args.hidden.split(",")):
        r = measure(args.batch, args.steps, args.input_size, hidden, args.repeats)
        for label, key in (("forward", "fwd"), ("fwd + backward", "train")):
            s, t = r[f"stack_{key}"], r[f"torch_{key}"]
            print(f"{hidden:4d} {label:>14s} {s:12,.0f} {t:16,.0f} {s / t:7.3f}")


if __name__ == "__main__":
    main()
