"""Issue 11's speed claims: SRU, IndRNN and minGRU reach a fixed loss in less wall-clock than the LSTM.

The papers' speed figures are GPU measurements (CUDA kernels, large batches); these runs are on the CPU, on a
generated task, so they test the direction of the claim on this hardware, never its size. Each claim trains its
model and an LSTM of the same hidden size with the same optimiser on the adding problem (T = 100), stops each
run at the target validation MSE, and compares the wall-clock seconds of training until the validation MSE first
reached it (metric ``seconds_to_mse_0.01``, :func:`rnnzoo.reproduce.runner.seconds_to`: validations included,
``inf`` when never reached within the budget); lower is better. One claim per paper, each with its own LSTM
runs, so that the pair is measured in the same stretch of time on a shared machine.

Time estimate: the LSTM run's seconds per update measured on this branch (150 updates of this configuration,
validations included, 2 cores shared with other sessions at a load average of about 5, one thread), times the budget
of updates, for both runs of a claim and three seeds: an upper bound (runs stop at the target) that assumes the
other model costs no more per update than the LSTM (their point), not measured here since those cells are built on
other branches. On a quiet machine expect several times less (nn.LSTM's train step alone is ~50 ms at this size).
The budget was checked with one LSTM run (seed 0, this configuration): validation MSE 0.163 (the baseline) until
update ~1,500, 0.0149 at 1,550, 0.0060 at 1,700, where it stopped: 359 s of training at a load average of ~10.
"""

from __future__ import annotations

from rnnzoo.core.registry import Paper
from rnnzoo.reproduce.claims import Claim, Run, register_claim
from rnnzoo.reproduce.verdict import Ordering

SRU = Paper("Lei, Zhang, Wang, Dai & Artzi", 2018, "Simple Recurrent Units for Highly Parallelizable Recurrence",
            "1709.02755")
INDRNN = Paper("Li, Li, Cook, Zhu & Gao", 2018, "Independently Recurrent Neural Network (IndRNN): Building A "
                                                "Longer and Deeper RNN", "1803.04831")
MINGRU = Paper("Feng, Tung, Ahmed, Bengio & Hajimirsadeghi", 2024, "Were RNNs All We Needed?", "2410.01201")

TARGET_MSE = 0.01
"""The validation MSE every run trains to (the adding problem's baseline, predicting the mean, is ~0.167)."""
MAX_STEPS = 3000
SECONDS_PER_UPDATE = 0.28
"""The ``lstm`` run, hidden 128, batch 64, T = 100, one thread, validations included, at a load average of ~5:
42.2 s for 150 updates measured on this branch (see the module)."""

_BASE = {"task": "adding", "seq_len": 100, "hidden_size": 128, "batch_size": 64, "optimizer": "adam", "lr": 2e-3,
         "clip_norm": 1.0, "max_steps": MAX_STEPS, "val_every": 50, "stop_at": TARGET_MSE, "threads": 1,
         "task_options": {"valid_size": 500, "test_size": 500}}
_SETTING = (f"the adding problem at T = 100 (values in [0, 1], two marked; a generated task, not the papers'), "
            f"128 units, one layer, Adam 2e-3, clip-norm 1, batch 64, one CPU thread, validation every 50 updates "
            f"on 500 sequences, each run stopped at valid MSE {TARGET_MSE} or {MAX_STEPS:,} updates; metric: "
            f"training wall-clock seconds until the validation MSE first reached {TARGET_MSE} (validations "
            "included; inf if never). CPU figures: the papers' are GPU figures")
_METRIC = f"seconds_to_mse_{TARGET_MSE:g}"
_MINUTES = 2 * 3 * MAX_STEPS * SECONDS_PER_UPDATE / 60
_BASIS = (f"measured {SECONDS_PER_UPDATE * 1e3:.0f} ms/update for the LSTM run (this setting, 2 cores shared at a "
          f"load of ~5, one thread, validations included) x {MAX_STEPS:,} updates x 2 runs x 3 seeds, an upper "
          "bound (stop_at; a quiet machine several times less); the other model is assumed no slower per update "
          "(not measured: built on another branch). The LSTM's seed 0 reached the target at update 1,700 (359 s)")
_QUICK = {"seq_len": 10, "task_options": {"valid_size": 16, "test_size": 16}}


def _speed_claim(name: str, model: str, paper: Paper, published: str, unverified: str) -> Claim:
    return register_claim(Claim(
        name=name, paper=paper,
        claim=f"{model} reaches a fixed validation loss in less wall-clock training time than an LSTM of the same "
              "size (on the CPU here)",
        published=published, published_values={},
        setting=_SETTING, base=_BASE,
        runs=(Run(model, {"model": model}), Run("lstm", {"model": "lstm"})),
        seeds=(0, 1, 2), metric=_METRIC, split="valid",
        conditions=(Ordering((model,), ("lstm",)),),
        minutes=_MINUTES, minutes_basis=_BASIS, needs=(f"the {model} cell (issue 11)",), quick=_QUICK,
        unverified=unverified,
    ))


SRU_SPEED = _speed_claim(
    "sru_speed", "sru", SRU,
    published="GPU figures only: SRU's forward-backward time per step is several times below cuDNN's LSTM "
              "(the paper reports about 5-9x speed-ups on its classification and question-answering tasks); no "
              "time-to-loss figure on a task like this one",
    unverified="the paper's speed-up range is quoted from memory of its text, not re-read; the task, sizes and "
               "optimiser are ours")
INDRNN_SPEED = _speed_claim(
    "indrnn_speed", "indrnn", INDRNN,
    published="GPU figures only: IndRNN's elementwise recurrence makes a step cheaper than an LSTM's, and the "
              "paper reports faster training than the LSTM on its tasks; no time-to-loss figure on this task",
    unverified="the paper's speed statement is quoted from memory, not re-read; the task, sizes and optimiser "
               "are ours (the paper's adding experiments are the subject of the separate convergence claim)")
MINGRU_SPEED = _speed_claim(
    "mingru_speed", "mingru", MINGRU,
    published="GPU figures only: trained by a parallel scan, minGRU's train step is far faster than a GRU's at "
              "long sequences (the paper: about 175x at length 512, on a GPU), with comparable results; no "
              "time-to-loss figure on this task",
    unverified="the 175x figure is quoted from memory of the paper, not re-read; the paper compares with a GRU, "
               "issue 11 with the LSTM; the task, sizes and optimiser are ours")

__all__ = ["INDRNN_SPEED", "MINGRU_SPEED", "SRU_SPEED", "TARGET_MSE"]
