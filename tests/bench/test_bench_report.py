"""``rnnzoo.bench.report``: result files never overwrite, tables and machine info."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rnnzoo.bench import cases, measure, report, targets

ENV = {"omp_wait": "default", "omp_wait_policy": "default", "threads": 2, "threads_default": True}


def test_run_directories_get_a_counter_and_no_run_is_overwritten(tmp_path: Path) -> None:
    assert report.default_run_dir("20250102-030405", tmp_path) == tmp_path / "bench-20250102-030405"
    (tmp_path / "bench-20250102-030405").mkdir()
    assert report.default_run_dir("20250102-030405", tmp_path) == tmp_path / "bench-20250102-030405-2"
    data = {"date": "2025-01-02", "command": "x", "notes": [], "config": {"reps": 1, "warmup": 0},
            "machine": report.machine_info(1), "environment": ENV}
    run = tmp_path / "a" / "run"
    md, js = report.write_results(run, data, [], [])
    assert (md.name, js.name) == ("bench.md", "bench.json") and md.parent == run
    for name in ("bench.md", "bench.json"):  # either file of an earlier run blocks the directory
        other = tmp_path / name.replace(".", "-")
        other.mkdir()
        (other / name).write_text("old")
        with pytest.raises(FileExistsError, match="already holds a bench run"):
            report.write_results(other, data, [], [])
        assert [p.name for p in other.iterdir()] == [name] and (other / name).read_text() == "old"


def test_the_header_says_which_environment_was_measured() -> None:
    assert report.environment_line(ENV) == ("default, as a user runs it: OMP_WAIT_POLICY unset (OpenMP's default), "
                                            "2 threads (torch default)")
    assert "set in the environment" in report.environment_line({**ENV, "omp_wait_policy": "ACTIVE"})
    passive = report.environment_line({**ENV, "omp_wait": "passive", "threads_default": False})
    assert passive.startswith("passive (`--omp-wait passive`): OMP_WAIT_POLICY=PASSIVE, 2 threads (--threads)")
    assert "not what a user gets" in passive


def test_a_row_in_the_tables_and_the_json(tmp_path: Path) -> None:
    row = measure.Row("lstm[zoneout=0.1]", "rnnzoo", cases.PRESETS["1"], time_ratio=1.234, ratio_iqr=(1.1, 1.3),
                      time_ms=12.0, baseline_ms=10.0, note="1.08x lstm (paired)", vs_plain=1.08,
                      targets=[targets.Target(8, "vs plain", 1.15, 1.08, "≤1.15x the plain lstm")])
    cells = report.row_cells(row)
    assert cells == ["lstm[zoneout=0.1]", "(32,100,64,128)", "1.23x", "1.10-1.30", "-", "10.0", "12.0", "-",
                     "-", "-", "-", "≤1.15x the plain lstm (issue 8 target): met (1.08x)", "1.08x lstm (paired)"]
    text = report.text_table(report.ROW_COLUMNS, [cells])
    assert text.splitlines()[0].startswith("model") and len(text.splitlines()) == 3
    assert report.md_table(["a|b"], [["c|d"]]).splitlines()[-1] == "| c\\|d |"
    data = {"date": "2025-01-02", "command": "x", "notes": ["n"], "config": {"reps": 1, "warmup": 0},
            "machine": report.machine_info(1), "environment": ENV}
    md, js = report.write_results(tmp_path, data, [row], [])
    saved = json.loads(js.read_text())["rows"][0]
    assert saved["size"] == {"B": 32, "T": 100, "I": 64, "H": 128} and saved["vs_plain"] == 1.08
    assert saved["targets"] == [{"issue": 8, "metric": "vs plain", "limit": 1.15, "value": 1.08,
                                 "label": "≤1.15x the plain lstm", "at_least": False, "passed": True}]
    assert "| lstm[zoneout=0.1] | (32,100,64,128) | 1.23x |" in md.read_text() and "- n" in md.read_text()
