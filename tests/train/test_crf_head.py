"""The CRF output layer of the trainer (``--crf``): its loss, its Viterbi metrics, checkpoints, resume, errors.

The transition-dependent task is generated here: every sentence has one tag, shown in the input at one random
step only (a one-hot "tag k" at that step, "nothing" elsewhere). A causal (left-to-right) LSTM cannot know the
tag before that step, so a per-step softmax guesses there; a CRF learns that a tag follows itself and carries
the revealed tag back to the earlier steps through its Viterbi path.
"""

from __future__ import annotations

import json

import pytest
import torch

from rnnzoo import cli
from rnnzoo.crf import PAD_TAG
from rnnzoo.data.types import TaggedCorpus
from rnnzoo.tasks import Batch, register_task
from rnnzoo.tasks import registry as task_registry
from rnnzoo.tasks.base import GeneratedTask, balanced_classification_baseline, check_int
from rnnzoo.tasks.corpus_tagging import TaggingTask
from rnnzoo.train import TrainConfig
from rnnzoo.train.build import build_model, build_task
from rnnzoo.train.errors import ConfigError
from rnnzoo.train.heads import SequenceModel
from rnnzoo.train.objective import crf_loss, make_targets
from rnnzoo.train.run import evaluate_checkpoint, evaluate_model, monitor_of, train

TASK = "_test_revealed_tag"


class RevealedTag(GeneratedTask):
    """K tags; a sentence of 3..T steps has one tag throughout, shown at one uniformly drawn step.

    ``x`` ``(B, T, 1 + K)`` one-hot (feature 0: nothing shown, 1 + k: tag k shown), ``y`` ``(B, T)``,
    ``lengths`` ``(B,)``; steps past the length are zero inputs and tag 0.
    """

    target = "per_step"
    loss = "cross_entropy"
    metrics = ["accuracy", "cross_entropy"]  # noqa: RUF012

    def __init__(self, seq_len: int | None = None, num_tags: int = 3) -> None:
        super().__init__(valid_size=200, test_size=200)
        self.seq_len = check_int("seq_len", 8 if seq_len is None else seq_len, 3)
        self.num_tags = check_int("num_tags", num_tags, 2)
        self.name, self.input_size, self.output_size = TASK, 1 + self.num_tags, self.num_tags

    def _generate(self, batch_size: int, generator: torch.Generator) -> Batch:
        B, T, K = batch_size, self.seq_len, self.num_tags
        lengths = torch.randint(3, T + 1, (B,), generator=generator)
        tag = torch.randint(0, K, (B,), generator=generator)
        shown = (torch.rand(B, generator=generator) * lengths).long()  # uniform in [0, length)
        valid = torch.arange(T) < lengths.unsqueeze(1)
        code = torch.zeros(B, T, dtype=torch.long)
        code[torch.arange(B), shown] = 1 + tag
        x = torch.nn.functional.one_hot(code, 1 + K).float() * valid.unsqueeze(2)
        y = torch.where(valid, tag.unsqueeze(1), 0)
        return Batch(x, y, lengths)

    def baseline(self) -> dict[str, float]:
        return balanced_classification_baseline(self.num_tags)

    def baseline_output(self, x: torch.Tensor) -> torch.Tensor:
        return torch.full((*x.shape[:2], self.num_tags), -torch.log(torch.tensor(float(self.num_tags))))


@pytest.fixture
def task_name():
    register_task(TASK, RevealedTag, "generated: one tag per sentence, shown at one step", "1/K")
    try:
        yield TASK
    finally:
        del task_registry._REGISTRY[TASK]


def config(**over) -> TrainConfig:
    base = dict(model="lstm", task=TASK, seq_len=None, hidden_size=16, batch_size=32, optimizer="adam", lr=0.03,
                max_steps=150, val_every=150, progress="none", threads=1, seed=0, crf=True)
    return TrainConfig.from_dict({**base, **over})


def quiet(_: str) -> None:
    pass


