"""CFN (Laurent & von Brecht 2017) against a naive float64 loop typed from the paper's equations; the chaos-free
property (without input the state decays to zero); bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import CFNCell, CFNState

B, T, I, H = 3, 6, 3, 4


def _sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def _naive(cell, x, h0, mask):
    """theta = sigmoid(U_theta h + V_theta x + b_theta); eta = sigmoid(U_eta h + V_eta x + b_eta);
    h' = theta tanh(h) + eta tanh(W x), unit by unit. Masked steps keep h, output 0."""
    Vt, Ve, W = (w.detach() for w in cell.weight_ih.chunk(3))
    Ut, Ue = (w.detach() for w in cell.weight_hh.chunk(2))
    bt, be = (b.detach() for b in cell.bias.chunk(2)) if cell.bias is not None else (torch.zeros(H),) * 2
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = h0.clone()
    for b in range(x.shape[0]):
        h = [float(v) for v in h0[b]]
        for t in range(x.shape[1]):
            if not mask[b, t]:
                continue
            xt = [float(v) for v in x[b, t]]
            new = []
            for j in range(H):
                th = _sig(sum(float(Ut[j, k]) * h[k] for k in range(H)) + sum(float(Vt[j, i]) * xt[i] for i in range(I))
                          + float(bt[j]))
                et = _sig(sum(float(Ue[j, k]) * h[k] for k in range(H)) + sum(float(Ve[j, i]) * xt[i] for i in range(I))
                          + float(be[j]))
                new.append(th * math.tanh(h[j]) + et * math.tanh(sum(float(W[j, i]) * xt[i] for i in range(I))))
            h = new
            out[b, t] = torch.tensor(h, dtype=torch.float64)
        hT[b] = torch.tensor(h, dtype=torch.float64)
    return out, hT


@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_cfn_equals_naive(use_fused, bias):
    torch.manual_seed(0)
    cell = CFNCell(I, H, bias=bias).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(3.0)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = mask[2, 0] = False
    want, want_h = _naive(cell, x, h0, mask)
    res = rnnzoo.run(cell, x, CFNState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


def test_cfn_without_input_decays_to_zero():
    # the paper's sec. 2: with x = 0, |h_t| <= |tanh(h_{t-1})| < |h_{t-1}|, a monotone decay, for any weights
    torch.manual_seed(1)
    cell = CFNCell(2, 16).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(5.0)
    h = rnnzoo.run(cell, torch.zeros(4, 200, 2, dtype=torch.float64),
                   CFNState(torch.randn(4, 16, dtype=torch.float64) * 3)).output.detach().abs()
    assert bool((h[:, 1:] <= h[:, :-1] + 1e-15).all())
    assert float(h[:, -1].max()) < 0.2


def test_cfn_bad_arguments():
    with pytest.raises(ValueError, match="input_size"):
        CFNCell(0, 4)
    with pytest.raises(TypeError, match="bias"):
        CFNCell(3, 4, bias=None)
