"""``rnnzoo.bench.flops`` and issue 11's targets: the FLOPs of a train step are counted (torch.nn.LSTM's CPU
kernel included, against the formula by hand), GFLOP/s and the rate ratio follow from the count and the fake
samples, and the targets come from the registry's ``recurrence`` field. No timing is asserted."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from torch import nn

from rnnzoo import Recurrence
from rnnzoo.bench import cases, cli, flops, measure, targets

SIZES = [cases.Size(4, 8, 16, 32), cases.Size(3, 5, 7, 11)]


@pytest.mark.parametrize("size", SIZES, ids=str)
def test_torch_lstm_is_counted_as_the_formula_by_hand(size: cases.Size) -> None:
    """nn.LSTM's CPU train step is one oneDNN op the counter cannot see; counted with oneDNN off it is exactly
    2 B T 4H (I+H) forward + as much for the weight gradients + 2 B (T-1) 4H H for the state gradient."""
    lstm = nn.LSTM(size.I, size.H, batch_first=True)
    x = torch.randn(size.B, size.T, size.I)
    by_hand = 2 * size.B * size.T * 4 * size.H * (size.I + size.H) * 2 + 2 * size.B * (size.T - 1) * 4 * size.H ** 2
    assert flops.lstm_train_flops(size) == by_hand
    assert flops.train_step_flops(lstm, x) == by_hand
    assert lstm.weight_hh_l0.grad is None  # the counting step leaves no gradient behind
    assert flops.train_step_flops(cases.rnnzoo_case("lstm").build(size), x) == by_hand  # the same products


def test_a_linear_map_counts_its_forward_and_weight_gradient_products() -> None:
    """The counting rule on a model with one product: x (B, T, I) @ W (I, H) forward, W's gradient backward
    (the input needs none): 2 * 2 B T I H."""

    class Linear(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.randn(5, 6))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
            return torch.tanh(x @ self.w), None  # tanh: elementwise, not counted

    assert flops.train_step_flops(Linear(), torch.randn(2, 3, 5)) == 2 * (2 * 2 * 3 * 5 * 6)


def test_in_place_products_count_as_their_out_of_place_twins() -> None:
    """``addmm_`` and ``baddbmm_`` (torch's counter leaves them at 0): the same count as ``addmm`` / ``baddbmm``."""

    class Products(nn.Module):
        def __init__(self, in_place: bool) -> None:
            super().__init__()
            self.w, self.in_place = nn.Parameter(torch.randn(5, 6)), in_place

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
            flat, acc, acc3 = x.reshape(-1, 5), torch.zeros(6, 6), torch.zeros(2, 6, 6)
            if self.in_place:
                acc.addmm_(self.w.detach().t(), self.w.detach())
                acc3.baddbmm_(self.w.detach().t().expand(2, 6, 5), self.w.detach().expand(2, 5, 6))
            else:
                acc = torch.addmm(acc, self.w.detach().t(), self.w.detach())
                acc3 = torch.baddbmm(acc3, self.w.detach().t().expand(2, 6, 5), self.w.detach().expand(2, 5, 6))
            return flat @ self.w + acc.sum() + acc3.sum(), None

    x = torch.randn(2, 3, 5)
    counted = flops.train_step_flops(Products(True), x)
    by_hand = 2 * (2 * 6 * 5 * 6) + 2 * 6 * 5 * 6 * (1 + 2)  # x @ w and its gradient; the addmm; two batched
    assert counted == flops.train_step_flops(Products(False), x) == by_hand


def test_rates_and_rate_ratios_follow_from_counts_and_samples() -> None:
    base, lstm = cases.baseline_case(), cases.rnnzoo_case("lstm")
    samples = {base.name: [0.010, 0.020, 0.010], "lstm": [0.020, 0.040, 0.020]}
    b, m = measure.make_rows({base.name: base, "lstm": lstm}, cases.PRESETS["1"], samples, None,
                             flops={base.name: 2 * 10**9, "lstm": 3 * 10**9})
    assert (b.gflop, b.gflop_s, b.rate_ratio) == (pytest.approx(2.0), pytest.approx(200.0), pytest.approx(1.0))
    assert (m.gflop, m.gflop_s, m.rate_ratio) == (pytest.approx(3.0), pytest.approx(150.0), pytest.approx(0.75))
    uncounted = measure.make_rows({base.name: base, "lstm": lstm}, cases.PRESETS["1"], samples, None,
                                  flops={"lstm": 3 * 10**9})
    assert uncounted[0].gflop_s is None and uncounted[1].gflop_s == pytest.approx(150.0)
    assert uncounted[1].rate_ratio is None  # no baseline rate: no ratio
    assert flops.gflop_rate(0, 1.0) is None and flops.gflop_rate(10**9, None) is None


def _fake(recurrence: Recurrence | None) -> cases.Case:
    """A case that is never built: only its fields matter here."""
    return cases.Case("new_cell", "rnnzoo", build=lambda s: nn.Identity(), make_input=lambda s: None,
                      recurrence=recurrence)


def test_issue_11_targets_come_from_the_recurrence_field() -> None:
    size2 = cases.PRESETS["2"]

    def issue11(case: cases.Case, size: cases.Size, time: float, rate: float | None) -> list[targets.Target]:
        return [t for t in targets.targets_for(case, size, time, None, rate_ratio=rate) if t.issue == 11]

    [elementwise] = issue11(_fake(Recurrence.ELEMENTWISE), size2, 0.45, 0.3)
    assert (elementwise.metric, elementwise.limit, elementwise.value, elementwise.passed) == ("time", 0.5, 0.45, True)
    assert elementwise.mark() == ("≤0.50x torch.nn.LSTM's train-step time (2x faster) at the large size "
                                  "(64,100,256,256), an elementwise recurrence (issue 11 target): met (0.45x)")
    assert issue11(_fake(Recurrence.ELEMENTWISE), size2, 0.6, None)[0].passed is False
    [matrix] = issue11(_fake(Recurrence.MATRIX), size2, 1.5, 0.7)
    assert (matrix.metric, matrix.limit, matrix.at_least, matrix.passed) == ("rate", 0.75, True, False)
    assert matrix.mark() == ("≥0.75x torch.nn.LSTM's GFLOP/s at the large size (64,100,256,256), a matrix "
                             "recurrence (issue 11 target): MISSED (0.70x)")
    assert issue11(_fake(Recurrence.MATRIX), size2, 1.5, 0.8)[0].passed is True
    assert issue11(_fake(Recurrence.MATRIX), size2, 1.5, None)[0].passed is None  # not counted: not measured
    assert issue11(_fake(None), size2, 0.1, 0.1) == []  # entries without the field: not held to issue 11
    assert issue11(_fake(Recurrence.MATRIX), cases.PRESETS["1"], 1.0, 1.0) == []  # the large size only
    assert issue11(_fake(Recurrence.ELEMENTWISE), cases.PRESETS["3"], 1.0, 1.0) == []


def test_a_row_reads_its_recurrence_from_the_registry() -> None:
    import rnnzoo

    for name in ("lstm", "gru", "scrn"):
        assert cases.rnnzoo_case(name).recurrence is rnnzoo.model_info(name).recurrence


def test_the_bench_prints_and_saves_gflops_beside_the_time(tmp_path: Path, capsys: pytest.CaptureFixture[str]
                                                           ) -> None:
    assert cli.main(["--quick", "--models", "lstm,gru", "--no-peers", "--no-memory", "--threads", "1",
                     "--out", str(tmp_path)]) == 0
    data = json.loads((tmp_path / "bench.json").read_text())
    assert data["config"]["flops"] is True
    for row in data["rows"]:
        size = cases.Size(**row["size"])
        assert row["gflop"] > 0 and row["gflop_s"] > 0 and row["rate_ratio"] > 0
        if row["model"] in (cases.BASELINE, "lstm"):
            assert row["gflop"] * 1e9 == pytest.approx(flops.lstm_train_flops(size))
    assert "GFLOP/s" in capsys.readouterr().out and "| GFLOP / step | GFLOP/s |" in (tmp_path / "bench.md").read_text()
    assert cli.main(["--quick", "--models", "lstm", "--no-peers", "--no-memory", "--no-flops", "--threads", "1",
                     "--out", str(tmp_path / "none")]) == 0
    assert all(r["gflop"] is None for r in json.loads((tmp_path / "none" / "bench.json").read_text())["rows"])


def test_a_model_the_counter_cannot_run_is_timed_without_a_rate() -> None:
    """A failure of the counting step is a note on the row, not a failed bench."""
    from torch.utils._python_dispatch import _get_current_dispatch_mode

    class Shy(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = nn.Parameter(torch.ones(2))

        def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
            if _get_current_dispatch_mode() is not None:
                raise RuntimeError("no dispatch modes here")
            return x * self.w, None

    shy = cases.Case("shy", "other", build=lambda s: Shy(), make_input=lambda s: torch.ones(s.B, s.T, 2))
    rows = measure.bench_size([cases.baseline_case(), shy], cases.Size(2, 3, 2, 4), reps=1, warmup=0, memory=False)
    assert rows[0].gflop == pytest.approx(flops.lstm_train_flops(cases.Size(2, 3, 2, 4)) / 1e9)
    assert rows[1].gflop is None and rows[1].gflop_s is None and rows[1].rate_ratio is None
    assert rows[1].note == "FLOPs not counted: RuntimeError: no dispatch modes here"
