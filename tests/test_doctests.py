"""Every docstring example in the package runs as written (doctest)."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import rnnzoo

MODULES = sorted(m.name for m in pkgutil.walk_packages(rnnzoo.__path__, "rnnzoo."))


def _with_examples() -> list[str]:
    out = []
    for name in MODULES:
        module = importlib.import_module(name)
        if doctest.DocTestFinder().find(module) and any(t.examples for t in doctest.DocTestFinder().find(module)):
            out.append(name)
    return out


@pytest.mark.parametrize("name", _with_examples())
def test_docstring_examples_run(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE, verbose=False)
    assert result.failed == 0, f"{result.failed} of {result.attempted} examples failed in {name}"
