"""Count the ATen ops a train step of a model dispatches, per time step, forward and backward apart.

On the CPU every ATen op is one kernel call with its dispatch overhead (a few microseconds), which is
what a small recurrent step costs (issue 9: at (32, 100, 64, 128) torch.nn.LSTM needs about 160 us per
step for forward and backward). Counted with a ``TorchDispatchMode`` (every op that reaches a kernel,
views included, listed apart since they launch no kernel)::

    PYTHONPATH=src python benchmarks/ops_per_step.py --models lstm1997,peephole_lstm,cifg_lstm,gru,elman
    PYTHONPATH=src python benchmarks/ops_per_step.py --models peephole_lstm --detail   # op names
"""

from __future__ import annotations

import argparse
import collections

import torch
from torch.utils._python_dispatch import TorchDispatchMode

import rnnzoo
from rnnzoo.bench.cases import PRESETS, parse_models, rnnzoo_case

VIEWS = {"view", "unsqueeze", "squeeze", "select", "slice", "t", "transpose", "expand", "unbind", "alias",
         "as_strided", "unflatten", "permute", "detach", "_unsafe_view", "split", "chunk", "narrow",
         "split_with_sizes", "lift_fresh", "_reshape_alias"}


class Count(TorchDispatchMode):
    def __init__(self) -> None:
        super().__init__()
        self.ops: collections.Counter[str] = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):  # noqa: ANN001
        self.ops[func.overloadpacket.__name__] += 1
        return func(*args, **(kwargs or {}))


def split(c: collections.Counter[str]) -> tuple[int, int]:
    views = sum(v for k, v in c.items() if k in VIEWS)
    return sum(c.values()) - views, views


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--models", default="lstm1997,peephole_lstm,cifg_lstm,gru,gru[reset=before],elman,"
                                        "elman[activation=sigmoid]")
    p.add_argument("--size", default="1")
    p.add_argument("--detail", action="store_true")
    args = p.parse_args()
    size = PRESETS[args.size]
    reg = rnnzoo.list_models()
    print(f"size {size}: ATen ops per time step (views apart); T = {size.T}")
    print(f"{'model':28s} {'fwd ops':>8s} {'fwd views':>9s} {'bwd ops':>8s} {'bwd views':>9s}")
    for sel in parse_models(args.models, reg, reg):
        case = rnnzoo_case(sel.name, options=sel.options, row=sel.row)
        torch.manual_seed(0)
        model, x = case.build(size), case.make_input(size)
        out = model(x)  # warm
        out[0].sum().backward()
        with Count() as f:
            out = model(x)
            loss = out[0].sum()
        with Count() as b:
            loss.backward()
        (fo, fv), (bo, bv) = split(f.ops), split(b.ops)
        T = size.T
        print(f"{sel.row:28s} {fo / T:8.1f} {fv / T:9.1f} {bo / T:8.1f} {bv / T:9.1f}")
        if args.detail:
            for name, c in (("forward", f.ops), ("backward", b.ops)):
                print(f"  {name}: " + ", ".join(f"{k} {v / T:.2f}" for k, v in c.most_common() if k not in VIEWS))
    lstm = torch.nn.LSTM(size.I, size.H, batch_first=True)
    x = torch.randn(size.B, size.T, size.I)
    with Count() as f:
        loss = lstm(x)[0].sum()
    with Count() as b:
        loss.backward()
    (fo, fv), (bo, bv) = split(f.ops), split(b.ops)
    print(f"{'torch.nn.LSTM':28s} {fo / size.T:8.1f} {fv / size.T:9.1f} {bo / size.T:8.1f} {bv / size.T:9.1f}")


if __name__ == "__main__":
    main()
