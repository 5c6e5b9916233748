"""``rnnzoo.bench.measure``: interleaving, paired ratios and peak memory, on fake clocks and a real profile.

No timing is asserted (the machine is shared); fake clocks test the arithmetic.
"""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnzoo
from rnnzoo.bench import cases, measure


def test_interleaving_rotates_the_order_and_skips_warmup() -> None:
    now = [0.0]
    order: list[str] = []

    def step(name: str, cost: float):
        def run() -> None:
            order.append(name)
            now[0] += cost
        return run

    samples = measure.interleaved_samples({"base": step("base", 10.0), "model": step("model", 15.0)}, reps=5,
                                          warmup=2, clock=lambda: now[0])
    assert samples == {"base": [10.0] * 5, "model": [15.0] * 5}  # warm-up rounds are not recorded
    assert order[:4] == ["base", "model", "base", "model"]
    assert order[4:8] == ["base", "model", "model", "base"]  # the order rotates each timed round
    assert measure.paired_ratio(samples["model"], samples["base"]) == pytest.approx(1.5)
    assert measure.paired_ratio([15, 30, 999, 45], [10, 20, 30, 30]) == pytest.approx(1.5)  # median, outlier-proof
    assert measure.paired_iqr([10, 20, 30, 40, 50], [10, 10, 10, 10, 10]) == pytest.approx((2.0, 4.0))
    assert measure.paired_iqr([1.0], [1.0]) is None
    with pytest.raises(ValueError):
        measure.paired_ratio([1.0], [1.0, 2.0])


def test_ratio_from_fake_clock_pairs_rounds() -> None:
    now = [0.0]
    costs = {"base": iter([1, 1, 10, 20, 10, 30, 10]), "m": iter([1, 1, 12, 24, 12, 36, 12])}

    def make(name: str):
        def run() -> None:
            now[0] += next(costs[name])
        return run

    samples = measure.interleaved_samples({"base": make("base"), "m": make("m")}, reps=5, warmup=1,
                                          clock=lambda: now[0])
    assert samples["base"] == [1, 10, 20, 10, 30] and samples["m"] == [1, 12, 24, 12, 36]
    assert measure.paired_ratio(samples["m"], samples["base"]) == pytest.approx(1.2)


def test_peak_of_allocator_deltas_and_a_real_profile() -> None:
    assert measure.peak_of_deltas([(3, 30), (0, 100), (1, 50), (2, -100)]) == 150  # sorted by time
    assert measure.peak_of_deltas([(0, -10)]) == 0
    mb = 2**20

    def alloc() -> None:
        a = torch.ones(mb // 4)  # 1 MiB of float32
        b = a * 2  # another MiB while a lives
        del a, b

    assert 2 * mb <= measure.peak_memory(alloc) < 3 * mb


def test_the_peak_counts_the_buffers_the_function_pool_would_hand_back() -> None:
    """A hand-written Function's buffers come from :mod:`rnnzoo.fused.workspace` from the second call on; the peak
    of a later step is still the first step's (the pool is emptied before the profiled step)."""
    model = cases.rnnzoo_case("cfn").build(cases.Size(4, 20, 8, 16))
    x = torch.randn(4, 20, 8)

    def step() -> None:
        model(x)[0].sum().backward()

    peaks = [measure.peak_memory(step) for _ in range(3)]
    # equal to a few hundred bytes of autograd's own first-call allocations; without the emptying the later peaks
    # were 41% of the first (19456 against 47816 bytes)
    assert peaks[0] > 0 and all(abs(p - peaks[0]) < 0.05 * peaks[0] for p in peaks[1:])


def test_rows_from_fake_samples() -> None:
    """Ratios, spreads, memory ratios and milliseconds follow from the samples and peaks alone."""
    base, lstm = cases.baseline_case(), cases.rnnzoo_case("lstm")
    size = cases.PRESETS["2"]
    samples = {base.name: [0.010, 0.020, 0.010], "lstm": [0.011, 0.021, 0.012]}
    rows = measure.make_rows({base.name: base, "lstm": lstm}, size, samples, {base.name: 2**21, "lstm": 2**20})
    b, m = rows
    assert (b.time_ratio, b.mem_ratio, b.ratio_iqr) == (pytest.approx(1.0), pytest.approx(1.0), pytest.approx((1, 1)))
    assert m.time_ratio == pytest.approx(1.1) and m.mem_ratio == pytest.approx(0.5) and m.peak_mb == pytest.approx(1)
    assert (m.time_ms, m.baseline_ms, m.samples_ms) == (pytest.approx(12.0), pytest.approx(10.0), [11.0, 21.0, 12.0])
    assert [(t.issue, t.passed) for t in m.targets] == [(2, False), (5, True), (5, True)]  # 1.1 > 1.05 torch-fused
    assert m.vs_plain is None and m.note == ""
    no_memory = measure.make_rows({base.name: base, "lstm": lstm}, size, samples, None)
    assert no_memory[1].mem_ratio is None and no_memory[1].peak_mb is None and no_memory[1].baseline_peak_mb is None


def test_a_peer_that_refuses_the_size_gets_no_row_and_its_rnnzoo_row_says_so() -> None:
    """torchrecurrent.IntersectionRNN raises for input_size != hidden_size: that size's bench goes on without it."""
    def refuse(s: cases.Size) -> nn.Module:
        raise ValueError(f"needs input_size == hidden_size (got {s.I}, {s.H})")

    ours = cases.rnnzoo_case("mgu")
    assert "torchrecurrent.MGU" in rnnzoo.model_info("mgu").peers
    peer = cases.Case("torchrecurrent.MGU", "torchrecurrent", build=refuse, make_input=lambda s: torch.ones(1))
    rows = measure.bench_size([cases.baseline_case(), ours, peer], cases.Size(2, 3, 2, 4), reps=1, warmup=0,
                              memory=False, flops=False)
    assert [r.model for r in rows] == [cases.BASELINE, "mgu"]
    assert rows[1].vs_peers == {}
    refusal = "torchrecurrent.MGU refused this size (ValueError: needs input_size == hidden_size (got 2, 4))"
    assert refusal in rows[1].note


def test_a_baseline_that_refuses_the_size_fails_the_bench() -> None:
    def refuse(s: cases.Size) -> nn.Module:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):
        measure.bench_size([cases.Case("base", "torch", build=refuse, make_input=lambda s: torch.ones(1)),
                            cases.rnnzoo_case("mgu")], cases.Size(2, 3, 2, 4), reps=1, warmup=0, memory=False)


