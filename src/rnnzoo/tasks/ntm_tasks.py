"""The neural Turing machine's tasks (Graves, Wayne & Danihelka 2014, arXiv:1410.5401, section 4): copy, repeat
copy and associative recall, as vector sequences with per-step binary targets (loss ``bce``).

Every sequence has an input phase and an output phase; the input is zero during the output phase. The targets
are the wanted bits during the output phase and zeros during the input phase: the trainer scores every valid
step (its per-step mask comes from the lengths only, so the input phase cannot be left out of the loss; a model
learns the zeros there at once). The two metrics:

* ``nll``: what the trainer reports, the binary cross-entropy summed over a frame's bits, averaged over the
  valid frames (both phases);
* ``bit_error``: the paper's cost per sequence in bits, the bits wrong in the output phase when each output is
  thresholded at 0.5 (logit 0), summed per sequence and averaged over sequences: :meth:`NTMTask.metrics_of`.

Lengths vary within a batch: sequences are padded at the end and ``lengths`` gives each one's valid steps.
Random bits are Bernoulli(1/2). The ``test`` split may be longer than training (``test_len``): the
generalisation experiment of the paper's figure 4.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor

from .base import Batch, GeneratedTask, check_int

__all__ = ["AssociativeRecallTask", "CopyTask", "NTMTask", "RepeatCopyTask"]

_QUIET = -30.0
"""The baseline's logit where it knows the target is 0 (exp(-30) ~ 1e-13 nats; -inf would give 0 * inf)."""


def _lengths(batch: int, low: int, high: int, generator: torch.Generator) -> Tensor:
    return torch.randint(low, high + 1, (batch,), generator=generator)


def _bits(shape: tuple[int, ...], generator: torch.Generator) -> Tensor:
    return torch.randint(0, 2, shape, generator=generator).float()


