"""The .ts parser on files the tests write, and the two datasets on sktime's packaged copies."""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import pytest
import torch

import rnnzoo.data.timeseries as ts
from rnnzoo.data.registry import dataset_info


def _write_ts(series: list[torch.Tensor], labels: list[str], classes: list[str], missing: bool = False) -> str:
    lines = ["# a comment", "@problemName Toy", "@timeStamps false", f"@missing {str(missing).lower()}",
             "@univariate false", f"@dimensions {series[0].shape[1]}", "@equalLength false",
             "@classLabel true " + " ".join(classes), "@data"]
    for x, y in zip(series, labels, strict=True):
        dims = [",".join("?" if v != v else repr(float(v)) for v in x[:, d].tolist()) for d in range(x.shape[1])]
        lines.append(":".join(dims) + ":" + y)
    return "\n".join(lines) + "\n"


def test_round_trip_variable_lengths_and_missing_values() -> None:
    gen = torch.Generator().manual_seed(0)
    lengths = [3, 7, 1, 12]
    series = [torch.randn(n, 3, generator=gen) for n in lengths]
    series[1][2, 0] = float("nan")
    labels = ["b", "a", "b", "c"]
    parsed, got_labels, header = ts.read_ts(io.StringIO(_write_ts(series, labels, ["a", "b", "c"], missing=True)))
    assert got_labels == labels
    assert header.class_labels == ("a", "b", "c") and header.dimensions == 3 and header.missing
    assert [tuple(p.shape) for p in parsed] == [(n, 3) for n in lengths]
    for want, got in zip(series, parsed, strict=True):
        torch.testing.assert_close(got, want, equal_nan=True)
    assert torch.isnan(parsed[1][2, 0]) and int(torch.isnan(parsed[1]).sum()) == 1


def test_ragged_dimensions_are_padded_only_when_missing_values_are_allowed() -> None:
    head = "@problemName X\n@missing {}\n@dimensions 2\n@classLabel true a\n@data\n"
    (x,), _, _ = ts.read_ts(io.StringIO(head.format("true") + "1,2,3:4,?:a\n"))
    torch.testing.assert_close(x, torch.tensor([[1.0, 4.0], [2.0, float("nan")], [3.0, float("nan")]]),
                               equal_nan=True)
    with pytest.raises(ts.TsFormatError, match="line 6: dimension 1 has 1 values"):
        ts.read_ts(io.StringIO(head.format("false") + "1,2,3:4:a\n"))


@pytest.mark.parametrize(("bad", "line", "words"), [
    ("@frobnicate true", 2, "unknown header key"),
    ("@missing maybe", 2, "'true' or 'false'"),
    ("@dimensions two", 2, "integer"),
])
def test_bad_header_names_the_line(bad: str, line: int, words: str) -> None:
    text = "@problemName X\n" + bad + "\n@classLabel true a\n@data\n1,2:a\n"
    with pytest.raises(ts.TsFormatError, match=f"line {line}:.*{words}"):
        ts.read_ts(io.StringIO(text))


def test_bad_data_lines_name_the_line() -> None:
    head = "@problemName X\n@missing false\n@dimensions 2\n@classLabel true a b\n@data\n"
    with pytest.raises(ts.TsFormatError, match="line 6: class label 'z'"):
        ts.read_ts(io.StringIO(head + "1,2:3,4:z\n"))
    with pytest.raises(ts.TsFormatError, match="line 7: expected 2 dimension"):
        ts.read_ts(io.StringIO(head + "1,2:3,4:a\n1,2:b\n"))
    with pytest.raises(ts.TsFormatError, match="line 6: dimension 0 has a missing value"):
        ts.read_ts(io.StringIO(head + "?,2:3,4:a\n"))
    with pytest.raises(ts.TsFormatError, match="line 6: dimension 1: expected a number"):
        ts.read_ts(io.StringIO(head + "1,2:3,x:a\n"))
    with pytest.raises(ts.TsFormatError, match="expected an @data line"):
        ts.read_ts(io.StringIO("@problemName X\n@classLabel true a\n"))


def test_stratified_split_is_deterministic_and_stratified() -> None:
    labels = torch.arange(4).repeat_interleave(torch.tensor([10, 20, 5, 2]))
    a = ts.stratified_valid_split(labels)
    assert torch.equal(a, ts.stratified_valid_split(labels))
    assert torch.bincount(labels[a], minlength=4).tolist() == [2, 4, 1, 1]
    assert not torch.equal(a, ts.stratified_valid_split(labels, seed=1))
    with pytest.raises(ValueError, match="labels: expected a 1-D"):
        ts.stratified_valid_split(labels[None])


def test_registry_entries() -> None:
    for name in ("japanese_vowels", "basic_motions"):
        info = dataset_info(name)
        assert info.kind == "classification" and info.extra == "timeseries" and info.package == "sktime"
        assert [s.kind for s in info.sources] == ["canonical", "registry"]
        assert all(len(s.members) == 2 for s in info.sources)


