"""Piano rolls of music21's chorales (checked against music21's own chordify), the split, the cache, and the
reader of the benchmark pickle on pickles the tests write."""

from __future__ import annotations

import math
import pickle
import time
from pathlib import Path

import numpy as np
import pytest
import torch

import rnnzoo.data.music as music
from rnnzoo.data.registry import dataset_info


def test_registry_entries() -> None:
    info = dataset_info("jsb_chorales")
    assert info.kind == "music" and info.extra == "music" and info.package == "music21"
    assert "reconstruction" in info.notes and "NOT" in info.notes
    original = dataset_info("jsb_chorales_original")
    assert len(original.sources) == 1 and original.sources[0].sha256 is not None


def test_split_has_the_benchmark_sizes_for_382_pieces_and_is_deterministic() -> None:
    names = [f"piece{i:03d}" for i in range(382)]
    parts = music.split_names(names)
    assert {k: len(v) for k, v in parts.items()} == {"train": 229, "valid": 76, "test": 77}
    assert sorted(sum(parts.values(), [])) == names
    assert parts == music.split_names(list(reversed(names)))
    assert parts != music.split_names(names, seed=1)
    assert {k: len(v) for k, v in music.split_names(names[:350]).items()} == {"train": 209, "valid": 70, "test": 71}
    with pytest.raises(ValueError, match="names: expected distinct"):
        music.split_names(["a", "a", "b", "c"])


def test_roll_equals_music21s_chordify() -> None:
    """An independent path through music21: chordify() cuts the score at every onset; each chord's pitches must
    be the roll's row at every quarter-note beat the chord covers."""
    music21 = pytest.importorskip("music21", reason="the chorales ship in music21 (pip install rnnzoo[music])")
    score = music21.corpus.parse("bach/bwv269")
    roll = music.chorale_roll(score)
    expected = np.zeros((math.ceil(float(score.highestTime)), 88), dtype=np.float32)
    for element in score.chordify().flatten().notesAndRests:
        start, end = float(element.offset), float(element.offset + element.quarterLength)
        for t in range(math.ceil(start), math.ceil(end)):
            for pitch in getattr(element, "pitches", ()):
                expected[t, pitch.midi - 21] = 1.0
    assert roll.shape == (63, 88) and roll.dtype == torch.float32
    assert torch.equal(roll, torch.from_numpy(expected))
    soprano = [n.pitch.midi for n in score.parts[0].flatten().notes]
    assert int(roll[0].nonzero().max()) + 21 == soprano[0]
    assert roll.sum(1).max() <= 4 and roll.sum(1).min() >= 1


def test_only_the_four_voices_are_rolled() -> None:
    music21 = pytest.importorskip("music21", reason="the chorales ship in music21 (pip install rnnzoo[music])")
    score = music21.corpus.parse("bach/bwv8.6")  # Soprano, Alto, Tenor, Bass, Continuo
    assert [p.partName for p in music.satb_parts(score)] == ["Soprano", "Alto", "Tenor", "Bass"]
    roll = music.chorale_roll(score)
    assert roll.sum(1).max() <= 4
    on_a_beat = [n for part in music.satb_parts(score) for n in part.flatten().notes
                 if math.ceil(n.offset) < math.ceil(n.offset + n.quarterLength)]  # short passing notes vanish
    voices = {p.midi for n in on_a_beat for p in n.pitches}
    assert set((roll.sum(0).nonzero().flatten() + 21).tolist()) == voices
    two = music21.stream.Score([music21.stream.Part([music21.note.Note("C4")]) for _ in range(2)])
    with pytest.raises(ValueError, match="score: expected four parts or parts named"):
        music.chorale_roll(two)


def test_loader_on_a_few_chorales(tmp_path: Path) -> None:
    pytest.importorskip("music21", reason="the chorales ship in music21 (pip install rnnzoo[music])")
    data = music.load_jsb_chorales(tmp_path, limit=6)
    assert data.lowest_pitch == 21 and "reconstruction" in data.notes
    assert sum(len(v) for v in data.splits.values()) == 6
    assert all(r.shape[1] == 88 and r.dtype == torch.float32 for v in data.splits.values() for r in v)
    assert not any(tmp_path.iterdir())  # limit parses without writing the cache
    with pytest.raises(ValueError, match="limit: expected an int >= 3"):
        music.load_jsb_chorales(tmp_path, limit=1)


def test_cache_is_written_once_and_read_fast(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("music21", reason="the chorales ship in music21 (pip install rnnzoo[music])")
    parse = music._parse_all
    monkeypatch.setattr(music, "_parse_all", lambda limit=None: parse(5))
    first = music.load_jsb_chorales(tmp_path)
    (cache,) = (tmp_path / "jsb_chorales").glob("*.npz")
    assert "satb-q1-p21-108" in cache.name and str(cache) in first.source

    def refuse(limit: int | None = None) -> None:
        raise AssertionError("parsed again although the cache exists")

    monkeypatch.setattr(music, "_parse_all", refuse)
    start = time.perf_counter()
    second = music.load_jsb_chorales(tmp_path)
    assert time.perf_counter() - start < 1.0
    for split in ("train", "valid", "test"):
        assert all(torch.equal(a, b) for a, b in zip(first.splits[split], second.splits[split], strict=True))


@pytest.mark.slow
def test_every_chorale(tmp_path: Path) -> None:
    pytest.importorskip("music21", reason="the chorales ship in music21 (pip install rnnzoo[music])")
    data = music.load_jsb_chorales(tmp_path)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 209, "valid": 70, "test": 71}
    rolls = torch.cat([r for v in data.splits.values() for r in v])
    assert rolls.sum(1).max() <= 4
    start = time.perf_counter()
    again = music.load_jsb_chorales(tmp_path)
    assert time.perf_counter() - start < 1.0
    assert all(torch.equal(a, b) for a, b in zip(data.splits["test"], again.splits["test"], strict=True))


class _Evil:
    def __reduce__(self) -> tuple:
        return (print, ("ran",))


def test_benchmark_pickle_reader() -> None:
    data = {"train": [[(60, 64, 67), (np.int64(60),), ()]], "valid": [[[np.float64(21.0), 108]]],
            "test": [[[62]], [[48, 55]]]}
    rolls = music.read_benchmark_pickle(pickle.dumps(data, protocol=2))
    assert [len(rolls[s]) for s in ("train", "valid", "test")] == [1, 1, 2]
    train = rolls["train"][0]
    assert train.shape == (3, 88)
    assert train[0].nonzero().flatten().tolist() == [39, 43, 46] and train[1].nonzero().flatten().tolist() == [39]
    assert train[2].sum() == 0
    assert rolls["valid"][0][0].nonzero().flatten().tolist() == [0, 87]
    with pytest.raises(ValueError, match="test piece 0 step 0: expected a MIDI pitch 21-108, got 20"):
        music.read_benchmark_pickle(pickle.dumps({**data, "test": [[[20]]]}))
    with pytest.raises(ValueError, match="expected splits train/valid/test"):
        music.read_benchmark_pickle(pickle.dumps({"train": []}))
    with pytest.raises(pickle.UnpicklingError, match="builtins.print is not allowed"):
        music.read_benchmark_pickle(pickle.dumps({"train": [_Evil()]}))


def test_original_loader_checks_the_checksum(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="jsb_chorales_original"):
        music.load_jsb_original(tmp_path)
    (tmp_path / "JSB Chorales.pickle").write_bytes(pickle.dumps({"train": [], "valid": [], "test": []}))
    with pytest.raises(ValueError, match="sha256 expected 69dc4c3e"):
        music.load_jsb_original(tmp_path)
