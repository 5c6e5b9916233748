"""What ``rnnzoo bench`` benches: the sizes, the rows (registry models with or without options, the
``torch.nn.LSTM`` baseline, peer libraries, compiled variants), the train step, and the parsing of
``--models`` and ``--sizes`` that selects them.

A registry row is built from its entry's typed fields only: the input is ``info.input_kind.example(...)``,
the targets follow ``info.family`` and ``info.fast_path`` (for a row with options, the fast path its built
cells report). A model registered by a user is benched like a built-in one.
"""

from __future__ import annotations

import contextlib
import fnmatch
import functools
import importlib
import importlib.metadata
import os
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
import yaml
from torch import Tensor, nn

import rnnzoo
from rnnzoo import FastPath, InputKind, Recurrence

BASELINE = "torch.nn.LSTM"
COMPILED = " [compiled]"  # suffix of a compiled variant's row


class BenchArgumentError(ValueError):
    """A bad command-line value; the message starts with the flag it concerns."""


# --------------------------------------------------------------------------------------------------- sizes


@dataclass(frozen=True)
class Size:
    """One benchmark cell: batch B, sequence length T, input features I, hidden units H."""

    B: int
    T: int
    I: int
    H: int

    def __str__(self) -> str:
        return f"({self.B},{self.T},{self.I},{self.H})"


PRESETS: dict[str, Size] = {"1": Size(32, 100, 64, 128), "2": Size(64, 100, 256, 256), "3": Size(64, 100, 512, 512)}
QUICK_SIZES = (Size(4, 8, 16, 16), Size(4, 8, 32, 32))


def parse_sizes(text: str) -> list[Size]:
    """``"1,2"`` (presets), ``"all"``, or explicit ``"32x100x64x128"`` (BxTxIxH) items, comma-separated."""
    sizes: list[Size] = []
    for item in (s.strip() for s in text.split(",")):
        if item == "all":
            sizes.extend(PRESETS.values())
            continue
        if item in PRESETS:
            sizes.append(PRESETS[item])
            continue
        parts = item.lower().split("x")
        if len(parts) == 4 and all(p.isdigit() and int(p) > 0 for p in parts):
            sizes.append(Size(*(int(p) for p in parts)))
            continue
        raise BenchArgumentError(f"--sizes: expected presets {', '.join(PRESETS)}, 'all' or BxTxIxH "
                                 f"(e.g. 32x100x64x128), comma-separated; got {item!r}")
    return sizes


# --------------------------------------------------------------------------------------------------- cases


@dataclass
class Case:
    """One row to bench: how to build the module and its input, and what to report about it.

    ``build(size)`` returns a fresh module; ``make_input(size)`` its input; the module's ``forward(x)`` returns
    ``(output, state)`` (``forward(x, state)`` continues from a state, for ``--scaling``); ``time_dim`` is the
    input's time axis (1 batch-first, 0 time-major). ``model`` and ``options`` are the registry name and the
    options of an rnnzoo row (``create(model, **options)``); ``fused``: it runs torch's own kernel;
    ``recurrence``: the registry entry's :class:`~rnnzoo.Recurrence` (which of issue 11's targets apply).
    """

    name: str
    source: str
    build: Callable[[Size], nn.Module]
    make_input: Callable[[Size], Any]
    time_dim: int = 1
    family: str | None = None
    fused: bool = False
    spatial: bool = False
    counterpart: str | None = None
    note: str = ""
    model: str | None = None
    options: dict[str, Any] = field(default_factory=dict)
    recurrence: Recurrence | None = None


def train_step(module: nn.Module, x: Any) -> None:
    """The timed part of a train step: forward, ``output.sum().backward()``."""
    result = module(x)
    (result[0] if isinstance(result, tuple) else result).sum().backward()


def baseline_case() -> Case:
    """``torch.nn.LSTM(I, H, batch_first=True)``: the denominator of every ratio."""
    return Case(BASELINE, "torch", lambda s: nn.LSTM(s.I, s.H, batch_first=True),
                lambda s: torch.randn(s.B, s.T, s.I))  # cpu: bench_size moves every input to --device


def torch_fused(module: nn.Module) -> bool:
    """Whether every cell of a built model reports torch's kernel as its fast path (``cell.fused_kind``)."""
    kinds = {m.fused_kind for m in module.modules() if isinstance(m, rnnzoo.Cell)}
    return kinds == {FastPath.TORCH.value}