def test_japanese_vowels_matches_published_counts(tmp_path: Path) -> None:
    pytest.importorskip("sktime", reason="the packaged JapaneseVowels ships in sktime (pip install rnnzoo[timeseries])")
    data = ts.load_japanese_vowels(tmp_path, download=False)
    sizes = {k: len(v) for k, v in data.splits.items()}
    assert sizes == {"train": 216, "valid": 54, "test": 370}
    assert sizes["train"] + sizes["valid"] == 270 and sum(sizes.values()) == 640
    lengths = [x.shape[0] for xs in data.splits.values() for x in xs]
    assert min(lengths) == 7 and max(lengths) == 29
    assert {x.shape[1] for xs in data.splits.values() for x in xs} == {12}
    assert len(data.classes) == 9 and len(data.feature_names) == 12
    assert torch.bincount(torch.cat([data.labels["train"], data.labels["valid"]])).tolist() == [30] * 9
    assert all(x.dtype == torch.float32 and not torch.isnan(x).any() for xs in data.splits.values() for x in xs)
    again = ts.load_japanese_vowels(tmp_path)
    assert all(torch.equal(a, b) for a, b in zip(data.splits["valid"], again.splits["valid"], strict=True))


def test_japanese_vowels_agrees_with_sktimes_own_reader(tmp_path: Path) -> None:
    datasets = pytest.importorskip("sktime.datasets", reason="sktime not installed (pip install rnnzoo[timeseries])")
    X, y = datasets.load_japanese_vowels(split="test", return_X_y=True)
    data = ts.load_japanese_vowels(tmp_path)
    assert len(X) == len(data.splits["test"])
    for i in (0, 137, 369):
        want = torch.tensor([list(X.iloc[i, d].values) for d in range(X.shape[1])], dtype=torch.float32).T
        torch.testing.assert_close(data.splits["test"][i], want)
        assert data.classes[int(data.labels["test"][i])] == str(y[i])


def test_basic_motions(tmp_path: Path) -> None:
    pytest.importorskip("sktime", reason="the packaged BasicMotions ships in sktime (pip install rnnzoo[timeseries])")
    data = ts.load_basic_motions(tmp_path)
    assert {k: len(v) for k, v in data.splits.items()} == {"train": 32, "valid": 8, "test": 40}
    assert {tuple(x.shape) for xs in data.splits.values() for x in xs} == {(100, 6)}
    assert sorted(data.classes) == ["Badminton", "Running", "Standing", "Walking"]
    assert torch.bincount(data.labels["valid"]).tolist() == [2, 2, 2, 2]


def test_reads_the_canonical_zip_and_rejects_a_tampered_copy(tmp_path: Path) -> None:
    """A zip laid out like the archive's, built from the packaged files: it is preferred, and checked."""
    pytest.importorskip("sktime", reason="needs sktime's copy of the .ts files to build the zip")
    files, _ = ts._read_files("BasicMotions", tmp_path)
    folder = tmp_path / "basic_motions"
    folder.mkdir()
    with zipfile.ZipFile(folder / "BasicMotions.zip", "w") as zf:
        for name, data in files.items():
            zf.writestr(name, data)
    data = ts.load_basic_motions(tmp_path)
    assert "BasicMotions.zip" in data.source and "canonical" in data.source
    with zipfile.ZipFile(folder / "BasicMotions.zip", "w") as zf:
        for name, raw in files.items():
            zf.writestr(name, raw.replace(b"Walking\n", b"Walking \n", 1) if "TRAIN" in name else raw)
    with pytest.raises(ValueError, match="BasicMotions_TRAIN.ts: sha256 expected"):
        ts.load_basic_motions(tmp_path)


def test_reads_the_sktime_wheel_without_sktime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A zip laid out like the sktime wheel (the registry source) is read as a zip; sktime is hidden."""
    pytest.importorskip("sktime", reason="needs sktime's copy of the .ts files to build the wheel-shaped zip")
    files, _ = ts._read_files("JapaneseVowels", tmp_path)
    folder = tmp_path / "japanese_vowels"
    folder.mkdir()
    with zipfile.ZipFile(folder / "sktime-1.2.0-py3-none-any.whl", "w") as zf:
        for name, data in files.items():
            zf.writestr(f"sktime/datasets/data/JapaneseVowels/{name}", data)
    monkeypatch.setattr(ts.importlib.util, "find_spec", lambda name: None)
    data = ts.load_japanese_vowels(tmp_path)
    assert "sktime-1.2.0-py3-none-any.whl" in data.source and sum(len(v) for v in data.splits.values()) == 640
    (folder / "sktime-1.2.0-py3-none-any.whl").unlink()
    with pytest.raises(FileNotFoundError, match="japanese_vowels.*rnnzoo\\[timeseries\\]"):
        ts.load_japanese_vowels(tmp_path)
