"""The copy memory problem.

Arjovsky, Shah & Bengio, "Unitary Evolution Recurrent Neural Networks", ICML 2016, arXiv:1511.06464
(after Hochreiter & Schmidhuber 1997).

With delay ``T`` the sequence has length ``T + 20`` over 10 categories: 0-7 are symbols, 8 is blank,
9 is the delimiter. Input: 10 symbols drawn uniformly (with replacement) from 0-7, then ``T - 1``
blanks, one delimiter, then 10 blanks. Target, at every step: blank for the first ``T + 10`` steps,
then the 10 input symbols in the same order. Inputs are one-hot ``(B, T + 20, 10)``; labels are
``(B, T + 20)`` int64, scored with per-step cross-entropy averaged over all ``T + 20`` steps.

Baseline (memoryless strategy of Arjovsky et al.): predict blank with certainty for ``T + 10`` steps,
then the uniform distribution over the 8 symbols: cross-entropy ``10 ln 8 / (T + 20)``. Its accuracy
(argmax of a uniform distribution taken as symbol 0) is ``(T + 10 + 10/8) / (T + 20)`` in expectation.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from .base import Batch, GeneratedTask, check_int

__all__ = ["CopyTask", "NUM_SYMBOLS", "BLANK", "DELIMITER", "COPY_LENGTH"]

NUM_SYMBOLS = 8
BLANK = 8
DELIMITER = 9
COPY_LENGTH = 10
NUM_CATEGORIES = 10


class CopyTask(GeneratedTask):
    """Copy memory with delay ``T`` (``delay``); ``seq_len == T + 20``.

    Give either ``delay`` (Arjovsky's ``T``, default 100) or ``seq_len`` (the total length ``T + 20``).
    ``x`` ``(B, T + 20, 10)`` one-hot float32, ``y`` ``(B, T + 20)`` int64 in ``[0, 10)``.
    """

    name = "copy"
    input_size = NUM_CATEGORIES
    output_size = NUM_CATEGORIES
    target = "per_step"
    loss = "cross_entropy"

    def __init__(
        self,
        seq_len: int | None = None,
        delay: int | None = None,
        valid_size: int = 1000,
        test_size: int = 2560,
    ) -> None:
        super().__init__(valid_size=valid_size, test_size=test_size)
        extra = 2 * COPY_LENGTH
        if delay is None and seq_len is None:
            delay = 100
        elif delay is None:
            check_int("seq_len", seq_len, extra + 1, "task 'copy' (seq_len = delay + 20, delay >= 1)")
            delay = seq_len - extra
        else:
            check_int("delay", delay, 1, "task 'copy'")
            if seq_len is not None and seq_len != delay + extra:
                raise ValueError(
                    f"seq_len must equal delay + 20 = {delay + extra} for task 'copy', got {seq_len!r}; "
                    "give only one of seq_len and delay"
                )
        self.delay = delay
        self.seq_len = delay + extra
        self.metrics = ["cross_entropy", "accuracy"]

    def baseline(self) -> dict[str, float]:
        """Cross-entropy ``10 ln 8 / (T + 20)``; expected accuracy ``(T + 10 + 10/8) / (T + 20)``."""
        return {
            "cross_entropy": COPY_LENGTH * math.log(NUM_SYMBOLS) / self.seq_len,
            "accuracy": (self.delay + COPY_LENGTH + COPY_LENGTH / NUM_SYMBOLS) / self.seq_len,
        }

    def baseline_output(self, x: Tensor) -> Tensor:
        """Log-probabilities ``(B, T + 20, 10)``: blank surely, then uniform over the 8 symbols."""
        out = torch.full((x.shape[0], self.seq_len, NUM_CATEGORIES), -math.inf)
        out[:, : self.seq_len - COPY_LENGTH, BLANK] = 0.0
        out[:, self.seq_len - COPY_LENGTH :, :NUM_SYMBOLS] = -math.log(NUM_SYMBOLS)
        return out

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        symbols = torch.randint(0, NUM_SYMBOLS, (batch_size, COPY_LENGTH), generator=generator)
        seq = torch.full((batch_size, self.seq_len), BLANK, dtype=torch.int64)
        seq[:, :COPY_LENGTH] = symbols
        seq[:, COPY_LENGTH + self.delay - 1] = DELIMITER
        y = torch.full((batch_size, self.seq_len), BLANK, dtype=torch.int64)
        y[:, -COPY_LENGTH:] = symbols
        x = torch.nn.functional.one_hot(seq, NUM_CATEGORIES).float()
        return Batch(x, y, None)
