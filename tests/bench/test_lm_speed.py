"""benchmarks/lm_speed.py: its hand loop walks the streams as the trainer does, and the trainer's update (the
gradient norm computed once and reused for clipping) clips as torch.nn.utils.clip_grad_norm_ does."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import lightning as L
import pytest
import torch

from rnnzoo.data.types import TextCorpus
from rnnzoo.tasks import register_task
from rnnzoo.tasks import registry as task_registry
from rnnzoo.tasks.corpus import LanguageModelTask
from rnnzoo.train import TrainConfig
from rnnzoo.train.module import LitSequenceModel
from rnnzoo.train.objective import make_targets
from rnnzoo.train.run import train
from rnnzoo.train.tbptt import windows

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "lm_speed.py"
V = 11


def _script():
    spec = importlib.util.spec_from_file_location("lm_speed", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules["lm_speed"] = module
    spec.loader.exec_module(module)
    return module


def _corpus(n: int, seed: int = 0) -> TextCorpus:
    g = torch.Generator().manual_seed(seed)
    splits = {name: torch.randint(0, V, (size,), generator=g) for name, size in
              (("train", n), ("valid", 60), ("test", 60))}
    return TextCorpus("generated_uniform", "word", tuple(f"w{i}" for i in range(V)), splits, "generated in the test")


@pytest.fixture
def lm_task():
    register_task("_test_lm_speed", lambda seq_len=None: LanguageModelTask(_corpus(403), name="_test_lm_speed"),
                  "generated token stream (tests)", "unigram")
    yield "_test_lm_speed"
    del task_registry._REGISTRY["_test_lm_speed"]


@pytest.mark.parametrize("k", [1, 5, 7])
def test_hand_windows_are_the_trainers_windows(k):
    lm = _script()
    data = LanguageModelTask(_corpus(403)).layout(4)  # (4, 100)
    targets = make_targets("next_token", data, None, data.shape[1], "cross_entropy")
    scored = [w for w in windows(data.shape[1], k, k) if bool(targets.mask[:, w.start:w.stop].any())]
    got = list(lm.stream_windows(data, k))
    assert len(got) == len(scored)
    for (x, y), w in zip(got, scored, strict=True):
        stop = min(w.stop, data.shape[1] - 1)  # the trainer's last step has no target
        assert torch.equal(x, data[:, w.start:stop])
        assert torch.equal(y, targets.y[:, w.start:stop])
        assert bool(targets.mask[:, w.start:stop].all())


def test_stream_windows_and_rate_reject_bad_input():
    lm = _script()
    with pytest.raises(ValueError, match=r"data: expected token ids of shape \(B, L\), got shape \(5,\)"):
        next(lm.stream_windows(torch.zeros(5, dtype=torch.long), 2))
    with pytest.raises(ValueError, match="k: expected a window length >= 1, got 0"):
        next(lm.stream_windows(torch.zeros(2, 5, dtype=torch.long), 0))
    with pytest.raises(ValueError, match=r"marks: expected 4 .* got 3"):
        lm.rate([0.0, 1.0, 2.0], 2, 2)
    assert lm.rate([0.0, 1.0, 3.0, 5.0], 2, 2) == pytest.approx(2 / 4.0)


@pytest.fixture
def one_thread():
    """One intra-op thread (two spinning OpenMP threads on a busy 2-core machine made this test 25 s), restored."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def test_hand_loop_learns_and_refuses_too_many_windows(one_thread):
    lm = _script()
    torch.manual_seed(0)
    # a learnable stream: token t+1 = token t + 1 (mod V)
    ids = (torch.arange(4 * 400) % V).view(4, 400)
    marks, losses = lm.hand_loop(ids, V, windows=60, k=5, hidden=32, layers=1, lr=1.0)
    assert len(marks) == len(losses) == 60 and marks == sorted(marks)
    assert sum(losses[-5:]) < 0.2 * sum(losses[:5])  # 12.0 (5 ln 11) per window at first, ~0.1 at the end
    with pytest.raises(ValueError, match="windows: the streams hold 80 windows of 5, expected >= 81"):
        lm.hand_loop(ids, V, windows=81, k=5, hidden=8, layers=1)


def test_trainer_update_clips_to_the_global_norm(tmp_path, lm_task):
    """One SGD step (lr 1) with a tiny clip: the weights move by exactly the clip norm (unclipped they would
    move by the gradient's norm, here far larger)."""
    cfg = TrainConfig.from_dict(dict(
        model="lstm", task=lm_task, seq_len=None, head="next_token", hidden_size=8, batch_size=4, tbptt=[5, 5],
        optimizer="sgd", lr=1.0, momentum=0.0, clip_norm=1e-3, time_reduction="sum", max_steps=1,
        val_every=10**6, progress="none", threads=1, eval_batch_size=1))
    L.seed_everything(cfg.seed, verbose=False)
    before = torch.cat([p.detach().flatten() for p in LitSequenceModel(cfg.to_dict()).model.parameters()])
    train(cfg, tmp_path / "run", echo=lambda line: None)
    state = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    names = [n for n, _ in LitSequenceModel(cfg.to_dict()).model.named_parameters()]
    after = torch.cat([state["state_dict"]["model." + n].flatten() for n in names])
    assert float((after - before).norm()) == pytest.approx(1e-3, rel=1e-3)
