"""``rnnzoo.bench.report``: result files never overwrite, tables and machine info."""

from __future__ import annotations

import json
from pathlib import Path

from rnnzoo.bench import cases, measure, report, targets


def test_file_name_collisions_get_a_counter_and_nothing_is_overwritten(tmp_path: Path) -> None:
    assert report.unique_stem(tmp_path, "2025-01-02") == tmp_path / "2025-01-02"
    (tmp_path / "2025-01-02.md").write_text("old")
    assert report.unique_stem(tmp_path, "2025-01-02") == tmp_path / "2025-01-02-2"
    (tmp_path / "2025-01-02-2.json").write_text("{}")  # either suffix taken blocks the stem
    assert report.unique_stem(tmp_path, "2025-01-02") == tmp_path / "2025-01-02-3"
    data = {"date": "2025-01-02", "command": "x", "notes": [], "config": {"reps": 1, "warmup": 0},
            "machine": report.machine_info(1)}
    md, js = report.write_results(tmp_path, data, [], [])
    assert (md.name, js.name) == ("2025-01-02-3.md", "2025-01-02-3.json")
    assert (tmp_path / "2025-01-02.md").read_text() == "old"


def test_a_row_in_the_tables_and_the_json(tmp_path: Path) -> None:
    row = measure.Row("lstm[zoneout=0.1]", "rnnzoo", cases.PRESETS["1"], time_ratio=1.234, ratio_iqr=(1.1, 1.3),
                      time_ms=12.0, baseline_ms=10.0, note="1.08x lstm (paired)", vs_plain=1.08,
                      targets=[targets.Target(8, "vs plain", 1.15, 1.08)])
    cells = report.row_cells(row)
    assert cells == ["lstm[zoneout=0.1]", "(32,100,64,128)", "1.23x", "1.10-1.30", "-", "10.0", "12.0", "-",
                     "#8 vs plain<=1.15 ok", "1.08x lstm (paired)"]
    text = report.text_table(report.ROW_COLUMNS, [cells])
    assert text.splitlines()[0].startswith("model") and len(text.splitlines()) == 3
    assert report.md_table(["a|b"], [["c|d"]]).splitlines()[-1] == "| c\\|d |"
    data = {"date": "2025-01-02", "command": "x", "notes": ["n"], "config": {"reps": 1, "warmup": 0},
            "machine": report.machine_info(1)}
    md, js = report.write_results(tmp_path, data, [row], [])
    saved = json.loads(js.read_text())["rows"][0]
    assert saved["size"] == {"B": 32, "T": 100, "I": 64, "H": 128} and saved["vs_plain"] == 1.08
    assert saved["targets"] == [{"issue": 8, "metric": "vs plain", "limit": 1.15, "value": 1.08, "passed": True}]
    assert "| lstm[zoneout=0.1] | (32,100,64,128) | 1.23x |" in md.read_text() and "- n" in md.read_text()
