"""The adding and multiplication problems.

Adding problem: Hochreiter & Schmidhuber, "Long Short-Term Memory", Neural Computation 9(8), 1997,
experiment 4; here in the form of Le, Jaitly & Hinton, "A Simple Way to Initialize Recurrent Networks
of Rectified Linear Units", 2015, arXiv:1504.00941 (also used by Arjovsky, Shah & Bengio 2016,
arXiv:1511.06464).

Multiplication problem: Hochreiter & Schmidhuber 1997, experiment 5 (target = product of the two
marked values), here with the same input layout as the adding problem.

Input ``x`` ``(B, T, 2)``: channel 0 holds values drawn uniformly from [0, 1]; channel 1 is a marker that
is 1 at exactly two steps, the first uniformly in the first half ``[0, T // 2)``, the second uniformly
in the second half ``[T // 2, T)`` (as in Le et al.), and 0 elsewhere. Target ``y`` ``(B, 1)`` float32
= sum (adding) or product (multiplication) of the two marked values, regressed from the last step.

(The 1997 versions differ in detail: values in [-1, 1], marker positions restricted to the first ten
steps and before ``T/2``, an end-of-sequence marker, and a rescaled target; the Le et al. form is the
one used in modern benchmarks.)

Trivial baselines (predict a constant, the mean of the target):
    adding: predict 1, MSE = Var(U1 + U2) = 2/12 = 1/6 ~= 0.1667.
    multiplication: predict E[U1 U2] = 1/4, MSE = Var(U1 U2) = E[U1^2] E[U2^2] - 1/16 = 1/9 - 1/16
    = 7/144 ~= 0.0486.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from .base import Batch, GeneratedTask, check_choice, check_int

__all__ = ["MarkedPairTask", "AddingTask", "MultiplicationTask"]

_OPS = ("sum", "product")


class MarkedPairTask(GeneratedTask):
    """Two marked values in a sequence of uniform [0, 1] values; the target combines them.

    seq_len: ``T >= 2``. op: ``"sum"`` (adding problem) or ``"product"`` (multiplication problem).
    ``x`` ``(B, T, 2)`` float32, ``y`` ``(B, 1)`` float32.
    """

    input_size = 2
    output_size = 1
    target = "last"
    loss = "mse"

    def __init__(
        self,
        name: str,
        op: Literal["sum", "product"],
        seq_len: int = 100,
        valid_size: int = 1000,
        test_size: int = 2560,
    ) -> None:
        super().__init__(valid_size=valid_size, test_size=test_size)
        self.name = name
        self.op = str(check_choice("op", op, _OPS, f"task {name!r}"))
        self.seq_len = check_int("seq_len", seq_len, 2, f"task {name!r} (one marker in each half)")
        self.metrics = ["mse"]

    @property
    def constant_prediction(self) -> float:
        """The MSE-minimising constant: the mean of the target (1 for sum, 1/4 for product)."""
        return 1.0 if self.op == "sum" else 0.25

    def baseline(self) -> dict[str, float]:
        """Analytic MSE of predicting the constant: 1/6 (sum) or 7/144 (product)."""
        return {"mse": 1.0 / 6.0 if self.op == "sum" else 1.0 / 9.0 - 1.0 / 16.0}

    def baseline_output(self, x: Tensor) -> Tensor:
        return torch.full((x.shape[0], 1), self.constant_prediction)

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        T, half = self.seq_len, self.seq_len // 2
        values = torch.rand(batch_size, T, generator=generator)
        first = torch.randint(0, half, (batch_size,), generator=generator)
        second = torch.randint(half, T, (batch_size,), generator=generator)
        marks = torch.zeros(batch_size, T)
        rows = torch.arange(batch_size)
        marks[rows, first] = 1.0
        marks[rows, second] = 1.0
        a, b = values[rows, first], values[rows, second]
        y = (a + b) if self.op == "sum" else (a * b)
        x = torch.stack([values, marks], dim=-1)
        return Batch(x, y.unsqueeze(-1), None)


class AddingTask(MarkedPairTask):
    """Adding problem (Hochreiter & Schmidhuber 1997; Le, Jaitly & Hinton 2015, arXiv:1504.00941).

    ``x`` ``(B, T, 2)``, ``y`` ``(B, 1)`` = sum of the two marked values. Baseline: predict 1, MSE 1/6.
    """

    def __init__(self, seq_len: int = 100, valid_size: int = 1000, test_size: int = 2560) -> None:
        super().__init__("adding", "sum", seq_len=seq_len, valid_size=valid_size, test_size=test_size)


class MultiplicationTask(MarkedPairTask):
    """Multiplication problem (Hochreiter & Schmidhuber 1997, experiment 5).

    ``x`` ``(B, T, 2)``, ``y`` ``(B, 1)`` = product of the two marked values. Baseline: predict 1/4,
    MSE 7/144.
    """

    def __init__(self, seq_len: int = 100, valid_size: int = 1000, test_size: int = 2560) -> None:
        super().__init__(
            "multiplication", "product", seq_len=seq_len, valid_size=valid_size, test_size=test_size
        )
