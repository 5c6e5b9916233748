"""Parity of a variable-length bit string: the formal-language "parity" of the xLSTM paper's state-tracking tests.

Deletang et al. 2023 ("Neural Networks and the Chomsky Hierarchy", arXiv:2207.02098, the "parity check" task),
used by Beck et al. 2024 (xLSTM, arXiv:2405.04517, section 4.1 "formal languages"): the model reads a bit
string and outputs the parity of its number of 1 bits after the last bit. As there, training strings have
random lengths (here uniform in ``[1, k]``, ``k = seq_len``), so the short strings give a learning signal a
fixed length ``k`` lacks (plain ``parity`` at k = 16 stayed at chance for slstm, mlstm and lstm alike: 32 units,
Adam 3e-3, 2,000 updates, seed 0);
the ``valid`` and ``test`` splits hold strings of the full length ``k`` only, the hardest case (the papers
test longer strings than they train on; this task does not test length extrapolation).

``x`` ``(B, k, 1)`` float32 with bits in {0, 1} (``encoding="binary"``) or {-1, +1} (``"signed"``), zero after
each string's length; ``lengths`` ``(B,)``; ``y`` ``(B,)`` int64 = number of 1 bits mod 2, classified from each
string's last step. Baseline: accuracy 1/2, cross-entropy ln 2.
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor

from .base import Batch, GeneratedTask, balanced_classification_baseline, check_choice, check_int, constant_class_output

__all__ = ["ParityLengthsTask"]


class ParityLengthsTask(GeneratedTask):
    """Parity of bit strings of length uniform in ``[1, k]`` (training) or exactly ``k`` (valid, test).

    ``x`` ``(B, k, 1)`` float32, ``lengths`` ``(B,)`` int64, ``y`` ``(B,)`` int64 in {0, 1}.
    """

    name = "parity_lengths"
    input_size = 1
    output_size = 2
    target = "last"
    loss = "cross_entropy"

    def __init__(self, seq_len: int = 16, encoding: Literal["binary", "signed"] = "signed",
                 valid_size: int = 1000, test_size: int = 2560) -> None:
        super().__init__(valid_size=valid_size, test_size=test_size)
        self.seq_len = check_int("seq_len", seq_len, 1, "task 'parity_lengths' (the longest string k)")
        self.encoding = str(check_choice("encoding", encoding, ("binary", "signed"), "task 'parity_lengths'"))
        self.metrics = ["accuracy", "cross_entropy"]

    def baseline(self) -> dict[str, float]:
        """Accuracy 0.5, cross-entropy ln 2."""
        return balanced_classification_baseline(2)

    def baseline_output(self, x: Tensor) -> Tensor:
        return constant_class_output(x.shape[0], 2)

    def _strings(self, lengths: Tensor, generator: torch.Generator) -> Batch:
        valid = torch.arange(self.seq_len) < lengths[:, None]
        bits = torch.randint(0, 2, (lengths.shape[0], self.seq_len), generator=generator) * valid
        y = bits.sum(dim=1) % 2
        x = bits.float() if self.encoding == "binary" else 2.0 * bits.float() - 1.0
        x = x.masked_fill(~valid, 0.0)  # padding is 0 in either encoding
        return Batch(x.unsqueeze(-1), y, lengths)

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        lengths = torch.randint(1, self.seq_len + 1, (batch_size,), generator=generator)
        return self._strings(lengths, generator)

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        """The fixed ``valid`` or ``test`` split: strings of the full length ``k``."""
        self.check_split_name(name)
        seed = self.SPLIT_SEEDS[name] if generator_seed is None else check_int("generator_seed", generator_seed, 0)
        key = (name, seed)
        if key not in self._split_cache:
            size = self.split_sizes[name]
            self._split_cache[key] = self._strings(torch.full((size,), self.seq_len, dtype=torch.long),
                                                   torch.Generator().manual_seed(seed))
        return self._split_cache[key]

