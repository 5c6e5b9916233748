"""The stack LSTM's claim (Dyer, Ballesteros, Ling, Matthews & Smith 2015, arXiv:1505.08075), on a substitute task.

The paper's claim is a parser: a stack LSTM that summarises the parser's stack (and buffer and action history) gives
state-of-the-art transition-based dependency parsing (published UAS 93.1 / LAS 90.9 on the English PTB-SD test set,
as RESEARCH.md gives them from memory of the paper; not re-read). The treebanks cannot be had here. The substitute,
``dyck_parse`` (:mod:`rnnzoo.tasks.dyck`), keeps what the stack LSTM is for: a shift-reduce parser's oracle
operations drive the stack, and the label at every step (the bracket that must close next) is the top of that
stack. The claim checked is the one the architecture stands on: the stack LSTM's summary of the stack generalises
to strings longer and deeper than any seen in training, where a plain LSTM reading the same tokens does not.
"""

from __future__ import annotations

from rnnzoo.core.registry import Paper
from rnnzoo.reproduce.claims import Claim, Run, register_claim
from rnnzoo.reproduce.verdict import Ordering, Threshold

DYER = Paper("Dyer, Ballesteros, Ling, Matthews & Smith", 2015,
             "Transition-based dependency parsing with stack long short-term memory", "1505.08075")

_BASE = {"task": "dyck_parse", "model": "stack_lstm", "seq_len": None, "hidden_size": 32, "optimizer": "adam",
         "lr": 1e-2, "batch_size": 32, "eval_batch_size": 1000, "max_steps": 400, "val_every": 50,
         "monitor": "sequence_accuracy", "early_stopping": 3,
         "task_options": {"max_pairs": 10, "max_depth": 4, "test_pairs": 20, "test_depth": 8, "valid_size": 500,
                          "test_size": 1000}}

register_claim(Claim(
    name="stack_dyck", paper=DYER,
    claim="driven by a shift-reduce parser's oracle operations, a stack LSTM's summary of the stack generalises to "
          "held-out strings longer and deeper than in training, where a plain LSTM reading the same tokens does not",
    published="no number for this task: the paper reports parsing (English PTB-SD test UAS 93.1 / LAS 90.9, as "
              "RESEARCH.md gives them from memory; not re-read), data that cannot be had here",
    published_values={},
    setting="substitute data: dyck_parse, generated Dyck strings over ()[] (training: 1-10 pairs, depth <= 4; "
            "valid: the same distribution, 500 strings, model selection; test: 1,000 held-out strings of 11-20 "
            "pairs nesting 5-8 deep), the label at every step the closing bracket needed next; the stack LSTM "
            "reads each token with its oracle operation (push an opening bracket, pop at a closing one), the "
            "baseline is the same model with stack=False (a plain LSTM over the same tokens, same parameters); "
            "H = 32, a linear head, Adam 1e-2, batch 32, at most 400 updates, tested with the weights of the best "
            "validation (every 50 updates; early stopping after 3 validations without progress); metric: "
            "test sequence accuracy (every step of a string right); pass: stack LSTM >= 0.95 and above the plain "
            "LSTM by more than 0.5 (median of 3 seeds)",
    base=_BASE,
    runs=(Run("stack_lstm", {"options": {"stack": True}}), Run("lstm", {"options": {"stack": False}})),
    seeds=(0, 1, 2), metric="sequence_accuracy",
    conditions=(Threshold("stack_lstm", ">=", 0.95), Ordering(("stack_lstm",), ("lstm",), margin=0.5)),
    minutes=5.0,
    minutes_basis="measured: 4 min wall for the 6 runs, 217 s of it training (stack LSTM runs of 200 updates, stopped "
                  "early, 23-56 s; plain LSTM runs of 300-400 updates, 24-60 s), on the shared 2-core machine at a "
                  "load average of about 11 (benchmarks/results/reproduce/stack_dyck.json)",
    quick={"task_options": {"max_pairs": 3, "max_depth": 2, "test_pairs": 5, "test_depth": 3, "valid_size": 16,
                            "test_size": 16}},
    unverified="the published parsing numbers are from memory of the paper (RESEARCH.md [m]) and are not comparable "
               "with this task; the Dyck task is the project's own substitute, not the paper's experiment",
))
