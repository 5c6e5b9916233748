"""Grid LSTM's parity claim (Kalchbrenner, Danihelka & Graves 2015, arXiv:1507.01526, the parity experiment) for
``rnnzoo reproduce``: a tied 1-LSTM network (``grid_lstm_1d``) learns the parity of k bits fed whole in one projection
(task ``parity_bits``), where deep feed-forward networks without gating (the same network with a non-LSTM ``tanh`` or
``relu`` depth dimension, untied: a plain MLP of equal depth and width) stay at chance.

Time estimate: seconds per update measured on this branch for each run's configuration (one thread, the shared
2-core machine), times the update budget, plus start-up, validation and test per run.
"""

from __future__ import annotations

from rnnzoo.core.registry import Paper
from rnnzoo.reproduce.claims import Claim, Run, register_claim
from rnnzoo.reproduce.verdict import Ordering, Threshold

KALCHBRENNER = Paper("Kalchbrenner, Danihelka & Graves", 2015, "Grid Long Short-Term Memory", "1507.01526")

BITS, DEPTH, WIDTH = 50, 10, 64
_STEPS = 2500
_S_PER_UPDATE = {"tied_1lstm": 0.021, "mlp_tanh": 0.050, "mlp_relu": 0.043}  # measured, see minutes_basis
_S_START = 10.0
_BASE = {"task": "parity_bits", "seq_len": None, "task_options": {"bits": BITS, "valid_size": 1000, "test_size": 2000},
         "model": "grid_lstm_1d", "hidden_size": WIDTH, "optimizer": "adam", "lr": 3e-3, "batch_size": 64,
         "max_steps": _STEPS, "val_every": 250, "monitor": "accuracy", "stop_at": 0.995, "threads": 1}
_RUNS = (
    Run("tied_1lstm", {"options": {"depth": DEPTH, "tied": True}}),
    Run("mlp_tanh", {"options": {"depth": DEPTH, "tied": False, "transforms": ["tanh"]}}),
    Run("mlp_relu", {"options": {"depth": DEPTH, "tied": False, "transforms": ["relu"]}}),
)
_CHANCE = 0.55  # "at chance": test accuracy at most 0.55 (2,000 test strings: chance is 0.5 +- 0.011)

register_claim(Claim(
    name="grid_parity", paper=KALCHBRENNER,
    claim=f"a tied 1-LSTM network solves {BITS}-bit parity fed whole in one projection (>= 99% test accuracy); "
          "plain deep networks (tanh, ReLU) of the same depth and width stay at chance",
    published="parity experiment (section 4 / appendix): 'a 1-LSTM network can learn to compute parity for up to 250 "
              "input bits', the k-bit string 'given to the neural network as a whole through a single projection'; "
              "the non-gated tanh and ReLU networks fail at much smaller k (a figure, no table)",
    published_values={"tied_1lstm": 1.0},
    setting=f"generated bits (task parity_bits, signed encoding, fresh training batches, fixed valid/test splits of "
            f"1,000/2,000 strings), k = {BITS}; grid_lstm_1d with H = {WIDTH} and depth {DEPTH}: tied 1-LSTM (the "
            f"paper's h' = tanh(g^o * m')), against the same network with an untied tanh or relu non-LSTM depth "
            f"dimension (an MLP, {DEPTH} layers of {WIDTH}); Adam 3e-3, batch 64, at most {_STEPS} updates (160,000 "
            "strings; the paper trained far longer and wider, see unverified); pass: the tied 1-LSTM's median test "
            f"accuracy over 3 seeds >= 0.99 and above both MLPs' by more than {1.0 - _CHANCE - 0.01:.2f}",
    base=_BASE, runs=_RUNS, seeds=(0, 1, 2), metric="accuracy",
    # the claim is the gap: the gated network solves what the plain ones cannot (all at chance is a FAIL, not a
    # PARTIAL: the MLPs' chance level alone says nothing)
    conditions=(Threshold("tied_1lstm", ">=", 0.99),
                Ordering(("tied_1lstm",), ("mlp_tanh", "mlp_relu"), margin=1.0 - _CHANCE - 0.01)),
    minutes=3 * sum(_STEPS * s + _S_START for s in _S_PER_UPDATE.values()) / 60,
    minutes_basis="measured on this branch (benchmarks/results/reproduce/grid_parity.json): 856 s of training for the "
                  "9 runs of 2,500 updates (tied 1-LSTM 46-59 s, MLPs 76-131 s; one thread each, the shared 2-core "
                  f"machine at load ~4), plus about {_S_START:.0f} s per run for start-up and the test: about 16 "
                  "minutes, over the 10-minute budget. The MLPs then gathered a weight copy per example; since "
                  "fixed, a plain loop takes 8.5 ms (tied 1-LSTM) and 5.7 ms (relu MLP) an update at load ~2",
    quick={"max_steps": 4, "val_every": 2, "task_options": {"bits": 8, "valid_size": 16, "test_size": 16}},
    unverified="the paper's hidden sizes, depths, batch size and number of training samples for parity (its appendix) "
               "were not retrieved here; its figure's budget was far larger than the 160,000 strings above. In "
               "tuning runs on this machine a tied 1-LSTM (H = 64, depth 10, Adam 3e-3) left chance on 10-bit parity "
               "after about 2,500 updates but not on 14-bit parity within 5,000 updates nor on 20-bit within 3,000 "
               "(k = 50 is out of reach at this budget), while a 6-layer ReLU MLP solved 10-bit parity in 500 "
               "updates (1,024 distinct strings: memorisable) and a 10-layer one in 2,000, where a 10-layer tanh MLP "
               "stayed at chance for 4,000. Measured at the setting above, 3 seeds: FAIL, the tied 1-LSTM at "
               "chance (0.489 test accuracy every seed) as are both MLPs (tanh 0.489-0.518, relu 0.489): no gap shown",
))
