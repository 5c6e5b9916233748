"""Language modelling the way Zaremba et al. 2014 train it: B contiguous streams, TBPTT windows carrying the
state, one update per window, perplexity on the whole valid/test stream. Every corpus here is generated."""

from __future__ import annotations

import csv
import json
import math

import pytest
import torch

from rnnzoo.data.types import TextCorpus
from rnnzoo.tasks import get_task, register_task
from rnnzoo.tasks import registry as task_registry
from rnnzoo.tasks.corpus import LanguageModelTask
from rnnzoo.train import SequenceModel, TrainConfig
from rnnzoo.train.epochs import resolve_epochs, updates_per_epoch
from rnnzoo.train.errors import ConfigError
from rnnzoo.train.metrics import SequenceMetrics
from rnnzoo.train.module import Schedule
from rnnzoo.train.objective import make_targets
from rnnzoo.train.run import train
from rnnzoo.train.stream import stream_update
from rnnzoo.train.tbptt import Chunks

V = 12


def markov_corpus(n_train: int = 3000, seed: int = 0) -> TextCorpus:
    """A generated corpus with structure to learn: token t+1 = (3 t + noise) mod V, noise in {0, 1}."""
    g = torch.Generator().manual_seed(seed)

    def stream(n: int) -> torch.Tensor:
        ids = torch.empty(n, dtype=torch.long)
        ids[0] = 0
        noise = torch.randint(0, 2, (n,), generator=g)
        for i in range(1, n):
            ids[i] = (3 * ids[i - 1] + noise[i]) % V
        return ids

    return TextCorpus("generated_markov", "word", tuple(f"w{i}" for i in range(V)),
                      {"train": stream(n_train), "valid": stream(400), "test": stream(500)}, "generated in the test")


@pytest.fixture(autouse=True)
def _test_lm_task():
    """The task ``_test_lm`` (a generated Markov stream), registered for each test and removed after it."""
    def factory(seq_len: int | None = None, n_train: int = 3000) -> LanguageModelTask:
        return LanguageModelTask(markov_corpus(n_train), name="_test_lm", seq_len=seq_len)

    register_task("_test_lm", factory, "generated Markov token stream (tests)", "unigram")
    yield
    del task_registry._REGISTRY["_test_lm"]


def lm_config(**changes) -> TrainConfig:
    base = dict(model="lstm", task="_test_lm", seq_len=None, head="next_token", hidden_size=16, batch_size=4,
                tbptt=[5, 5], optimizer="sgd", lr=1.0, momentum=0.0, clip_norm=5.0, time_reduction="sum",
                max_steps=6, val_every=3, progress="none", threads=1, eval_batch_size=1)
    return TrainConfig.from_dict({**base, **changes})


def test_stream_layout_is_the_view_b_l_layout():
    corpus = markov_corpus(1003)
    task = LanguageModelTask(corpus)
    batch = task.sample(4, torch.Generator().manual_seed(0))
    L = 1003 // 4
    assert batch.x.shape == (4, L) and batch.x.dtype == torch.int64
    assert torch.equal(batch.x, corpus.splits["train"][: 4 * L].view(4, L))
    assert torch.equal(batch.x[1, :3], corpus.splits["train"][L:L + 3])  # row 1 continues where row 0 stops
    valid = task.split("valid")
    assert valid.x.shape == (1, 400)
    with pytest.raises(ValueError, match="seq_len"):
        LanguageModelTask(corpus, seq_len=35)
    with pytest.raises(ValueError, match="batch_size"):
        task.layout(1000)


def test_next_token_targets_cross_window_boundaries():
    task = LanguageModelTask(markov_corpus(400))
    x = task.sample(4, torch.Generator()).x
    targets = make_targets("next_token", x, None, x.shape[1], "cross_entropy")
    model = SequenceModel("lstm", input_size=V, output_size=V, hidden_size=8, head="next_token", input_vocab=V)
    chunks = Chunks(model, x, targets, 5, 5, loss="cross_entropy")
    assert torch.equal(chunks.targets.y[:, 4], x[:, 5])  # last step of window 0 predicts the first of window 1
    assert bool(targets.mask[:, :-1].all()) and not bool(targets.mask[:, -1].any())
    assert updates_per_epoch(lm_config(), task) == math.ceil((x.shape[1] - 1) / 5)


def test_windowed_stream_evaluation_equals_a_full_forward():
    torch.manual_seed(0)
    task = LanguageModelTask(markov_corpus(400))
    model = SequenceModel("lstm", input_size=V, output_size=V, hidden_size=8, head="next_token", input_vocab=V,
                          num_layers=2).eval()
    x = task.split("test").x
    metrics = SequenceMetrics("cross_entropy", V)
    stream_update(model, metrics, x, x, "next_token", "cross_entropy", window=7)
    got = metrics.compute()
    with torch.no_grad():
        logits, _ = model(x)  # naive: the whole stream at once
    ce = torch.nn.functional.cross_entropy(logits[0, :-1].double(), x[0, 1:]).item()
    assert got["cross_entropy"] == pytest.approx(ce, rel=1e-5)
    assert got["perplexity"] == pytest.approx(math.exp(ce), rel=1e-5)
    assert got["bpc"] == pytest.approx(ce / math.log(2), rel=1e-5)


