"""``rnnzoo.bench.scaling``: the truncated-BPTT pass is the library's TBPTT, and the quick scaling run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnzoo.bench import cases, cli, scaling


def _results(out_dir: Path) -> tuple[str, dict]:
    mds, jss = sorted(out_dir.glob("*.md")), sorted(out_dir.glob("*.json"))
    assert len(mds) == 1 and len(jss) == 1 and mds[0].stem == jss[0].stem
    return mds[0].read_text(), json.loads(jss[0].read_text())


@pytest.mark.parametrize("batch_first", [True, False])
def test_a_pass_leaves_the_last_window_s_gradient(batch_first: bool) -> None:
    """After a pass (zero_grad per window), the gradients are those of the last window alone, run from the
    state carried (without gradient) over the earlier steps."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=batch_first).double()
    x = torch.randn(2, 12, 3, dtype=torch.float64)
    x = x if batch_first else x.transpose(0, 1)
    dim = 1 if batch_first else 0
    scaling.tbptt_pass(lstm, x, 5, time_dim=dim)  # windows [0, 5), [5, 10), [7, 12): TBPTT(5, 5)
    got = {n: p.grad.clone() for n, p in lstm.named_parameters()}
    lstm.zero_grad()
    with torch.no_grad():
        _, state = lstm(x.narrow(dim, 0, 5))
        _, state = lstm(x.narrow(dim, 5, 2), state)
    out, _ = lstm(x.narrow(dim, 7, 5), state)
    out.narrow(dim, 3, 2).sum().backward()  # the last chunk scores steps [10, 12)
    for n, p in lstm.named_parameters():
        torch.testing.assert_close(got[n], p.grad, rtol=1e-12, atol=1e-14, msg=n)


def test_quick_scaling_reports_each_length(tmp_path: Path) -> None:
    assert cli.main(["--quick", "--scaling", "--models", "lstm", "--threads", "1",
                     "--out", str(tmp_path)]) == 0
    md, data = _results(tmp_path)
    got = {(r["model"], r["T"]) for r in data["scaling"]}
    assert got == {(m, t) for m in (cases.BASELINE, "lstm") for t in cli.QUICK_LENGTHS}
    assert all(r["us_per_step"] > 0 and r["peak_mb"] > 0 and r["vs_baseline"] > 0 for r in data["scaling"])
    assert all(r["vs_first"] == pytest.approx(1.0) for r in data["scaling"] if r["T"] == cli.QUICK_LENGTHS[0])
    assert "Sequence-length scaling" in md
