"""MinimalRNN against a naive implementation typed from the paper's equations (float64, loops over time and units),
through the step loop and the fused PointwiseCell path, and its options' bad values."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import MinimalRNNCell, MinimalRNNState

B, T, I, H = 3, 6, 3, 4


def _mv(W, v):
    return [sum(float(W[n, k]) * v[k] for k in range(len(v))) for n in range(W.shape[0])]


def _naive(Wx, bz, Uh, Uz, bu, x, h0, mask):
    """z = tanh(W_x x + b_z); u = sigmoid(U_h h + U_z z + b_u); h = u h + (1 - u) z. Masked steps keep h, output 0."""
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = torch.zeros(x.shape[0], H, dtype=torch.float64)
    for b in range(x.shape[0]):
        h = [float(v) for v in h0[b]]
        for t in range(x.shape[1]):
            if not mask[b, t]:
                continue
            wx = _mv(Wx, [float(v) for v in x[b, t]])
            z = [math.tanh(wx[n] + float(bz[n])) for n in range(H)]
            uh, uz = _mv(Uh, h), _mv(Uz, z)
            u = [1.0 / (1.0 + math.exp(-(uh[n] + uz[n] + float(bu[n])))) for n in range(H)]
            h = [u[n] * h[n] + (1 - u[n]) * z[n] for n in range(H)]
            out[b, t] = torch.tensor(h, dtype=torch.float64)
        hT[b] = torch.tensor(h, dtype=torch.float64)
    return out, hT


@pytest.mark.parametrize("use_fused", [False, True])
def test_minimal_rnn_equals_the_papers_equations(use_fused):
    torch.manual_seed(0)
    cell = MinimalRNNCell(I, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-0.9, 0.9)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    want, want_h = _naive(cell.weight_ih.detach(), cell.bias_z.detach(), cell.weight_hh.detach(),
                          cell.weight_hz.detach(), cell.bias_u.detach(), x, h0, mask)
    res = rnnzoo.run(cell, x, MinimalRNNState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


def test_minimal_rnn_without_bias():
    torch.manual_seed(1)
    cell = MinimalRNNCell(I, H, bias=False).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.zeros(B, H, dtype=torch.float64)
    zeros = torch.zeros(H, dtype=torch.float64)
    want, _ = _naive(cell.weight_ih.detach(), zeros, cell.weight_hh.detach(), cell.weight_hz.detach(), zeros, x, h0,
                     torch.ones(B, T, dtype=torch.bool))
    torch.testing.assert_close(rnnzoo.run(cell, x).output, want, rtol=0, atol=1e-12)


def test_minimal_rnn_bad_options():
    with pytest.raises(TypeError, match="bias: expected True or False, got 1"):
        MinimalRNNCell(I, H, bias=1)
    with pytest.raises(ValueError, match="input_size: expected a positive int, got -2"):
        MinimalRNNCell(-2, H)
