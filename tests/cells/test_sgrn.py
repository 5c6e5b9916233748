"""SGRN against a naive implementation typed from its equations (float64, loops over time and units), through the
step loop and the fused PointwiseCell path, and its options' bad values."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import SGRNCell, SGRNState

B, T, I, H = 3, 6, 3, 4


def _mv(W, v):
    return [sum(float(W[n, k]) * v[k] for k in range(len(v))) for n in range(W.shape[0])]


def _naive(W, U, b, bf, x, h0, mask):
    """a = W x + b; f = sigmoid(a + U h + b_f); i = 1 - f; h = tanh(i a + f h)."""
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = torch.zeros(x.shape[0], H, dtype=torch.float64)
    for bi in range(x.shape[0]):
        h = [float(v) for v in h0[bi]]
        for t in range(x.shape[1]):
            if not mask[bi, t]:
                continue
            wx, uh = _mv(W, [float(v) for v in x[bi, t]]), _mv(U, h)
            a = [wx[n] + float(b[n]) for n in range(H)]
            f = [1.0 / (1.0 + math.exp(-(a[n] + uh[n] + float(bf[n])))) for n in range(H)]
            h = [math.tanh((1 - f[n]) * a[n] + f[n] * h[n]) for n in range(H)]
            out[bi, t] = torch.tensor(h, dtype=torch.float64)
        hT[bi] = torch.tensor(h, dtype=torch.float64)
    return out, hT


@pytest.mark.parametrize("use_fused", [False, True])
def test_sgrn_equals_its_equations(use_fused):
    torch.manual_seed(0)
    cell = SGRNCell(I, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-0.9, 0.9)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    want, want_h = _naive(cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias.detach(),
                          cell.bias_f.detach(), x, h0, mask)
    res = rnnzoo.run(cell, x, SGRNState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


def test_sgrn_bad_options():
    with pytest.raises(TypeError, match="bias: expected True or False, got 'no'"):
        SGRNCell(I, H, bias="no")
