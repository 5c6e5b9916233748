"""Heads, targets, metrics, configuration layering: the pieces under the training loop."""

from __future__ import annotations

import math

import pytest
import torch

from rnnzoo import cli
from rnnzoo.train import ConfigError, SequenceMetrics, SequenceModel, TrainConfig, full_loss, last_valid, make_targets
from rnnzoo.train.config import parse_tbptt
from rnnzoo.train.metrics import derived_baseline
from rnnzoo.train.module import Schedule


def test_last_valid_picks_each_sequences_last_step():
    out = torch.arange(2 * 5 * 1, dtype=torch.float32).view(2, 5, 1)
    assert last_valid(out, None).flatten().tolist() == [4.0, 9.0]
    assert last_valid(out, torch.tensor([2, 5])).flatten().tolist() == [1.0, 9.0]


@pytest.mark.parametrize("head,shape", [("last", (3, 4)), ("per_step", (3, 6, 4)), ("next_token", (3, 6, 4))])
def test_sequence_model_shapes_and_rebuild(head, shape):
    torch.manual_seed(0)
    m = SequenceModel("gru", input_size=2, output_size=4, hidden_size=5, head=head, num_layers=2,
                      bidirectional=head == "last")
    x = torch.randn(3, 6, 2)
    y, _ = m(x, lengths=torch.tensor([6, 3, 1]))
    assert tuple(y.shape) == shape
    assert m.head.in_features == (10 if head == "last" else 5)
    again = SequenceModel.from_config(m.config)
    again.load_state_dict(m.state_dict())
    torch.testing.assert_close(again(x)[0], m(x)[0])


def test_last_head_uses_lengths():
    """Padding after a sequence's end does not change its output."""
    torch.manual_seed(0)
    m = SequenceModel("lstm", input_size=2, output_size=1, hidden_size=4, head="last")
    x = torch.randn(1, 7, 2)
    padded = torch.cat([x[:, :4], torch.randn(1, 3, 2) * 100], dim=1)
    torch.testing.assert_close(m(padded, lengths=torch.tensor([4]))[0], m(x[:, :4])[0])


def test_next_token_targets_are_shifted():
    y = torch.tensor([[1, 2, 3, 4], [5, 6, 7, 8]])
    t = make_targets("next_token", y, torch.tensor([4, 3]), 4, "cross_entropy")
    assert t.y[:, :3].tolist() == [[2, 3, 4], [6, 7, 8]]
    assert t.mask.tolist() == [[True, True, True, False], [True, True, False, False]]
    assert t.count == 5


def test_full_loss_is_the_mean_over_scored_steps():
    logits = torch.randn(2, 3, 4)
    y = torch.randint(0, 4, (2, 3))
    t = make_targets("per_step", y, torch.tensor([3, 1]), 3, "cross_entropy")
    want = torch.nn.functional.cross_entropy(torch.cat([logits[0], logits[1, :1]]), torch.cat([y[0], y[1, :1]]))
    torch.testing.assert_close(full_loss(logits, t, "cross_entropy"), want)


def test_classification_metrics_agree():
    metrics = SequenceMetrics("cross_entropy", 3)
    logits = torch.randn(50, 3)
    y = torch.randint(0, 3, (50,))
    metrics.update(logits, make_targets("last", y, None, 1, "cross_entropy"))
    v = metrics.compute()
    ce = torch.nn.functional.cross_entropy(logits.double(), y).item()
    acc = (logits.argmax(1) == y).double().mean().item()
    assert v["cross_entropy"] == pytest.approx(ce)
    assert v["perplexity"] == pytest.approx(math.exp(ce), rel=1e-5)
    assert v["bpc"] == pytest.approx(ce / math.log(2))
    assert v["accuracy"] == pytest.approx(acc) and v["error_rate"] == pytest.approx(1 - acc)
    metrics.reset()
    reg = SequenceMetrics("mse", 1)
    reg.update(torch.zeros(4, 1), make_targets("last", torch.ones(4, 1), None, 1, "mse"))
    assert reg.compute() == {"mse": pytest.approx(1.0)}


def test_derived_baseline():
    b = derived_baseline({"accuracy": 0.25, "cross_entropy": math.log(4)})
    assert b["error_rate"] == 0.75 and b["perplexity"] == pytest.approx(4) and b["bpc"] == pytest.approx(2)


def test_schedules():
    assert [Schedule("constant", 2, 10, 1, 0.5)(s) for s in range(3)] == [0.5, 1.0, 1.0]
    cos = Schedule("cosine", 0, 10, 1, 0.5)
    assert cos(0) == 1.0 and cos(5) == pytest.approx(0.5) and cos(10) == pytest.approx(0.0)
    assert [Schedule("step", 0, 10, 3, 0.5)(s) for s in (0, 3, 6)] == [1.0, 0.5, 0.25]


@pytest.mark.parametrize("text,want", [("8", [8, 8]), ("4,16", [4, 16]), (" 3 , 3 ", [3, 3]), (None, None),
                                       ("none", None), ([2, 5], [2, 5])])
def test_parse_tbptt(text, want):
    assert parse_tbptt(text) == want


@pytest.mark.parametrize("text", ["0", "5,2", "1.5", "a,b", "1,2,3", True])
def test_parse_tbptt_rejects(text):
    with pytest.raises(ConfigError, match="--tbptt"):
        parse_tbptt(text)


def test_config_rejects_unknown_keys_with_a_suggestion():
    with pytest.raises(ConfigError, match="did you mean 'hidden_size'"):
        TrainConfig.from_dict({"hiden_size": 3})


def test_layering_drops_options_of_the_default_model_and_task():
    base = {"model": "lstm", "task": "adding", "seq_len": 100, "options": {"forget_bias": 1.0}, "task_options": {},
            "stop_at": 0.001}
    gru = cli.layer(base, {"model": "gru"})
    assert gru["options"] == {} and gru["seq_len"] == 100
    same = cli.layer(base, {"model": "lstm", "options": {"peephole": True}})
    assert same["options"] == {"forget_bias": 1.0, "peephole": True}
    copy = cli.layer(base, {"task": "copy"})
    assert copy["seq_len"] is None and copy["model"] == "lstm" and copy["stop_at"] is None
    assert cli.layer(base, {"task": "copy", "seq_len": 30})["seq_len"] == 30


def test_default_job_is_the_documented_one():
    cfg = cli.resolve_config(cli.build_parser().parse_args(["train"]))
    assert (cfg.model, cfg.task, cfg.seq_len, cfg.clip_norm) == ("lstm", "adding", 100, 1.0)
    assert cfg.options == {"forget_bias": 1.0}


def test_default_run_dir_is_never_reused(tmp_path):
    from rnnzoo.train.run import default_run_dir

    cfg = TrainConfig.from_dict({"model": "gru", "task": "copy"})
    first = default_run_dir(cfg, 120, tmp_path)
    assert first.parent == tmp_path and first.name.startswith("gru-copy-T120-")
    first.mkdir()
    second = default_run_dir(cfg, 120, tmp_path)
    assert second != first and not second.exists()