def test_each_peer_is_timed_right_after_its_rnnzoo_row() -> None:
    """The paired ratio compares two steps timed back to back, whatever order the cases came in."""
    def tiny(s: cases.Size) -> nn.Module:
        return nn.LSTM(s.I, s.H, batch_first=True)

    peers = [cases.Case(name, "torchrecurrent", build=tiny, make_input=lambda s: torch.randn(s.B, s.T, s.I))
             for name in ("torchrecurrent.MGU", "torchrecurrent.MinimalRNN")]
    other = cases.Case("other", "torch", build=tiny, make_input=lambda s: torch.randn(s.B, s.T, s.I))
    given = [cases.baseline_case(), cases.rnnzoo_case("minimal_rnn"), cases.rnnzoo_case("mgu"), other, *peers]
    of = {c.name: c for c in given}
    groups = measure.peer_groups(list(of), of)
    assert groups == [[cases.BASELINE], ["minimal_rnn", "torchrecurrent.MinimalRNN"], ["mgu", "torchrecurrent.MGU"],
                      ["other"]]
    rows = measure.bench_size(given, cases.Size(2, 3, 2, 4), reps=1, warmup=0, memory=False, flops=False)
    assert [r.model for r in rows] == [n for g in groups for n in g]
    assert set(rows[1].vs_peers) == {"torchrecurrent.MinimalRNN"} and set(rows[3].vs_peers) == {"torchrecurrent.MGU"}


def test_the_rotation_moves_whole_groups_so_a_pair_is_never_split() -> None:
    ran: list[str] = []
    names = ["base", "a", "a_peer", "b", "b_peer", "c"]
    steps = {n: (lambda n=n: ran.append(n)) for n in names}
    groups = [["base"], ["a", "a_peer"], ["b", "b_peer"], ["c"]]
    measure.interleaved_samples(steps, reps=8, warmup=0, groups=groups)
    rounds = [ran[i:i + len(names)] for i in range(0, len(ran), len(names))]
    assert len(rounds) == 8 and len({r[0] for r in rounds}) == 4  # every group leads in turn
    for r in rounds:
        assert r.index("a_peer") == r.index("a") + 1 and r.index("b_peer") == r.index("b") + 1
    with pytest.raises(ValueError, match="groups: expected a partition"):
        measure.interleaved_samples(steps, reps=1, warmup=0, groups=[["a", "base"], ["a_peer", "b", "b_peer", "c"]])


def test_a_refusing_rnnzoo_row_or_baseline_fails_and_a_refusing_peer_is_reported() -> None:
    def refuse(s: cases.Size) -> nn.Module:
        raise ValueError("no")

    with pytest.raises(ValueError, match="no"):  # our own model refusing a size is a failure, not a skipped row
        measure.bench_size([cases.baseline_case(), cases.Case("mine", "rnnzoo", build=refuse,
                                                              make_input=lambda s: torch.ones(1))],
                           cases.Size(2, 3, 2, 4), reps=1, warmup=0, memory=False, flops=False, compile_models=True)
    refused: dict[str, str] = {}
    lone = cases.Case("torchrecurrent.X", "torchrecurrent", build=refuse, make_input=lambda s: torch.ones(1))
    rows = measure.bench_size([cases.baseline_case(), lone], cases.Size(2, 3, 2, 4), reps=1, warmup=0,
                              memory=False, flops=False, refusals=refused)
    assert [r.model for r in rows] == [cases.BASELINE] and refused == {"torchrecurrent.X": "ValueError: no"}