def rnnzoo_case(name: str, spatial_size: int = 4, options: dict[str, Any] | None = None,
                row: str | None = None) -> Case:
    """The registry model ``name`` built by ``rnnzoo.create(name, input_size, hidden_size, **options)``,
    fed ``info.input_kind.example(B, T, features)``; the row is called ``row`` (default ``name``).

    Image-sequence models read ``C = I / spatial_size**2`` channels and keep ``H / spatial_size**2`` on a
    ``spatial_size``-square image (the same numbers per step as nn.LSTM(I, H)). A model whose input kind
    has no generic example raises NotImplementedError; bad options raise when the case is made.
    """
    info = rnnzoo.model_info(name)
    options = dict(options or {})
    spatial = info.input_kind is InputKind.IMAGE_SEQUENCE
    side = (spatial_size, spatial_size)
    info.input_kind.example(1, 1, 1, spatial=side)  # NotImplementedError: nothing generic to feed it

    def dims(s: Size) -> tuple[int, int]:
        if not spatial:
            return s.I, s.H
        pixels = spatial_size * spatial_size
        return max(1, s.I // pixels), max(1, s.H // pixels)

    def build(s: Size) -> nn.Module:
        i, h = dims(s)
        return rnnzoo.create(name, input_size=i, hidden_size=h, **options)

    def make_input(s: Size) -> Any:
        return info.input_kind.example(s.B, s.T, dims(s)[0], spatial=side)

    fused = torch_fused(build(Size(1, 1, 16, 16))) if options else info.fast_path is FastPath.TORCH
    note = (f"spatial: C=I/{spatial_size ** 2}, H/{spatial_size ** 2} channels, {spatial_size}x{spatial_size} image"
            if spatial else "")
    return Case(row or name, "rnnzoo", build, make_input, family=info.family, fused=fused, spatial=spatial,
                note=note, model=name, options=options, recurrence=info.recurrence)


# --------------------------------------------------------------------------------------------------- peers


@dataclass(frozen=True)
class Peer:
    """A row from another library: ``module.attr`` built by ``build(cls, size)``, fed ``(B, T, I)`` (or
    ``(T, B, I)`` if ``time_major``); ``expected``: a warning it gives that the bench ignores. Which rnnzoo
    model computes the same cell is the registry's knowledge (``ModelInfo.peers`` names this row)."""

    row: str
    module: str
    attr: str
    time_major: bool
    build: Callable[[Any, Size], nn.Module]
    expected: str = ""


_SRU = Peer("sru.SRU", "sru", "SRU", True, lambda cls, s: cls(s.I, s.H, num_layers=1),
            expected="Running SRU on CPU")  # training on CPU is the point


def _torchrecurrent(cls: Any, s: Size) -> nn.Module:
    return cls(s.I, s.H, batch_first=True)


def peers() -> tuple[Peer, ...]:
    """The peer rows: every ``torchrecurrent.<Layer>`` a registry entry names in its ``peers`` (its layer classes
    all take ``(input_size, hidden_size, batch_first=True)``), and the sru package's SRU. A new cell with a
    torchrecurrent counterpart is benched beside it by naming it in its registry entry, nothing here."""
    names = dict.fromkeys(p for name in rnnzoo.list_models() for p in rnnzoo.model_info(name).peers
                          if p.startswith("torchrecurrent."))
    return (*(Peer(row, "torchrecurrent", row.split(".", 1)[1], False, _torchrecurrent) for row in names), _SRU)


@contextlib.contextmanager
def quiet_fd(fd: int) -> Iterator[None]:
    """Silence a file descriptor (C++ log lines, e.g. the profiler's, go straight to fd 2)."""
    try:
        saved = os.dup(fd)
    except OSError:  # no such descriptor: nothing to silence
        yield
        return
    try:
        with open(os.devnull, "wb") as null:
            sys.stderr.flush()
            os.dup2(null.fileno(), fd)
            try:
                yield
            finally:
                os.dup2(saved, fd)
    finally:
        os.close(saved)


def _import_quietly(module: str) -> Any:
    with warnings.catch_warnings(), quiet_fd(2):
        warnings.simplefilter("ignore")
        return importlib.import_module(module)


def peer_cases(names: Iterable[str]) -> tuple[list[Case], list[str]]:
    """The selected peer rows that can be imported, and a note per peer package that cannot."""
    wanted = set(names)
    cases: list[Case] = []
    notes: list[str] = []
    failed: set[str] = set()
    for peer in peers():
        if peer.row not in wanted or peer.module in failed:
            continue
        try:
            mod = _import_quietly(peer.module)
        except Exception as exc:  # any import-time failure (missing, broken extension) skips the peer
            failed.add(peer.module)
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            notes.append(f"peer {peer.module}: not importable ({reason}); its rows are skipped")
            continue
        try:
            version = importlib.metadata.version(peer.module)
        except importlib.metadata.PackageNotFoundError:
            version = getattr(mod, "__version__", "?")
        if peer.expected:
            warnings.filterwarnings("ignore", message=peer.expected)

        def make(s: Size, tm: bool = peer.time_major) -> Tensor:
            return torch.randn(s.T, s.B, s.I) if tm else torch.randn(s.B, s.T, s.I)  # cpu: moved by bench_size

        counterpart = next((n for n in rnnzoo.list_models() if peer.row in rnnzoo.model_info(n).peers), None)
        note = f"{peer.module} {version}" + (f", counterpart of {counterpart}" if counterpart else "")
        build = functools.partial(peer.build, getattr(mod, peer.attr))
        cases.append(Case(peer.row, peer.module, build, make, time_dim=0 if peer.time_major else 1,
                          counterpart=counterpart, note=note))
    return cases, notes


# --------------------------------------------------------------------------------------------------- compiled


def compile_variant(module: nn.Module, x: Any) -> tuple[nn.Module, float]:
    """``torch.compile(module)`` and the seconds its first train step takes (compiling forward and backward)."""
    compiled = torch.compile(module)
    t0 = time.perf_counter()
    train_step(compiled, x)
    return compiled, time.perf_counter() - t0


# --------------------------------------------------------------------------------------------------- --models


@dataclass(frozen=True)
class Selection:
    """One row chosen by ``--models``: its name, the registry or peer name, and the options given."""

    row: str
    name: str
    options: dict[str, Any] = field(default_factory=dict)


_OPEN, _CLOSE = "[{(", "]})"


def split_top_level(text: str, sep: str = ",") -> list[str]:
    """Split at ``sep`` outside brackets, braces, parentheses and quotes.

    >>> split_top_level("lstm,gru[reset=before, bias=true],lstm[d={a: 1, b: 2}]")
    ['lstm', 'gru[reset=before, bias=true]', 'lstm[d={a: 1, b: 2}]']
    """
    parts, depth, quote, current = [], 0, "", []
    for ch in text:
        if quote:
            quote = "" if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in _OPEN:
            depth += 1
        elif ch in _CLOSE:
            depth -= 1
        elif ch == sep and depth == 0:
            parts.append("".join(current))
            current = []
            continue
        current.append(ch)
    parts.append("".join(current))
    return parts


def parse_options(text: str, *, flag: str = "--models", item: str = "") -> dict[str, Any]:
    """``"reset=before, p={input: 0.2}"`` -> ``{"reset": "before", "p": {"input": 0.2}}`` (values are YAML;
    an empty value is None)."""
    options: dict[str, Any] = {}
    for part in split_top_level(text):
        key, sep, value = part.partition("=")
        key = key.strip()
        if not sep or not key.isidentifier():
            raise BenchArgumentError(f"{flag}: {item!r}: expected name[key=value,...], got {part.strip()!r}")
        try:
            options[key] = yaml.safe_load(value) if value.strip() else None
        except yaml.YAMLError:
            raise BenchArgumentError(f"{flag}: {item!r}: the value of {key!r} is not YAML: {value.strip()!r}"
                                     ) from None
    return options


_WITH_OPTIONS = re.compile(r"^(?P<name>[^\[\]]+)\[(?P<options>.*)\]$", re.DOTALL)


def parse_models(text: str, candidates: Sequence[str], registry: Sequence[str], *,
                 flag: str = "--models") -> list[Selection]:
    """The rows ``--models`` selects, in order, without duplicates.

    Comma-separated items: a shell wildcard over ``candidates`` (``"*lstm*"``, ``"torchrecurrent.*"``), or
    ``name[key=value,...]``: the registry model ``name`` built with those options (values parsed as YAML),
    its row named as given. A wildcard matching nothing, or an unknown name, raises.
    """
    chosen: dict[str, Selection] = {}
    for raw in split_top_level(text):
        item = raw.strip()
        match = _WITH_OPTIONS.match(item)
        if match and match["name"].strip() in registry:
            name = match["name"].strip()
            chosen.setdefault(item, Selection(item, name, parse_options(match["options"], flag=flag, item=item)))
            continue
        hits = [c for c in candidates if fnmatch.fnmatchcase(c, item)]
        if not item or not hits:
            raise BenchArgumentError(f"{flag}: pattern {item!r} matches no model "
                                     f"(available: {', '.join(candidates)}; or name[key=value,...])")
        for hit in hits:
            chosen.setdefault(hit, Selection(hit, hit))
    return list(chosen.values())
