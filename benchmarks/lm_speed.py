"""Tokens per second of the 2 x 200 PTB language model: ``rnnzoo train`` against a hand-written PyTorch loop.

Issue 10 section 4: the language-model path must not be the bottleneck. Both sides train Zaremba et al.
2014's small model (embedding 10,000 x 200, a 2-layer LSTM of 200 units, softmax 200 x 10,000; every parameter
uniform(-0.1, 0.1)) on the real Penn Treebank training stream (``rnnzoo.data.load("ptb_word")``) laid out as
20 contiguous streams, in windows of 20 steps carrying the state (detached between windows), one SGD update
(lr 1) per window on the window's cross-entropy summed over its steps and averaged over the batch, gradients
clipped to global norm 5. A window is 20 x 20 = 400 tokens.

* **A, Lightning**: :func:`rnnzoo.train.train` with the task's registered defaults (``rnnzoo list``), as
  ``rnnzoo train --task ptb_word`` runs them, except that it stops after ``warmup + windows`` updates
  (``--max-steps``), validates never in between, and its schedule is ``constant``: Zaremba's
  ``epoch_decay`` halves the rate only after epoch 4, so within epoch 1 both are lr 1 (``epoch_decay``
  requires ``--epochs``, which would set the run's length to whole epochs).
* **B, by hand**: ``nn.Embedding`` + ``torch.nn.LSTM(200, 200, 2)`` + ``nn.Linear``, the loop of
  :func:`hand_loop`, whose windows walk the streams exactly as the trainer's (:func:`stream_windows`, tested
  against :func:`rnnzoo.train.tbptt.windows`).

**What is timed.** Only the training windows, the same way on both sides: a wall-clock mark
(``time.perf_counter``) at the end of every window (Lightning: the module's ``on_train_batch_end`` hook, after
the optimizer step, the logging and every callback of that window, the progress report included); the rate is
``windows / (mark[warmup + windows - 1] - mark[warmup - 1])``. The first ``warmup`` windows (allocator and
oneDNN warm-up) are excluded, and so are start-up (imports, data loading, building the Trainer) and the final
valid/test evaluation, which the hand loop does not have: comparing the runs' wall times would measure those
and not the training path. The run's own ``tokens_per_second`` (``results.json``) counts whole epochs only,
so a short run has none; hence the hook (a subclass of the module installed for the run, which adds one
``perf_counter`` call per window and changes nothing else).

**Interleaving.** Rounds alternate A B A B ... in one process, so a change of the machine's load hits both
sides; reported are the tokens/s of every round, the medians, and the ratio of the medians (A / B).
The epoch time is extrapolated: the updates of one epoch (2,324 windows for PTB at B = 20, k = 20, from
:func:`rnnzoo.train.epochs.updates_per_epoch`) divided by the median windows per second.

Usage::

    PYTHONPATH=src python benchmarks/lm_speed.py --windows 300 --rounds 3 --threads 1
"""

from __future__ import annotations

import argparse
import datetime as _dt
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import torch
import torch.nn.functional as F
from torch import Tensor

TASK = "ptb_word"


def stream_windows(data: Tensor, k: int) -> Iterator[tuple[Tensor, Tensor]]:
    """The TBPTT windows of ``data`` ``(B, L)`` (B contiguous streams): ``(x, y)`` ``(B, <=k)`` each, ``x`` the
    inputs at steps ``[s, s + k)`` and ``y`` the next tokens (steps ``[s + 1, s + k + 1)``), ``s = 0, k, 2k, ...``;
    the last step of the streams has no next token and is not an input of a scored step (as the trainer)."""
    if data.dim() != 2:
        raise ValueError(f"data: expected token ids of shape (B, L), got shape {tuple(data.shape)}")
    if k < 1:
        raise ValueError(f"k: expected a window length >= 1, got {k}")
    steps = data.shape[1]
    for start in range(0, steps - 1, k):
        stop = min(start + k, steps - 1)
        yield data[:, start:stop], data[:, start + 1:stop + 1]


