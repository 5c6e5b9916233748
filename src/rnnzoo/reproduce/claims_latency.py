"""The latency-controlled BLSTM claim (issue 13 section 5) for ``rnnzoo reproduce``.

Zhang et al. 2016 (arXiv:1510.08983) and Chen & Huo 2016 report speech recognition word error rates (AMI,
Switchboard): those data are not available here and no published number is compared. The substitute is exact
by construction: on the ``future_context`` task the label at t is the symbol at t + D, so what a layer can
reach is known beforehand (:func:`rnnzoo.tasks.future_context.best_accuracy`): 1 for the full bidirectional
layer and for a latency-controlled one with N_r >= D, less for N_r < D (the frames of each chunk whose
window ends before t + D are at chance), and the causal ceiling for a unidirectional layer. The claim checks
that training reaches those numbers: ``lc`` layers with N_r >= D match the full BLSTM, with N_r < D they stay
at their ceiling, and the unidirectional LSTM stays at the causal one.

Measured (``benchmarks/results/reproduce/lc_blstm_future.json``): PASS; test accuracy medians over 3 seeds: full BLSTM
1.0, N_r = 3 1.0, N_r = 2 0.780 (ceiling 0.781), N_r = 1 0.545 (ceiling 0.5625), LSTM 0.334 (causal ceiling 0.344);
580 s of training on 2 cores shared at load ~11.
"""

from __future__ import annotations

from typing import Any

from rnnzoo.core.registry import Paper
from rnnzoo.reproduce.claims import Claim, Run, register_claim
from rnnzoo.reproduce.verdict import Ordering, Threshold
from rnnzoo.tasks.future_context import best_accuracy

ZHANG = Paper("Zhang, Chen, Yu, Yao, Khudanpur & Glass", 2016,
              "Highway Long Short-Term Memory RNNs for Distant Speech Recognition", "1510.08983")

SEQ_LEN, DELAY, CLASSES, CHUNK = 24, 3, 4, 3
#: the analytic best accuracies the runs are held to (module docstring)
CEILINGS: dict[str, float] = {
    "blstm": best_accuracy(SEQ_LEN, DELAY, CLASSES),
    "lc-r3": best_accuracy(SEQ_LEN, DELAY, CLASSES, chunk=CHUNK, right=3),
    "lc-r2": best_accuracy(SEQ_LEN, DELAY, CLASSES, chunk=CHUNK, right=2),
    "lc-r1": best_accuracy(SEQ_LEN, DELAY, CLASSES, chunk=CHUNK, right=1),
    "lstm": best_accuracy(SEQ_LEN, DELAY, CLASSES, causal=True),
}
_BASE: dict[str, Any] = {
    "model": "lstm", "task": "future_context", "seq_len": SEQ_LEN,
    "task_options": {"delay": DELAY, "num_classes": CLASSES, "valid_size": 500, "test_size": 2560},
    "hidden_size": 32, "optimizer": "adam", "lr": 0.01, "batch_size": 64, "max_steps": 400, "val_every": 100,
    "monitor": "accuracy", "clip_norm": 1.0,
}


def _lc(right: int) -> Run:
    return Run(f"lc-r{right}", {"bidirectional": True, "options": {"latency": [CHUNK, right]}})


register_claim(Claim(
    name="lc_blstm_future", paper=ZHANG,
    claim="a latency-controlled BLSTM with right context N_r >= D matches the full BLSTM on a task whose label at "
          "t needs frame t + D; with N_r < D it does not, and a unidirectional LSTM stays at the causal ceiling",
    published="speech recognition WERs (AMI distant speech; Switchboard in Chen & Huo 2016): not reproducible here, "
              "no number compared. The exact targets are analytic: full BLSTM and N_r >= D 1.0; N_c = 3 with "
              f"N_r = 2: {CEILINGS['lc-r2']:.4f}, N_r = 1: {CEILINGS['lc-r1']:.4f}; unidirectional "
              f"{CEILINGS['lstm']:.4f}",
    published_values={},
    setting=f"substitute task future_context (T = {SEQ_LEN}, D = {DELAY}, C = {CLASSES} symbols, label 'none' past "
            f"the end), 1 layer of 32 LSTM units per direction, latency-controlled layers with N_c = {CHUNK}, "
            "N_r = 3, 2, 1; Adam 0.01, clip 1, batch 64, 400 updates; test accuracy per step; 3 seeds",
    base=_BASE,
    runs=(Run("blstm", {"bidirectional": True}), _lc(3), _lc(2), _lc(1), Run("lstm", {"bidirectional": False})),
    seeds=(0, 1, 2), metric="accuracy",
    conditions=(Threshold("blstm", ">=", 0.99), Threshold("lc-r3", ">=", 0.99),
                Threshold("lc-r2", "<=", CEILINGS["lc-r2"] + 0.02), Threshold("lc-r1", "<=", CEILINGS["lc-r1"] + 0.02),
                Threshold("lstm", "<=", CEILINGS["lstm"] + 0.02),
                Ordering(("blstm", "lc-r3"), ("lc-r2", "lc-r1", "lstm"), margin=0.15)),
    minutes=10.0,
    minutes_basis="measured: 580 s of training for the 15 runs, ~14 min wall clock with the evaluations "
                  "(benchmarks/results/reproduce/lc_blstm_future.json; 2 cores shared at load ~11); 25-28 s per "
                  "bidirectional run and 16 s per unidirectional one at load ~2, about 6 min in all",
    quick={"seq_len": 8, "task_options": {"delay": DELAY, "num_classes": CLASSES, "valid_size": 16,
                                          "test_size": 16}},
    unverified="the chunk sizes, model size and optimiser are ours (speech systems chunk tens of frames; the "
               "papers' settings were not re-read); the thresholds are the analytic ceilings +- 0.02",
))

__all__ = ["CEILINGS", "SEQ_LEN", "ZHANG"]
