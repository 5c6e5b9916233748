"""``rnnzoo bench`` end to end: the quick run through the OpenMP-passive child, rows with options, the
delegation from ``rnnzoo bench``, and one-line argument errors."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
import torch

from rnnzoo import cli as rnnzoo_cli
from rnnzoo.bench import cases, cli, report, targets


def _results(out_dir: Path) -> tuple[str, dict]:
    mds, jss = sorted(out_dir.glob("*.md")), sorted(out_dir.glob("*.json"))
    assert len(mds) == 1 and len(jss) == 1 and mds[0].stem == jss[0].stem
    return mds[0].read_text(), json.loads(jss[0].read_text())


def test_quick_run_writes_md_and_json_with_every_row(tmp_path: Path, capfd: pytest.CaptureFixture[str],
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)  # so the run goes through the PASSIVE child process
    assert cli.main(["--quick", "--models", "lstm,elman", "--no-peers", "--threads", "1",
                     "--out-dir", str(tmp_path)]) == 0
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
    assert data["machine"]["omp_wait_policy"] == "PASSIVE"
    assert "| " + " | ".join(report.ROW_COLUMNS) + " |" in md
    assert sum(line.startswith("| lstm |") for line in md.splitlines()) == len(cases.QUICK_SIZES)
    out = capfd.readouterr().out
    assert "time ratio" in out and "mem ratio" in out and "wrote " in out


def test_rows_with_options_are_named_as_given(tmp_path: Path) -> None:
    assert cli.main(["--quick", "--models", "gru[reset=before],elman[activation=relu]", "--no-memory", "--threads",
                     "1", "--omp-wait-policy", "keep", "--out-dir", str(tmp_path)]) == 0
    _, data = _results(tmp_path)
    assert [r["model"] for r in data["rows"]][:3] == [cases.BASELINE, "gru[reset=before]", "elman[activation=relu]"]
    assert all(r["vs_plain"] is None for r in data["rows"])  # not regularisers: no plain row added
    assert data["notes"] == []


def test_a_regularised_row_brings_its_plain_row(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 8's wiring end to end, with an existing option standing in for a regulariser."""
    monkeypatch.setattr(targets, "REGULARISERS", frozenset({"reset"}))
    monkeypatch.setattr(targets, "BOUNDED", frozenset({"reset"}))
    assert cli.main(["--sizes", "2x4x8x8", "--reps", "3", "--warmup", "0", "--models", "gru[reset=before]",
                     "--no-memory", "--threads", "1", "--omp-wait-policy", "keep", "--out-dir", str(tmp_path)]) == 0
    md, data = _results(tmp_path)
    rows = {r["model"]: r for r in data["rows"]}
    assert list(rows) == [cases.BASELINE, "gru", "gru[reset=before]"]  # the plain row, added before it
    row = rows["gru[reset=before]"]
    paired = statistics.median(a / b for a, b in zip(row["samples_ms"], rows["gru"]["samples_ms"], strict=True))
    assert row["vs_plain"] == pytest.approx(paired, rel=1e-2)  # samples_ms are rounded to 1 us
    assert [t for t in row["targets"] if t["issue"] == 8] == [
        {"issue": 8, "metric": "vs plain", "limit": 1.15, "value": row["vs_plain"], "passed": row["vs_plain"] <= 1.15}]
    assert "#8 vs plain<=1.15" in md and any("gru:" in n and "issue 8" in n for n in data["notes"])


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
])
def test_bad_arguments_give_one_line_naming_the_flag(argv: list[str], flag: str, tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([*argv, "--out-dir", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("rnnzoo bench: error:") and flag in err
    assert not list(tmp_path.iterdir())
