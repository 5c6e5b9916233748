"""SGU's hard sigmoid saturates in the one-field Functions table's wide rows (``sgu-wide``, ``dsgu-wide``), so the
Function's zero gradient at both flat ends is exercised there (the Function against the step loop:
tests/fused/test_one_field_functions.py)."""

from __future__ import annotations

import torch

from rnnzoo.cells import SGUCell
from tests.fused.test_one_field_functions import B, H, I, _cell


def test_the_clamp_saturates_in_the_wide_case():
    cell = _cell("sgu-wide")
    u = cell.project(torch.randn(7, B, I, dtype=torch.float64)).detach()
    h, zs = torch.randn(B, H, dtype=torch.float64), []
    for t in range(7):
        z = torch.clamp(cell.hard_slope * (u[t, :, H:] + h @ cell.weight_hz.detach().t()) + 0.5, 0, 1)
        zs.append(z)
        h = cell.step(u[t], cell.initial_state(B)._replace(h=h))[1].h.detach()
    zs = torch.stack(zs)
    assert isinstance(cell, SGUCell)
    assert (zs == 0).any() and (zs == 1).any() and ((zs > 0) & (zs < 1)).any()
