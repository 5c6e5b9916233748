"""The model registry: each architecture registered once, with its paper, seed equations and typed capabilities.

``register`` (a decorator on a cell class or a model factory), ``list_models(pattern)``,
``model_info(name)`` and ``create(name, ...)`` (:mod:`rnnzoo.core.factory`) in the manner of timm's
registry. Capabilities are typed fields of :class:`ModelInfo` (what the contract suite, the CLI,
truncated BPTT, the diagnostics and the benchmark read), never names or free strings.

This module imports no model: the cells import it to register themselves, and ``rnnzoo/__init__``
imports the cells (as timm's ``_registry.py`` never imports a model file).
"""

from __future__ import annotations

import difflib
import enum
import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

Factory = Callable[..., Any]


class InputKind(str, enum.Enum):
    """What a model reads at each step (and what a task must give it)."""

    VECTOR_SEQUENCE = "vector_sequence"  # (B, T, I)
    IMAGE_SEQUENCE = "image_sequence"  # (B, T, C, Y, X)
    TOKEN_ACTION = "token_action"  # (tokens (B, T, I), actions (B, T)): a stack LSTM's pairs
    TREE = "tree"
    GRAPH = "graph"
    STORY_QUESTION = "story_question"
    SET_TO_SEQUENCE = "set_to_sequence"
    WORD_CHARS = "word_chars"  # int64 (B, T, 1 + W): a word id, then its W character ids (0 = padding)
    SEQUENCE_TO_SEQUENCE = "sequence_to_sequence"  # a source sequence -> a target sequence (seq2seq)
    SENTENCE_PAIR = "sentence_pair"  # two token sequences -> one label (entailment: premise, hypothesis)
    GRID = "grid"  # (B, S_1, ..., S_N, F) channels last, with per-example sizes (B, N): multi-dimensional recurrences

    def __str__(self) -> str:
        return self.value

    # cpu: example data drawn from a seeded CPU generator (the same draw on every device)
    def example(self, batch: int, steps: int, size: int, *, spatial: tuple[int, int] = (4, 4),
                dtype: torch.dtype | None = None, generator: torch.Generator | None = None) -> Any:
        """A random batch-first input of this kind with ``size`` features (channels): what the
        contract suite, the benchmark and the acceptance tests feed a model they know only by its entry.

        Vector sequences ``(B, T, size)``; image sequences ``(B, T, size, *spatial)``. The other kinds
        are structured inputs whose models bring their own examples (later issues).
        """
        if self is InputKind.VECTOR_SEQUENCE:
            shape: tuple[int, ...] = (batch, steps, size)
        elif self is InputKind.IMAGE_SEQUENCE:
            shape = (batch, steps, size, *spatial)
        else:
            raise NotImplementedError(f"input_kind: no generic example input for {self.value} inputs")
        return torch.randn(*shape, dtype=dtype, generator=generator)


class FastPath(str, enum.Enum):
    """The whole-sequence fast path of a model's default configuration (``cell.fused_kind``)."""

    TORCH = "torch"  # a torch kernel (torch.nn.LSTM/GRU/RNN's)
    RNNZOO = "rnnzoo"  # an rnnzoo.fused Function with a hand-written backward
    AUTOGRAD = "autograd"  # a whole-sequence computation in plain autograd operations (a parallel form, a
    # convolution, all steps at once, or a loop without the runner's per-step work): autograd's backward
    COMPOSITE = "composite"  # a stack of cells run layer by layer, each through its own fast path
    NONE = "none"  # the step loop

    def __str__(self) -> str:
        return self.value


class Recurrence(str, enum.Enum):
    """What the sequential part of a step costs (which of issue 11's speed targets ``rnnzoo bench`` holds it to).

    ``elementwise``: only elementwise operations depend on the previous step (SRU, IndRNN, minGRU/minLSTM in
    scan mode); every matrix product is over all steps at once. ``matrix``: a matrix product with the previous
    state at every step (LSTM, GRU, Mogrifier, RHN, dRNN, sLSTM)."""

    ELEMENTWISE = "elementwise"
    MATRIX = "matrix"

    def __str__(self) -> str:
        return self.value


class ModelKind(str, enum.Enum):
    """``cell``: the factory builds one cell; ``create`` stacks it (layers, directions, regularisers).
    ``model``: the factory builds the whole model (pointer, memory, graph and tree networks)."""

    CELL = "cell"
    MODEL = "model"


@dataclass(frozen=True)
class Paper:
    """A citation: authors, year, title and arXiv id (empty when the paper has none)."""

    authors: str
    year: int
    title: str
    arxiv: str = ""

    def __str__(self) -> str:
        tail = f", arXiv:{self.arxiv}" if self.arxiv else ""
        return f"{self.authors} ({self.year}) {self.title}{tail}"