def test_tied_weights_share_the_matrix_and_name_both_sizes():
    m = SequenceModel("lstm", input_size=V, output_size=V, hidden_size=8, head="next_token", input_vocab=V,
                      tie_weights=True)
    assert m.head.weight is m.embedding.weight
    with pytest.raises(ValueError, match=r"tie_weights: .*\(12 x 6\).*\(12 x 8\)"):
        SequenceModel("lstm", input_size=V, output_size=V, hidden_size=8, head="next_token", input_vocab=V,
                      embedding_size=6, tie_weights=True)
    with pytest.raises(ConfigError, match="--tie-weights"):
        train(lm_config(embedding_size=6, tie_weights=True), run_dir=None)


def test_epoch_decay_schedule_is_zaremba():
    s = Schedule("epoch_decay", 0, 100, 1, 0.5, per_epoch=10, decay_start=4)
    assert [s(10 * e) for e in range(7)] == [1, 1, 1, 1, 0.5, 0.25, 0.125]  # epochs 1-4 at the full rate
    assert s(39) == 1 and s(40) == 0.5


def test_config_errors_name_the_flag():
    with pytest.raises(ConfigError, match="--time-reduction"):
        lm_config(time_reduction="max")
    with pytest.raises(ConfigError, match="--epochs"):
        lm_config(epochs=0)
    with pytest.raises(ConfigError, match="--schedule: epoch_decay needs --epochs"):
        lm_config(schedule="epoch_decay")
    with pytest.raises(ConfigError, match="--epochs: task 'adding'"):
        resolve_epochs(TrainConfig(epochs=2), get_task("adding", seq_len=10))
    cfg = resolve_epochs(lm_config(epochs=2, val_every=None), get_task("_test_lm"))
    per = math.ceil((3000 // 4 - 1) / 5)
    assert cfg.max_steps == 2 * per and cfg.val_every == per


def test_training_windows_lower_the_loss(tmp_path):
    res = train(lm_config(max_steps=60, val_every=60, lr=0.03, time_reduction="mean", optimizer="adam",
                          log_every=1), run_dir=tmp_path / "run", echo=lambda s: None)
    assert res["valid"]["perplexity"] < 0.6 * res["baseline"]["perplexity"]  # unigram ~V: the chain is learnt
    with (tmp_path / "run" / "metrics.csv").open() as fh:
        losses = [float(r["train/loss"]) for r in csv.DictReader(fh) if r["train/loss"]]
    assert len(losses) == 60 and sum(losses[-10:]) < 0.5 * sum(losses[:10])


def test_resume_mid_epoch_is_exact(tmp_path):
    whole, part = tmp_path / "whole", tmp_path / "part"
    cfg = lm_config(dropout=0.3, num_layers=2, max_steps=10, val_every=3)
    train(cfg, run_dir=whole, echo=lambda s: None)
    train(cfg.replace(max_steps=7), run_dir=part, echo=lambda s: None)
    ckpt = torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)
    assert ckpt["rnnzoo"]["tbptt"]["window"] == 7 and ckpt["rnnzoo"]["batches"] == 0  # inside epoch 1
    train(cfg, resume=part, echo=lambda s: None)
    a = torch.load(whole / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    b = torch.load(part / "checkpoints" / "last.ckpt", weights_only=True)["state_dict"]
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_epochs_run_records_epoch_times_and_curves(tmp_path):
    cfg = lm_config(task_options={"n_train": 400}, epochs=2, val_every=None, schedule="epoch_decay",
                    lr_decay_start=1)
    res = train(cfg, run_dir=tmp_path / "run", echo=lambda s: None)
    per = math.ceil((400 // 4 - 1) / 5)
    assert res["steps"] == 2 * per and res["batches"] == 2 and res["updates_per_epoch"] == per
    assert len(res["epoch_seconds"]) == 2 and len(res["tokens_per_second"]) == 2
    assert (tmp_path / "run" / "curves.png").stat().st_size > 1000
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["config"]["epochs"] == 2


def test_the_task_defaults_are_zaremba_and_flags_override_them():
    from rnnzoo.train.config import layer
    from rnnzoo.train.defaults import DEFAULT_JOB

    cfg = TrainConfig.from_dict(layer(DEFAULT_JOB, {"task": "ptb_word", "epochs": 1}))
    assert (cfg.batch_size, cfg.tbptt, cfg.hidden_size, cfg.num_layers) == (20, [20, 20], 200, 2)
    assert (cfg.optimizer, cfg.lr, cfg.momentum, cfg.clip_norm, cfg.time_reduction) == ("sgd", 1.0, 0.0, 5.0, "sum")
    assert (cfg.schedule, cfg.lr_decay_start, cfg.gamma, cfg.head, cfg.options) == ("epoch_decay", 4, 0.5,
                                                                                  "next_token", {})
    assert cfg.epochs == 1 and cfg.val_every is None and cfg.stop_at is None and cfg.init == "uniform=0.1"
    assert TrainConfig.from_dict(layer(DEFAULT_JOB, {"task": "ptb_word", "batch_size": 32})).batch_size == 32
