"""Tree-LSTM speed on batches of ListOps trees beside a sequential LSTM over the same tokens (issue 13, "Speed").

Each model reads the same batches of the ``listops`` task (gold binary trees: leaves are the tokens, so a tree has
about twice as many nodes as its expression has tokens). Timed: a training step (forward, cross-entropy of the root's
class, backward) and a forward pass under ``no_grad``, median over batches. Rows: ``tree_lstm`` (N-ary, binary),
``tree_lstm`` child-sum, ``s_lstm``, and the sequential LSTM on the token sequence both as rnnzoo's ``lstm`` (the
runner, ``tree_seq_lstm``) and as a plain ``torch.nn.LSTM`` with a packed sequence. The ratio is the tree model's time
over the LSTM's for the same batch (issue 13's target: at most 3x)::

    OMP_NUM_THREADS=1 PYTHONPATH=src python benchmarks/tree_speed.py --batch 64 --hidden 64 --batches 20

Measured (``--batches 5``, one thread, the shared 2-core machine; batches of 64 expressions: 930 tokens, 1,795
binary-tree nodes, 742 n-ary-tree nodes), train step time over torch.nn.LSTM's on the same batches, medians of 3
interleaved runs of the code before and after "TreeLevels plans rows once in flatten": N-ary Tree-LSTM on the binary
trees 6.10x -> 2.44x (forward 15.2x -> 5.8x; ~18 levels, twice the nodes), child-sum on the binary trees 6.57x ->
2.23x, child-sum on the n-ary trees 1.35x -> 0.75x (4 levels at most), S-LSTM 6.69x -> 2.87x. Per-run ratios are
noisy (the N-ary one came out 1.96, 3.24 and 2.44). The first version (every level stepped over all B x width slots)
was 4.5x and 23.6x.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

import rnnzoo
from rnnzoo.data.trees import TreeBatch
from rnnzoo.tasks import get_task


class TorchLSTM(nn.Module):
    """torch.nn.LSTM over ``x.sequence`` (packed), a linear classifier of the last valid h."""

    def __init__(self, vocab_size: int, hidden: int, num_classes: int) -> None:
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, hidden, padding_idx=0)
        self.lstm = nn.LSTM(hidden, hidden, batch_first=True)
        self.classifier = nn.Linear(hidden, num_classes)

    def forward(self, x: TreeBatch) -> torch.Tensor:
        packed = nn.utils.rnn.pack_padded_sequence(self.embedding(x.sequence), x.lengths, batch_first=True,
                                                   enforce_sorted=False)
        _, (h, _) = self.lstm(packed)
        return self.classifier(h[-1])


def timed(fn: Callable[[], object], repeats: int) -> float:
    out = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return statistics.median(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=64)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--batches", type=int, default=20, help="batches timed per model (median)")
    p.add_argument("--max-length", type=int, default=60, help="the task's max_length (tokens)")
    args = p.parse_args()
    torch.manual_seed(0)
    forms = {}
    for form in ("binary", "nary"):  # the same expressions (same seeds), two gold bracketings
        task = get_task("listops", valid_size=args.batch * args.batches, test_size=10, train_size=10,
                        max_length=args.max_length, form=form)
        data = task.split("valid")
        forms[form] = [task.select(data, torch.arange(i * args.batch, (i + 1) * args.batch))
                       for i in range(args.batches)]
    nodes = {form: sum(int(b.x.node_mask.sum()) for b in bs) / len(bs) for form, bs in forms.items()}
    tokens = sum(int(b.x.lengths.sum()) for b in forms["binary"]) / args.batches
    opts = {**task.model_options, "hidden_size": args.hidden}
    models: dict[str, tuple[nn.Module, str]] = {
        "tree_lstm N-ary, binary trees": (rnnzoo.create("tree_lstm", variant="nary", **opts), "binary"),
        "tree_lstm child-sum, binary": (rnnzoo.create("tree_lstm", **opts), "binary"),
        "tree_lstm child-sum, n-ary": (rnnzoo.create("tree_lstm", **opts), "nary"),
        "s_lstm, binary trees": (rnnzoo.create("s_lstm", **opts), "binary"),
        "lstm (rnnzoo, tree_seq_lstm)": (rnnzoo.create("tree_seq_lstm", **opts), "binary"),
        "torch.nn.LSTM": (TorchLSTM(task.model_options["vocab_size"], args.hidden, 10), "binary"),
    }
    print(f"ListOps batches of {args.batch}: {tokens:.0f} tokens, {nodes['binary']:.0f} nodes (binary trees), "
          f"{nodes['nary']:.0f} nodes (n-ary trees) a batch (means); H = {args.hidden}; threads "
          f"{torch.get_num_threads()}; median of 3 passes over {args.batches} batches")
    rows = {}
    for name, (model, form) in models.items():
        batches = forms[form]
        def logits(x: TreeBatch, m: nn.Module = model) -> torch.Tensor:
            out = m(x)
            return getattr(out, "logits", out)

        def train(m: nn.Module = model, batches: list = batches) -> None:
            for b in batches:
                m.zero_grad()
                F.cross_entropy(logits(b.x, m), b.y).backward()

        def infer(batches: list = batches) -> None:
            with torch.no_grad():
                for b in batches:
                    logits(b.x)

        train()  # warm-up
        rows[name] = (timed(train, 3) / len(batches), timed(infer, 3) / len(batches), form)
    base_train, base_fwd, _ = rows["torch.nn.LSTM"]
    seq_train, seq_fwd, _ = rows["lstm (rnnzoo, tree_seq_lstm)"]
    print(f"{'model':30s} {'train ms':>9s} {'fwd ms':>8s} {'nodes/s (train)':>16s} "
          f"{'x torch LSTM':>13s} {'x rnnzoo lstm':>14s}")
    for name, (tr, fw, form) in rows.items():
        count = nodes[form] if name.startswith(("tree_lstm", "s_")) else tokens
        print(f"{name:30s} {tr * 1e3:9.2f} {fw * 1e3:8.2f} {count / tr:16.0f} {tr / base_train:6.2f} / "
              f"{fw / base_fwd:4.2f} {tr / seq_train:7.2f} / {fw / seq_fwd:4.2f}")
    print("(ratios: train / forward time over the LSTM's on the same batches; nodes/s counts tokens for the LSTMs)")


if __name__ == "__main__":
    main()
