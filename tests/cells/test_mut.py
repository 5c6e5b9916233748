"""MUT1, MUT2 and MUT3 against naive implementations typed from Jozefowicz, Zaremba & Sutskever (2015, sec. 4):
float64, a per-step loop with the paper's named matrices, with the identity input term (I == H) and the learned one."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.mut import MUT1Cell, MUT2Cell, MUT3Cell, MUTState

B, T = 3, 6


def _split(cell, H):
    """The paper's matrices out of the cell's parameters (the mapping written in the docstrings)."""
    Wi = list(cell.weight_ih.detach().split(H))
    slot = cell.identity_slot if cell.identity_input else None
    names = [n for k, n in enumerate(("W_xz", "W_xr", "W_xh")) if k != slot]
    out = dict(zip(names, Wi, strict=True))
    hg = cell.weight_hg.detach().split(H)
    out.update(dict(zip(("W_hr",) if len(hg) == 1 else ("W_hz", "W_hr"), hg, strict=True)))
    out["W_hh"] = cell.weight_hh.detach()
    out["b_z"], out["b_r"], out["b_h"] = cell.bias.detach().split(H)
    return out


def _naive(kind, cell, x, h0, mask, H):
    P = _split(cell, H)
    sig, tanh = torch.sigmoid, torch.tanh
    ident = cell.identity_input
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = h0.clone()
    for b in range(x.shape[0]):
        h = h0[b].clone()
        for t in range(x.shape[1]):
            if not mask[b, t]:
                continue
            xt = x[b, t]
            if kind == "mut1":
                z = sig(P["W_xz"] @ xt + P["b_z"])
                r = sig(P["W_xr"] @ xt + P["W_hr"] @ h + P["b_r"])
                xin = tanh(xt) if ident else tanh(P["W_xh"] @ xt)
                h = tanh(P["W_hh"] @ (r * h) + xin + P["b_h"]) * z + h * (1 - z)
            elif kind == "mut2":
                z = sig(P["W_xz"] @ xt + P["W_hz"] @ h + P["b_z"])
                r = sig((xt if ident else P["W_xr"] @ xt) + P["W_hr"] @ h + P["b_r"])
                h = tanh(P["W_hh"] @ (r * h) + P["W_xh"] @ xt + P["b_h"]) * z + h * (1 - z)
            else:
                z = sig(P["W_xz"] @ xt + P["W_hz"] @ tanh(h) + P["b_z"])
                r = sig(P["W_xr"] @ xt + P["W_hr"] @ h + P["b_r"])
                h = tanh(P["W_hh"] @ (r * h) + P["W_xh"] @ xt + P["b_h"]) * z + h * (1 - z)
            out[b, t] = h
        hT[b] = h
    return out, hT


CELLS = {"mut1": MUT1Cell, "mut2": MUT2Cell, "mut3": MUT3Cell}


@pytest.mark.parametrize("kind", sorted(CELLS))
@pytest.mark.parametrize(("I", "H"), [(5, 5), (3, 5)])
@pytest.mark.parametrize("use_fused", [False, True])
def test_mut_equals_naive(kind, I, H, use_fused):
    torch.manual_seed(0)
    cell = CELLS[kind](I, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(2.0)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    want, want_h = _naive(kind, cell, x, h0, mask, H)
    res = rnnzoo.run(cell, x, MUTState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["mut1", "mut2"])
def test_identity_input_is_the_paper_form_when_sizes_match(kind):
    assert CELLS[kind](4, 4).identity_input is True
    assert CELLS[kind](3, 4).identity_input is False
    learned = CELLS[kind](4, 4, identity_input=False)
    assert learned.weight_ih.shape == (12, 4)
    assert CELLS[kind](4, 4).weight_ih.shape == (8, 4)
    torch.manual_seed(1)
    cell = CELLS[kind](4, 4, identity_input=False).double()
    x = torch.randn(2, 3, 4, dtype=torch.float64)
    want, _ = _naive(kind, cell, x, torch.zeros(2, 4, dtype=torch.float64), torch.ones(2, 3, dtype=torch.bool), 4)
    torch.testing.assert_close(rnnzoo.run(cell, x).output, want, rtol=0, atol=1e-12)


@pytest.mark.parametrize("kind", ["mut1", "mut2"])
def test_identity_input_needs_equal_sizes(kind):
    with pytest.raises(ValueError, match="identity_input.*input_size=3, hidden_size=4"):
        CELLS[kind](3, 4, identity_input=True)
    with pytest.raises(TypeError, match="identity_input"):
        CELLS[kind](4, 4, identity_input="yes")


def test_mut3_has_no_identity_option():
    with pytest.raises(TypeError):
        MUT3Cell(4, 4, identity_input=True)
    with pytest.raises(TypeError, match="bias"):
        MUT3Cell(4, 4, bias=0)
