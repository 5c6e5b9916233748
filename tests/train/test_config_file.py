"""Configuration files: errors name the file, the key and the line; ``none`` means what it means on the
command line."""

from __future__ import annotations

import pytest
import yaml

from rnnzoo import cli
from rnnzoo.train.config import TrainConfig
from rnnzoo.train.config_file import load_config_file


def _resolve(*argv: str) -> TrainConfig:
    return cli.resolve_config(cli.build_parser().parse_args(["train", *argv]))


@pytest.mark.parametrize("text,words", [
    ("model: lstm\noptions: [1, 2]\n", ["line 2: options: expected a mapping", "got [1, 2]"]),
    ("model: lstm\n\nhidden_size: sixty-four\n", ["line 3: hidden_size: expected an integer >= 1, got 'sixty-four'"]),
    ("lr: 0.1\nlr: 0.2\n", ["line 2: lr: given twice (first on line 1)"]),
    ("lr: 0.1\nlearnig_rate: 3\n", ["line 2: unknown key 'learnig_rate'"]),
    ("lr: 0.1\n  bad: [\n", ["line 2: not valid YAML"]),
    ("task_options: 3\n", ["line 1: task_options: expected a mapping"]),
    ("- lr\n", ["expected a mapping of keys to values"]),
])
def test_errors_name_the_file_the_key_and_the_line(text, words, tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    assert cli.main(["train", "--config", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    assert f"{path}" in err
    for word in words:
        assert word in err, err
    assert not (tmp_path / "run").exists()


def test_registry_errors_are_blamed_on_the_file_that_set_the_name(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 1\nmodel: lstn\n")
    assert cli.main(["train", "--config", str(path), "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 2: model: unknown name 'lstn'" in err and "'lstm'" in err
    # a flag that overrides the file is the flag's error, named as the flag
    assert cli.main(["train", "--config", str(path), "--model", "grux", "--run-dir", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "--model: unknown name 'grux'" in err and str(path) not in err


def test_a_bad_value_in_the_file_is_not_blamed_on_the_flag(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("hidden_size: sixty-four\n")
    assert cli.main(["train", "--config", str(path), "--hidden-size", "0"]) == 2
    err = capsys.readouterr().err
    assert f"{path}, line 1: hidden_size:" in err and "sixty-four" in err


def test_none_means_the_same_in_a_file_as_on_the_command_line(tmp_path):
    words = ["none", "None", "null", "~", "off", ""]
    for word in words:
        path = tmp_path / "c.yaml"
        path.write_text("\n".join(f"{k}: {word}" for k in ("clip_norm", "stop_at", "init", "seq_len", "threads",
                                                              "early_stopping", "tbptt", "zoneout", "monitor")))
        from_file = _resolve("--config", str(path))
        flags = _resolve(*(x for k in ("clip-norm", "stop-at", "init", "seq-len", "threads", "early-stopping",
                                       "tbptt", "zoneout", "monitor") for x in (f"--{k}", "none")))
        assert from_file == flags, word
        assert (from_file.clip_norm, from_file.stop_at, from_file.seq_len, from_file.tbptt) == (None,) * 4
    # and a run's config.yaml (null) reads back as it was written
    assert yaml.safe_load(yaml.safe_dump(from_file.to_dict()))["clip_norm"] is None


def test_loading_keeps_the_lines():
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "c.yaml"
        path.write_text("# a comment\nlr: 0.1\n\nmodel: gru\n")
        file = load_config_file(path)
    assert file.values == {"lr": 0.1, "model": "gru"} and file.lines == {"lr": 2, "model": 4}
