"""Bahdanau et al.'s central finding, scaled to symbol reversal: an encoder-decoder without attention loses the long
sequences, one with attention does not (arXiv:1409.0473, Fig. 2)."""

from __future__ import annotations

from rnnzoo.core.registry import Paper
from rnnzoo.reproduce.claims import Claim, Run, register_claim
from rnnzoo.reproduce.verdict import Ordering, Threshold

BAHDANAU = Paper("Bahdanau, Cho & Bengio", 2015, "Neural Machine Translation by Jointly Learning to Align and "
                 "Translate", "1409.0473")

_LONGEST = 15
_LONG_BUCKET = (13, 14, 15)
# both runs: the same GRU encoder and decoder (32 units, 32-wide embeddings), optimiser, batch and updates; they differ
# only in the decoder's additive attention (Bahdanau's convention: scores from s_{i-1}, the context fed to the GRU)
_BASE = {"task": "seq_reverse", "seq_len": _LONGEST, "model": "seq2seq", "hidden_size": 32, "optimizer": "adam",
         "lr": 3e-3, "batch_size": 64, "clip_norm": 1.0, "max_steps": 1500, "val_every": 250,
         "task_options": {"vocab": 10, "min_length": 1, "test_lengths": list(_LONG_BUCKET), "valid_size": 300,
                          "test_size": 300}}
_S_ATTENTION, _S_PLAIN = 0.124, 0.041  # s/update, measured at this setting (one thread, 2 shared cores, loaded)

register_claim(Claim(
    name="attention_length", paper=BAHDANAU,
    claim="an encoder-decoder without attention (RNNencdec) degrades on long sequences while one with attention "
          "(RNNsearch) does not: on reversal of symbol sequences, trained on lengths 1-15, the attention model's "
          "greedy sequence accuracy on the longest lengths (13-15) is high and far above the model without attention",
    published="WMT'14 English-French (Fig. 2): BLEU against sentence length; RNNencdec-30/50 fall steeply beyond ~20 "
              "words, RNNsearch-50 stays flat up to 50+ words; no number comparable to a synthetic task",
    published_values={},
    setting="scaled and synthetic (RESEARCH.md (d)): reversal of 1-15 symbols from 10 (seq_reverse), GRU encoder and "
            "GRU decoder of 32 units (the paper: a bidirectional GRU encoder of 1000 units, a maxout readout, "
            "30k-word vocabularies), with and without additive attention, Adam 3e-3, clip-norm 1, batch 64, 1,500 "
            "updates; the test split is the long bucket only (lengths 13, 14, 15, 300 sequences: the trainer "
            "reports one test metric), scored by greedy decoding until the end token; pass: the attention model's "
            "median sequence accuracy >= 0.5 and above the model without attention by more than 0.3. The rule was "
            "fixed after one calibration run (seed 0: 0.77 vs 0.00 on this bucket) and not changed after",
    base=_BASE,
    runs=(Run("attention", {"options": {"attention": "additive"}}), Run("no_attention", {"options": {}})),
    seeds=(0, 1, 2), metric="sequence_accuracy",
    conditions=(Threshold("attention", ">=", 0.5), Ordering(("attention",), ("no_attention",), margin=0.3)),
    minutes=3 * 1500 * (_S_ATTENTION + _S_PLAIN) / 60 + 1,
    minutes_basis=f"measured {_S_ATTENTION:.3f} s/update with attention and {_S_PLAIN:.3f} without (one Adam step "
                  "at B = 64, lengths 1-15, 32 units, one thread on the 2 shared cores under load, a hand-written "
                  "loop of the same updates), 3 seeds x 1,500 updates each, plus a minute of validation",
    quick={"seq_len": 5, "task_options": {"vocab": 4, "min_length": 1, "test_lengths": [5], "valid_size": 16,
                                          "test_size": 16}},
    unverified="the description of Fig. 2 (BLEU against sentence length, where the curves fall) is from memory of the "
               "paper, not re-read from its text",
))
