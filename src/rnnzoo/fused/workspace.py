"""Buffers the hand-written Functions reuse from call to call on the CPU.

Why: a Function allocates its per-call buffers (gate tables saved for the backward, the states, the backward's
cotangents) once per call; at the middle and large benchmark sizes each is several to hundreds of MB. glibc hands
blocks above its mmap threshold (at most 32 MB) straight from ``mmap`` and returns them on ``free``, so every call
pays the kernel's first-touch page faults again: about 0.5 ms per MB on this project's CPUs (a fresh 39 MB tensor
filled in 32 ms, a reused one in 10 ms), e.g. 100 MB of faults in every train step of NAS at (64, 100, 256, 256),
11% of it (docs/performance.md, "Workspace"). torch's CPU allocator has no cache (its CUDA allocator has), so the
Functions keep their own, here.

How it stays safe: :func:`buffer` hands out a new tensor on the storage of a pooled 1-D base (``set_``, not a view, so
that an in-place operation on a returned output behaves as on a fresh tensor). A base is handed out again only when
nothing but the base references its storage: the storage's use count (``torch._C._storage_Use_Count``) equals that of a
lone tensor, no Python object of the storage is held elsewhere (``sys.getrefcount``: a saved-tensor hook or a caller
keeping ``untyped_storage()``), and the storage is not in shared memory (a tensor sent through
``torch.multiprocessing``; such a base is dropped from the pool). A tensor saved for the backward, returned to the
caller as an output or a gradient, kept by ``retain_graph=True``, ``.numpy()``, ``.detach()`` or DLPack holds the count
up and the base stays taken. Bases are keyed by dtype, size class and inference mode; sizes are rounded up to 8 classes
per octave (at most 12.5% more memory, and sequences of nearby lengths share buffers) and a buffer is a prefix of its
base. Only plain CPU tensors of at least ``min_bytes`` (1 MiB) are pooled: smaller ones come from glibc's reused heap
anyway, torch's CUDA caching allocator already reuses device memory, and fake or meta tensors pass through.
``max_bytes`` (default 1 GiB) caps what the pool retains; the least recently used size classes are forgotten first (a
forgotten base in use stays valid: its holders own it). If the use count is unavailable (another torch), nothing is
pooled.

``configure(poison=True)`` fills every buffer handed out with NaN, so a Function reading a buffer it has not written
shows up as NaN in the tests (the test suite runs with it, ``min_bytes=0``: tests/conftest.py).

Example::

    import rnnzoo.fused.workspace as ws
    ws.configure(max_bytes=512 << 20)   # retain at most 512 MiB between calls
    ws.stats()                          # {'bytes': ..., 'buffers': ..., 'hits': ..., 'misses': ...}
    ws.clear()                          # drop every retained buffer (memory is returned as holders release it)
"""

from __future__ import annotations

import math
import sys
import threading
from collections import OrderedDict
from collections.abc import Sequence

import torch
from torch import Tensor

_use_count = getattr(torch._C, "_storage_Use_Count", None)


def _holders(t: Tensor) -> tuple[int, int]:
    """``t``'s storage's use count (tensors and storage objects on it) and its Python storage object's refcount."""
    storage = t.untyped_storage()
    return _use_count(storage._cdata), sys.getrefcount(storage)  # type: ignore[misc]


_LONE = _holders(torch.empty(1)) if _use_count is not None else None  # cpu: a probe of the counts, any device
"""A lone tensor's two counts, as :func:`_holders` reads them."""


