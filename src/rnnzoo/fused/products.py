r"""The per-step recurrent product ``h @ W.T`` of a fused loop, in the faster of two forms that compute the same sum.

Why: with small batches the product ``(B, K) @ (K, G)`` is a thin matrix against a large weight. Asked for as
``torch.addmm(u, h, W.t())`` (the "row" form, what ``nn.Linear`` and every step loop write) it is slower at two
threads than asked for as ``W @ h.T`` (the "column" form, a ``(G, B)`` result read back transposed). The timings fit
MKL's threaded GEMM splitting the B rows between the threads in the row form (each thread streaming the whole
weight) and the G weight rows in the column form (each reading half); that is a reading of the timings, not of MKL's
code. Measured on this project's 2-core AMD EPYC (MKL, torch 2.13,
float32, ``benchmarks/step_product.py``, medians of interleaved pairs, the column form including the transposed add
that puts the result in ``(B, G)`` layout), row time over column time: at 2 threads, for weights of at least 2 MiB
(H = 512 with G >= 2H, H = 1024) 1.14-1.98x at B <= 64 and 1.00-1.26x at B = 128; under 2 MiB 0.68-1.15x (below 1
from B = 32 up); at one thread 0.80-1.02x for H <= 512 and 0.95-1.21x at H = 1024. So the column form is taken on the
CPU with more than one intra-op thread, a weight of at least :data:`COLUMN_MIN_BYTES` and a batch of at most
:data:`COLUMN_MAX_BATCH`; everywhere else (CUDA included) the row form. float64 weights follow the same byte rule
(extrapolated: only float32 was measured).

Both forms are the same products summed in a different order (equal to float rounding); tests/fused/
test_step_product.py holds them equal, and :func:`forced_form` lets the fused Functions' tests run either form at any
size.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
from torch import Tensor

from rnnzoo.fused.workspace import buffer

COLUMN_MIN_BYTES = 2 << 20
"""The smallest weight (bytes) for which the column form is chosen (see the module docstring)."""
COLUMN_MAX_BATCH = 128
"""The largest batch for which the column form is chosen (measured up to 128: 1.0-1.26x there)."""
FORMS = ("row", "column")

_forced: str | None = None


@contextlib.contextmanager
def forced_form(form: str | None) -> Iterator[None]:
    """Within the block every :class:`StepProduct` built takes ``form`` ("row" or "column"; None: the rule)."""
    global _forced
    if form is not None and form not in FORMS:
        raise ValueError(f"form: expected one of {FORMS} or None, got {form!r}")
    previous, _forced = _forced, form
    try:
        yield
    finally:
        _forced = previous


def column_form(weight: Tensor, batch: int) -> bool:
    """Whether the rule of the module docstring takes the column form for ``weight (G, K)`` and ``batch`` rows."""
    if _forced is not None:
        return _forced == "column"
    return (weight.device.type == "cpu" and weight.dtype in (torch.float32, torch.float64)
            and torch.get_num_threads() > 1 and batch <= COLUMN_MAX_BATCH
            and weight.numel() * weight.element_size() >= COLUMN_MIN_BYTES)


class StepProduct:
    """``h (B, K) -> h @ weight.T (B, G)`` once per step of a loop, ``weight (G, K)``, ``B = batch``.

    :meth:`mm` returns the product (in the column form a transposed view of a scratch buffer, valid until the next
    call: feed it straight to the next elementwise operation, which folds the transposition into its read);
    :meth:`mm_into` writes ``h @ weight.T`` into ``out``, :meth:`addmm_into` ``bias + h @ weight.T``. Not
    differentiable: for the forward loops of the hand-written Functions.
    """

    def __init__(self, weight: Tensor, batch: int) -> None:
        self.weight, self.batch = weight, batch
        self.weight_t = weight.t()
        self.column = column_form(weight, batch)
        self.scratch = buffer(weight, (weight.shape[0], batch)) if self.column else None

    def mm(self, h: Tensor, out: Tensor) -> Tensor:
        """``h @ weight.T``: ``out`` (B, G) in the row form, else a (B, G) transposed view of the scratch."""
        if self.scratch is None:
            return torch.mm(h, self.weight_t, out=out)
        return torch.mm(self.weight, h.t(), out=self.scratch).t()

    def mm_into(self, h: Tensor, out: Tensor) -> Tensor:
        """``out = h @ weight.T`` (for a product that must land in ``out``: one kept for the backward); returns
        ``out``."""
        if self.scratch is None:
            return torch.mm(h, self.weight_t, out=out)
        return out.copy_(torch.mm(self.weight, h.t(), out=self.scratch).t())

    def addmm_into(self, bias: Tensor, h: Tensor, out: Tensor, *, beta: float = 1.0, alpha: float = 1.0) -> Tensor:
        """``out = beta * bias + alpha * h @ weight.T`` (``bias`` (B, G) or broadcastable to it, may be ``out``), as
        ``torch.addmm`` (``beta = 0`` ignores ``bias``, NaN included); returns ``out``."""
        if self.scratch is None:
            return torch.addmm(bias, h, self.weight_t, beta=beta, alpha=alpha, out=out)
        product = torch.mm(self.weight, h.t(), out=self.scratch).t()
        if beta == 0.0:
            return torch.mul(product, alpha, out=out)
        if beta == 1.0:
            return torch.add(bias, product, alpha=alpha, out=out)
        return torch.mul(bias.expand_as(out), beta, out=out).add_(product, alpha=alpha)