def hand_loop(data: Tensor, vocab: int, *, windows: int, k: int = 20, hidden: int = 200, layers: int = 2,
              lr: float = 1.0, clip: float = 5.0, seed: int = 0) -> tuple[list[float], list[float]]:
    """Train Zaremba's small model by hand on the streams ``data`` ``(B, L)`` for ``windows`` windows of ``k``.

    Returns ``(marks, losses)``: ``time.perf_counter()`` after each window's update, and each window's loss
    (summed over its steps, mean over the batch)."""
    torch.manual_seed(seed)
    batch = data.shape[0]
    emb = torch.nn.Embedding(vocab, hidden)
    rnn = torch.nn.LSTM(hidden, hidden, layers, batch_first=True)
    out = torch.nn.Linear(hidden, vocab)
    params = [*emb.parameters(), *rnn.parameters(), *out.parameters()]
    with torch.no_grad():
        for p in params:
            p.uniform_(-0.1, 0.1)
    opt = torch.optim.SGD(params, lr=lr)
    state: Any = None
    marks: list[float] = []
    losses: list[float] = []
    for x, y in stream_windows(data, k):
        if len(marks) == windows:
            break
        h, state = rnn(emb(x), state)
        state = tuple(s.detach() for s in state)
        loss = F.cross_entropy(out(h).reshape(-1, vocab), y.reshape(-1), reduction="sum") / batch
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, clip)
        opt.step()
        losses.append(float(loss.detach()))
        marks.append(time.perf_counter())
    if len(marks) < windows:
        raise ValueError(f"windows: the streams hold {len(marks)} windows of {k}, expected >= {windows}")
    return marks, losses


def lightning_config(windows: int, threads: int | None, progress: str = "log") -> Any:
    """The ``TrainConfig`` of ``rnnzoo train --task ptb_word`` for ``windows`` updates (see the module docstring)."""
    from rnnzoo.train.config import TrainConfig, layer
    from rnnzoo.train.defaults import DEFAULT_JOB

    return TrainConfig.from_dict(layer(DEFAULT_JOB, {
        "task": TASK, "epochs": None, "max_steps": windows, "val_every": 10**6, "schedule": "constant",
        "threads": threads, "progress": progress}))


def lightning_marks(windows: int, threads: int | None, progress: str = "log") -> list[float]:
    """Run :func:`rnnzoo.train.train` for ``windows`` updates; ``time.perf_counter()`` at the end of each."""
    import rnnzoo.train.run as run
    from rnnzoo.train.module import LitSequenceModel

    marks: list[float] = []

    class Timed(LitSequenceModel):
        def on_train_batch_end(self, outputs: Any, batch: Any, batch_idx: int) -> None:
            marks.append(time.perf_counter())

    cfg = lightning_config(windows, threads, progress)
    with tempfile.TemporaryDirectory() as tmp, mock.patch.object(run, "LitSequenceModel", Timed):
        run.train(cfg, Path(tmp) / "run", echo=lambda line: None)
    return marks


