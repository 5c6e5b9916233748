"""The README's tour runs as written, and its architecture table lists every registered model."""

from __future__ import annotations

import re
from pathlib import Path

import rnnzoo

README = Path(__file__).resolve().parents[1] / "README.md"


def test_tour_runs_as_written():
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    assert len(blocks) >= 3
    namespace: dict = {}
    for block in blocks:
        exec(compile(block, str(README), "exec"), namespace)  # noqa: S102


def test_architecture_table_lists_every_model():
    text = README.read_text()
    for name in rnnzoo.list_models():
        assert f"| `{name}` |" in text, f"README's architecture table lacks {name}"
