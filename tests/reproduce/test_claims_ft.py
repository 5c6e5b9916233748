"""The F-T-LSTM claim: its configurations validate, its two models have the parameter counts its docstring states
(recomputed here by hand), and it runs end to end at the --quick smoke scale."""

from __future__ import annotations

import pytest

from rnnzoo.reproduce import get_claim, reproduce
from rnnzoo.train.heads import SequenceModel


def test_configs_validate_and_compare_ft_lstm_with_lstm():
    claim = get_claim("ft_lstm_vowels")
    configs = claim.configs()
    assert [run.label for run, _, _ in configs] == claim.labels * len(claim.seeds)
    assert {cfg.model for _, _, cfg in configs} == {"ft_lstm", "lstm"}
    assert all(cfg.task == "japanese_vowels" and not cfg.bidirectional for _, _, cfg in configs)
    assert len(claim.seeds) >= 3 and "SUBSTITUTE" in claim.setting


def test_the_two_models_have_nearly_equal_parameter_counts():
    claim = get_claim("ft_lstm_vowels")
    counts = {}
    for run in claim.runs:
        values = claim.values(run, 0)
        model = SequenceModel(values["model"], input_size=12, output_size=9, hidden_size=values["hidden_size"],
                              head="last", options=values.get("options"))
        counts[run.label] = sum(p.numel() for p in model.parameters())

    def lstm(i, h):
        return 4 * h * (i + h + 2)  # W_ih, W_hh and two biases per gate

    bands, band_hidden = 5, 8  # 12 coefficients in windows of 4, stride 2
    assert counts == {"ft-lstm": lstm(4, band_hidden) + lstm(bands * band_hidden, 64) + 64 * 9 + 9,
                      "t-lstm": lstm(12, 76) + 76 * 9 + 9}
    assert counts == {"ft-lstm": 28169, "t-lstm": 28053}  # the numbers the claim's docstring states
    assert abs(counts["ft-lstm"] / counts["t-lstm"] - 1) < 0.005


@pytest.mark.slow  # the smoke scale still evaluates the whole valid and test splits (a few seconds each)
def test_quick_run_end_to_end(tmp_path):
    pytest.importorskip("sktime", reason="JapaneseVowels comes with the optional extra timeseries (PyPI sktime)")
    summary = reproduce(get_claim("ft_lstm_vowels"), seeds=[0], run_dir=tmp_path / "q", quick=True,
                        echo=lambda _: None)
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    assert set(summary["measured"]) == {"ft-lstm", "t-lstm"}
