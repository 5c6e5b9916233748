"""``rnnzoo bench`` end to end: the quick run in the default environment and through the OpenMP-passive child,
the run directory, rows with options, the delegation from ``rnnzoo bench``, and one-line argument errors."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from rnnzoo import cli as rnnzoo_cli
from rnnzoo.bench import cases, cli, report, targets


def _results(run_dir: Path) -> tuple[str, dict]:
    assert sorted(p.name for p in run_dir.iterdir()) == ["bench.json", "bench.md"]
    return (run_dir / "bench.md").read_text(), json.loads((run_dir / "bench.json").read_text())


def test_quick_run_writes_md_and_json_with_every_row(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)  # so the run goes through the PASSIVE child process
    assert cli.main(["--quick", "--models", "lstm,elman", "--no-peers", "--threads", "1", "--omp-wait", "passive",
                     "--out", str(tmp_path)]) == 0
    md, data = _results(tmp_path)
    expected = {(m, str(s)) for m in (cases.BASELINE, "lstm", "elman") for s in cases.QUICK_SIZES}
    assert {(r["model"], str(cases.Size(**r["size"]))) for r in data["rows"]} == expected
    for row in data["rows"]:
        assert row["time_ratio"] > 0 and row["mem_ratio"] > 0 and row["baseline_ms"] > 0
        assert len(row["samples_ms"]) == 2 and len(row["ratio_iqr"]) == 2  # --quick: 2 reps
        if row["model"] == cases.BASELINE:
            assert row["time_ratio"] == pytest.approx(1.0) and row["mem_ratio"] == pytest.approx(1.0)
    assert {"cpu", "cores", "torch", "threads"} <= set(data["machine"])
    assert data["machine"]["torch"] == torch.__version__ and data["machine"]["threads"] == 1
    assert data["machine"]["omp_wait_policy"] == "PASSIVE" and data["environment"]["omp_wait"] == "passive"
    assert md.splitlines()[2].startswith("- environment: passive (`--omp-wait passive`)")
    assert "| " + " | ".join(report.ROW_COLUMNS) + " |" in md
    assert sum(line.startswith("| lstm |") for line in md.splitlines()) == len(cases.QUICK_SIZES)
    out = capfd.readouterr().out
    assert "time ratio" in out and "mem ratio" in out and "wrote " in out


def test_the_default_environment_is_the_users(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """In-process, OpenMP's wait policy as the environment has it, torch's default threads; said in the header."""
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    assert cli.main(["--sizes", "2x3x4x4", "--reps", "1", "--warmup", "0", "--models", "elman", "--no-memory",
                     "--out", str(tmp_path / "run")]) == 0
    md, data = _results(tmp_path / "run")
    assert data["machine"]["omp_wait_policy"] == "default"  # measured here: a PASSIVE child would say so
    assert data["environment"] == {"omp_wait": "default", "omp_wait_policy": "default",
                                   "threads": torch.get_num_threads(), "threads_default": True}
    assert data["machine"]["threads"] == torch.get_num_threads()
    assert md.splitlines()[2] == ("- environment: default, as a user runs it: OMP_WAIT_POLICY unset (OpenMP's "
                                  f"default), {torch.get_num_threads()} threads (torch default)")


def test_results_go_to_a_new_run_directory_and_never_over_another_run(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch,
                                                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    argv = ["--sizes", "2x3x4x4", "--reps", "1", "--warmup", "0", "--models", "elman", "--no-memory",
            "--threads", "1"]
    (tmp_path / "runs" / "bench-20250102-030405").mkdir(parents=True)
    assert report.default_run_dir("20250102-030405", tmp_path / "runs") == tmp_path / "runs/bench-20250102-030405-2"
    assert cli.main(argv) == 0
    made = [p for p in (tmp_path / "runs").iterdir() if p.name != "bench-20250102-030405"]
    assert len(made) == 1 and made[0].name.startswith("bench-")
    _results(made[0])
    assert cli.main([*argv, "--out", str(made[0])]) == 2  # another run's results: refused, nothing measured
    assert "already holds a bench run" in capsys.readouterr().err
    md_before = (made[0] / "bench.md").read_text()
    _results(made[0])
    assert (made[0] / "bench.md").read_text() == md_before
    assert not (tmp_path / "benchmarks").exists()


def test_rows_with_options_are_named_as_given(tmp_path: Path) -> None:
    assert cli.main(["--quick", "--models", "gru[reset=before],elman[activation=relu]", "--no-memory", "--threads",
                     "1", "--out", str(tmp_path)]) == 0
    _, data = _results(tmp_path)
    assert [r["model"] for r in data["rows"]][:3] == [cases.BASELINE, "gru[reset=before]", "elman[activation=relu]"]
    assert all(r["vs_plain"] is None for r in data["rows"])  # not regularisers: no plain row added
    assert data["notes"] == []


def test_a_regularised_row_brings_its_plain_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 8's wiring end to end, with an existing option standing in for a regulariser."""
    monkeypatch.setattr(targets, "REGULARISERS", frozenset({"reset"}))
    monkeypatch.setattr(targets, "BOUNDED", frozenset({"reset"}))
    assert cli.main(["--sizes", "2x4x8x8", "--reps", "3", "--warmup", "0", "--models", "gru[reset=before]",
                     "--no-memory", "--threads", "1", "--out", str(tmp_path)]) == 0
    md, data = _results(tmp_path)
    rows = {r["model"]: r for r in data["rows"]}
    assert list(rows) == [cases.BASELINE, "gru", "gru[reset=before]"]  # the plain row, added before it
    row = rows["gru[reset=before]"]
    paired = statistics.median(a / b for a, b in zip(row["samples_ms"], rows["gru"]["samples_ms"], strict=True))
    assert row["vs_plain"] == pytest.approx(paired, rel=1e-2)  # samples_ms are rounded to 1 us
    assert [t for t in row["targets"] if t["issue"] == 8] == [
        {"issue": 8, "metric": "vs plain", "limit": 1.15, "value": row["vs_plain"],
         "label": "≤1.15x the plain gru at (2,4,8,8)", "at_least": False, "passed": row["vs_plain"] <= 1.15}]
    assert "≤1.15x the plain gru at (2,4,8,8) (issue 8 target)" in md
    assert any("gru:" in n and "issue 8" in n for n in data["notes"])


