"""Polyphonic music as binary piano rolls: the Bach chorales of music21, and a reader of the JSB benchmark pickle.

``jsb_chorales`` is a RECONSTRUCTION of the JSB Chorales benchmark of Boulanger-Lewandowski, Bengio & Vincent (2012,
ICML, arXiv:1206.6392), NOT the benchmark's files: the benchmark has 382 chorales split 229/76/77 (after Allan &
Williams 2005); music21's corpus numbers 371 chorales (``music21.corpus.chorales.Iterator()``, Riemenschneider
numbering) in 350 distinct files (21 chorales carry two numbers; each file is used once, so no chorale sits in two
splits), in music21's own editions. Only the four sung voices are rolled (19 files add instrumental parts, left out;
see :func:`satb_parts`). Quantisation follows the benchmark: one time step per quarter note, each step the set of
pitches sounding at that beat (a note of onset ``o`` and duration ``d`` quarters is on at every integer ``t`` with
``o <= t < o + d``), 88 keys MIDI 21-108 (column 0 = MIDI 21). Ties are merged by this sampling (a held note and a
repeated one look the same, as in the benchmark); repeats are not expanded; grace notes (duration 0) and short notes
that sound at no beat (passing eighths off the beat) are dropped. The split is a seeded shuffle
(``numpy.random.default_rng(SPLIT_SEED)``) of the sorted corpus file names in the benchmark's proportions 229:76:77,
i.e. 350 -> 209 / 70 / 71. Published NLLs (e.g. Chung et al. 2014: 8.54 / 8.67 / 9.10) are on the original files and
are not directly comparable with numbers measured on this.

Parsing all 350 chorales with music21 takes 13-45 s on one core (45 s when music21 has not yet
cached its own parses), so the rolls are cached in
``root/jsb_chorales/rolls-music21-<version>-satb-q<steps per quarter>-p21-108.npz``; later loads read that file.

``jsb_chorales_original`` reads the benchmark's own pickle (``JSB Chorales.pickle``: a dict ``train``/``valid``/
``test`` -> list of pieces -> list of time steps -> MIDI pitches sounding). Its home page is gone; the Wayback
Machine copy below, with its sha256, is the source (``rnnzoo data fetch jsb_chorales_original`` downloads it).

Example (the split in the benchmark's proportions)::

    >>> from rnnzoo.data.music import split_names
    >>> {k: len(v) for k, v in split_names([f"bwv{i}" for i in range(382)]).items()}
    {'train': 229, 'valid': 76, 'test': 77}
"""

from __future__ import annotations

import hashlib
import io
import pickle
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from torch import Tensor

from rnnzoo.data.registry import DatasetInfo, Source, register_dataset
from rnnzoo.data.types import PianoRolls

__all__ = ["LOWEST_PITCH", "N_PITCHES", "SPLIT_SEED", "STEPS_PER_QUARTER", "VOICES", "chorale_roll",
           "load_jsb_chorales", "load_jsb_original", "read_benchmark_pickle", "satb_parts", "split_names"]

LOWEST_PITCH = 21
N_PITCHES = 88
STEPS_PER_QUARTER = 1
SPLIT_SEED = 0
_PROPORTIONS = (229, 76, 77)


VOICES = ("Soprano", "Alto", "Tenor", "Bass")


def satb_parts(score: object) -> list:
    """The four sung voices of a chorale: all parts when there are four, else for each of Soprano, Alto, Tenor,
    Bass the first part whose name starts with it (instrumental parts, e.g. trumpets and timpani in 19 of
    music21's chorale files, are left out, as in the four-part benchmark). Raises ``ValueError`` naming the
    parts when a voice cannot be found."""
    parts = list(score.parts)  # type: ignore[attr-defined]
    if len(parts) == 4:
        return parts
    chosen = []
    for voice in VOICES:
        match = [p for p in parts if (p.partName or "").strip().lower().startswith(voice.lower())]
        if not match:
            names = [p.partName for p in parts]
            raise ValueError(f"score: expected four parts or parts named {VOICES}, got {len(parts)} parts {names}")
        chosen.append(match[0])
    return chosen


