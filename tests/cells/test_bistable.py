"""BRC and nBRC (Vecoven et al. 2021) against a naive float64 loop typed from the paper's equations, per example
and per step, with weights read out of the cell by name; the authors' initialisation; bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import BistableState, BRCell, NBRCell

B, T, I, H = 3, 6, 3, 4


def _naive(cell, x, h0, mask):
    """a = 1 + tanh(U_a x + fb_a(h) + b_a); c = sigmoid(U_c x + fb_c(h) + b_c);
    h' = c h + (1 - c) tanh(U_x x + a h), with fb = w * h (BRC) or W h (nBRC). Masked steps keep h, output 0."""
    Ua, Uc, Ux = (w.detach() for w in cell.weight_ih.chunk(3))
    ba, bc = (b.detach() for b in cell.bias.chunk(2)) if cell.bias is not None else (0.0, 0.0)
    Wa, Wc = (w.detach() for w in cell.weight_hh.chunk(2))
    vec = Wa.dim() == 1
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = h0.clone()
    for b in range(x.shape[0]):
        h = h0[b].clone()
        for t in range(x.shape[1]):
            if not mask[b, t]:
                continue
            fa, fc = (Wa * h, Wc * h) if vec else (Wa @ h, Wc @ h)
            a = [1 + math.tanh(float(v)) for v in Ua @ x[b, t] + fa + ba]
            c = [1 / (1 + math.exp(-float(v))) for v in Uc @ x[b, t] + fc + bc]
            ux = Ux @ x[b, t]
            h = torch.tensor([c[j] * float(h[j]) + (1 - c[j]) * math.tanh(float(ux[j]) + a[j] * float(h[j]))
                              for j in range(H)], dtype=torch.float64)
            out[b, t] = h
        hT[b] = h
    return out, hT


@pytest.mark.parametrize("cls", [BRCell, NBRCell])
@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_bistable_equals_naive(cls, use_fused, bias):
    torch.manual_seed(0)
    cell = cls(I, H, bias=bias).double()
    with torch.no_grad():  # away from the initial values, so that every parameter matters
        for p in cell.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = mask[2, 0] = False
    want, want_h = _naive(cell, x, h0, mask)
    res = rnnzoo.run(cell, x, BistableState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


def test_bistable_feedback_above_one_latches():
    # the paper's point: with a_t > 1 a unit keeps the sign an input gave it long after the input is gone
    # (h = tanh(a h) has two stable fixed points), where a_t < 1 forgets it (one fixed point, 0)
    cell = BRCell(1, 1).double()
    with torch.no_grad():
        cell.weight_ih.copy_(torch.tensor([[0.0], [0.0], [4.0]]))  # U_a, U_c, U_x
        cell.weight_hh.zero_()  # w_a, w_c
        cell.bias.copy_(torch.tensor([2.0, -3.0]))  # b_a (a = 1 + tanh 2 = 1.96), b_c
    for sign in (1.0, -1.0):
        x = torch.zeros(1, 60, 1, dtype=torch.float64)
        x[0, 0, 0] = sign
        h = rnnzoo.run(cell, x).output[0, :, 0].detach()
        assert bool((torch.sign(h) == sign).all()) and float(h[-1].abs()) > 0.9
    with torch.no_grad():
        cell.bias[0] = -2.0  # a = 1 + tanh(-2) = 0.04 < 1: monostable
    assert float(rnnzoo.run(cell, x).output[0, -1, 0].detach().abs()) < 1e-6


def test_bistable_initialisation():
    br, nbr = BRCell(5, 7), NBRCell(5, 7)
    assert torch.equal(br.weight_hh.detach(), torch.ones(14))  # w_a = w_c = 1, the authors' code
    for w in nbr.weight_hh.detach().chunk(2):  # orthogonal W_a, W_c
        torch.testing.assert_close(w @ w.t(), torch.eye(7), atol=1e-5, rtol=0)
    k = math.sqrt(6 / 12)
    assert float(br.weight_ih.detach().abs().max()) <= k and torch.equal(br.bias.detach(), torch.zeros(14))
    assert BRCell(5, 7, bias=False).bias is None


def test_bistable_bad_arguments():
    with pytest.raises(ValueError, match="hidden_size"):
        BRCell(3, 0)
    with pytest.raises(TypeError, match="bias"):
        NBRCell(3, 4, bias="yes")
    with pytest.raises(ValueError, match="x_t"):
        BRCell(3, 4)(torch.randn(2, 5))
