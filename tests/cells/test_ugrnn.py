"""UGRNN against a naive implementation typed from the paper's equations (float64, loops over time and units),
through the step loop and the fused PointwiseCell path, and its options' bad values."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import UGRNNCell, UGRNNState

B, T, I, H = 3, 6, 3, 4


def _mv(W, v):
    return [sum(float(W[n, k]) * v[k] for k in range(len(v))) for n in range(W.shape[0])]


def _naive(Wcx, Wgx, Wch, Wgh, bc, bg, x, h0, mask):
    """c = tanh(W_ch h + W_cx x + b_c); g = sigmoid(W_gh h + W_gx x + b_g); h = g h + (1 - g) c."""
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = torch.zeros(x.shape[0], H, dtype=torch.float64)
    for b in range(x.shape[0]):
        h = [float(v) for v in h0[b]]
        for t in range(x.shape[1]):
            if not mask[b, t]:
                continue
            xt = [float(v) for v in x[b, t]]
            cx, gx, ch, gh = _mv(Wcx, xt), _mv(Wgx, xt), _mv(Wch, h), _mv(Wgh, h)
            c = [math.tanh(ch[n] + cx[n] + float(bc[n])) for n in range(H)]
            g = [1.0 / (1.0 + math.exp(-(gh[n] + gx[n] + float(bg[n])))) for n in range(H)]
            h = [g[n] * h[n] + (1 - g[n]) * c[n] for n in range(H)]
            out[b, t] = torch.tensor(h, dtype=torch.float64)
        hT[b] = torch.tensor(h, dtype=torch.float64)
    return out, hT


@pytest.mark.parametrize("use_fused", [False, True])
def test_ugrnn_equals_the_papers_equations(use_fused):
    torch.manual_seed(0)
    cell = UGRNNCell(I, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-0.9, 0.9)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    W, U, bias = cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias.detach()
    want, want_h = _naive(W[:H], W[H:], U[:H], U[H:], bias[:H], bias[H:], x, h0, mask)
    res = rnnzoo.run(cell, x, UGRNNState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


def test_ugrnn_bad_options():
    with pytest.raises(TypeError, match="bias: expected True or False, got None"):
        UGRNNCell(I, H, bias=None)
    with pytest.raises(ValueError, match="hidden_size: expected a positive int, got 2.5"):
        UGRNNCell(I, 2.5)
