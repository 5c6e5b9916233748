"""How far can a cell's train step get below its torchrecurrent counterpart's? The matrix-product bounds.

Issue 15 asks every cell to train at least 1.4x faster than torchrecurrent's. Both libraries do about the same matrix
products (the input projection, the recurrent product per step, their two gradients); what an implementation can
win is mostly the rest (elementwise work, allocation, per-operator overhead). This script measures, for every cell
with a ``torchrecurrent.*`` peer in the registry and at every size:

* ``ours ms`` and ``peer ms``: the median train step (forward + ``output.sum().backward()``, one thread,
  interleaved, ours first in every round) and ``peer / ours``, the median over the rounds of the paired ratio
  (``rnnzoo bench``'s statistic; it can differ from the ratio of the two medians on a noisy row: compare both);
* ``ours mm ms``: our step's matrix products timed in place (each ``aten.mm/addmm/addmm_/bmm/baddbmm/addmv/mv/dot``
  call timed by a ``TorchDispatchMode`` around it during one more train step: the same operands, strides and cache
  state as in the timed step, without the profiler's per-call overhead), and ``ours mm`` that over ``ours ms``;
* ``FLOP ours/peer``: the two steps' matrix-product FLOPs (``rnnzoo.bench.flops.train_step_flops``) divided;
* ``our-products bound = peer ms / ours mm ms``: the ratio our step would reach if everything but its own matrix
  products were free. Below 1.4 the target needs cheaper products than ours (fewer FLOPs or a faster GEMM), not less
  elementwise work;
* ``peer mm`` and ``peer-products bound = 1 / peer mm``: the same in-place timing of the peer's products, and the
  ratio a step made of the peer's products alone would reach. Not a limit: one product over all steps' inputs, or
  gates fused into one product, can beat the peer's products; it says how much of the peer's time is elementwise
  work at all.

Rows of runs before the in-place timing (``floor.json`` with ``ours_mm_share``) took the shares from one
``torch.profiler`` step instead (self CPU time of the products over all self CPU time), whose per-call overhead
inflates the small elementwise operators: those shares are lower and the bounds higher than the in-place ones.

    PYTHONPATH=src python benchmarks/peer_floor.py --sizes 32,100,64,128 64,100,256,256 64,100,512,512 \\
        --out benchmarks/results/2026-12-01-peer-floor
    PYTHONPATH=src python benchmarks/peer_floor.py --models star --sizes 64,100,256,256 --profile   # where time goes
    python benchmarks/peer_floor.py --render benchmarks/results/2026-12-01-peer-floor   # floor.md from floor.json
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import rnnzoo
from rnnzoo.bench.cases import train_step
from rnnzoo.bench.flops import train_step_flops

aten = torch.ops.aten
PRODUCT_OPS = {aten.mm, aten.addmm, aten.addmm_, aten.bmm, aten.baddbmm, aten.baddbmm_, aten.addmv, aten.mv, aten.dot}


class ProductTimer(TorchDispatchMode):
    """Times every matrix-product call (:data:`PRODUCT_OPS`) dispatched while active, in place: ``seconds``."""

    def __init__(self) -> None:
        super().__init__()
        self.seconds = 0.0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001, ANN204 - torch's signature
        if func.overloadpacket not in PRODUCT_OPS:
            return func(*args, **(kwargs or {}))
        start = time.perf_counter()
        out = func(*args, **(kwargs or {}))
        self.seconds += time.perf_counter() - start
        return out


def profile(module: torch.nn.Module, x: torch.Tensor) -> torch.profiler.profile:
    """One train step under ``torch.profiler`` (CPU)."""
    module.zero_grad(set_to_none=True)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        train_step(module, x)
    module.zero_grad(set_to_none=True)
    return prof


def products_ms(module: torch.nn.Module, x: torch.Tensor, reps: int = 2) -> float:
    """The median over ``reps`` train steps of the time spent in matrix products, timed in place (ms)."""
    times = []
    for _ in range(reps):
        module.zero_grad(set_to_none=True)
        with ProductTimer() as timer:
            train_step(module, x)
        times.append(timer.seconds * 1e3)
    module.zero_grad(set_to_none=True)
    return statistics.median(times)


def measure(name: str, peer: type, size: tuple[int, int, int, int], reps: int) -> tuple[dict, list]:
    """One row: ``name`` and an instance of ``peer`` timed interleaved at ``size`` (B, T, I, H), then profiled."""
    B, T, I, H = size
    torch.manual_seed(0)
    ours = rnnzoo.create(name, input_size=I, hidden_size=H)
    theirs = peer(I, H, batch_first=True)
    x = rnnzoo.model_info(name).input_kind.example(B, T, I)
    times: dict[str, list[float]] = {"ours": [], "peer": []}
    for rep in range(reps + 1):  # the first round warms up
        for key, module in (("ours", ours), ("peer", theirs)):
            module.zero_grad(set_to_none=True)
            start = time.perf_counter()
            train_step(module, x)
            if rep:
                times[key].append(time.perf_counter() - start)
    ratio = statistics.median(p / o for p, o in zip(times["peer"], times["ours"], strict=True))
    row = {"model": name, "peer": f"torchrecurrent.{peer.__name__}", "size": [B, T, I, H],
           "ours_ms": statistics.median(times["ours"]) * 1e3, "peer_ms": statistics.median(times["peer"]) * 1e3,
           "ratio": ratio, "ours_products_ms": products_ms(ours, x), "peer_products_ms": products_ms(theirs, x),
           "flop_ratio": train_step_flops(ours, x) / train_step_flops(theirs, x), "note": ""}
    return row, [(ours, x), (theirs, x)]


HEADER = ("| model | size (B,T,I,H) | ours ms | peer ms | peer / ours | ours mm ms | ours mm | FLOP ours/peer "
          "| our-products bound | peer mm | peer-products bound | note |\n" + "|---" * 12 + "|")
OLD_HEADER = ("| model | size (B,T,I,H) | ours ms | peer ms | peer / ours | ours mm | our-products bound | peer mm "
              "| peer-products bound | note |\n|---|---|---|---|---|---|---|---|---|---|")


def line(r: dict) -> str:
    """One markdown row of ``floor.md`` (the bounds as the module docstring defines them)."""
    head = (f"| {r['model']} | ({','.join(map(str, r['size']))}) | {r['ours_ms']:.1f} | {r['peer_ms']:.1f} | "
            f"{r['ratio']:.2f}x")
    if "ours_products_ms" not in r:  # a run before the in-place timing: the profiler's shares
        ours_bound = r["peer_ms"] / (r["ours_ms"] * r["ours_mm_share"])
        return (f"{head} | {r['ours_mm_share']:.0%} | {ours_bound:.2f}x | {r['peer_mm_share']:.0%} | "
                f"{1 / r['peer_mm_share']:.2f}x | {r.get('note', '')} |")
    peer_share = r["peer_products_ms"] / r["peer_ms"]
    return (f"{head} | {r['ours_products_ms']:.1f} | {r['ours_products_ms'] / r['ours_ms']:.0%} | "
            f"{r['flop_ratio']:.2f} | {r['peer_ms'] / r['ours_products_ms']:.2f}x | {peer_share:.0%} | "
            f"{1 / peer_share:.2f}x | {r.get('note', '')} |")


def pairs(selected: list[str] | None) -> list[tuple[str, str]]:
    """``(registry name, torchrecurrent class)`` for every entry naming a torchrecurrent peer."""
    out = []
    for name in rnnzoo.list_models():
        for peer in rnnzoo.model_info(name).peers:
            if peer.startswith("torchrecurrent.") and (selected is None or name in selected):
                out.append((name, peer.split(".", 1)[1]))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", default=None, help="comma-separated registry names (default: every peer pair)")
    parser.add_argument("--sizes", nargs="+", default=["32,100,64,128", "64,100,256,256", "64,100,512,512"],
                        help="B,T,I,H")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--profile", action="store_true", help="also print each step's self CPU time by operator")
    parser.add_argument("--out", type=Path, default=None, help="a new directory for floor.md and floor.json")
    parser.add_argument("--render", type=Path, default=None, help="rewrite DIR/floor.md from DIR/floor.json, no run")
    args = parser.parse_args()
    if args.render is not None:
        rows = json.loads((args.render / "floor.json").read_text())
        kinds = {"ours_products_ms" in r for r in rows}
        if len(kinds) > 1:
            raise SystemExit(f"{args.render}/floor.json mixes rows of two formats: render them apart")
        header = HEADER if kinds == {True} else OLD_HEADER
        (args.render / "floor.md").write_text("\n".join([header, *(line(r) for r in rows)]) + "\n")
        return
    if args.out is not None:
        args.out.mkdir(parents=True, exist_ok=False)  # never overwrite another run's results
    import torchrecurrent  # the peer: a test extra (pip install -e '.[test]' -c constraints.txt)

    torch.set_num_threads(1)
    rows = []
    header = HEADER
    print(header, flush=True)
    for name, peer in pairs(args.models.split(",") if args.models else None):
        for size in args.sizes:
            B, T, I, H = (int(v) for v in size.split(","))
            try:
                row, modules = measure(name, getattr(torchrecurrent, peer), (B, T, I, H), args.reps)
            except Exception as exc:  # noqa: BLE001 - a peer that refuses a size (IntersectionRNN needs I = H)
                if I == H:
                    raise
                row, modules = measure(name, getattr(torchrecurrent, peer), (B, T, H, H), args.reps)
                row["note"] = f"I = H: torchrecurrent.{peer} refused I = {I} ({str(exc).splitlines()[0][:80]})"
            rows.append(row)
            print(line(row), flush=True)
            if args.profile:
                for label, (module, x) in zip(("ours", f"torchrecurrent.{peer}"), modules, strict=True):
                    print(f"{label} {size}, self CPU time by operator:")
                    print(profile(module, x).key_averages().table(sort_by="self_cpu_time_total", row_limit=12))
    if args.out is not None:
        (args.out / "floor.json").write_text(json.dumps(rows, indent=1))
        (args.out / "floor.md").write_text("\n".join([header, *(line(r) for r in rows)]) + "\n")


if __name__ == "__main__":
    main()
