"""``parity_bits``: the parity of k random bits given to the network whole, in one projection (Grid LSTM's parity task).

Kalchbrenner, Danihelka & Graves 2015 (arXiv:1507.01526, the parity experiment): "the k-bit string is given to the
neural network as a whole through a single projection", so no recurrence over the bits helps; a deep network must
compute the parity along its depth. The paper reports that a 1-LSTM network (``grid_lstm_1d``) learns it for up to
250 bits, where deep networks without gating fail. (The sequential parity task, one bit per step, is ``parity``.)

Inputs: :class:`~rnnzoo.core.order.GridInput` with ``grid`` ``(B, k)`` float32 (a grid of no data axes and k
features), bits in {0, 1} (``encoding="binary"``) or {-1, +1} (``"signed"``, the default: bit 1 -> +1), ``sizes``
None. Targets ``y`` int64 ``(B,)``: the number of 1 bits mod 2. Metrics accuracy and cross-entropy; the trivial
baseline (a fair coin) has accuracy 1/2 and cross-entropy ln 2. Training batches are drawn fresh from the trainer's
generator; ``valid`` and ``test`` are fixed splits from their own seeds.
"""

from __future__ import annotations

import math
from typing import Any

import torch

from rnnzoo.core.order import GridInput
from rnnzoo.core.registry import InputKind

from .base import Batch, check_choice, check_generator, check_int
from .registry import register_task
from .structured import LabelTask

__all__ = ["ParityBitsTask"]

_SPLIT_SEEDS = {"valid": 1_414_213_562, "test": 1_732_050_807}


class ParityBitsTask(LabelTask):
    """k-bit parity fed whole (module docstring). Options: ``bits`` k (default 50), ``encoding`` (``"signed"`` or
    ``"binary"``), ``valid_size``, ``test_size``."""

    num_classes = 2

    name = "parity_bits"
    input_kind = InputKind.GRID
    metrics = ["accuracy", "cross_entropy"]  # noqa: RUF012
    split_names = ("valid", "test")

    def __init__(self, bits: int = 50, encoding: str = "signed", valid_size: int = 1000, test_size: int = 2000
                 ) -> None:
        self.bits = check_int("bits", bits, 1, "task 'parity_bits' (the number of bits k)")
        self.encoding = str(check_choice("encoding", encoding, ("signed", "binary"), "task 'parity_bits'"))
        self.split_sizes = {"valid": check_int("valid_size", valid_size, 1),
                            "test": check_int("test_size", test_size, 1)}
        self.seq_len = 0
        self.output_size = 2
        self.model_options: dict[str, Any] = {"input_size": self.bits, "output_size": 2, "data_dims": 0}
        self._cache: dict[tuple[str, int], Batch] = {}

    def make(self, count: int, generator: torch.Generator) -> Batch:
        """``count`` examples drawn with ``generator``."""
        b = torch.randint(0, 2, (count, self.bits), generator=check_generator(generator))
        x = b.float() if self.encoding == "binary" else 2.0 * b.float() - 1.0
        return Batch(GridInput(x, None), b.sum(1) % 2, None)

    def sample(self, batch_size: int, generator: torch.Generator) -> Batch:
        return self.make(check_int("batch_size", batch_size, 1), generator)

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        self.check_split_name(name)
        seed = _SPLIT_SEEDS[name] if generator_seed is None else check_int("generator_seed", generator_seed, 0)
        key = (name, seed)
        if key not in self._cache:
            self._cache[key] = self.make(self.split_sizes[name], torch.Generator().manual_seed(seed))
        return self._cache[key]

    def baseline(self) -> dict[str, float]:
        """A fair coin: accuracy 1/2, cross-entropy ln 2."""
        return {"accuracy": 0.5, "cross_entropy": math.log(2.0)}


register_task("parity_bits", ParityBitsTask,
              "parity of k random bits fed whole in one projection (Grid LSTM's parity task, arXiv:1507.01526); "
              "option bits = k (default 50)",
              "a coin: accuracy 0.5 (cross-entropy ln 2)", seq_len="no sequence length (k bits fed whole: option bits)",
              train_defaults={"seq_len": None})
