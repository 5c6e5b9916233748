"""Variable-length time-series classification: a parser of the UEA/UCR ``.ts`` format and two datasets.

``japanese_vowels``: 640 utterances of the vowel pair /ae/ by 9 male speakers (Kudo, Toyama & Shimbo 1999), each
7 to 29 frames of 12 LPC cepstrum coefficients; the task is the speaker. ``basic_motions``: 80 recordings of
6-channel motion (3-axis accelerometer and gyroscope, 100 steps each), 4 activities.

Splits: ``train`` and ``test`` are the archive's (JapaneseVowels 270/370, the UCI split; BasicMotions 40/40), the
split the papers report on. ``valid`` is carved from the archive's train split: a stratified, seeded share
(:data:`VALID_FRACTION` of each class, rounded, at least one per class, chosen by ``numpy.random.default_rng(
VALID_SEED)`` over the indices of the class in file order); ``train`` keeps the rest. Use ``valid`` for model
selection, never the test split.

Where the files come from, in order: the archive zip of timeseriesclassification.com in ``root/<dataset>/``
(the canonical source, its ``.ts`` members checked by sha256), the sktime wheel from PyPI in ``root/<dataset>/``
(read as a zip, sktime not installed), else the installed ``sktime`` package (its ``datasets/data/`` folder, found
with :func:`importlib.util.find_spec` without importing sktime). The member checksums were computed from the
files inside sktime 1.2.0; the archive's copies are assumed to be the same files.

Example::

    >>> from rnnzoo.data.timeseries import read_ts
    >>> import io
    >>> text = "@problemName toy\\n@univariate true\\n@classLabel true a b\\n@data\\n1,2,3:a\\n4,5:b\\n"
    >>> series, labels, header = read_ts(io.StringIO(text))
    >>> [tuple(s.shape) for s in series], labels
    ([(3, 1), (2, 1)], ['a', 'b'])
"""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

import numpy as np
import torch
from torch import Tensor

from rnnzoo.data.registry import DatasetInfo, Source, register_dataset
from rnnzoo.data.types import LabelledSequences

__all__ = ["TsFormatError", "TsHeader", "VALID_FRACTION", "VALID_SEED", "load_basic_motions",
           "load_japanese_vowels", "read_ts", "stratified_valid_split"]

VALID_FRACTION = 0.2
VALID_SEED = 0

_BOOL_KEYS = ("timestamps", "missing", "univariate", "equallength", "classlabel", "targetlabel")


class TsFormatError(ValueError):
    """A ``.ts`` file that does not follow the format; the message names the line."""


@dataclass
class TsHeader:
    """The ``@`` keys of a ``.ts`` header (names lower-cased). ``class_labels`` is empty when the file has none."""

    problem_name: str = ""
    timestamps: bool = False
    missing: bool = False
    univariate: bool | None = None
    equal_length: bool | None = None
    dimensions: int | None = None
    series_length: int | None = None
    class_labels: tuple[str, ...] = ()
    has_class_label: bool = False
    comments: list[str] = field(default_factory=list)


def _parse_bool(value: str, key: str, lineno: int) -> bool:
    v = value.strip().lower()
    if v not in ("true", "false"):
        raise TsFormatError(f"line {lineno}: @{key} expects 'true' or 'false', got {value!r}")
    return v == "true"


