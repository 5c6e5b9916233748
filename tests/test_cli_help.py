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
    quiet = "import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n    rc = cli.main({})\n"
    for argv in (["--help"], ["list"], ["train", "--help"], ["compare", "--help"]):
        assert _loaded_after("from rnnzoo import cli\n" + quiet.format(argv)) == [], argv
    # the probe can fail: training does import Lightning
    assert "lightning" in _loaded_after("import rnnzoo.train.run")