def rate(marks: list[float], warmup: int, windows: int) -> float:
    """Windows per second over windows ``warmup .. warmup + windows - 1`` of ``marks`` (one per window)."""
    if len(marks) != warmup + windows:
        raise ValueError(f"marks: expected {warmup + windows} (warm-up + timed windows), got {len(marks)}")
    return windows / (marks[-1] - marks[warmup - 1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--windows", type=int, default=300, help="timed windows per side and round (default 300)")
    parser.add_argument("--warmup", type=int, default=5, help="untimed windows first (default 5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of A (Lightning) then B (hand) (default 3)")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads, both sides (default 1)")
    parser.add_argument("--progress", choices=("log", "bar"), default="log",
                        help="rnnzoo train's progress report (log: what it writes off a terminal; default)")
    parser.add_argument("--out", type=Path, default=None,
                        help="markdown result file (default benchmarks/results/<date>-lm-speed.md)")
    args = parser.parse_args(argv)
    for name in ("windows", "warmup", "rounds", "threads"):
        if getattr(args, name) < 1:
            parser.error(f"--{name}: expected an integer >= 1, got {getattr(args, name)}")

    from rnnzoo.data import load
    from rnnzoo.train.build import build_task
    from rnnzoo.train.epochs import updates_per_epoch

    torch.set_num_threads(args.threads)
    cfg = lightning_config(args.windows + args.warmup, args.threads, args.progress)
    per_epoch = updates_per_epoch(cfg, build_task(cfg))
    corpus = load(TASK)
    ids = corpus.splits["train"]
    batch, k = cfg.batch_size, cfg.tbptt[0]
    data = ids[: (ids.numel() // batch) * batch].view(batch, -1)
    tokens = batch * k
    load_before = os.getloadavg()
    rows: list[tuple[int, float, float]] = []
    print(f"{'round':>5}  {'A rnnzoo train tok/s':>21}  {'B hand loop tok/s':>18}  {'A/B':>6}", flush=True)
    for r in range(1, args.rounds + 1):
        a = rate(lightning_marks(args.windows + args.warmup, args.threads, args.progress), args.warmup, args.windows)
        torch.set_num_threads(args.threads)
        b = rate(hand_loop(data, len(corpus.vocab), windows=args.windows + args.warmup, k=k)[0],
                 args.warmup, args.windows)
        rows.append((r, a * tokens, b * tokens))
        print(f"{r:>5}  {a * tokens:>21,.0f}  {b * tokens:>18,.0f}  {a / b:>6.3f}", flush=True)
    med_a = statistics.median(row[1] for row in rows)
    med_b = statistics.median(row[2] for row in rows)
    ratio = med_a / med_b
    epoch_a, epoch_b = per_epoch * tokens / med_a, per_epoch * tokens / med_b
    verdict = "within 10%" if ratio >= 0.9 else "MORE than 10% slower"
    print(f"{'median':>5}  {med_a:>21,.0f}  {med_b:>18,.0f}  {ratio:>6.3f}  (rnnzoo train {verdict})")
    print(f"epoch ({per_epoch:,} windows, extrapolated from the median windows/s): rnnzoo train {epoch_a:.0f} s, "
          f"hand loop {epoch_b:.0f} s")
    load_after = os.getloadavg()

    out = args.out or Path("benchmarks/results") / f"{_dt.date.today().isoformat()}-lm-speed.md"
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Tokens per second of the 2 x 200 PTB language model: rnnzoo train (A) against a hand loop (B)",
        "",
        f"`{' '.join(['python', 'benchmarks/lm_speed.py', *(argv if argv is not None else sys.argv[1:])])}` "
        f"on {_dt.datetime.now(_dt.timezone.utc):%Y-%m-%d %H:%M} UTC; torch {torch.__version__}, "
        f"{args.threads} thread(s), {os.cpu_count()} CPUs, Python {platform.python_version()}; load average "
        f"{load_before[0]:.2f} before, {load_after[0]:.2f} after. Method: `benchmarks/lm_speed.py`'s docstring "
        f"(interleaved A B rounds, {args.warmup} warm-up windows then {args.windows} timed windows of "
        f"{batch} x {k} = {tokens} tokens per side and round, progress `{args.progress}`).",
        "",
        "| round | A rnnzoo train (tokens/s) | B hand loop (tokens/s) | A / B |",
        "|---:|---:|---:|---:|",
        *(f"| {r} | {a:,.0f} | {b:,.0f} | {a / b:.3f} |" for r, a, b in rows),
        f"| **median** | **{med_a:,.0f}** | **{med_b:,.0f}** | **{ratio:.3f}** |",
        "",
        f"rnnzoo train is {verdict} of the hand loop (ratio of the medians {ratio:.3f}; target >= 0.9).",
        f"One epoch ({per_epoch:,} windows), extrapolated from the median windows per second, not timed whole: "
        f"rnnzoo train {epoch_a:.0f} s, hand loop {epoch_b:.0f} s (training only; the whole-stream valid and "
        "test evaluations come on top).",
        "",
    ]
    out.write_text("\n".join(lines))
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