def _parse_header_line(header: TsHeader, line: str, lineno: int) -> None:
    parts = line.split(maxsplit=1)
    key = parts[0][1:].lower()
    value = parts[1] if len(parts) > 1 else ""
    if key == "problemname":
        header.problem_name = value.strip()
    elif key == "timestamps":
        header.timestamps = _parse_bool(value, key, lineno)
    elif key == "missing":
        header.missing = _parse_bool(value, key, lineno)
    elif key == "univariate":
        header.univariate = _parse_bool(value, key, lineno)
    elif key == "equallength":
        header.equal_length = _parse_bool(value, key, lineno)
    elif key in ("dimensions", "serieslength"):
        try:
            number = int(value)
        except ValueError:
            raise TsFormatError(f"line {lineno}: @{key} expects an integer, got {value!r}") from None
        if number < 1:
            raise TsFormatError(f"line {lineno}: @{key} expects a positive integer, got {number}")
        if key == "dimensions":
            header.dimensions = number
        else:
            header.series_length = number
    elif key == "classlabel":
        tokens = value.split()
        if not tokens:
            raise TsFormatError(f"line {lineno}: @classLabel expects 'true <labels...>' or 'false', got nothing")
        header.has_class_label = _parse_bool(tokens[0], key, lineno)
        if header.has_class_label and len(tokens) < 2:
            raise TsFormatError(f"line {lineno}: @classLabel true expects the class labels after it, got none")
        if not header.has_class_label and len(tokens) > 1:
            raise TsFormatError(f"line {lineno}: @classLabel false expects no labels, got {tokens[1:]}")
        header.class_labels = tuple(tokens[1:])
    elif key == "targetlabel":
        if _parse_bool(value.split()[0] if value.split() else "", key, lineno):
            raise TsFormatError(f"line {lineno}: @targetlabel true (regression) is not supported; expected a "
                                f"classification file")
    else:
        raise TsFormatError(f"line {lineno}: unknown header key @{parts[0][1:]!r}")


def _parse_dimension(text: str, header: TsHeader, lineno: int, dim: int) -> np.ndarray:
    if header.timestamps:
        raise TsFormatError(f"line {lineno}: @timeStamps true is not supported (expected plain values)")
    values = []
    for token in text.split(","):
        token = token.strip()
        if token == "?":
            if not header.missing:
                raise TsFormatError(f"line {lineno}: dimension {dim} has a missing value '?' but the header "
                                    f"says @missing false")
            values.append(np.nan)
            continue
        try:
            values.append(float(token))
        except ValueError:
            raise TsFormatError(f"line {lineno}: dimension {dim}: expected a number or '?', got {token!r}") from None
    return np.asarray(values, dtype=np.float32)


def read_ts(stream: TextIO) -> tuple[list[Tensor], list[str], TsHeader]:
    """Parse a ``.ts`` file of the UEA/UCR archive (the sktime/aeon format).

    Header lines start with ``@`` (``@problemName``, ``@timeStamps``, ``@missing``, ``@univariate``,
    ``@dimensions``, ``@equalLength``, ``@seriesLength``, ``@classLabel true l1 l2 ...``), then ``@data``; lines
    starting with ``#`` are comments. Each data line is one case: its dimensions separated by ``:``, each a
    comma-separated series, then the class label after the last ``:``. ``?`` marks a missing value (allowed only
    under ``@missing true``; it becomes NaN). Dimensions of one case may differ in length only if a value is
    missing at the end; shorter dimensions are padded with NaN then.

    Returns: ``series``, one float32 ``(T_i, D)`` tensor per case (time first); ``labels``, one string per case
    (empty list entries are impossible: a file with ``@classLabel true`` needs a label on every line); the header.
    Raises :class:`TsFormatError` naming the line for anything malformed (an unknown key, a label not declared,
    a case with the wrong number of dimensions, a length that contradicts ``@seriesLength``...).
    """
    header = TsHeader()
    in_data = False
    series: list[Tensor] = []
    labels: list[str] = []
    for lineno, raw in enumerate(stream, start=1):
        line = raw.strip()
        if not line:
            continue
        if line.startswith("#"):
            if not in_data:
                header.comments.append(line[1:].strip())
            continue
        if not in_data:
            if not line.startswith("@"):
                raise TsFormatError(f"line {lineno}: expected a header line starting with '@' before @data, "
                                    f"got {line[:40]!r}")
            if line.lower() == "@data":
                if not header.has_class_label:
                    raise TsFormatError(f"line {lineno}: @data reached without '@classLabel true ...'; a "
                                        f"classification file is expected")
                in_data = True
                continue
            _parse_header_line(header, line, lineno)
            continue
        fields = line.split(":")
        label = fields[-1].strip()
        dims = fields[:-1]
        if label not in header.class_labels:
            raise TsFormatError(f"line {lineno}: class label {label!r} is not among the declared "
                                f"{list(header.class_labels)}")
        expected_dims = 1 if header.univariate else header.dimensions
        if expected_dims is not None and len(dims) != expected_dims:
            raise TsFormatError(f"line {lineno}: expected {expected_dims} dimension(s), got {len(dims)}")
        if not dims:
            raise TsFormatError(f"line {lineno}: expected at least one dimension before the label, got none")
        arrays = [_parse_dimension(d, header, lineno, i) for i, d in enumerate(dims)]
        length = max(a.shape[0] for a in arrays)
        for i, a in enumerate(arrays):
            if a.shape[0] != length:
                if not header.missing:
                    raise TsFormatError(f"line {lineno}: dimension {i} has {a.shape[0]} values, dimension 0 has "
                                        f"{arrays[0].shape[0]}; unequal dimensions need @missing true")
                arrays[i] = np.concatenate([a, np.full(length - a.shape[0], np.nan, np.float32)])
        if header.series_length is not None and header.equal_length and length != header.series_length:
            raise TsFormatError(f"line {lineno}: expected @seriesLength {header.series_length} values, got {length}")
        series.append(torch.from_numpy(np.stack(arrays, axis=1)))
        labels.append(label)
    if not in_data:
        raise TsFormatError("end of file: expected an @data line, got none")
    return series, labels, header