def test_the_loss_is_the_sentence_nll_averaged_over_the_batch(task_name):
    torch.manual_seed(0)
    cfg = config()
    task = build_task(cfg)
    model = build_model(cfg, task)
    batch = task.sample(5, torch.Generator().manual_seed(1))
    emissions, _ = model(batch.x, lengths=batch.lengths)
    targets = make_targets("per_step", batch.y, batch.lengths, batch.x.shape[1], task.loss)
    loss = crf_loss(model.crf, emissions, targets)
    alone = []  # each sentence by itself, cut to its length (no mask at all)
    for b in range(5):
        n = int(batch.lengths[b])
        e, _ = model(batch.x[b:b + 1, :n])
        alone.append(model.crf.nll(e, batch.y[b:b + 1, :n]))
    torch.testing.assert_close(loss, torch.cat(alone).mean())


def test_the_crf_beats_a_softmax_on_a_transition_dependent_task(task_name, tmp_path):
    crf = train(config(), run_dir=tmp_path / "crf", echo=quiet)
    soft = train(config(crf=False), run_dir=tmp_path / "softmax", echo=quiet)
    # the causal softmax cannot know a tag before it is shown: about (1 + 1/K) / 2 of the steps are right
    assert soft["test"]["accuracy"] < 0.85
    assert crf["test"]["accuracy"] > 0.95 and crf["test"]["accuracy"] > soft["test"]["accuracy"] + 0.1
    assert set(crf["test"]) == {"accuracy", "error_rate", "nll_per_token", "nll_per_sentence"}
    assert crf["monitor"] == "accuracy"
    # the trained transitions prefer a tag to follow itself
    trans = torch.load(tmp_path / "crf" / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"][
        "model.crf.transitions"]
    assert bool((trans.diagonal().unsqueeze(1) > trans + torch.eye(3) * -1e9).all())


def test_metrics_equal_a_hand_computation_from_viterbi(task_name):
    torch.manual_seed(0)
    cfg = config()
    task = build_task(cfg)
    model = build_model(cfg, task)
    with torch.no_grad():  # a CRF whose path differs from the per-step argmax: it forbids a tag to repeat
        model.head.weight.mul_(20.0)
        model.crf.transitions.copy_(-3.0 * torch.eye(3) + 0.1 * torch.randn(3, 3))
    metrics = evaluate_model(model, task, "valid", batch_size=64)  # in batches, padded to T
    data = task.split("valid")
    with torch.no_grad():
        e, _ = model(data.x, lengths=data.lengths)
    valid = torch.arange(data.x.shape[1]) < data.lengths.unsqueeze(1)
    assert float((model.crf.viterbi(e, valid).tags == e.argmax(-1))[valid].float().mean()) < 0.8  # they differ
    right = tokens = 0
    nll = []
    with torch.no_grad():
        for b in range(data.x.shape[0]):  # one sentence at a time, cut to its length
            n = int(data.lengths[b])
            e, _ = model(data.x[b:b + 1, :n])
            path = model.crf.viterbi(e).tags[0]
            right += int((path == data.y[b, :n]).sum())
            tokens += n
            nll.append(float(model.crf.nll(e, data.y[b:b + 1, :n])))
    assert metrics["accuracy"] == pytest.approx(right / tokens, abs=1e-6)
    assert metrics["error_rate"] == pytest.approx(1 - right / tokens, abs=1e-6)
    assert metrics["nll_per_token"] == pytest.approx(sum(nll) / tokens, rel=1e-5)
    assert metrics["nll_per_sentence"] == pytest.approx(sum(nll) / len(nll), rel=1e-5)
    decoded = model.decode(data.x[:3], lengths=data.lengths[:3])
    assert int((decoded == PAD_TAG).sum()) == int((data.x.shape[1] - data.lengths[:3]).sum())


