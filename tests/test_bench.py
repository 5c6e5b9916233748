"""``rnnzoo.bench``: the end-to-end smoke run, the ratio arithmetic, result files and argument errors.

No timing is asserted (the machine is shared); fake clocks test the arithmetic.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from rnnzoo import bench


def _results(out_dir: Path) -> tuple[str, dict]:
    mds, jss = sorted(out_dir.glob("*.md")), sorted(out_dir.glob("*.json"))
    assert len(mds) == 1 and len(jss) == 1 and mds[0].stem == jss[0].stem
    return mds[0].read_text(), json.loads(jss[0].read_text())


def test_quick_run_writes_md_and_json_with_every_row(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)  # so the run goes through the PASSIVE child process
    assert bench.main(["--quick", "--models", "lstm,elman", "--no-peers", "--threads", "1",
                       "--out-dir", str(tmp_path)]) == 0
    md, data = _results(tmp_path)
    expected = {(m, str(s)) for m in (bench.BASELINE, "lstm", "elman") for s in bench.QUICK_SIZES}
    assert {(r["model"], str(bench.Size(**r["size"]))) for r in data["rows"]} == expected
    for row in data["rows"]:
        assert row["time_ratio"] > 0 and row["mem_ratio"] > 0 and row["baseline_ms"] > 0
        assert len(row["samples_ms"]) == 2 and len(row["ratio_iqr"]) == 2  # --quick: 2 reps
        if row["model"] == bench.BASELINE:
            assert row["time_ratio"] == pytest.approx(1.0) and row["mem_ratio"] == pytest.approx(1.0)
    assert {"cpu", "cores", "torch", "threads"} <= set(data["machine"])
    assert data["machine"]["torch"] == torch.__version__ and data["machine"]["threads"] == 1
    assert data["machine"]["omp_wait_policy"] == "PASSIVE"
    assert "| " + " | ".join(bench.ROW_COLUMNS) + " |" in md
    assert sum(line.startswith("| lstm |") for line in md.splitlines()) == len(bench.QUICK_SIZES)
    out = capfd.readouterr().out
    assert "time ratio" in out and "mem ratio" in out and "wrote " in out


def test_quick_scaling_reports_each_length(tmp_path: Path) -> None:
    assert bench.main(["--quick", "--scaling", "--models", "lstm", "--threads", "1", "--omp-wait-policy",
                       "keep", "--out-dir", str(tmp_path)]) == 0
    md, data = _results(tmp_path)
    got = {(r["model"], r["T"]) for r in data["scaling"]}
    assert got == {(m, t) for m in (bench.BASELINE, "lstm") for t in bench.QUICK_LENGTHS}
    assert all(r["us_per_step"] > 0 and r["peak_mb"] > 0 and r["vs_baseline"] > 0 for r in data["scaling"])
    assert all(r["vs_first"] == pytest.approx(1.0) for r in data["scaling"] if r["T"] == bench.QUICK_LENGTHS[0])
    assert "Sequence-length scaling" in md


def test_interleaving_rotates_the_order_and_skips_warmup() -> None:
    now = [0.0]
    order: list[str] = []

    def step(name: str, cost: float):
        def run() -> None:
            order.append(name)
            now[0] += cost
        return run

    samples = bench.interleaved_samples({"base": step("base", 10.0), "model": step("model", 15.0)}, reps=5,
                                        warmup=2, clock=lambda: now[0])
    assert samples == {"base": [10.0] * 5, "model": [15.0] * 5}  # warm-up rounds are not recorded
    assert order[:4] == ["base", "model", "base", "model"]
    assert order[4:8] == ["base", "model", "model", "base"]  # the order rotates each timed round
    assert bench.paired_ratio(samples["model"], samples["base"]) == pytest.approx(1.5)
    assert bench.paired_ratio([15, 30, 999, 45], [10, 20, 30, 30]) == pytest.approx(1.5)  # median, outlier-proof
    assert bench.paired_iqr([10, 20, 30, 40, 50], [10, 10, 10, 10, 10]) == pytest.approx((2.0, 4.0))
    assert bench.paired_iqr([1.0], [1.0]) is None
    with pytest.raises(ValueError):
        bench.paired_ratio([1.0], [1.0, 2.0])


def test_ratio_from_fake_clock_pairs_rounds() -> None:
    now = [0.0]
    costs = {"base": iter([1, 1, 10, 20, 10, 30, 10]), "m": iter([1, 1, 12, 24, 12, 36, 12])}

    def make(name: str):
        def run() -> None:
            now[0] += next(costs[name])
        return run

    samples = bench.interleaved_samples({"base": make("base"), "m": make("m")}, reps=5, warmup=1,
                                        clock=lambda: now[0])
    assert samples["base"] == [1, 10, 20, 10, 30] and samples["m"] == [1, 12, 24, 12, 36]
    assert bench.paired_ratio(samples["m"], samples["base"]) == pytest.approx(1.2)


def test_peak_of_allocator_deltas_and_a_real_profile() -> None:
    assert bench.peak_of_deltas([(3, 30), (0, 100), (1, 50), (2, -100)]) == 150  # sorted by time
    assert bench.peak_of_deltas([(0, -10)]) == 0
    mb = 2**20

    def alloc() -> None:
        a = torch.ones(mb // 4)  # 1 MiB of float32
        b = a * 2  # another MiB while a lives
        del a, b

    assert 2 * mb <= bench.peak_memory(alloc) < 3 * mb


def test_file_name_collisions_get_a_counter_and_nothing_is_overwritten(tmp_path: Path) -> None:
    assert bench.unique_stem(tmp_path, "2025-01-02") == tmp_path / "2025-01-02"
    (tmp_path / "2025-01-02.md").write_text("old")
    assert bench.unique_stem(tmp_path, "2025-01-02") == tmp_path / "2025-01-02-2"
    (tmp_path / "2025-01-02-2.json").write_text("{}")  # either suffix taken blocks the stem
    assert bench.unique_stem(tmp_path, "2025-01-02") == tmp_path / "2025-01-02-3"
    report = {"date": "2025-01-02", "command": "x", "notes": [], "config": {"reps": 1, "warmup": 0},
              "machine": bench.machine_info(1)}
    md, js = bench.write_results(tmp_path, report, [], [])
    assert (md.name, js.name) == ("2025-01-02-3.md", "2025-01-02-3.json")
    assert (tmp_path / "2025-01-02.md").read_text() == "old"


@pytest.mark.parametrize(("argv", "flag"), [
    (["--models", "no_such_model*"], "--models"),
    (["--sizes", "32x100x64"], "--sizes"),
    (["--sizes", "7"], "--sizes"),
    (["--reps", "0"], "--reps"),
    (["--reps", "many"], "--reps"),
    (["--scaling", "--lengths", "10,x"], "--lengths"),
])
def test_bad_arguments_give_one_line_naming_the_flag(argv: list[str], flag: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main([*argv, "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rnnzoo bench: error:") and flag in err
    assert not list(tmp_path.iterdir())


def test_parse_sizes() -> None:
    assert bench.parse_sizes("1,3") == [bench.PRESETS["1"], bench.PRESETS["3"]]
    assert bench.parse_sizes("2x3x4x5") == [bench.Size(2, 3, 4, 5)]
    assert bench.parse_sizes("all") == list(bench.PRESETS.values())


def test_targets_follow_the_issues() -> None:
    lstm, peephole = bench.rnnzoo_case("lstm"), bench.rnnzoo_case("peephole_lstm")
    size1, size2, size3 = (bench.PRESETS[k] for k in "123")

    def limits(case: bench.Case, size: bench.Size) -> set[tuple[int, str, float]]:
        return {(t.issue, t.metric, t.limit) for t in bench.targets_for(case, size, 1.1, 0.9)}

    assert limits(lstm, size2) == {(2, "time", 1.05), (5, "time", 1.15), (5, "mem", 1.0)}
    assert limits(peephole, size3) == {(2, "time", 1.3), (5, "mem", 1.0)}
    assert limits(peephole, size1) == {(5, "time", 1.8), (5, "mem", 1.0)}
    assert [t.passed for t in bench.targets_for(lstm, size2, 1.1, 0.9)] == [False, True, True]
    assert bench.targets_for(bench.rnnzoo_case("convlstm"), size2, 1.0, 1.0) == []  # spatial: informational
    assert bench.targets_for(lstm, size2, 1.0, 1.0, compiled=True) == []


def test_missing_peers_are_skipped_with_a_note() -> None:
    try:
        import sru  # noqa: F401
    except Exception:
        cases, notes = bench.peer_cases(["sru.SRU"])
        assert cases == [] and len(notes) == 1 and "sru" in notes[0] and "skipped" in notes[0]
    else:
        pytest.skip("sru is importable here")
