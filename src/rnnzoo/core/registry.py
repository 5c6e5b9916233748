"""The model registry: each architecture registered once, with its paper, seed equations and capabilities.

``register`` (a decorator on a cell factory), ``list_models(pattern)``, ``model_info(name)`` and
``create(name, input_size=..., hidden_size=..., ...)`` in the manner of timm's registry. The
capabilities are data on the entry (what the contract suite and the CLI read), not a wildcard list.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from rnnzoo.core.cell import Cell

CellFactory = Callable[..., Cell]


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
        factory: ``factory(input_size, hidden_size, **options) -> Cell`` (a Cell class or a function).
        paper: the architecture's paper.
        seed_equations: where the seeds write it, e.g. ``"001 eqs (16)-(20)"``.
        description: one line.
        capabilities: e.g. ``{"unbatched", "bidirectional", "lengths", "spatial"}``; ``"fused_torch"``:
            the default configuration runs torch's kernel; ``"fused_rnnzoo"``: it runs an
            :mod:`rnnzoo.fused` recurrence (other options of every cell may pick either, see
            ``cell.fused_kind``).
        defaults: the options ``create`` passes unless told otherwise.
        status: ``"implemented"`` for everything in the registry (planned models are not registered).
    """

    name: str
    factory: CellFactory
    paper: Paper
    seed_equations: str
    description: str
    capabilities: frozenset[str] = field(default_factory=frozenset)
    defaults: dict[str, Any] = field(default_factory=dict)
    status: str = "implemented"

    def options(self) -> list[str] | None:
        """The keyword options the factory accepts (None if it takes arbitrary ``**options``)."""
        target = self.factory.__init__ if inspect.isclass(self.factory) else self.factory
        params = list(inspect.signature(target).parameters.values())
        if any(p.kind is p.VAR_KEYWORD for p in params):
            return None
        return [p.name for p in params if p.kind is p.KEYWORD_ONLY]

    def build(self, input_size: int, hidden_size: int, **options: Any) -> Cell:
        """One cell, with this entry's defaults under ``options``; unknown options raise naming them."""
        allowed = self.options()
        if allowed is not None:
            for key in options:
                if key not in allowed:
                    close = difflib.get_close_matches(key, allowed, n=1)
                    hint = f" (did you mean {close[0]!r}?)" if close else ""
                    raise TypeError(f"options: {self.name!r} has no option {key!r}{hint}; "
                                    f"its options are {', '.join(allowed)}")
        return self.factory(input_size, hidden_size, **{**self.defaults, **options})


class UnknownModelError(KeyError):
    """An unknown registry name; the message lists the closest names."""

    def __str__(self) -> str:  # KeyError quotes its message; show it plainly
        return str(self.args[0])


_REGISTRY: dict[str, ModelInfo] = {}


def register(
    name: str,
    *,
    paper: Paper,
    seed_equations: str,
    description: str,
    capabilities: tuple[str, ...] | frozenset[str] = (),
    defaults: dict[str, Any] | None = None,
) -> Callable[[CellFactory], CellFactory]:
    """Decorator registering a cell class (or factory function) under ``name``.

    ``defaults`` are the options this entry passes to it unless the user overrides them, so
    variants of one class (``lstm1997`` is ``LSTMCell`` with ``forget_gate=False``) are data.
    """

    def deco(factory: CellFactory) -> CellFactory:
        if name in _REGISTRY:
            raise ValueError(f"name: {name!r} is already registered")
        _REGISTRY[name] = ModelInfo(name, factory, paper, seed_equations, description,
                                    frozenset(capabilities), dict(defaults or {}))
        return factory

    return deco


def _ensure_loaded() -> None:
    import rnnzoo.cells  # noqa: F401  (registers the built-in cells)


def list_models(pattern: str | None = None) -> list[str]:
    """Registered names, sorted; ``pattern`` is a shell wildcard (``"*lstm*"``)."""
    _ensure_loaded()
    names = sorted(_REGISTRY)
    return [n for n in names if pattern is None or fnmatch.fnmatch(n, pattern)]


def model_info(name: str) -> ModelInfo:
    """The registry entry of ``name``; an unknown name raises with the closest names suggested."""
    _ensure_loaded()
    try:
        return _REGISTRY[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_REGISTRY), n=3, cutoff=0.5)
        hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        raise UnknownModelError(
            f"model: unknown name {name!r}{hint} (available: {', '.join(sorted(_REGISTRY))})"
        ) from None
