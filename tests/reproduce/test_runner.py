"""Running claims at the --quick smoke scale on the synthetic tasks; the README table from result files."""

from __future__ import annotations

import json

import pytest

from rnnzoo import cli
from rnnzoo.core.registry import Paper
from rnnzoo.reproduce.claims import Claim, Run, get_claim, register_claim, unregister_claim
from rnnzoo.reproduce.runner import QUICK_LABEL, error_share, reproduce
from rnnzoo.reproduce.table import END, START, load_results, render_table
from rnnzoo.reproduce.verdict import Ordering


def test_quick_run_writes_labelled_results_skips_finished_runs_and_never_overwrites(tmp_path, capsys):
    run_dir = tmp_path / "to"
    argv = ["reproduce", "pascanu_temporal_order", "--quick", "--seeds", "0,1", "--run-dir", str(run_dir)]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert QUICK_LABEL in out and "| clip-T50 | 1 |" in out
    summary = json.loads((run_dir / "reproduce.json").read_text())
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    for label in ("clip-T50", "clip-T100"):
        stats = summary["measured"][label]
        assert stats["n"] == 2 and stats["min"] <= stats["median"] <= stats["max"]
        for seed in (0, 1):
            res = json.loads((run_dir / f"{label}-s{seed}" / "results.json").read_text())
            assert res["test"]["accuracy"] == stats["per_seed"][str(seed)]
            assert res["config"]["seed"] == seed
    assert QUICK_LABEL in (run_dir / "reproduce.md").read_text()
    before = (run_dir / "clip-T50-s0" / "results.json").stat().st_mtime_ns
    assert cli.main(argv) == 0  # the same command again: the finished runs are read back, not retrained
    assert "4 finished before (skipped)" in capsys.readouterr().out
    assert json.loads((run_dir / "reproduce.json").read_text())["measured"] == summary["measured"]
    assert cli.main([a for a in argv if a != "--quick"]) == 2  # the full scale is another configuration
    err = capsys.readouterr().err
    assert "clip-T50-s0 holds a run of a different configuration" in err and "never overwrites a run" in err
    assert (run_dir / "clip-T50-s0" / "results.json").stat().st_mtime_ns == before
    with pytest.raises(ValueError, match="--quick"):  # a smoke run is never a result
        load_results([_copy(run_dir, summary)])


def _copy(run_dir, summary):
    path = run_dir / "again.json"
    path.write_text(json.dumps(summary))
    return path


def test_error_share_counts_sequences_beyond_the_threshold(tmp_path):
    summary = reproduce(get_claim("hochreiter_adding"), seeds=[0], run_dir=tmp_path / "h", quick=True,
                        echo=lambda _: None)
    sub = tmp_path / "h" / "lstm-T500-s0"
    share = summary["measured"]["lstm-T500"]["median"]
    assert 0.0 <= share <= 1.0
    assert error_share(sub, 0.04) == share
    assert error_share(sub, 0.0) == 1.0 and error_share(sub, 100.0) == 0.0


@pytest.fixture
def tiny_claim():
    claim = register_claim(Claim(
        name="test_tiny_order", paper=Paper("Test", 2026, "a claim the test defines"),
        claim="gru above elman on parity after 3 updates (a test claim, not a paper's)", published="none",
        published_values={"gru": 0.5}, setting="3 updates, 8 units (the test's own setting)",
        base={"task": "parity", "seq_len": 4, "hidden_size": 8, "max_steps": 3, "val_every": 3, "batch_size": 8,
              "progress": "none", "threads": 1, "task_options": {"valid_size": 16, "test_size": 16}},
        runs=(Run("gru", {"model": "gru"}), Run("elman", {"model": "elman"})), seeds=(0,), metric="accuracy",
        conditions=(Ordering(("gru",), ("elman",)),), minutes=0.1, minutes_basis="test"))
    yield claim
    unregister_claim(claim.name)


def test_table_is_generated_from_result_files(tmp_path, tiny_claim, capsys):
    summary = reproduce(tiny_claim, run_dir=tmp_path / "r", echo=lambda _: None)
    assert summary["verdict"] in ("PASS", "FAIL", "PARTIAL") and summary["quick"] is False
    table = render_table(load_results([tmp_path / "r"]))
    gru = summary["measured"]["gru"]["median"]
    assert f"| test_tiny_order (test accuracy) | gru | 0.5 | {gru:.4g} (1 seed) | {summary['verdict']} |" in table
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\nbefore\n{START}\nold table\n{END}\nafter\n")
    assert cli.main(["reproduce", "table", str(tmp_path / "r" / "reproduce.json"), "--readme", str(readme)]) == 0
    text = readme.read_text()
    assert "old table" not in text and table in text and text.endswith(f"{END}\nafter\n")
    assert text.startswith("# x\n\nbefore\n")
    readme.write_text("no markers\n")
    assert cli.main(["reproduce", "table", str(tmp_path / "r"), "--readme", str(readme)]) == 2
    assert "reproduce-table" in capsys.readouterr().err
