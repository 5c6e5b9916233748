"""The temporal order problem.

Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8), 1997, experiments 6a
(two relevant symbols, 4 classes) and 6b (three relevant symbols, 8 classes), in the fixed-length form
used by Pascanu, Mikolov & Bengio, "On the difficulty of training recurrent neural networks", ICML 2013,
arXiv:1211.5063 (after Martens & Sutskever 2011).

Sequence of length ``T``: every step is a distractor drawn uniformly from {a, b, c, d}, except for the
relevant steps, each holding X or Y (uniformly, independently), at positions drawn uniformly from the
windows (``w = floor(T / 10)``)::

    num_classes=4: [floor(0.1 T), floor(0.1 T) + w)  and  [floor(0.5 T), floor(0.5 T) + w)
    num_classes=8: [floor(0.1 T), ... + w), [floor(0.3 T), ... + w), [floor(0.6 T), ... + w)

(for ``T = 100`` and 4 classes: positions 10-19 and 50-59, as in 6a; the 1997 paper also varies
``T`` in 100-110 and adds start/end symbols, which the fixed-length form omits).

Inputs are one-hot ``(B, T, 6)`` over the symbols ``SYMBOLS = ("X", "Y", "a", "b", "c", "d")`` (channel
order as in Pascanu's code). The class, predicted from the last step, is the ordered combination of the
relevant symbols read as a binary number with X = 0, Y = 1 and the earliest symbol most significant:
XX -> 0 (Q), XY -> 1 (R), YX -> 2 (S), YY -> 3 (U); XXX -> 0, ..., YYY -> 7, as in the 1997 paper.

Baseline: classes are uniform, so a constant prediction has accuracy 1/num_classes and the uniform
prediction has cross-entropy ln(num_classes).
"""

from __future__ import annotations

import torch
from torch import Tensor

from .base import (
    Batch,
    GeneratedTask,
    balanced_classification_baseline,
    check_choice,
    check_int,
    constant_class_output,
)

__all__ = ["TemporalOrderTask", "SYMBOLS"]

SYMBOLS = ("X", "Y", "a", "b", "c", "d")
NUM_DISTRACTORS = 4
_WINDOW_STARTS = {4: (0.1, 0.5), 8: (0.1, 0.3, 0.6)}
MIN_SEQ_LEN = 10  # window width floor(T / 10) must be >= 1


class TemporalOrderTask(GeneratedTask):
    """Temporal order problem with 4 or 8 classes (see the module docstring).

    seq_len: ``T >= 10``. num_classes: 4 (two relevant symbols) or 8 (three).
    ``x`` ``(B, T, 6)`` one-hot float32, ``y`` ``(B,)`` int64 in ``[0, num_classes)``.
    """

    input_size = len(SYMBOLS)
    target = "last"
    loss = "cross_entropy"

    def __init__(
        self,
        seq_len: int = 100,
        num_classes: int = 4,
        valid_size: int = 1000,
        test_size: int = 2560,
        name: str | None = None,
    ) -> None:
        super().__init__(valid_size=valid_size, test_size=test_size)
        self.name = name or "temporal_order"
        self.num_classes = int(check_choice("num_classes", num_classes, (4, 8), f"task {self.name!r}"))
        self.seq_len = check_int("seq_len", seq_len, MIN_SEQ_LEN, f"task {self.name!r}")
        self.output_size = self.num_classes
        self.metrics = ["accuracy", "cross_entropy"]
        width = self.seq_len // 10
        self.windows: list[tuple[int, int]] = [
            (int(f * self.seq_len), int(f * self.seq_len) + width) for f in _WINDOW_STARTS[self.num_classes]
        ]
        """Half-open ``[start, stop)`` position windows of the relevant symbols, in order."""

    def baseline(self) -> dict[str, float]:
        """Accuracy 1/num_classes, cross-entropy ln(num_classes)."""
        return balanced_classification_baseline(self.num_classes)

    def baseline_output(self, x: Tensor) -> Tensor:
        return constant_class_output(x.shape[0], self.num_classes)

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        symbols = torch.randint(2, 2 + NUM_DISTRACTORS, (batch_size, self.seq_len), generator=generator)
        rows = torch.arange(batch_size)
        y = torch.zeros(batch_size, dtype=torch.int64)
        for start, stop in self.windows:
            pos = torch.randint(start, stop, (batch_size,), generator=generator)
            bit = torch.randint(0, 2, (batch_size,), generator=generator)  # 0 = X, 1 = Y
            symbols[rows, pos] = bit
            y = 2 * y + bit
        x = torch.nn.functional.one_hot(symbols, len(SYMBOLS)).float()
        return Batch(x, y, None)
