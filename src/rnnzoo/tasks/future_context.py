"""The future-context task: the label at step t is the symbol D steps ahead (issue 13 section 5).

A synthetic substitute for the speech recognition tasks of latency-controlled BLSTMs (Zhang et al. 2016,
arXiv:1510.08983; Chen & Huo 2016), whose Switchboard WERs cannot be reproduced here. It measures exactly
what a layer's future context is worth: the input is a sequence of symbols ``s_0 .. s_{T-1}`` drawn
uniformly from C, one-hot ``(B, T, C)``; the label at every step is

    ``y_t = s_{t+D}`` if ``t + D < T``, else ``C`` ("none": that frame does not exist),

so ``output_size = C + 1``, one label per step (``per_step``, cross-entropy).

:func:`best_accuracy` gives the best expected per-step accuracy of a predictor that knows the position t and
sees the frames up to a bound: a unidirectional layer (frames <= t) reaches ``((T - D) / C + D) / T``
(:meth:`FutureContextTask.baseline`, the trivial predictor: uniform over the symbols, "none" where the
position says so); a latency-controlled layer with chunk N_c and right context N_r sees up to
``min(s_k + N_c + N_r, T) - 1`` for t in chunk k (``s_k = k N_c``), which covers ``t + D`` for every t iff
``N_r >= D``; the full bidirectional layer sees everything (accuracy 1).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Batch, GeneratedTask, check_int
from .registry import register_task

__all__ = ["FutureContextTask", "best_accuracy"]


def best_accuracy(seq_len: int, delay: int, num_classes: int, *, chunk: int | None = None,
                  right: int | None = None, causal: bool = False) -> float:
    """The best expected per-step accuracy on the task when step t's prediction may read the frames
    ``0 .. v(t)`` and the position t: ``v(t) = t`` if ``causal``; ``min(s_k + chunk + right, T) - 1`` for a
    latency-controlled layer (``chunk``, ``right`` given); ``T - 1`` otherwise (the full bidirectional layer).
    A step is right for sure when ``t + D >= T`` (the position says "none") or ``t + D <= v(t)``, else with
    probability 1/C."""
    total = 0.0
    for t in range(seq_len):
        if causal:
            seen = t
        elif chunk is not None:
            seen = min((t // chunk) * chunk + chunk + (right or 0), seq_len) - 1
        else:
            seen = seq_len - 1
        total += 1.0 if (t + delay >= seq_len or t + delay <= seen) else 1.0 / num_classes
    return total / seq_len


class FutureContextTask(GeneratedTask):
    """``y_t = s_{t+D}`` (or "none" = class C past the end) for one-hot symbols ``s`` (module docstring).

    Args:
        seq_len: T (default 24), at least ``delay + 1``.
        delay: D, how far ahead the label looks (default 3).
        num_classes: C symbols (default 4); the labels have C + 1 classes.
        valid_size, test_size: the fixed splits' sizes.

    ``x`` ``(B, T, C)`` float32 one-hot, ``y`` ``(B, T)`` int64 in ``[0, C]``.
    """

    name = "future_context"
    target = "per_step"
    loss = "cross_entropy"

    def __init__(self, seq_len: int = 24, delay: int = 3, num_classes: int = 4, valid_size: int = 1000,
                 test_size: int = 2560) -> None:
        super().__init__(valid_size=valid_size, test_size=test_size)
        self.delay = check_int("delay", delay, 1, "task 'future_context'")
        self.num_classes = check_int("num_classes", num_classes, 2, "task 'future_context'")
        self.seq_len = check_int("seq_len", seq_len, delay + 1, f"task 'future_context' (T > delay = {delay})")
        self.input_size = self.num_classes
        self.output_size = self.num_classes + 1
        self.metrics = ["accuracy", "cross_entropy"]

    def baseline(self) -> dict[str, float]:
        """The best unidirectional predictor: uniform over the C symbols where ``t + D < T``, "none" after:
        accuracy ``((T - D) / C + D) / T``, cross-entropy ``(T - D) ln C / T``."""
        steps, delay, classes = self.seq_len, self.delay, self.num_classes
        return {"accuracy": best_accuracy(steps, delay, classes, causal=True),
                "cross_entropy": (steps - delay) * math.log(classes) / steps}

    def baseline_output(self, x: Tensor) -> Tensor:
        """Log-probabilities ``(B, T, C + 1)``: uniform over the symbols, then "none" for the last D steps."""
        out = torch.full((x.shape[0], self.seq_len, self.output_size), -math.inf)
        out[:, : self.seq_len - self.delay, : self.num_classes] = -math.log(self.num_classes)
        out[:, self.seq_len - self.delay :, self.num_classes] = 0.0
        return out

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        symbols = torch.randint(0, self.num_classes, (batch_size, self.seq_len), generator=generator)
        y = torch.full((batch_size, self.seq_len), self.num_classes, dtype=torch.int64)
        y[:, : self.seq_len - self.delay] = symbols[:, self.delay :]
        x = torch.nn.functional.one_hot(symbols, self.num_classes).float()
        return Batch(x, y, None)


register_task(
    "future_context",
    FutureContextTask,
    "future context (issue 13, latency-controlled BLSTM substitute): the label at t is the symbol at t + D "
    "(D = 3, C = 4 symbols, 'none' past the end)",
    "uniform over the symbols, 'none' for the last D steps (the best causal predictor): accuracy "
    "((T - D)/C + D)/T = 0.344 at T = 24",
    train_defaults={"seq_len": None},
)
