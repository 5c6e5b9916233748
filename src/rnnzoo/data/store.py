"""The cache and the downloads every dataset shares.

Cache directory: the ``root=`` argument, else ``$RNNZOO_CACHE``, else ``~/.cache/rnnzoo``; one folder per dataset.
A download goes to ``NAME.part`` with a tqdm progress bar, is checked (the file's sha256, or the sha256 of the
archive members a loader reads) and only then renamed atomically to its final name. A file that fails its check
is deleted, never used. :func:`fetch_file` tries a dataset's sources in order (canonical first, then the registry
package) and returns a report of what it did: which source worked, which failed and why, where the file is.
"""

from __future__ import annotations

import hashlib
import io
import os
import tarfile
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from rnnzoo.data.registry import DatasetInfo, Source

__all__ = ["ChecksumError", "FetchError", "FetchReport", "cache_dir", "check_file", "download", "fetch_file",
           "read_member", "sha256_bytes", "sha256_file"]

_CHUNK = 1 << 16


class ChecksumError(ValueError):
    """A file whose checksum is not the pinned one (it has been deleted)."""


class FetchError(RuntimeError):
    """No source of a dataset could be had; the message lists each source and why it failed."""


@dataclass
class FetchReport:
    """What :func:`fetch_file` did: ``path`` (the verified file), ``source`` (the one that worked, None when the
    cache already held it), ``failures`` ((url, reason) of each source tried before); ``package``: for a dataset
    with no download source, the installed package it was read (and prepared in ``path``) from."""

    path: Path
    source: Source | None
    failures: list[tuple[str, str]] = field(default_factory=list)
    cached: bool = False
    package: str | None = None

    def lines(self) -> list[str]:
        if self.package is not None:
            return [f"  nothing to download: read from the installed package {self.package}, prepared -> {self.path}"]
        out = [f"  {url}: failed ({why})" for url, why in self.failures]
        if self.cached:
            out.append(f"  already in the cache, checksum verified: {self.path}")
        elif self.source is not None:
            out.append(f"  {self.source.kind} source {self.source.url}: ok, checksum verified -> {self.path}")
        return out


def cache_dir(root: str | os.PathLike[str] | None = None) -> Path:
    """The cache directory: ``root``, else ``$RNNZOO_CACHE``, else ``~/.cache/rnnzoo`` (not created here)."""
    if root is not None:
        return Path(root).expanduser()
    env = os.environ.get("RNNZOO_CACHE")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "rnnzoo"


def sha256_bytes(data: bytes) -> str:
    """Hex sha256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    """Hex sha256 of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_member(path: Path, member: str) -> bytes:
    """The bytes of ``member`` inside the zip or tar archive at ``path`` (KeyError naming it if absent)."""
    if zipfile.is_zipfile(path):
        with zipfile.ZipFile(path) as zf:
            return zf.read(member)
    with tarfile.open(path) as tf:
        fh = tf.extractfile(member)
        if fh is None:
            raise KeyError(f"member: {member!r} is not a regular file in {path}")
        return fh.read()


def check_file(path: Path, source: Source) -> None:
    """Raise :class:`ChecksumError` (naming the expected and found checksums) unless ``path`` matches ``source``."""
    if source.sha256 is not None:
        found = sha256_file(path)
        if found != source.sha256:
            raise ChecksumError(f"sha256: expected {source.sha256} for {source.url}, got {found} ({path})")
    for member, expected in source.members:
        try:
            found = sha256_bytes(read_member(path, member))
        except (KeyError, OSError, tarfile.TarError, zipfile.BadZipFile) as err:
            raise ChecksumError(f"members: {member!r} unreadable in {path} ({err})") from err
        if found != expected:
            raise ChecksumError(f"members: sha256 of {member!r} expected {expected}, got {found}")


def download(source: Source, dest: Path, *, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download ``source`` to ``dest`` through ``dest.part``, check it, rename it atomically; returns ``dest``.

    A partial or corrupt download is deleted and raises (:class:`ChecksumError` or the network error)."""
    from tqdm.auto import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    try:
        request = urllib.request.Request(source.url, headers={"User-Agent": "rnnzoo"})
        with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
            total = source.size or int(response.headers.get("Content-Length") or 0) or None
            with tqdm(total=total, unit="B", unit_scale=True, desc=dest.name, disable=not progress) as bar:
                for chunk in iter(lambda: response.read(_CHUNK), b""):
                    out.write(chunk)
                    bar.update(len(chunk))
        check_file(part, source)
        os.replace(part, dest)
    finally:
        part.unlink(missing_ok=True)
    return dest


def fetch_file(info: DatasetInfo, root: str | os.PathLike[str] | None = None, *, progress: bool = True,
               echo: Callable[[str], object] | None = None) -> FetchReport:
    """A verified copy of one of ``info.sources`` in ``cache_dir(root)/info.name``: the cached one if it still
    matches its checksum (a mismatching one is deleted), else the first source that downloads and verifies."""
    folder = cache_dir(root) / info.name
    for source in info.sources:
        path = folder / source.filename
        if path.exists():
            try:
                check_file(path, source)
                return FetchReport(path, source, cached=True)
            except ChecksumError as err:
                path.unlink()
                if echo:
                    echo(f"  deleted a corrupt cached file: {err}")
    failures: list[tuple[str, str]] = []
    for source in info.sources:
        path = folder / source.filename
        try:
            if echo:
                echo(f"  trying {source.kind} source {source.url}")
            download(source, path, progress=progress)
            return FetchReport(path, source, failures)
        except (OSError, ValueError, io.UnsupportedOperation) as err:
            failures.append((source.url, f"{type(err).__name__}: {err}"))
    tried = "; ".join(f"{url}: {why}" for url, why in failures) or "none registered"
    raise FetchError(f"{info.name}: no source could be had ({tried})")
