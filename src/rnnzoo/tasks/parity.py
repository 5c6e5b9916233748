"""k-bit parity.

Parity as a long-range sequence problem: Bengio, Simard & Frasconi, "Learning long-term dependencies
with gradient descent is difficult", IEEE Transactions on Neural Networks 5(2), 1994 (the parity
problem); Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8), 1997 (section 5,
where it is shown to be solvable by random weight guessing). Classic reference for the function itself:
Minsky & Papert, "Perceptrons", 1969.

The ``k`` bits are i.i.d. uniform and presented one per step: ``x`` ``(B, k, 1)`` float32 with
``encoding="binary"`` values in {0, 1} (default) or ``encoding="signed"`` values in {-1, +1}
(bit 1 -> +1, bit 0 -> -1). Target ``y`` ``(B,)`` int64 = number of 1 bits mod 2, classified from the
last step (2 classes).

Baseline: the parity is a fair coin, so a constant prediction has accuracy 1/2 and the uniform
prediction cross-entropy ln 2.
"""

from __future__ import annotations

from typing import Literal

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

__all__ = ["ParityTask"]


class ParityTask(GeneratedTask):
    """Parity of ``k = seq_len`` bits presented one per step.

    ``x`` ``(B, k, 1)`` float32 (``{0, 1}`` or ``{-1, +1}``, see ``encoding``),
    ``y`` ``(B,)`` int64 in {0, 1}.
    """

    name = "parity"
    input_size = 1
    output_size = 2
    target = "last"
    loss = "cross_entropy"

    def __init__(
        self,
        seq_len: int = 16,
        encoding: Literal["binary", "signed"] = "binary",
        valid_size: int = 1000,
        test_size: int = 2560,
    ) -> None:
        super().__init__(valid_size=valid_size, test_size=test_size)
        self.seq_len = check_int("seq_len", seq_len, 1, "task 'parity' (the number of bits k)")
        self.encoding = str(check_choice("encoding", encoding, ("binary", "signed"), "task 'parity'"))
        self.metrics = ["accuracy", "cross_entropy"]

    def baseline(self) -> dict[str, float]:
        """Accuracy 0.5, cross-entropy ln 2."""
        return balanced_classification_baseline(2)

    def baseline_output(self, x: Tensor) -> Tensor:
        return constant_class_output(x.shape[0], 2)

    def bits(self, x: Tensor) -> Tensor:
        """Recover the int64 bits ``(B, k)`` from inputs ``x`` ``(B, k, 1)`` of either encoding."""
        return (x[..., 0] > 0).long()

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        bits = torch.randint(0, 2, (batch_size, self.seq_len), generator=generator)
        y = bits.sum(dim=1) % 2
        x = bits.float() if self.encoding == "binary" else 2.0 * bits.float() - 1.0
        return Batch(x.unsqueeze(-1), y, None)
