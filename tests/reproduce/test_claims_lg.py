"""The lg_lstm_global claim: two runs that differ only in the global feature, 3 seeds; ``--quick`` runs end to end."""

from __future__ import annotations

import json

import pytest

from rnnzoo import cli
from rnnzoo.reproduce.claims import get_claim
from rnnzoo.tasks import get_task


def test_lg_lstm_global_configs() -> None:
    claim = get_claim("lg_lstm_global")
    configs = claim.configs()
    assert sorted({seed for _, seed, _ in configs}) == [0, 1, 2]
    by_label = {run.label: cfg for run, seed, cfg in configs if seed == 0}
    assert set(by_label) == {"global", "local"}
    g, loc = by_label["global"], by_label["local"]
    assert g.options["global_feature"] is True and loc.options["global_feature"] is False
    assert {k: v for k, v in g.options.items() if k != "global_feature"} == \
        {k: v for k, v in loc.options.items() if k != "global_feature"}
    assert (g.model, g.task, g.monitor) == ("lg_lstm", "shapes_global", "accuracy")
    assert get_task(g.task, **g.task_options).model_options == {"input_size": 5, "num_classes": 6}
    assert [c.describe(claim.metric) for c in claim.conditions] == ["global above local in accuracy by more than 0.05"]
    assert claim.minutes <= 10


@pytest.mark.slow
def test_lg_lstm_global_quick_runs_end_to_end(tmp_path) -> None:
    run_dir = tmp_path / "lg"
    assert cli.main(["reproduce", "lg_lstm_global", "--quick", "--seeds", "0", "--run-dir", str(run_dir)]) == 0
    summary = json.loads((run_dir / "reproduce.json").read_text())
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    res = json.loads((run_dir / "local-s0" / "results.json").read_text())
    assert res["config"]["model"] == "lg_lstm" and res["config"]["options"]["global_feature"] is False
    assert 0.0 <= res["test"]["accuracy"] <= 1.0
