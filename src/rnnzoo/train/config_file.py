"""Configuration files (``rnnzoo train --config FILE.yaml``, a run's ``config.yaml``), read so that every
error names the file, the key and its line::

    runs/a/config.yaml, line 4: hidden_size: expected an integer >= 1, got 'sixty-four'

A value of ``none``, ``null``, ``~`` or ``off`` means what ``none`` means on the command line (the
setting is off, or the task's default), for every key whose flag takes ``none``.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from rnnzoo.train.config import NULLABLE, TrainConfig, flag
from rnnzoo.train.errors import ConfigError

__all__ = ["ConfigFile", "load_config_file"]


@dataclass(frozen=True)
class ConfigFile:
    """A configuration file's values and the line (1-based) of each key."""

    path: Path
    values: dict[str, Any]
    lines: dict[str, int]

    def where(self, key: str) -> str:
        """``path, line N`` of ``key``."""
        return f"{self.path}, line {self.lines[key]}" if key in self.lines else str(self.path)

    def blame(self, err: ConfigError, explicit: Mapping[str, Any] | None = None) -> ConfigError:
        """``err`` told as an error of this file when its key was set here and not by a flag in ``explicit``
        (``--hidden-size: expected ...`` -> ``config.yaml, line 3: hidden_size: expected ...``)."""
        key = err.key
        if key is None or key in (explicit or {}) or key not in self.values:
            return err
        text = str(err)
        rest = text[len(flag(key)):] if text.startswith(flag(key)) else f": {text}"
        return ConfigError(f"{self.where(key)}: {key}{rest}")


def _mark(err: yaml.YAMLError) -> str:
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    return f", line {mark.line + 1}" if mark is not None else ""


def load_config_file(path: str | Path) -> ConfigFile:
    """Read a YAML configuration file: a mapping of :class:`TrainConfig` keys to values.

    Raises :class:`ConfigError` naming the file (and the line) for a missing file, invalid YAML, a
    document that is not a mapping, an unknown key (with the closest known one) or a key given twice.
    Values are checked later, against the flags given (:meth:`ConfigFile.blame`)."""
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"--config: no such file: {p}")
    text = p.read_text()
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as err:
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"{p}{_mark(err)}: not valid YAML: {problem}") from None
    if data is None:
        return ConfigFile(p, {}, {})
    if not isinstance(data, dict) or not isinstance(node, yaml.MappingNode):
        raise ConfigError(f"{p}: expected a mapping of keys to values (key: value lines), got {type(data).__name__}")
    lines: dict[str, int] = {}
    known = TrainConfig.keys()
    for key_node, _ in node.value:
        key = str(key_node.value)
        line = key_node.start_mark.line + 1
        if key in lines:
            raise ConfigError(f"{p}, line {line}: {key}: given twice (first on line {lines[key]})")
        lines[key] = line
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"{p}, line {line}: unknown key {key!r}{hint}; known keys: {', '.join(known)}")
    values = {str(k): v for k, v in data.items()}
    for key in NULLABLE:
        if values.get(key) is False:  # YAML 1.1 reads `off` and `no` as false
            values[key] = None
    return ConfigFile(p, values, lines)
