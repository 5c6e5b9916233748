"""The lc_blstm_future claim: its runs build the layers they name, its thresholds are the task's analytic
ceilings, and ``--quick`` runs end to end."""

from __future__ import annotations

import pytest

from rnnzoo.core.latency import LatencyControlled
from rnnzoo.core.layers import Bidirectional
from rnnzoo.reproduce import reproduce
from rnnzoo.reproduce.claims import get_claim
from rnnzoo.reproduce.claims_latency import CEILINGS
from rnnzoo.train.heads import SequenceModel


def test_runs_build_the_layers_they_name():
    claim = get_claim("lc_blstm_future")
    configs = {run.label: cfg for run, _, cfg in claim.configs(seeds=[0])}
    assert list(configs) == ["blstm", "lc-r3", "lc-r2", "lc-r1", "lstm"]
    for label, cfg in configs.items():
        model = SequenceModel(cfg.model, input_size=4, output_size=5, hidden_size=cfg.hidden_size, head="per_step",
                              bidirectional=cfg.bidirectional, options=cfg.options)
        layer = model.backbone.layers[0]
        if label.startswith("lc-"):
            assert isinstance(layer, LatencyControlled) and layer.latency == (3, int(label[-1]))
        else:
            assert isinstance(layer, Bidirectional) == (label == "blstm")
            assert not isinstance(layer, LatencyControlled)


def test_ceilings():
    assert CEILINGS["blstm"] == CEILINGS["lc-r3"] == 1.0
    assert CEILINGS["lc-r1"] == pytest.approx(0.5625) and CEILINGS["lc-r2"] == pytest.approx(0.78125)
    assert CEILINGS["lstm"] == pytest.approx(0.34375)


@pytest.mark.slow  # ~23 s: five runs through the trainer at the smoke scale
def test_quick_runs_end_to_end(tmp_path):
    claim = get_claim("lc_blstm_future")
    summary = reproduce(claim, seeds=[0], run_dir=tmp_path / "lc", quick=True, echo=lambda _: None)
    assert summary["quick"] and set(summary["measured"]) == set(claim.labels)
