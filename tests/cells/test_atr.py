"""ATR against a naive implementation typed from the authors' corrected equations (float64, loops over time and
units), through the step loop and the fused PointwiseCell path; the paper's printed forget gate (a typo, per the
authors) computes something else; bad option values."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import ATRCell, ATRState

B, T, I, H = 3, 6, 3, 4


def _mv(W, v):
    return [sum(float(W[n, k]) * v[k] for k in range(len(v))) for n in range(W.shape[0])]


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def _naive(W, U, b, x, h0, mask, printed=False):
    """p = W x; q = U h + b; i = sigmoid(p + q); f = sigmoid(p - q) (printed: sigmoid(q - p)); h = i p + f h."""
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = torch.zeros(x.shape[0], H, dtype=torch.float64)
    for bi in range(x.shape[0]):
        h = [float(v) for v in h0[bi]]
        for t in range(x.shape[1]):
            if not mask[bi, t]:
                continue
            p, uh = _mv(W, [float(v) for v in x[bi, t]]), _mv(U, h)
            q = [uh[n] + float(b[n]) for n in range(H)]
            i = [_sig(p[n] + q[n]) for n in range(H)]
            f = [_sig(q[n] - p[n]) if printed else _sig(p[n] - q[n]) for n in range(H)]
            h = [i[n] * p[n] + f[n] * h[n] for n in range(H)]
            out[bi, t] = torch.tensor(h, dtype=torch.float64)
        hT[bi] = torch.tensor(h, dtype=torch.float64)
    return out, hT


@pytest.mark.parametrize("use_fused", [False, True])
def test_atr_equals_the_authors_equations(use_fused):
    torch.manual_seed(0)
    cell = ATRCell(I, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-0.9, 0.9)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    args = (cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias.detach(), x, h0, mask)
    want, want_h = _naive(*args)
    res = rnnzoo.run(cell, x, ATRState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)
    printed, _ = _naive(*args, printed=True)  # the paper's typo is a different function: the test can tell them apart
    assert (printed - res.output).abs().max() > 1e-2


def test_atr_without_bias_and_bad_options():
    cell = ATRCell(I, H, bias=False).double()
    assert cell.bias is None and [n for n, _ in cell.named_parameters()] == ["weight_ih", "weight_hh"]
    x = torch.randn(B, T, I, dtype=torch.float64)
    want, _ = _naive(cell.weight_ih.detach(), cell.weight_hh.detach(), torch.zeros(H, dtype=torch.float64), x,
                     torch.zeros(B, H, dtype=torch.float64), torch.ones(B, T, dtype=torch.bool))
    torch.testing.assert_close(rnnzoo.run(cell, x).output, want, rtol=0, atol=1e-12)
    with pytest.raises(TypeError, match="bias: expected True or False, got 0"):
        ATRCell(I, H, bias=0)
