"""The ``rnnzoo`` command line as a user meets it first: fast help, suggestions for typos, help texts
that say what the code does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from rnnzoo import cli

HEAVY = ("lightning", "pytorch_lightning", "torchmetrics", "torch._dynamo", "tensorboard", "matplotlib")


def _loaded_after(code: str) -> list[str]:
    """The heavy modules imported by ``code`` in a fresh interpreter."""
    probe = f"import sys, json\n{code}\nprint(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    modules = json.loads(proc.stdout.strip().splitlines()[-1])
    return [m for m in modules if m in HEAVY or m.split(".")[0] in HEAVY[:3]]


def test_help_and_list_import_no_lightning():
    """``rnnzoo --help`` and ``rnnzoo list`` import neither Lightning (6 s cold) nor torch's compiler stack."""
    assert _loaded_after("import rnnzoo.cli") == []
    calls = "".join(f"    assert cli.main({argv}) == 0\n" for argv in (["--help"], ["list"], ["train", "--help"],
                                                                        ["compare", "--help"], ["--version"]))
    code = f"import contextlib, io\nfrom rnnzoo import cli\nwith contextlib.redirect_stdout(io.StringIO()):\n{calls}"
    assert _loaded_after(code) == []
    assert _loaded_after("import matplotlib") == ["matplotlib"]  # the probe sees an import


def _error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.mark.parametrize("argv,words", [
    (["trian"], ["unknown command 'trian'", "did you mean 'train'?", "commands: list, train"]),
    (["lst"], ["did you mean 'list'?"]),
    (["train", "--modle", "gru"], ["unrecognized arguments: --modle gru", "--modle: did you mean --model?"]),
    (["train", "--lrr=0.1"], ["--lrr: did you mean --lr?"]),
    (["compare", "--models", "lstm", "--max-step5", "9"], ["--max-step5: did you mean --max-steps?"]),
    (["train", "--optimizer", "adamm"], ["--optimizer: invalid choice: 'adamm' (did you mean 'adam'?)"]),
    (["evaluate", "run", "--splt", "valid"], ["--splt: did you mean --split?"]),
    (["diagnose", "--model", "lstm", "--tsk", "adding"], ["required: --task", "--tsk: did you mean --task?"]),
    (["compare", "--modles", "lstm"], ["required: --models", "--modles: did you mean --models?"]),
])
def test_typos_get_a_suggestion(argv, words, capsys):
    assert cli.main(argv) == 2
    err = _error(capsys)
    for word in words:
        assert word in err, err
    assert err.endswith("--help)")


def test_nothing_close_gets_no_guess(capsys):
    assert cli.main(["xyzzy"]) == 2
    assert "did you mean" not in _error(capsys)
    assert cli.main(["train", "--qqqqqqqq"]) == 2
    assert "did you mean" not in _error(capsys)


def test_version_comes_from_the_package_metadata(capsys):
    from importlib import metadata

    assert cli.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"rnnzoo {metadata.version('rnnzoo')} (torch {metadata.version('torch')}")


def test_top_level_help_describes_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "delegated" not in out and "rnnzoo.bench" not in out
    import re

    for name in ("list", "train", "evaluate", "compare", *cli._DELEGATES):
        # argparse puts a name longer than its column on a line of its own, its help on the next
        assert re.search(rf"^ {{4}}{name}( |\n)", out, re.M), name


def test_list_states_each_tasks_default_length():
    """What `rnnzoo list` says of T is the length a run without --seq-len gets (copy: delay + 20)."""
    import re

    from rnnzoo.tasks import get_task, list_tasks

    for info in list_tasks():
        if "fixed" in info.seq_len or info.name.endswith("mnist"):
            continue
        if "by default" not in info.seq_len:  # a corpus task: its lengths come from the data
            assert info.train_defaults, info
            continue
        said = int(re.search(r"= (\d+) by default", info.seq_len).group(1))
        assert get_task(info.name).seq_len == said, info
    assert get_task("copy", delay=30).seq_len == 50


def test_help_defaults_are_what_a_run_gets(capsys):
    """--seq-len, --stop-at and --monitor describe their defaults as resolve_config and the tasks apply them."""
    from rnnzoo.tasks import get_task

    assert cli.main(["train", "--help"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    seq_len = out.rsplit("--seq-len T", 1)[1].split("--task-option")[0]  # its help entry, after the usage
    assert "default: the task's" in seq_len and "default 100" not in seq_len
    parser = cli.build_parser()
    default_job = cli.resolve_config(parser.parse_args(["train"]))
    assert (default_job.seq_len, default_job.stop_at) == (100, 0.001)
    assert "stops at 0.001 on the adding task's MSE, other tasks and --monitor default to none" in out
    for argv in (["--task", "copy"], ["--monitor", "mse", "--task", "multiplication"], ["--monitor", "mse"]):
        cfg = cli.resolve_config(parser.parse_args(["train", *argv]))
        assert cfg.stop_at is None, argv
    assert cli.resolve_config(parser.parse_args(["train", "--task", "copy"])).seq_len is None  # the task's
    assert "mse for adding and multiplication, cross_entropy for copy, accuracy for the others" in out
    small = {"valid_size": 8, "test_size": 8}
    assert [get_task(n, **small).metrics[0] for n in ("adding", "multiplication", "copy")] == [
        "mse", "mse", "cross_entropy"]
    assert {get_task(n, **small).metrics[0] for n in ("temporal_order", "temporal_order8", "parity")} == {"accuracy"}
