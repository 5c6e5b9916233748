"""The salient-change task: classify the timing and the sign of a brief burst of change hidden in a random walk.

A generated stand-in for the motion data of the differential RNN paper (Veeriah, Zhuang & Qi 2015,
arXiv:1504.06678: KTH, MSR Action3D), where what identifies the class is *when and how the signal changes*,
not its level. Each of the ``channels`` channels is a random walk (``x_0 = 0``, increments N(0, ``noise``^2));
at one position ``p`` per sequence, drawn uniformly from ``[floor(0.1 T), floor(0.9 T) - width]``, every
channel's increments over ``width`` steps get ``sign * amplitude`` added (sign +-1, uniform), so the signal
climbs or drops briefly and then wanders on from its new level::

    dx_t = noise * N(0, 1) + sign * amplitude * 1[p <= t < p + width];   x_t = sum_{k <= t} dx_k
    class = 2 * (p >= T / 2) + (sign > 0)            (0: early drop, 1: early rise, 2: late drop, 3: late rise)

The burst's shift (``width * amplitude`` = 1.5 by default) is comparable to the walk's own spread at T = 100
(``noise * sqrt(T)`` = 1.0), so the final level alone does not give the sign and nothing in the level gives
the timing: a model must notice the change as it happens. Inputs ``(B, T, channels)`` float32, label at the
last step. Baseline: the 4 classes are uniform (accuracy 0.25, cross-entropy ln 4).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import Batch, GeneratedTask, balanced_classification_baseline, check_int, constant_class_output

__all__ = ["SalientChangeTask"]


def _positive(name: str, value: object, context: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not float(value) > 0:
        raise ValueError(f"{name}: expected a positive number for {context}, got {value!r}")
    return float(value)


class SalientChangeTask(GeneratedTask):
    """Salient change (see the module docstring): ``x`` ``(B, T, channels)``, ``y`` ``(B,)`` in ``[0, 4)``.

    seq_len: ``T >= 20``. channels: >= 1. width: burst length in steps (>= 1, at most T / 4).
    amplitude: the burst's added increment per step; noise: the walk's increment standard deviation.
    """

    target = "last"
    loss = "cross_entropy"
    num_classes = 4
    output_size = 4

    def __init__(self, seq_len: int = 100, channels: int = 3, width: int = 3, amplitude: float = 0.5,
                 noise: float = 0.1, valid_size: int = 1000, test_size: int = 2560, name: str | None = None) -> None:
        super().__init__(valid_size=valid_size, test_size=test_size)
        self.name = name or "salient_change"
        ctx = f"task {self.name!r}"
        self.seq_len = check_int("seq_len", seq_len, 20, ctx)
        self.input_size = check_int("channels", channels, 1, ctx)
        self.width = check_int("width", width, 1, ctx)
        if self.width > self.seq_len // 4:
            raise ValueError(f"width: expected at most seq_len / 4 = {self.seq_len // 4} for {ctx}, got {width!r}")
        self.amplitude = _positive("amplitude", amplitude, ctx)
        self.noise = _positive("noise", noise, ctx)
        self.metrics = ["accuracy", "cross_entropy"]
        self.window = (int(0.1 * self.seq_len), int(0.9 * self.seq_len) - self.width)
        """Inclusive range of the burst's first step."""

    def baseline(self) -> dict[str, float]:
        """Accuracy 1/4, cross-entropy ln 4."""
        return balanced_classification_baseline(self.num_classes)

    def baseline_output(self, x: Tensor) -> Tensor:
        return constant_class_output(x.shape[0], self.num_classes)

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        T = self.seq_len
        dx = self.noise * torch.randn(batch_size, T, self.input_size, generator=generator)
        start = torch.randint(self.window[0], self.window[1] + 1, (batch_size,), generator=generator)
        rise = torch.randint(0, 2, (batch_size,), generator=generator)
        t = torch.arange(T)
        burst = (t[None, :] >= start[:, None]) & (t[None, :] < start[:, None] + self.width)  # (B, T)
        sign = (2 * rise - 1).float()
        dx = dx + (self.amplitude * sign[:, None] * burst.float())[:, :, None]
        x = dx.cumsum(1)
        y = 2 * (start >= T // 2).long() + rise
        return Batch(x, y, None)