def _size_class(numel: int) -> int:
    """``numel`` rounded up to one of 8 sizes per octave (at most 12.5% more), exact up to 1024."""
    if numel <= 1024:
        return numel
    step = 1 << (numel.bit_length() - 4)
    return -(-numel // step) * step


class _Pool:
    def __init__(self) -> None:
        self.enabled = _LONE is not None
        self.min_bytes = 1 << 20
        self.max_bytes = 1 << 30
        self.poison = False
        self.bases: OrderedDict[tuple, list[Tensor]] = OrderedDict()
        self.bytes = 0
        self.hits = self.misses = 0
        self.lock = threading.Lock()

    def take(self, like: Tensor, shape: tuple[int, ...]) -> Tensor:
        size = _size_class(math.prod(shape))
        key = (like.dtype, size, torch.is_inference_mode_enabled())
        with self.lock:
            bases = self.bases.get(key)
            if bases is not None:
                self.bases.move_to_end(key)
                for base in list(bases):
                    if base.untyped_storage().is_shared():  # another process may read it: never again
                        bases.remove(base)
                        self.bytes -= base.nbytes
                    elif _holders(base) == _LONE:
                        self.hits += 1
                        return _on(base, shape)
            base = torch.empty(size, dtype=like.dtype, device=like.device)
            self.bases.setdefault(key, []).append(base)
            self.bytes += base.nbytes
            self.misses += 1
            out = _on(base, shape)
            self._evict(key)
            return out

    def _evict(self, keep: tuple) -> None:
        """Forget the least recently used sizes (then older bases of ``keep``) until ``bytes <= max_bytes``."""
        for key in [k for k in self.bases if k != keep]:
            if self.bytes <= self.max_bytes:
                return
            self.bytes -= sum(b.nbytes for b in self.bases.pop(key))
        bases = self.bases.get(keep, [])
        while bases and self.bytes > self.max_bytes:
            self.bytes -= bases.pop(0).nbytes
        if not bases:
            self.bases.pop(keep, None)


_POOL = _Pool()


def _on(base: Tensor, shape: tuple[int, ...]) -> Tensor:
    """A contiguous tensor of ``shape`` on the first elements of ``base``'s storage (not a view of ``base``)."""
    return torch.empty(0, dtype=base.dtype, device=base.device).set_(base.untyped_storage(), 0, shape)


def buffer(like: Tensor, shape: int | Sequence[int]) -> Tensor:
    """An uninitialised tensor of ``shape`` with ``like``'s dtype and device, as ``like.new_empty(shape)``, from the
    pool when it is a CPU buffer of at least ``min_bytes`` (see the module docstring). Contiguous."""
    shape = (shape,) if isinstance(shape, int) else tuple(shape)
    pool = _POOL
    if (not pool.enabled or type(like) is not torch.Tensor or like.device.type != "cpu"
            or math.prod(shape) * like.element_size() < pool.min_bytes):
        out = like.new_empty(shape)
    else:
        out = pool.take(like, shape)
    if pool.poison and out.is_floating_point():
        out.fill_(float("nan"))
    return out


def configure(*, enabled: bool | None = None, min_bytes: int | None = None, max_bytes: int | None = None,
              poison: bool | None = None) -> dict[str, object]:
    """Set the pool's options (None leaves one as it is); returns the previous ones (pass them back to restore).
    ``enabled=False`` also drops what the pool retains."""
    pool = _POOL
    previous: dict[str, object] = {"enabled": pool.enabled, "min_bytes": pool.min_bytes,
                                   "max_bytes": pool.max_bytes, "poison": pool.poison}
    for name, value, kind in (("min_bytes", min_bytes, int), ("max_bytes", max_bytes, int)):
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool) or value < 0):
            raise ValueError(f"{name}: expected an int >= 0, got {value!r}")
    if enabled is not None:
        if enabled and _LONE is None:
            raise RuntimeError("enabled: this torch has no torch._C._storage_Use_Count, so the pool cannot tell "
                               "a free buffer from a used one; it stays off")
        pool.enabled = bool(enabled)
        if not enabled:
            clear()
    if min_bytes is not None:
        pool.min_bytes = min_bytes
    if max_bytes is not None:
        pool.max_bytes = max_bytes
        with pool.lock:
            if pool.bytes > max_bytes:
                pool._evict(keep=())
    if poison is not None:
        pool.poison = bool(poison)
    return previous


def clear() -> None:
    """Forget every retained buffer (a buffer in use stays valid for its holders)."""
    with _POOL.lock:
        _POOL.bases.clear()
        _POOL.bytes = 0


def stats() -> dict[str, int]:
    """``bytes`` and ``buffers`` retained; ``hits`` (a buffer handed out again) and ``misses`` (a new one)."""
    with _POOL.lock:
        return {"bytes": _POOL.bytes, "buffers": sum(len(b) for b in _POOL.bases.values()),
                "hits": _POOL.hits, "misses": _POOL.misses}