def stratified_valid_split(labels: Tensor, fraction: float = VALID_FRACTION, seed: int = VALID_SEED) -> Tensor:
    """Indices of a stratified, seeded validation share of ``labels`` (int64 ``(N,)``), sorted ascending.

    Per class: ``max(1, round(fraction * n_class))`` indices drawn by ``numpy.random.default_rng(seed)`` (one
    generator, classes in ascending order), never the whole class.
    """
    if labels.dim() != 1:
        raise ValueError(f"labels: expected a 1-D tensor of class indices, got shape {tuple(labels.shape)}")
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"fraction: expected a share in (0, 1), got {fraction}")
    rng = np.random.default_rng(seed)
    y = labels.numpy()
    chosen: list[int] = []
    for cls in np.unique(y):
        idx = np.flatnonzero(y == cls)
        k = min(max(1, round(fraction * idx.size)), idx.size - 1)
        if k > 0:
            chosen.extend(rng.choice(idx, size=k, replace=False).tolist())
    return torch.tensor(sorted(chosen), dtype=torch.int64)


# --------------------------------------------------------------------------- the two datasets

_ARCHIVE = "https://timeseriesclassification.com/aeon-toolkit"
_SKTIME_WHEEL = Source(
    url="https://files.pythonhosted.org/packages/eb/67/98c89e7a17691ca473b7cc7200f74e43e47ad61680db59bfe791f341b056/"
    "sktime-1.2.0-py3-none-any.whl",
    sha256="dbffc6731d2d683b668dceb5e2bbc5804bebc8446b4c580803a281684d90e4ae",
    kind="registry",
    filename="sktime-1.2.0-py3-none-any.whl",
    size=8201107,
    note="the sktime 1.2.0 wheel on PyPI, read as a zip (sktime need not be installed)",
)

