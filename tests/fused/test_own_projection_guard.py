"""Cells whose fast path projects ``x`` itself (no ``(T, B, kH)`` projection tensor) must honour a subclass that
overrides ``project``: the fast path then takes the projected input, and equals the step loop (review finding)."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.intersection_rnn import IntersectionRNNCell
from rnnzoo.cells.memory_controller_lstm import MemoryControllerLSTMCell
from rnnzoo.cells.nas import NASCell
from rnnzoo.cells.typed_rnn import TGRUCell, TLSTMCell


@pytest.mark.parametrize("base", [TGRUCell, TLSTMCell, IntersectionRNNCell, MemoryControllerLSTMCell, NASCell])
def test_a_subclass_s_project_is_not_bypassed(base):
    class Scaled(base):  # type: ignore[misc, valid-type]
        def project(self, x):
            return super().project(0.5 * x)

    torch.manual_seed(0)
    cell = Scaled(6, 6).double()
    x = torch.randn(3, 5, 6, dtype=torch.float64)
    fused = rnnzoo.run(cell, x).output
    loop = rnnzoo.run(cell, x, use_fused=False).output
    torch.testing.assert_close(fused, loop, rtol=0, atol=1e-12)
    plain = base(6, 6).double()
    plain.load_state_dict(cell.state_dict())
    assert (rnnzoo.run(plain, x).output - fused).abs().max() > 1e-6  # the scaling is seen at all