def test_resume_is_exact_and_evaluate_reads_the_crf(task_name, tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    cfg = config(max_steps=8, val_every=3, dropout=0.0)
    res = train(cfg, run_dir=whole, echo=quiet)
    train(cfg.replace(max_steps=5), run_dir=part, echo=quiet)
    train(cfg, resume=part, echo=quiet)
    a = torch.load(whole / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert "model.crf.transitions" in a
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    out = evaluate_checkpoint(whole / "checkpoints" / "last.ckpt", "test")
    assert out["metrics"] == pytest.approx(res["test"])
    assert json.loads((whole / "results.json").read_text())["config"]["crf"] is True


def test_the_cli_flag(task_name, tmp_path):
    run = tmp_path / "cli"
    argv = ["train", "--model", "lstm", "--task", TASK, "--hidden-size", "8", "--max-steps", "2", "--val-every", "2",
            "--batch-size", "8", "--progress", "none", "--threads", "1", "--run-dir", str(run)]
    assert cli.main([*argv, "--crf"]) == 0
    assert set(json.loads((run / "results.json").read_text())["valid"]) >= {"nll_per_token", "accuracy"}
    assert cli.main(["evaluate", str(run), "--split", "valid"]) == 0
    # mixed precision: the head's bf16 emissions go to the float32 CRF
    assert cli.main([*argv, "--crf", "--precision", "bf16-mixed", "--overwrite"]) == 0


def test_config_errors(task_name):
    with pytest.raises(ConfigError, match=r"--crf.*--tbptt"):
        config(tbptt="4")
    with pytest.raises(ConfigError, match="--crf.*per-step.*--head last"):
        config(head="last")
    with pytest.raises(ConfigError, match="--crf.*per-step.*--head next_token"):
        config(head="next_token")
    with pytest.raises(ConfigError, match="--crf: expected true or false"):
        config(crf="yes")
    adding = TrainConfig.from_dict(dict(task="adding", seq_len=10, crf=True, progress="none"))
    with pytest.raises(ConfigError, match="--crf: needs a task with one class label per step.*'adding'"):
        build_model(adding, build_task(adding))
    cfg = config(monitor="cross_entropy")
    with pytest.raises(ConfigError, match="--monitor.*nll_per_token.*with --crf.*'cross_entropy'"):
        monitor_of(cfg, build_task(cfg))
    with pytest.raises(ValueError, match="crf: a CRF needs the per_step head"):
        SequenceModel("lstm", input_size=3, output_size=2, hidden_size=4, head="last", crf=True)


def generated_corpus(seed: int = 0) -> TaggedCorpus:
    """Random words over 'abc' (generated here); a word's tag is 'S' if it starts with 'a', else the tag of the
    word before it ('S' at the first word): the tag depends on the previous tag."""
    g = torch.Generator().manual_seed(seed)

    def sentence() -> tuple[tuple[str, ...], tuple[str, ...]]:
        words = tuple("".join("abc"[int(i)] for i in torch.randint(0, 3, (int(torch.randint(1, 5, (1,), generator=g)),),
                                                                   generator=g))
                      for _ in range(int(torch.randint(2, 9, (1,), generator=g))))
        tags, prev = [], "S"
        for w in words:
            prev = "S" if w.startswith("a") else ("T" if prev == "S" and tags else prev)
            tags.append(prev)
        return words, tuple(tags)

    return TaggedCorpus("generated_chain", ("S", "T"), {s: [sentence() for _ in range(n)] for s, n in
                                                         (("train", 60), ("valid", 10), ("test", 20))},
                        "generated in the test")


def test_cnn_bilstm_with_a_crf_tags_word_and_character_inputs(tmp_path):
    register_task("_test_crf_tags", lambda seq_len=None: TaggingTask(generated_corpus(), name="_test_crf_tags"),
                  "generated tagged corpus", "b")
    try:
        cfg = TrainConfig.from_dict(dict(model="cnn_bilstm", task="_test_crf_tags", seq_len=None, hidden_size=16,
                                         batch_size=10, epochs=3, val_every=None, optimizer="adam", lr=0.01,
                                         progress="none", threads=1, crf=True))
        res = train(cfg, run_dir=tmp_path / "run", echo=quiet)
        out = evaluate_checkpoint(tmp_path / "run", "test")
    finally:
        del task_registry._REGISTRY["_test_crf_tags"]
    assert out["metrics"] == pytest.approx(res["test"])  # the checkpoint rebuilds the CRF
    assert res["test"]["nll_per_sentence"] >= res["test"]["nll_per_token"] > 0.0
