"""Tagging with word-and-character inputs on a generated tagged corpus (random words, tags from a rule)."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.core.registry import InputKind
from rnnzoo.data.types import TaggedCorpus
from rnnzoo.tasks import register_task
from rnnzoo.tasks import registry as task_registry
from rnnzoo.tasks.corpus_tagging import TaggingTask
from rnnzoo.train import TrainConfig
from rnnzoo.train.build import build_model
from rnnzoo.train.errors import ConfigError
from rnnzoo.train.run import train


def generated(seed: int = 0) -> TaggedCorpus:
    """Random lower-case words of 1-8 letters; the tag is 'V' if the word ends in 'e', else 'N'."""
    g = torch.Generator().manual_seed(seed)
    letters = "abcde"

    def sentence() -> tuple[tuple[str, ...], tuple[str, ...]]:
        n = int(torch.randint(2, 9, (1,), generator=g))
        words = tuple("".join(letters[int(i)] for i in torch.randint(0, 5, (int(torch.randint(1, 9, (1,),
                                                                                              generator=g)),),
                                                                    generator=g)) for _ in range(n))
        return words, tuple("V" if w.endswith("e") else "N" for w in words)

    return TaggedCorpus("generated_tags", ("N", "V"), {s: [sentence() for _ in range(n)] for s, n in
                                                        (("train", 60), ("valid", 10), ("test", 20))},
                        "generated in the test")


def test_word_and_char_ids_and_vocabularies():
    corpus = generated()
    task = TaggingTask(corpus, max_word_len=4)
    assert task.input_kind is InputKind.WORD_CHARS and task.input_size == 5
    assert task.model_options == {"word_vocab": len(task.words), "char_vocab": len(task.chars)}
    assert task.words[:2] == ("<pad>", "<unk>") and task.chars[:2] == ("<pad>", "<unk>")
    batch = task.split("test")
    words, tags = corpus.splits["test"][0]
    for t, w in enumerate(words):
        assert int(batch.x[0, t, 0]) == task.word_ids.get(w, 1)
        chars = [task.chars[int(i)] for i in batch.x[0, t, 1:] if int(i)]
        assert "".join(chars) == w[:4]  # truncated to max_word_len, zero-padded
        assert int(batch.y[0, t]) == task.tag_ids[tags[t]]
    assert int(batch.lengths[0]) == len(words) and not bool(batch.x[0, len(words):].any())
    unseen = task.encode(("zzzz",))
    assert int(unseen[0, 0]) == 1 and unseen[0, 1:5].tolist() == [1, 1, 1, 1]


def test_baseline_and_input_kind_check():
    task = TaggingTask(generated())
    base = task.baseline()
    assert 0.5 < base["accuracy"] <= 1.0  # known words get their (rule-given) tag
    register_task("_test_tags", lambda seq_len=None: TaggingTask(generated(), name="_test_tags"), "t", "b")
    try:
        cfg = TrainConfig.from_dict(dict(model="lstm", task="_test_tags", seq_len=None, progress="none"))
        with pytest.raises(ConfigError, match="word_chars"):
            build_model(cfg, task)
    finally:
        del task_registry._REGISTRY["_test_tags"]


def test_cnn_bilstm_trains_on_the_tags(tmp_path):
    register_task("_test_tags", lambda seq_len=None: TaggingTask(generated(), name="_test_tags"), "t", "b")
    try:
        cfg = TrainConfig.from_dict(dict(model="cnn_bilstm", task="_test_tags", seq_len=None, hidden_size=16,
                                         batch_size=10, epochs=10, val_every=None,
                                         optimizer="adam", lr=0.01, progress="none", threads=1))
        res = train(cfg, run_dir=tmp_path / "run", echo=lambda s: None)
    finally:
        del task_registry._REGISTRY["_test_tags"]
    assert res["test"]["accuracy"] > 0.9
