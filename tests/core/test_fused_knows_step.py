"""A user's subclass that redefines ``step`` (or ``pointwise``) but inherits a fast path runs the step loop, so the
inherited Function cannot silently compute the parent's step (a review finding: an MGU subclass's fused output
differed from its step loop); rnnzoo's own classes keep their fast paths."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.fastrnn import FastRNNCell
from rnnzoo.cells.mgu import MGUCell
from rnnzoo.core.cell import Cell
from rnnzoo.core.runner import fused_knows_step


class HalfMGU(MGUCell):
    def step(self, u_t, state):
        y, new = super().step(u_t, state)
        return y * 0.5, type(new)(new.h * 0.5)


class ScaledFastRNN(FastRNNCell):
    def pointwise(self, u_t, r_t, state):
        new = super().pointwise(u_t, r_t, state)
        return type(new)(new[0] * 0.5)


@pytest.mark.parametrize("cls", [HalfMGU, ScaledFastRNN])
def test_a_subclass_changing_the_step_runs_its_own_step(cls):
    torch.manual_seed(0)
    cell = cls(3, 4).double()
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    assert not fused_knows_step(cell)
    fused, loop = (rnnzoo.run(cell, x, use_fused=f).output for f in (True, False))
    torch.testing.assert_close(fused, loop, rtol=0, atol=0)
    parent = cls.__mro__[1](3, 4).double()
    parent.load_state_dict(cell.state_dict())
    assert not torch.allclose(rnnzoo.run(parent, x).output, loop)  # the override matters


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_every_rnnzoo_cell_class_keeps_its_fast_path():
    import importlib
    import pkgutil

    for module in pkgutil.walk_packages(rnnzoo.__path__, "rnnzoo."):
        importlib.import_module(module.name)
    classes = {c for c in _subclasses(Cell) if c.__module__.startswith("rnnzoo.")}
    assert len(classes) > 80
    assert all(fused_knows_step(c) for c in classes), sorted(c.__name__ for c in classes if not fused_knows_step(c))
