"""argparse for the ``rnnzoo`` command line: one-line errors that suggest the closest command, flag or
choice (``rnnzoo trian`` -> did you mean 'train'?), the value types of the flags, ``--version``.

Python 3.11's argparse suggests nothing (``suggest_on_error`` arrived in 3.14); :class:`Parser` does it
with :mod:`difflib`. Imports nothing heavy: ``rnnzoo --help`` must stay fast.
"""

from __future__ import annotations

import argparse
import difflib
import platform
import sys
from collections.abc import Iterable, Sequence
from importlib import metadata
from typing import Any, NoReturn

import yaml


def closest(word: str, candidates: Iterable[str]) -> str | None:
    """The candidate closest to ``word`` (difflib ratio >= 0.6), or None."""
    close = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return close[0] if close else None


def did_you_mean(word: str, candidates: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the candidate closest to ``word``, or ``""`` if none is close."""
    close = closest(word, candidates)
    return f" (did you mean {close!r}?)" if close else ""


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line, end with the way to help, and suggest close names.

    ``rnnzoo train: error: unrecognized arguments: --modle gru (--modle: did you mean --model?)``.
    Sub-command parsers are kept in :attr:`commands` so that the flags a sub-command does not know are
    reported (and matched) against that sub-command's flags, not the top level's.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: dict[str, argparse.ArgumentParser] = {}

    def error(self, message: str) -> NoReturn:
        if message.startswith("the following arguments are required"):  # perhaps because one was misspelled
            message += self.hints(getattr(self, "_argv", []))
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")

    def hints(self, words: Sequence[str]) -> str:
        """`` (--modle: did you mean --model?)`` for the words in ``words`` that look like flags this parser
        does not know (an abbreviation of a known flag is known), or ``""``."""
        flags = [s for s in self._option_string_actions if s.startswith("--")]
        out = []
        for word in words:
            given = word.split("=", 1)[0]
            if not given.startswith("--") or given == "--" or any(f.startswith(given) for f in flags):
                continue
            match = closest(given, flags)
            if match:
                out.append(f"{given}: did you mean {match}?")
        return f" ({'; '.join(out)})" if out else ""

    def parse_known_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        self._argv = list(sys.argv[1:] if args is None else args)
        return super().parse_known_args(args, namespace)

    def add_command(self, sub: Any, name: str, **kwargs: Any) -> argparse.ArgumentParser:
        """``sub.add_parser(name, **kwargs)``, remembered for :meth:`parse_args`."""
        parser = sub.add_parser(name, **kwargs)
        self.commands[name] = parser
        return parser

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is None or value in action.choices:
            return
        choices = [str(c) for c in action.choices]
        hint = did_you_mean(str(value), choices)
        if isinstance(action, argparse._SubParsersAction):
            raise argparse.ArgumentError(None, f"unknown command {value!r}{hint}; commands: {', '.join(choices)}")
        raise argparse.ArgumentError(action, f"invalid choice: {value!r}{hint}; choose from {', '.join(choices)}")

    def parse_args(self, args: Sequence[str] | None = None, namespace: Any = None) -> Any:  # type: ignore[override]
        parsed, extras = self.parse_known_args(args, namespace)
        if extras:
            owner = self.commands.get(getattr(parsed, "command", None) or "", self)
            hints = owner.hints(extras) if isinstance(owner, Parser) else ""
            owner.error(f"unrecognized arguments: {' '.join(extras)}{hints}")
        return parsed


def version_text(prog: str) -> str:
    """``rnnzoo 0.2.0 (torch ..., lightning ..., Python ...)`` from the installed packages' metadata
    (nothing is imported)."""

    def version(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    own = version("rnnzoo")
    if own == "not installed":  # a source checkout on PYTHONPATH
        import rnnzoo

        own = f"{rnnzoo.__version__} (not installed)"
    python = platform.python_version()
    return f"{prog} {own} (torch {version('torch')}, lightning {version('lightning')}, Python {python})"


# ------------------------------------------------------------------------------------- value types


NONE_WORDS = ("none", "null", "off")


def positive_int(text: str) -> int:
    """An argparse type: an integer >= 1 (a batch size of 0 or -5 is refused, not replaced)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value


def number(kind: type, nullable: bool = False) -> Any:
    """An argparse type: ``kind(text)``, or None for none/null/off if ``nullable``."""
    what = {int: "an integer", float: "a number"}.get(kind, "a value")

    def parse(text: str) -> Any:
        if nullable and text.strip().lower() in NONE_WORDS:
            return None
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected {what}{' or none' if nullable else ''}, got {text!r}") from None

    parse.__name__ = kind.__name__
    return parse


def key_value(text: str) -> tuple[str, Any]:
    """An argparse type: ``key=value`` with the value read as YAML."""
    key, sep, value = text.partition("=")
    if not sep or not key.strip():
        raise argparse.ArgumentTypeError(f"expected key=value (e.g. activation=relu), got {text!r}")
    try:
        parsed = yaml.safe_load(value) if value.strip() else None
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"expected key=value with a YAML value, got {text!r}") from None
    return key.strip(), parsed


def names(text: str) -> list[str]:
    """An argparse type: a non-empty comma-separated list."""
    items = [t.strip() for t in text.split(",") if t.strip()]
    if not items:
        raise argparse.ArgumentTypeError(f"expected a comma-separated list, got {text!r}")
    return items


def ints(text: str) -> list[int]:
    """An argparse type: comma-separated integers."""
    items = names(text)
    try:
        return [int(t) for t in items]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None
