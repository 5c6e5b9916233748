"""Train-step time of the layer-normalised LSTM/GRU: fused Function, step loop, torch's kernels.

Interleaved A/B/A/B (every variant once per round, rounds repeated), 2 threads, float32, CPU; a train
step is forward plus ``backward`` of ``ones_like(output)``; ratios are medians of per-round ratios.

    PYTHONPATH=src python docs/bench_layer_norm.py [--rounds 9] [--threads 2]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import rnnzoo

SIZES = [(32, 100, 64, 128), (64, 100, 256, 256)]  # (B, T, I, H)


def _step(module, x, *, fused=None):
    """One train step: forward, then backward of ones; ``fused``: an rnnzoo model's path (None: torch)."""

    def run():
        out = module(x)[0] if fused is None else module.run(x, use_fused=fused).output
        out.backward(torch.ones_like(out))

    return run


def _time(fn) -> float:
    t = time.perf_counter()
    fn()
    return time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {args.threads} threads, {args.rounds} rounds")
    for family in ("lstm", "gru"):
        for B, T, I, H in SIZES:
            torch.manual_seed(0)
            x = torch.randn(B, T, I)
            model = rnnzoo.create(family, input_size=I, hidden_size=H, layer_norm=True)
            variants = {
                "torch.nn.LSTM": _step(torch.nn.LSTM(I, H, batch_first=True), x),
                f"ln-{family} fused": _step(model, x, fused=True),
                f"ln-{family} loop": _step(model, x, fused=False),
            }
            if family == "gru":
                variants["torch.nn.GRU"] = _step(torch.nn.GRU(I, H, batch_first=True), x)
            for fn in variants.values():  # warm-up
                fn()
                fn()
            times: dict[str, list[float]] = {k: [] for k in variants}
            for _ in range(args.rounds):
                for k, fn in variants.items():
                    times[k].append(_time(fn))
            ref = times["torch.nn.LSTM"]
            fused = times[f"ln-{family} fused"]
            line = [f"{family} B={B} T={T} I={I} H={H}:"]
            for k, ts in times.items():
                ratio = statistics.median(t / r for t, r in zip(ts, ref, strict=True))
                line.append(f"{k} {statistics.median(ts) * 1e3:.1f} ms ({ratio:.2f}x LSTM)")
            speedup = statistics.median(lp / f for lp, f in zip(times[f"ln-{family} loop"], fused, strict=True))
            line.append(f"loop/fused {speedup:.2f}x")
            print("  ".join(line), flush=True)


if __name__ == "__main__":
    main()