@dataclass(frozen=True)
class ModelInfo:
    """A registry entry.

    Attributes:
        name: registry name.
        factory: a Cell class or ``factory(input_size, hidden_size, **options) -> Cell`` (``kind``
            CELL), or ``factory(**options) -> nn.Module`` (``kind`` MODEL).
        paper: the architecture's paper. seed_equations: where the seeds write it, e.g.
            ``"001 eqs (16)-(20)"``. description: one line.
        kind: :class:`ModelKind`. input_kind: :class:`InputKind` of its input.
        causal: outputs depend only on the past (a one-direction recurrence).
        chunkable: a long sequence may be fed in chunks carrying the state (truncated BPTT, streaming).
        bidirectional_ok: ``create(..., bidirectional=True)`` makes sense for it.
        lengths: variable lengths and masks are supported. unbatched: ``(T, *F)`` input is accepted.
        gated: it has gates (the gate-saturation diagnostics apply).
        fast_path: :class:`FastPath` of the default configuration (tests hold it equal to ``cell.fused_kind``).
        family: ``"lstm"``, ``"gru"``, ``"elman"`` or None: which speed targets of the benchmark apply.
        recurrence: :class:`Recurrence` (elementwise or matrix) for the cells held to issue 11's speed
            targets; None for the others.
        torch_module: ``"LSTM"``, ``"GRU"`` or ``"RNN"`` when ``from_torch`` of that torch.nn module
            builds this entry.
        peers: other libraries' classes computing the same cell (``"torchrecurrent.SCRN"``): the
            benchmark's peer rows and the cross-checks find their rnnzoo counterpart here.
        defaults: the options ``create`` passes unless told otherwise.
        test_options: for whole models (``kind`` MODEL) with a structured input: the options of a small
            instance, what the model contract suite (``tests/core/test_model_contract.py``) and the benchmark
            build with ``create(name, **test_options)`` and feed ``model.example_input(B, generator=...)``.
    """

    name: str
    factory: Factory
    paper: Paper
    seed_equations: str
    description: str
    kind: ModelKind = ModelKind.CELL
    input_kind: InputKind = InputKind.VECTOR_SEQUENCE
    causal: bool = True
    chunkable: bool = True
    bidirectional_ok: bool = True
    lengths: bool = True
    unbatched: bool = True
    gated: bool = False
    fast_path: FastPath = FastPath.NONE
    family: str | None = None
    recurrence: Recurrence | None = None
    torch_module: str | None = None
    peers: tuple[str, ...] = ()
    defaults: dict[str, Any] = field(default_factory=dict)
    test_options: dict[str, Any] = field(default_factory=dict)

    def options(self) -> list[str] | None:
        """The keyword options the factory accepts (None if it takes arbitrary ``**options``)."""
        target = self.factory.__init__ if inspect.isclass(self.factory) else self.factory
        params = list(inspect.signature(target).parameters.values())
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return [p.name for p in params if p.kind is p.KEYWORD_ONLY]

    def check_options(self, options: dict[str, Any]) -> None:
        """Raise naming an unknown option and the closest known one."""
        allowed = self.options()
        if allowed is None:
            return
        for key in options:
            if key not in allowed:
                close = difflib.get_close_matches(key, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise TypeError(f"options: {self.name!r} has no option {key!r}{hint}; "
                                f"its options are {', '.join(allowed)}")

    def build(self, input_size: int, hidden_size: int, **options: Any) -> Any:
        """One cell (kind CELL), with this entry's defaults under ``options``; unknown options raise naming them."""
        if self.kind is not ModelKind.CELL:
            raise TypeError(f"model: {self.name!r} is a whole model, not a cell; build it with rnnzoo.create")
        self.check_options(options)
        return self.factory(input_size, hidden_size, **{**self.defaults, **options})


class UnknownModelError(KeyError):
    """An unknown registry name; the message lists the closest names."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


_REGISTRY: dict[str, ModelInfo] = {}


def register(name: str, *, paper: Paper, seed_equations: str, description: str, **fields: Any
             ) -> Callable[[Factory], Factory]:
    """Decorator registering a cell class (or a factory) under ``name``.

    ``fields`` are :class:`ModelInfo`'s typed fields (``input_kind=InputKind.IMAGE_SEQUENCE``,
    ``fast_path=FastPath.TORCH``, ``gated=True``, ``defaults={...}``, ...). ``defaults`` are the options
    this entry passes to the factory unless the user overrides them, so variants of one class
    (``lstm1997`` is ``LSTMCell`` with ``forget_gate=False``) are data.
    """
    known = {f for f in ModelInfo.__dataclass_fields__} - {"name", "factory", "paper", "seed_equations",
                                                            "description"}
    unknown = sorted(set(fields) - known)
    if unknown:
        raise TypeError(f"register: unknown field(s) {unknown}; the fields are {sorted(known)}")

    def deco(factory: Factory) -> Factory:
        if name in _REGISTRY:
            raise ValueError(f"name: {name!r} is already registered")
        _REGISTRY[name] = ModelInfo(name, factory, paper, seed_equations, description,
                                    **{**fields, "defaults": dict(fields.get("defaults") or {}),
                                       "test_options": dict(fields.get("test_options") or {})})
        return factory

    return deco


def unregister(name: str) -> ModelInfo:
    """Remove an entry (for tests that register a model of their own); returns it."""
    try:
        return _REGISTRY.pop(name)
    except KeyError:
        raise UnknownModelError(f"model: {name!r} is not registered") from None


def list_models(pattern: str | None = None, **where: Any) -> list[str]:
    """Registered names, sorted; ``pattern`` is a shell wildcard (``"*lstm*"``); ``where`` filters on
    fields (``list_models(input_kind=InputKind.VECTOR_SEQUENCE, chunkable=True)``)."""
    names = sorted(_REGISTRY)
    out = [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]
    for key, value in where.items():
        if key not in ModelInfo.__dataclass_fields__:
            raise TypeError(f"where: ModelInfo has no field {key!r}")
        out = [n for n in out if getattr(_REGISTRY[n], key) == value]
    return out


def model_info(name: str) -> ModelInfo:
    """The registry entry of ``name``; an unknown name raises with the closest names suggested."""
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownModelError(
            f"model: unknown name {name!r}{hint} (available: {', '.join(sorted(_REGISTRY))})"
        ) from None
