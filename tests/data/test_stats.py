"""Statistics of all four containers, on data the test generates (not real data)."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.data.stats import corpus_stats, format_stats
from rnnzoo.data.types import LabelledSequences, PianoRolls, TaggedCorpus, TextCorpus


def test_text_oov_and_unk() -> None:
    c = TextCorpus(name="t", unit="word", vocab=("<eos>", "<unk>", "a", "b"), source="generated",
                   splits={"train": torch.tensor([0, 1, 2]), "valid": torch.tensor([3, 3, 2, 1])})
    s = corpus_stats(c)
    assert s["splits"]["valid"]["oov_rate"] == 0.5 and s["splits"]["valid"]["unk_rate"] == 0.25
    assert s["splits"]["train"]["tokens"] == 3 and s["vocabulary"] == 4


def test_music_classification_tagging() -> None:
    rolls = PianoRolls(name="m", lowest_pitch=21, source="generated",
                       splits={"train": [torch.ones(4, 3), torch.zeros(2, 3)]})
    m = corpus_stats(rolls)["splits"]["train"]
    assert m["steps"] == {"min": 2, "median": 3.0, "max": 4} and m["notes_per_step"] == 2.0
    seqs = LabelledSequences(name="c", classes=("x", "y"), feature_names=("f",), source="generated",
                             splits={"train": [torch.zeros(7, 1), torch.zeros(29, 1), torch.zeros(9, 1)]},
                             labels={"train": torch.tensor([1, 1, 0])})
    c = corpus_stats(seqs)["splits"]["train"]
    assert c["class_balance"] == {"x": 1, "y": 2} and c["length"]["max"] == 29
    tagged = TaggedCorpus(name="g", tags=("at", "nn"), source="generated",
                          splits={"train": [(("the", "dog"), ("at", "nn"))], "test": [(("a", "dog"), ("at", "nn"))]})
    g = corpus_stats(tagged)
    assert g["splits"]["test"]["oov_rate"] == 0.5 and g["splits"]["train"]["top_tags"] == {"at": 1, "nn": 1}
    assert any(line.startswith("test: sentences 1") for line in format_stats(g))


def test_unknown_container() -> None:
    with pytest.raises(TypeError, match="data: expected"):
        corpus_stats([1, 2])