# sha256 of the .ts files, computed from sktime 1.2.0's datasets/data/ copies.
_CHECKSUMS = {
    "JapaneseVowels_TRAIN.ts": "68a430eabd919cc77f40b1f5f3bc0dcafacc1486bca9260785aeb7d262cc78cd",
    "JapaneseVowels_TEST.ts": "b3d41d6a0ca3bcad3afb9ca7d4365382aa51341e2e58bae2a574babdda5b9462",
    "BasicMotions_TRAIN.ts": "8dc43cc6306cb679c888c01e26f91772ac4441a916da43bac8b79734a538b9d6",
    "BasicMotions_TEST.ts": "79213102bc6fca1a398ad98ce1185dff0208fa3d1465e687f48288946b0ff8dc",
}


def _sources(problem: str) -> tuple[Source, ...]:
    members = tuple((f"{problem}_{s}.ts", _CHECKSUMS[f"{problem}_{s}.ts"]) for s in ("TRAIN", "TEST"))
    canonical = Source(url=f"{_ARCHIVE}/{problem}.zip", sha256=None, kind="canonical", filename=f"{problem}.zip",
                       members=members, note="the UEA/UCR archive's zip at timeseriesclassification.com")
    wheel_members = tuple((f"sktime/datasets/data/{problem}/{m}", h) for m, h in members)
    return canonical, dataclasses.replace(_SKTIME_WHEEL, members=wheel_members)


def _member(zf: zipfile.ZipFile, name: str) -> str | None:
    for info in zf.infolist():
        if info.filename == name or info.filename.endswith("/" + name):
            return info.filename
    return None


def _read_files(problem: str, root: Path) -> tuple[dict[str, bytes], str]:
    """The TRAIN and TEST ``.ts`` bytes of ``problem`` and a line saying where they came from."""
    names = [f"{problem}_TRAIN.ts", f"{problem}_TEST.ts"]
    for source in _sources(problem):
        for path in (root / _DIR[problem] / source.filename, root / source.filename):
            if not path.is_file():
                continue
            with zipfile.ZipFile(path) as zf:
                found = {n: _member(zf, n) for n in names}
                if all(found.values()):
                    return {n: zf.read(m) for n, m in found.items()}, f"{path} ({source.kind}: {source.note})"
    spec = importlib.util.find_spec("sktime")
    if spec is not None and spec.submodule_search_locations:
        folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / problem
        if all((folder / n).is_file() for n in names):
            return {n: (folder / n).read_bytes() for n in names}, f"{folder} (installed sktime package)"
    raise FileNotFoundError(
        f"dataset {_DIR[problem]!r}: no copy found; looked for {problem}.zip and {_SKTIME_WHEEL.filename} under "
        f"{root / _DIR[problem]} and for an installed sktime. Install it with `pip install rnnzoo[timeseries]` or "
        f"run `rnnzoo data fetch {_DIR[problem]}`"
    )


def _verify(files: dict[str, bytes]) -> None:
    import hashlib

    for name, data in files.items():
        digest = hashlib.sha256(data).hexdigest()
        if digest != _CHECKSUMS[name]:
            raise ValueError(f"{name}: sha256 expected {_CHECKSUMS[name]}, got {digest}; the copy differs from the "
                             f"one the checksums were taken from and is not used")


def _load(problem: str, root: Path, feature_names: Iterable[str], notes: str) -> LabelledSequences:
    files, where = _read_files(problem, Path(root))
    _verify(files)
    parsed = {s: read_ts(io.StringIO(files[f"{problem}_{s.upper()}.ts"].decode("utf-8"))) for s in ("train", "test")}
    classes = parsed["train"][2].class_labels
    if parsed["test"][2].class_labels != classes:
        raise TsFormatError(f"{problem}: TRAIN and TEST declare different classes: {classes} vs "
                            f"{parsed['test'][2].class_labels}")
    index = {c: i for i, c in enumerate(classes)}
    seqs = {s: parsed[s][0] for s in parsed}
    labels = {s: torch.tensor([index[lab] for lab in parsed[s][1]], dtype=torch.int64) for s in parsed}
    valid_idx = stratified_valid_split(labels["train"])
    keep = torch.ones(len(seqs["train"]), dtype=torch.bool)
    keep[valid_idx] = False
    train_idx = torch.nonzero(keep).flatten()
    splits = {
        "train": [seqs["train"][i] for i in train_idx.tolist()],
        "valid": [seqs["train"][i] for i in valid_idx.tolist()],
        "test": seqs["test"],
    }
    split_labels = {"train": labels["train"][train_idx], "valid": labels["train"][valid_idx], "test": labels["test"]}
    return LabelledSequences(name=_DIR[problem], classes=classes, feature_names=tuple(feature_names), splits=splits,
                             labels=split_labels, source=where, notes=notes)