def chorale_roll(score: object, steps_per_quarter: int = STEPS_PER_QUARTER) -> Tensor:
    """The binary piano roll of the four voices (:func:`satb_parts`) of a music21 score: float32 ``(T, 88)``,
    column ``p`` = MIDI ``21 + p``.

    ``T = ceil(highestTime * steps_per_quarter)``; row ``t`` holds every pitch sounding at ``t /
    steps_per_quarter`` quarters. Raises ``ValueError`` if a pitch lies outside MIDI 21-108.
    """
    if not isinstance(steps_per_quarter, int) or steps_per_quarter < 1:
        raise ValueError(f"steps_per_quarter: expected a positive int, got {steps_per_quarter!r}")
    n_steps = int(np.ceil(float(score.highestTime) * steps_per_quarter))  # type: ignore[attr-defined]
    roll = np.zeros((n_steps, N_PITCHES), dtype=np.float32)
    for part in satb_parts(score):
        for element in part.flatten().notes:
            duration = float(element.quarterLength)
            if duration <= 0:
                continue
            start = float(element.offset) * steps_per_quarter
            end = start + duration * steps_per_quarter
            first, last = int(np.ceil(start - 1e-9)), int(np.ceil(end - 1e-9))
            for pitch in element.pitches:
                column = pitch.midi - LOWEST_PITCH
                if not 0 <= column < N_PITCHES:
                    raise ValueError(f"score: pitch {pitch} (MIDI {pitch.midi}) is outside the 88 keys MIDI 21-108")
                roll[first:last, column] = 1.0
    return torch.from_numpy(roll)


def split_names(names: Sequence[str], seed: int = SPLIT_SEED) -> dict[str, list[str]]:
    """The train/valid/test split of piece ``names`` in the benchmark's proportions 229:76:77.

    The names are sorted, shuffled by ``numpy.random.default_rng(seed)``, and cut: valid ``round(N*76/382)``,
    test ``round(N*77/382)``, train the rest. Each split is returned sorted.
    """
    unique = sorted(set(names))
    if len(unique) != len(names):
        raise ValueError(f"names: expected distinct piece names, got {len(names) - len(unique)} duplicate(s)")
    if len(unique) < 3:
        raise ValueError(f"names: expected at least 3 pieces to split, got {len(unique)}")
    total = sum(_PROPORTIONS)
    n_valid = max(1, round(len(unique) * _PROPORTIONS[1] / total))
    n_test = max(1, round(len(unique) * _PROPORTIONS[2] / total))
    order = np.random.default_rng(seed).permutation(len(unique))
    shuffled = [unique[i] for i in order]
    n_train = len(unique) - n_valid - n_test
    return {
        "train": sorted(shuffled[:n_train]),
        "valid": sorted(shuffled[n_train:n_train + n_valid]),
        "test": sorted(shuffled[n_train + n_valid:]),
    }


def _music21():
    try:
        import music21
    except ImportError as err:
        raise ImportError("jsb_chorales needs music21: pip install rnnzoo[music]") from err
    return music21


def _cache_path(root: Path, version: str) -> Path:
    return Path(root) / "jsb_chorales" / f"rolls-music21-{version}-satb-q{STEPS_PER_QUARTER}-p21-108.npz"


def _parse_all(limit: int | None = None) -> dict[str, np.ndarray]:
    music21 = _music21()
    names = list(dict.fromkeys(str(n) for n in music21.corpus.chorales.Iterator(returnType="filename")))
    if limit is not None:
        names = names[:limit]
    return {name: chorale_roll(music21.corpus.parse(name)).numpy() for name in names}


