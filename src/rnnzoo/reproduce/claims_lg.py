"""LG-LSTM's global hidden cells (Liang et al. 2016, arXiv:1511.04510): with the global feature clearly above
without it, on the generated ``shapes_global`` labelling task (a substitute: the paper's Horse-Cow, ATR and
Fashionista parsing data cannot be reached here, and its network sits on a VGG/DeepLab trunk this setting does not
have)."""

from __future__ import annotations

from typing import Any

from rnnzoo.core.registry import Paper
from rnnzoo.reproduce.claims import Claim, Run, register_claim
from rnnzoo.reproduce.verdict import Ordering

LIANG = Paper("Liang, Shen, Xiang, Feng, Lin & Yan", 2016,
              "Semantic Object Parsing with Local-Global Long Short-Term Memory", "1511.04510")

#: the shared recipe: 3 LG-LSTM layers of d = 8 per dimension, Adam 1e-2, batches of 16 fresh images
LG_BASE: dict[str, Any] = {
    "task": "shapes_global", "model": "lg_lstm", "seq_len": None, "hidden_size": 8,
    "task_options": {"valid_size": 300, "test_size": 1000}, "optimizer": "adam", "lr": 1e-2, "schedule": "constant",
    "batch_size": 16, "eval_batch_size": 250, "max_steps": 400, "val_every": 100, "monitor": "accuracy",
}
_LAYERS = {"layers": 3, "global_grid": 3}
_S_PER_UPDATE, _S_START = 0.2, 10.0

register_claim(Claim(
    name="lg_lstm_global", paper=LIANG,
    claim="the global hidden cells help: an LG-LSTM with the global feature labels pixels whose label depends on the "
          "whole image clearly better than the same network without it (local neighbours only)",
    published="the paper reports semantic parsing on Horse-Cow (per-part IoU), ATR and Fashionista (accuracy, F-1), "
              "and an ablation of the global hidden cells and of the LG-LSTM depth (its section 4); those numbers "
              "were not re-read in this session (the PDF was not reachable) and the data sets are not available, so "
              "none is compared here",
    published_values={},
    setting="substitute data: shapes_global (generated; 10 x 10 images, valid sizes 8..10, 4 non-touching rectangles "
            "of distinct colours, every object pixel labelled with the colour of the largest one); the image itself "
            "is the input (no convolutional trunk); 3 LG-LSTM layers, d = 8 per dimension, global max pooling over "
            "3 x 3 bins, Adam 1e-2, 400 updates of 16 fresh images; metric: accuracy over object pixels of the "
            "1,000-image test split (a window of 2 pixels around a small object rarely contains the largest one); "
            "'clearly' = the median over 3 seeds more than 0.05 above",
    base=LG_BASE,
    runs=(Run("global", {"options": {**_LAYERS, "global_feature": True}}),
          Run("local", {"options": {**_LAYERS, "global_feature": False}})),
    seeds=(0, 1, 2), metric="accuracy",
    conditions=(Ordering(("global",), ("local",), margin=0.05),),
    minutes=6 * (LG_BASE["max_steps"] * _S_PER_UPDATE + _S_START) / 60,
    minutes_basis=f"measured: {_S_PER_UPDATE} s per update (B = 16, 10 x 10, d = 8, 3 layers, one thread) on "
                  f"the shared 2-core machine at load ~7, plus about {_S_START:.0f} s per run for start-up and "
                  "the evaluations; 2 runs x 3 seeds. The full run took 722 s of training: 46-107 s a run, "
                  "322 s for the first run while the machine was at load ~11",
    quick={"max_steps": 3, "val_every": 3, "task_options": {"valid_size": 8, "test_size": 8}},
    unverified="the paper's own ablation numbers and its exact LG-LSTM equations (which neighbour hidden cells, which "
               "pooling grid) were not checked against the PDF; the task is a substitute built for this claim",
))