_DIR = {"JapaneseVowels": "japanese_vowels", "BasicMotions": "basic_motions"}
_SPLIT_NOTE = (f"valid = a stratified {VALID_FRACTION:.0%} of the archive's train split "
               f"(numpy default_rng({VALID_SEED})), train = the rest; "
               f"test = the archive's test split, on which the papers report")
_JV_NOTES = ("Speaker identification (9 classes) from 7-29 frames of 12 LPC cepstrum coefficients. " + _SPLIT_NOTE
             + ": 216/54/370 sequences.")
_BM_NOTES = ("Activity (standing, running, walking, badminton) from 100 steps of a 3-axis accelerometer and "
             "gyroscope. " + _SPLIT_NOTE + ": 32/8/40 sequences.")


def load_japanese_vowels(root: Path, download: bool = False) -> LabelledSequences:
    """JapaneseVowels: 640 sequences ``(T_i, 12)``, ``T_i`` in 7..29, 9 speakers; splits 216/54/370.

    ``download`` is accepted for the registry's loader signature; this loader never downloads (``rnnzoo data
    fetch`` does), it reads what is in ``root`` or the installed sktime.
    """
    return _load("JapaneseVowels", root, (f"lpc{i + 1}" for i in range(12)), _JV_NOTES)


def load_basic_motions(root: Path, download: bool = False) -> LabelledSequences:
    """BasicMotions: 80 sequences ``(100, 6)`` (accelerometer x/y/z, gyroscope x/y/z), 4 classes; 32/8/40."""
    names = ("accel_x", "accel_y", "accel_z", "gyro_x", "gyro_y", "gyro_z")
    return _load("BasicMotions", root, names, _BM_NOTES)


_UEA_CITATION = ("Bagnall et al. 2018, The UEA multivariate time series classification archive, arXiv:1811.00075; "
                 "timeseriesclassification.com")

register_dataset(DatasetInfo(
    name="japanese_vowels",
    description="JapaneseVowels: speaker identification from 12 LPC coefficients, 7-29 frames, 9 classes",
    citation="Kudo, Toyama & Shimbo 1999, Multidimensional curve classification using passing-through regions, "
             "Pattern Recognition Letters 20(11-13); UCI Japanese Vowels; " + _UEA_CITATION,
    licence="UCI / UEA archive terms (free for research); sktime's copy BSD-3",
    kind="classification",
    splits="train 216 / valid 54 (stratified 20% of the UCI train 270, seed 0) / test 370 (UCI test)",
    loader=load_japanese_vowels,
    extra="timeseries",
    package="sktime",
    sources=_sources("JapaneseVowels"),
    notes=_JV_NOTES,
    aliases=("jv", "japanesevowels"),
))

register_dataset(DatasetInfo(
    name="basic_motions",
    description="BasicMotions: 4 activities from 6-channel motion sensors, 100 steps",
    citation=_UEA_CITATION,
    licence="UEA archive terms (free for research); sktime's copy BSD-3",
    kind="classification",
    splits="train 32 / valid 8 (stratified 20% of the archive's train 40, seed 0) / test 40",
    loader=load_basic_motions,
    extra="timeseries",
    package="sktime",
    sources=_sources("BasicMotions"),
    notes=_BM_NOTES,
    aliases=("basicmotions",),
))