def _write_cache(path: Path, rolls: dict[str, np.ndarray]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    names = sorted(rolls)
    lengths = np.array([rolls[n].shape[0] for n in names], dtype=np.int64)
    stacked = np.concatenate([rolls[n] for n in names]).astype(np.uint8) if names else np.zeros((0, N_PITCHES))
    tmp = path.with_suffix(".tmp.npz")
    np.savez_compressed(tmp, names=np.array(names), lengths=lengths, rolls=stacked)
    tmp.replace(path)


def _read_cache(path: Path) -> dict[str, np.ndarray]:
    with np.load(path) as data:
        names, lengths, stacked = data["names"].tolist(), data["lengths"], data["rolls"]
    bounds = np.concatenate([[0], np.cumsum(lengths)])
    return {n: stacked[bounds[i]:bounds[i + 1]].astype(np.float32) for i, n in enumerate(names)}


_NOTES = ("A reconstruction of JSB Chorales from music21's Bach chorales (350 distinct files), NOT the "
          "benchmark's 382-chorale files (Boulanger-Lewandowski et al. 2012): quarter-note sampling, 88 keys "
          "MIDI 21-108, the four voices only, split by a seeded "
          f"shuffle (numpy default_rng({SPLIT_SEED})) of the sorted music21 file names in the benchmark's "
          "proportions 229:76:77 -> 209/70/71. Published NLLs are not directly comparable.")


def load_jsb_chorales(root: Path, download: bool = False, limit: int | None = None) -> PianoRolls:
    """Piano rolls of music21's Bach chorales, split 209/70/71 (a reconstruction of JSB Chorales).

    Returns :class:`PianoRolls` with ``(T_i, 88)`` float32 rolls (one row per quarter note), lowest pitch 21.
    The first call parses with music21 and writes the cache (``root/jsb_chorales/*.npz``); later calls read it.
    ``limit`` parses only the first ``limit`` chorales of the corpus order, without cache (for tests); the
    split is then made over those. ``download`` is accepted for the loader signature; nothing is downloaded.
    """
    if limit is not None:
        if not isinstance(limit, int) or limit < 3:
            raise ValueError(f"limit: expected an int >= 3 (pieces to parse), got {limit!r}")
        rolls = _parse_all(limit)
        source = f"music21 {_installed_music21_version()} corpus (first {limit} chorales, not cached)"
    else:
        version = _installed_music21_version()
        path = _cache_path(root, version)
        if path.is_file():
            rolls = _read_cache(path)
        else:
            rolls = _parse_all()
            _write_cache(path, rolls)
        digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
        source = f"music21 {version} corpus, cached rolls {path} (sha256 {digest}...)"
    parts = split_names(list(rolls))
    splits = {s: [torch.from_numpy(rolls[n]) for n in names] for s, names in parts.items()}
    return PianoRolls(name="jsb_chorales", lowest_pitch=LOWEST_PITCH, splits=splits, source=source, notes=_NOTES)


def _installed_music21_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("music21")
    except PackageNotFoundError as err:
        raise ImportError("jsb_chorales needs music21: pip install rnnzoo[music]") from err


# --------------------------------------------------------------------------- the benchmark's own pickle

class _NumpyOnlyUnpickler(pickle.Unpickler):
    """Unpickles builtins and numpy arrays/scalars only (the benchmark pickle is a Python 2 pickle that may carry numpy
    scalars; ``_codecs.encode`` is how protocol 2 writes bytes); any other global is refused, so a tampered file
    cannot run code."""

    _ALLOWED = {("numpy", "dtype"), ("numpy", "ndarray"), ("numpy.core.multiarray", "scalar"),
                ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "scalar"),
                ("numpy._core.multiarray", "_reconstruct"), ("_codecs", "encode")}

    def find_class(self, module: str, name: str) -> object:
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"pickle: global {module}.{name} is not allowed (expected numpy arrays, "
                                         f"scalars and builtins only)")
        return super().find_class(module.replace("numpy.core.", "numpy._core."), name)