class NTMTask(GeneratedTask):
    """Shared by the three tasks: per-step ``bce`` targets ``(B, T, O)`` with an output-phase mask.

    Subclasses implement ``_draw(batch, generator, test) -> (x, y, out_mask, lengths)``."""

    target = "per_step"
    loss = "bce"  # type: ignore[assignment]

    def __init__(self, valid_size: int, test_size: int) -> None:
        super().__init__(valid_size=valid_size, test_size=test_size)
        self.metrics = ["nll"]

    def _draw(self, batch: int, generator: torch.Generator, test: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        raise NotImplementedError

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        x, y, _, lengths = self._draw(batch_size, generator, False)
        return Batch(x, y, lengths)

    def split(self, name: str, generator_seed: int | None = None) -> Batch:
        """As :meth:`GeneratedTask.split`; the ``test`` split has the test lengths (``test_len`` and the like)."""
        self.check_split_name(name)
        seed = self.SPLIT_SEEDS[name] if generator_seed is None else check_int("generator_seed", generator_seed, 0)
        key = (name, seed)
        if key not in self._split_cache:
            x, y, _, lengths = self._draw(self.split_sizes[name], torch.Generator().manual_seed(seed), name == "test")
            self._split_cache[key] = Batch(x, y, lengths)
        return self._split_cache[key]

    def output_mask(self, batch: Batch) -> Tensor:
        """``(B, T)`` bool: the output-phase steps of ``batch`` (read off the input's marker channels)."""
        raise NotImplementedError

    def metrics_of(self, logits: Tensor, batch: Batch) -> dict[str, float]:
        """``nll`` (per valid frame, as the trainer computes it) and ``bit_error`` (bits wrong per sequence in the
        output phase) of ``logits`` ``(B, T, O)`` on ``batch``."""
        y = batch.y
        if logits.shape != y.shape:
            raise ValueError(f"logits: expected the targets' shape {tuple(y.shape)}, got {tuple(logits.shape)}")
        T = y.shape[1]
        valid = torch.arange(T).unsqueeze(0) < batch.lengths.unsqueeze(1)
        bce = torch.nn.functional.binary_cross_entropy_with_logits(logits.double(), y.double(), reduction="none")
        nll = bce.sum(-1)[valid].mean()
        wrong = ((logits > 0).float() != y).float().sum(-1) * self.output_mask(batch).float()
        return {"nll": float(nll), "bit_error": float(wrong.sum(1).mean())}


class CopyTask(NTMTask):
    """Copy (Graves et al. 2014 section 4.1): ``L`` random ``bits``-bit vectors (L uniform in
    [``min_len``, ``max_len``]), a delimiter step (channel ``bits``), then ``L`` zero steps during which the
    targets are the ``L`` vectors in order. ``x`` ``(B, 2 max_len + 1, bits + 1)``, ``y`` ``(B, T, bits)``,
    ``lengths`` ``2 L + 1``. ``test_len``: the test split's (fixed) L; default: the training range.
    ``seq_len`` is ``max_len``."""

    name = "ntm_copy"

    def __init__(self, seq_len: int | None = None, *, bits: int = 8, min_len: int = 1, max_len: int | None = None,
                 test_len: int | None = None, valid_size: int = 1000, test_size: int = 1000) -> None:
        super().__init__(valid_size, test_size)
        if seq_len is not None and max_len is not None and seq_len != max_len:
            raise ValueError(f"max_len: give seq_len or max_len (the longest sequence), got {seq_len} and {max_len}")
        self.bits = check_int("bits", bits, 1, "task 'ntm_copy'")
        self.max_len = check_int("max_len", max_len or seq_len or 10, 1, "task 'ntm_copy'")
        self.min_len = check_int("min_len", min_len, 1, "task 'ntm_copy'")
        if self.min_len > self.max_len:
            raise ValueError(f"min_len must be <= max_len = {self.max_len} for task 'ntm_copy', got {min_len}")
        self.test_len = None if test_len is None else check_int("test_len", test_len, 1, "task 'ntm_copy'")
        self.seq_len = self.max_len
        self.input_size, self.output_size = self.bits + 1, self.bits

    def _draw(self, batch: int, generator: torch.Generator, test: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        lo, hi = (self.test_len, self.test_len) if test and self.test_len else (self.min_len, self.max_len)
        L = _lengths(batch, lo, hi, generator)
        T = 2 * hi + 1
        seq = _bits((batch, hi, self.bits), generator)
        t = torch.arange(T).unsqueeze(0)
        Lc = L.unsqueeze(1)
        x = torch.zeros(batch, T, self.bits + 1)
        x[:, :hi, :self.bits] = seq * (t[:, :hi] < Lc).unsqueeze(2)
        x[:, :, self.bits] = (t == Lc).float()
        out = (t > Lc) & (t <= 2 * Lc)  # (B, T)
        src = (t - Lc - 1).clamp(0, hi - 1)  # the input step each output step copies
        y = seq.gather(1, src.unsqueeze(2).expand(batch, T, self.bits)) * out.unsqueeze(2)
        return x, y, out, 2 * L + 1

    def output_mask(self, batch: Batch) -> Tensor:
        t = torch.arange(batch.x.shape[1]).unsqueeze(0)
        L = ((batch.lengths - 1) // 2).unsqueeze(1)
        return (t > L) & (t <= 2 * L)

    def _mean_len(self, test: bool) -> float:
        return float(self.test_len) if test and self.test_len else (self.min_len + self.max_len) / 2

    def baseline(self) -> dict[str, float]:
        """Zeros during the input phase, a coin (logit 0) for each output bit, on the test split: NLL per frame
        ``bits ln 2 E[L] / (2 E[L] + 1)``, ``bit_error`` ``bits E[L] / 2``."""
        m = self._mean_len(True)
        return {"nll": self.bits * math.log(2) * m / (2 * m + 1), "bit_error": self.bits * m / 2}

    def baseline_output(self, x: Tensor) -> Tensor:
        """Logits ``(B, T, bits)``: -30 up to the delimiter, 0 after it."""
        after = (x[..., self.bits].cumsum(1) > 0) & (x[..., self.bits] == 0)
        return torch.where(after, 0.0, _QUIET).unsqueeze(2).expand(*x.shape[:2], self.bits).contiguous()


class RepeatCopyTask(NTMTask):
    """Repeat copy (Graves et al. 2014 section 4.2): ``L`` random vectors, then a step with the delimiter
    (channel ``bits``) and the number of copies ``k / max_repeats`` (channel ``bits + 1``), then ``L k + 1`` zero
    steps during which the targets are the sequence ``k`` times and then an end marker (output channel ``bits``).
    ``x`` ``(B, T, bits + 2)``, ``y`` ``(B, T, bits + 1)``, ``lengths`` ``L + 1 + L k + 1``; L in
    [``min_len``, ``max_len``], k in [``min_repeats``, ``max_repeats``]. The count is divided by ``max_repeats``
    (the paper normalises it to mean 0, variance 1). ``test_len`` / ``test_repeats``: the test split's."""

    name = "ntm_repeat_copy"

    def __init__(self, seq_len: int | None = None, *, bits: int = 8, min_len: int = 1, max_len: int | None = None,
                 min_repeats: int = 1, max_repeats: int = 10, test_len: int | None = None,
                 test_repeats: int | None = None, valid_size: int = 1000, test_size: int = 1000) -> None:
        super().__init__(valid_size, test_size)
        self.bits = check_int("bits", bits, 1, "task 'ntm_repeat_copy'")
        self.max_len = check_int("max_len", max_len or seq_len or 10, 1, "task 'ntm_repeat_copy'")
        self.min_len = check_int("min_len", min_len, 1, "task 'ntm_repeat_copy'")
        self.max_repeats = check_int("max_repeats", max_repeats, 1, "task 'ntm_repeat_copy'")
        self.min_repeats = check_int("min_repeats", min_repeats, 1, "task 'ntm_repeat_copy'")
        if self.min_len > self.max_len or self.min_repeats > self.max_repeats:
            raise ValueError(f"min_len/min_repeats must not exceed max_len/max_repeats for task 'ntm_repeat_copy', "
                             f"got {min_len}..{self.max_len} and {min_repeats}..{max_repeats}")
        self.test_len = None if test_len is None else check_int("test_len", test_len, 1, "task 'ntm_repeat_copy'")
        self.test_repeats = None if test_repeats is None else check_int("test_repeats", test_repeats, 1,
                                                                        "task 'ntm_repeat_copy'")
        self.seq_len = self.max_len
        self.input_size, self.output_size = self.bits + 2, self.bits + 1

    def _draw(self, batch: int, generator: torch.Generator, test: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        lo, hi = (self.test_len, self.test_len) if test and self.test_len else (self.min_len, self.max_len)
        klo, khi = ((self.test_repeats, self.test_repeats) if test and self.test_repeats
                    else (self.min_repeats, self.max_repeats))
        L, k = _lengths(batch, lo, hi, generator), _lengths(batch, klo, khi, generator)
        T = hi + 2 + hi * khi
        seq = _bits((batch, hi, self.bits), generator)
        t = torch.arange(T).unsqueeze(0)
        Lc, kc = L.unsqueeze(1), k.unsqueeze(1)
        x = torch.zeros(batch, T, self.bits + 2)
        x[:, :hi, :self.bits] = seq * (t[:, :hi] < Lc).unsqueeze(2)
        x[:, :, self.bits] = (t == Lc).float()
        x[:, :, self.bits + 1] = (t == Lc).float() * kc / self.max_repeats
        end = Lc + 1 + Lc * kc  # the end marker's step
        out = (t > Lc) & (t < end)
        src = ((t - Lc - 1).clamp(min=0) % Lc).clamp(max=hi - 1)
        y = torch.zeros(batch, T, self.bits + 1)
        y[..., :self.bits] = seq.gather(1, src.unsqueeze(2).expand(batch, T, self.bits)) * out.unsqueeze(2)
        y[..., self.bits] = (t == end).float()
        return x, y, out | (t == end), L + 2 + L * k

    def output_mask(self, batch: Batch) -> Tensor:
        t = torch.arange(batch.x.shape[1]).unsqueeze(0)
        start = batch.x[..., self.bits].argmax(1, keepdim=True)  # the delimiter's step, L
        return (t > start) & (t < batch.lengths.unsqueeze(1))

    def baseline(self) -> dict[str, float]:
        """A coin (logit 0) for every output-phase bit and the end marker (and zeros before): NLL per frame
        ``(bits + 1) ln 2 (E[Lk] + 1) / (E[L] + E[Lk] + 2)`` (independent L and k); ``bit_error``
        ``bits E[Lk] / 2 + 1`` (a coin at 0.5 counts as 0: half the copied bits and the end marker are wrong)."""
        test = self.test_len is not None
        L = float(self.test_len) if test else (self.min_len + self.max_len) / 2
        tr = self.test_repeats is not None
        k = float(self.test_repeats) if tr else (self.min_repeats + self.max_repeats) / 2
        out = L * k + 1
        return {"nll": (self.bits + 1) * math.log(2) * out / (L + 1 + out),
                "bit_error": self.bits * L * k / 2 + 1}

    def baseline_output(self, x: Tensor) -> Tensor:
        after = (x[..., self.bits].cumsum(1) > 0) & (x[..., self.bits] == 0)
        return torch.where(after, 0.0, _QUIET).unsqueeze(2).expand(*x.shape[:2], self.bits + 1).contiguous()


class AssociativeRecallTask(NTMTask):
    """Associative recall (Graves et al. 2014 section 4.3): ``n`` items (n in [``min_items``, ``max_items``])
    of ``item_len`` random ``bits``-bit vectors, each item preceded by a delimiter step (channel ``bits``); then
    a query delimiter (channel ``bits + 1``), a copy of one item (never the last), a query delimiter, and
    ``item_len`` zero steps during which the targets are the item that followed the queried one.
    ``x`` ``(B, T, bits + 2)``, ``y`` ``(B, T, bits)``, lengths ``n (item_len + 1) + 2 + 2 item_len``.
    ``test_items``: the test split's n; ``seq_len`` is ``max_items`` (default 6, the paper's 2-6 items)."""

    name = "ntm_associative_recall"

    def __init__(self, seq_len: int | None = None, *, bits: int = 6, item_len: int = 3, min_items: int = 2,
                 max_items: int | None = None, test_items: int | None = None, valid_size: int = 1000,
                 test_size: int = 1000) -> None:
        super().__init__(valid_size, test_size)
        ctx = "task 'ntm_associative_recall'"
        self.bits = check_int("bits", bits, 1, ctx)
        self.item_len = check_int("item_len", item_len, 1, ctx)
        self.max_items = check_int("max_items", max_items or seq_len or 6, 2, ctx)
        self.min_items = check_int("min_items", min_items, 2, ctx)
        if self.min_items > self.max_items:
            raise ValueError(f"min_items must be <= max_items = {self.max_items} for {ctx}, got {min_items}")
        self.test_items = None if test_items is None else check_int("test_items", test_items, 2, ctx)
        self.seq_len = self.max_items
        self.input_size, self.output_size = self.bits + 2, self.bits

    def _draw(self, batch: int, generator: torch.Generator, test: bool) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        lo, hi = (self.test_items, self.test_items) if test and self.test_items else (self.min_items, self.max_items)
        n = _lengths(batch, lo, hi, generator)
        q = (torch.rand(batch, generator=generator) * (n - 1).float()).long()  # queried item in 0..n-2
        size = self.item_len + 1
        T = hi * size + 2 + 2 * self.item_len
        items = _bits((batch, hi, self.item_len, self.bits), generator)
        t = torch.arange(T).unsqueeze(0)
        nc = n.unsqueeze(1)
        slot, pos = t // size, t % size  # which item a step belongs to, and where in it (0 = delimiter)
        in_items = slot < nc
        x = torch.zeros(batch, T, self.bits + 2)
        rows = torch.arange(batch).unsqueeze(1)
        item_bits = items[rows, slot.clamp(max=hi - 1).expand(batch, T), (pos - 1).clamp(min=0).expand(batch, T)]
        x[..., :self.bits] = item_bits * (in_items & (pos > 0)).unsqueeze(2)
        x[..., self.bits] = (in_items & (pos == 0)).float()
        qstart = nc * size  # the first query delimiter
        in_query = (t > qstart) & (t <= qstart + self.item_len)
        qpos = (t - qstart - 1).clamp(0, self.item_len - 1)
        x[..., :self.bits] += items[rows, q.unsqueeze(1).expand(batch, T), qpos] * in_query.unsqueeze(2)
        x[..., self.bits + 1] = ((t == qstart) | (t == qstart + self.item_len + 1)).float()
        out = (t > qstart + self.item_len + 1) & (t <= qstart + 2 * self.item_len + 1)
        opos = (t - qstart - self.item_len - 2).clamp(0, self.item_len - 1)
        y = items[rows, (q + 1).unsqueeze(1).expand(batch, T), opos] * out.unsqueeze(2)
        return x, y, out, n * size + 2 + 2 * self.item_len

    def output_mask(self, batch: Batch) -> Tensor:
        t = torch.arange(batch.x.shape[1]).unsqueeze(0)
        last = batch.lengths.unsqueeze(1)
        return (t >= last - self.item_len) & (t < last)

    def baseline(self) -> dict[str, float]:
        """Zeros before the answer, a coin for each answer bit: NLL per frame ``bits ln 2 item_len / E[T]``,
        ``bit_error`` ``bits item_len / 2``."""
        n = float(self.test_items) if self.test_items else (self.min_items + self.max_items) / 2
        T = n * (self.item_len + 1) + 2 + 2 * self.item_len
        return {"nll": self.bits * math.log(2) * self.item_len / T, "bit_error": self.bits * self.item_len / 2}

    def baseline_output(self, x: Tensor) -> Tensor:
        qd = x[..., self.bits + 1].cumsum(1)
        after = (qd >= 2) & (x[..., self.bits + 1] == 0)
        return torch.where(after, 0.0, _QUIET).unsqueeze(2).expand(*x.shape[:2], self.bits).contiguous()


def register(register_task: Callable[..., None]) -> None:
    """Register the three tasks (called by :mod:`rnnzoo.tasks.registry` with its ``register_task``: importing the
    registry from here would be an import cycle)."""
    defaults = {"batch_size": 16, "optimizer": "adam", "lr": 1e-3}
    register_task("ntm_copy", CopyTask,
                  "copy (Graves et al. 2014 sec. 4.1): random-length sequences of random 8-bit vectors, a delimiter, "
                  "then the sequence again while given zeros",
                  "zeros during the input, a coin for each output bit: NLL per frame 8 ln2 E[L] / (2 E[L] + 1)",
                  "L in [min_len, max_len = seq_len = 10], T = 2 L + 1; test_len= sets the test split's L", defaults)
    register_task("ntm_repeat_copy", RepeatCopyTask,
                  "repeat copy (Graves et al. 2014 sec. 4.2): the sequence k times, then an end marker",
                  "zeros during the input, a coin for each output bit and the end marker",
                  "L in [min_len, max_len = seq_len = 10], k in [1, 10], T = L + 2 + L k", defaults)
    register_task("ntm_associative_recall", AssociativeRecallTask,
                  "associative recall (Graves et al. 2014 sec. 4.3): given a query item, emit the item after it",
                  "zeros before the answer, a coin for each answer bit",
                  "2..6 items (max_items = seq_len) of 3 six-bit vectors; test_items= sets the test split's n",
                  defaults)