def test_rnnzoo_bench_delegates_here(capsys: pytest.CaptureFixture[str]) -> None:
    assert rnnzoo_cli.main(["bench", "--sizes", "9"]) == 2
    assert capsys.readouterr().err.startswith("rnnzoo bench: error: --sizes")


@pytest.mark.parametrize(("argv", "flag"), [
    (["--models", "no_such_model*"], "--models"),
    (["--models", "gru[no_such_option=1]"], "--models"),
    (["--models", "gru[reset]"], "--models"),
    (["--sizes", "32x100x64"], "--sizes"),
    (["--sizes", "7"], "--sizes"),
    (["--reps", "0"], "--reps"),
    (["--reps", "many"], "--reps"),
    (["--scaling", "--lengths", "10,x"], "--lengths"),
    (["--streaming", "--batches", "1,0"], "--batches"),
    (["--omp-wait", "spin"], "--omp-wait"),
])
def test_bad_arguments_give_one_line_naming_the_flag(argv: list[str], flag: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rnnzoo bench: error:") and flag in err
    assert not list(tmp_path.iterdir())


def test_a_peer_refusing_a_size_is_a_note_of_the_run_not_a_crash(tmp_path: Path) -> None:
    """torchrecurrent's IntersectionRNN needs input_size == hidden_size: at I != H its row is absent, said twice."""
    pytest.importorskip("torchrecurrent", reason="torchrecurrent (the test extra) is not installed")
    assert cli.main(["--sizes", "2x3x4x8,2x3x8x8", "--reps", "1", "--warmup", "0", "--no-memory", "--no-flops",
                     "--models", "intersection_rnn,torchrecurrent.IntersectionRNN", "--out", str(tmp_path)]) == 0
    md, data = _results(tmp_path)
    rows = {(r["model"], r["size"]["I"]) for r in data["rows"]}
    assert ("torchrecurrent.IntersectionRNN", 4) not in rows and ("torchrecurrent.IntersectionRNN", 8) in rows
    assert any(n.startswith("torchrecurrent.IntersectionRNN at (2,3,4,8): refused this size (ValueError: ")
               for n in data["notes"])
    ours = {r["size"]["I"]: r for r in data["rows"] if r["model"] == "intersection_rnn"}
    assert "torchrecurrent.IntersectionRNN refused this size" in ours[4]["note"] and ours[4]["vs_peers"] == {}
    assert set(ours[8]["vs_peers"]) == {"torchrecurrent.IntersectionRNN"}
    assert "refused this size" in md