def read_benchmark_pickle(data: bytes) -> dict[str, list[Tensor]]:
    """Parse the JSB benchmark pickle: ``{"train"|"valid"|"test": [piece, ...]}``, a piece a list of time steps,
    a step a sequence of MIDI pitch numbers. Returns per split a list of ``(T_i, 88)`` float32 rolls (column 0
    = MIDI 21). Raises ``ValueError`` naming the split, piece and step of a pitch that is not an integer in
    21-108, and for a missing split."""
    obj = _NumpyOnlyUnpickler(io.BytesIO(data), encoding="latin1").load()
    if not isinstance(obj, dict):
        raise ValueError(f"pickle: expected a dict of splits, got {type(obj).__name__}")
    out: dict[str, list[Tensor]] = {}
    for split in ("train", "valid", "test"):
        if split not in obj:
            raise ValueError(f"pickle: expected splits train/valid/test, got {sorted(map(str, obj))}")
        rolls = []
        for i, piece in enumerate(obj[split]):
            roll = np.zeros((len(piece), N_PITCHES), dtype=np.float32)
            for t, step in enumerate(piece):
                for pitch in step:
                    value = float(pitch)
                    if value != int(value) or not LOWEST_PITCH <= value < LOWEST_PITCH + N_PITCHES:
                        raise ValueError(f"pickle: {split} piece {i} step {t}: expected a MIDI pitch 21-108, "
                                         f"got {pitch!r}")
                    roll[t, int(value) - LOWEST_PITCH] = 1.0
            rolls.append(torch.from_numpy(roll))
        out[split] = rolls
    return out


_ORIGINAL = Source(
    url="https://web.archive.org/web/20141211164413id_/http://www-etud.iro.umontreal.ca:80/~boulanni/"
        "JSB%20Chorales.pickle",
    sha256="69dc4c3e52800959ac0ab3b82aa3e5f55285ce64f1705acb3e3a8ef77a5c051c",
    kind="canonical",
    filename="JSB Chorales.pickle",
    size=2051809,
    note="the benchmark's pickle (Boulanger-Lewandowski's page, now offline) as archived by the Wayback Machine",
)


def load_jsb_original(root: Path, download: bool = False) -> PianoRolls:
    """The JSB Chorales benchmark's own files (229/76/77, quarter-note steps), read from the downloaded pickle
    in ``root/jsb_chorales_original/`` or ``root/``; checked against its sha256. Online only: no registry
    package carries it."""
    for path in (Path(root) / "jsb_chorales_original" / _ORIGINAL.filename, Path(root) / _ORIGINAL.filename):
        if path.is_file():
            data = path.read_bytes()
            digest = hashlib.sha256(data).hexdigest()
            if digest != _ORIGINAL.sha256:
                raise ValueError(f"{path}: sha256 expected {_ORIGINAL.sha256}, got {digest}; not used")
            return PianoRolls(name="jsb_chorales_original", lowest_pitch=LOWEST_PITCH,
                              splits=read_benchmark_pickle(data), source=f"{path} (sha256 {digest[:16]}...)",
                              notes="The benchmark's files (Boulanger-Lewandowski et al. 2012).")
    raise FileNotFoundError(f"jsb_chorales_original: {_ORIGINAL.filename!r} not found under {root}; run "
                            f"`rnnzoo data fetch jsb_chorales_original` (needs internet: {_ORIGINAL.url})")


_CITATION = ("Boulanger-Lewandowski, Bengio & Vincent 2012, Modeling temporal dependencies in high-dimensional "
             "sequences: application to polyphonic music generation and transcription, ICML, arXiv:1206.6392")

register_dataset(DatasetInfo(
    name="jsb_chorales",
    description="Bach chorales from music21 as 88-key piano rolls at quarter-note steps (JSB reconstruction)",
    citation=_CITATION + "; music21 corpus (Cuthbert & Ariza 2010)",
    licence="music21 corpus: BSD-3 (the chorales are public domain)",
    kind="music",
    splits="train 209 / valid 70 / test 71: seeded shuffle (seed 0) of the 350 music21 chorale files in the "
           "benchmark's proportions 229:76:77",
    loader=load_jsb_chorales,
    extra="music",
    package="music21",
    sources=(),
    notes=_NOTES + " The data comes from the installed music21 package; there is nothing to download.",
    aliases=("jsb",),
))

register_dataset(DatasetInfo(
    name="jsb_chorales_original",
    description="The JSB Chorales benchmark's own pickle (382 chorales, 229/76/77), online only",
    citation=_CITATION,
    licence="none stated (the chorales are public domain)",
    kind="music",
    splits="train 229 / valid 76 / test 77 as published (Allan & Williams 2005 split)",
    loader=load_jsb_original,
    sources=(_ORIGINAL,),
    notes="Boulanger-Lewandowski's page is offline; the Wayback Machine copy is checked by sha256. "
          "The pickle is read with an unpickler that allows numpy arrays and scalars only.",
))
