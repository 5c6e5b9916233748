"""``rnnzoo bench --streaming``: per-step latency of causal models stepped one token at a time beside
torch.nn.LSTMCell, the state carried by the caller (issue 9 section 5)."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

import rnnzoo
from rnnzoo.bench import cases, cli, streaming


def test_the_stepper_is_what_a_user_calls_and_carries_the_state() -> None:
    """Stepping token by token through the bench's stepper gives the whole-sequence run's outputs."""
    torch.manual_seed(0)
    model = rnnzoo.create("peephole_lstm", input_size=3, hidden_size=5, num_layers=2).eval()
    x = torch.randn(2, 6, 3)
    step = streaming.stepper(model)
    state, ys = None, []
    with torch.no_grad():
        for t in range(6):
            y, state = step(x[:, t], state)
            ys.append(y)
        torch.testing.assert_close(torch.stack(ys, 1), model(x)[0])


def test_only_causal_models_stream() -> None:
    keep, notes = streaming.streaming_cases([cases.rnnzoo_case("gru"), cases.baseline_case()])
    assert [c.name for c in keep] == ["gru"] and notes == []
    bi = cases.rnnzoo_case("lstm", options={"bidirectional": True}, row="lstm[bidirectional=true]")
    rows, notes = streaming.bench_streaming([bi, cases.rnnzoo_case("elman")], cases.Size(2, 3, 4, 4), [1],
                                            reps=1, warmup=0)
    assert [r.model for r in rows] == [streaming.STREAM_BASELINE, "elman"]
    assert len(notes) == 1 and notes[0].startswith("lstm[bidirectional=true]: not streamed")


def test_quick_streaming_run_reports_each_batch(tmp_path: Path) -> None:
    assert cli.main(["--streaming", "--sizes", "2x5x4x6", "--batches", "1,3", "--reps", "2", "--warmup", "0",
                     "--models", "lstm,gru", "--threads", "1", "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["rows"] == [] and data["config"]["batches"] == [1, 3]
    got = [(r["model"], r["batch"], r["steps"], r["I"], r["H"]) for r in data["streaming"]]
    assert got == [(m, b, 5, 4, 6) for b in (1, 3) for m in (streaming.STREAM_BASELINE, "lstm", "gru")]
    for r in data["streaming"]:
        assert r["us_per_step"] > 0 and len(r["samples_ms"]) == 2
        assert r["us_per_step"] == pytest.approx(1e3 * statistics.median(r["samples_ms"]) / 5, abs=0.3)
    assert "## Streaming inference" in (tmp_path / "bench.md").read_text()
