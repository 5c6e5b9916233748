"""Multiplicative LSTM against a naive implementation typed from Krause, Lu, Murray & Renals (2016,
arXiv:1609.07959): float64, a per-step loop with the paper's named matrices, with and without tanh on the cell input."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.multiplicative_lstm import MultiplicativeLSTMCell, MultiplicativeLSTMState

B, T, I, H = 3, 6, 4, 5


def _naive(cell, x, h0, c0, mask, candidate_tanh):
    W_mx, W_ix, W_fx, W_hx, W_ox = cell.weight_ih.detach().split(H)
    W_mh = cell.weight_mh.detach()
    W_im, W_fm, W_hm, W_om = cell.weight_m.detach().split(H)
    b_i, b_f, b_h, b_o = cell.bias.detach().split(H)
    sig = torch.sigmoid
    out = torch.zeros(B, T, H, dtype=torch.float64)
    hT, cT = h0.clone(), c0.clone()
    for b in range(B):
        h, c = h0[b].clone(), c0[b].clone()
        for t in range(T):
            if not mask[b, t]:
                continue
            xt = x[b, t]
            m = (W_mx @ xt) * (W_mh @ h)
            hh = W_hx @ xt + W_hm @ m + b_h
            i = sig(W_ix @ xt + W_im @ m + b_i)
            o = sig(W_ox @ xt + W_om @ m + b_o)
            f = sig(W_fx @ xt + W_fm @ m + b_f)
            c = f * c + i * (torch.tanh(hh) if candidate_tanh else hh)
            h = torch.tanh(c) * o
            out[b, t] = h
        hT[b], cT[b] = h, c
    return out, hT, cT


@pytest.mark.parametrize("candidate_tanh", [False, True])
@pytest.mark.parametrize("use_fused", [False, True])
def test_multiplicative_lstm_equals_naive(candidate_tanh, use_fused):
    torch.manual_seed(0)
    cell = MultiplicativeLSTMCell(I, H, candidate_tanh=candidate_tanh).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(2.0)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0, c0 = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    want, want_h, want_c = _naive(cell, x, h0, c0, mask, candidate_tanh)
    res = rnnzoo.run(cell, x, MultiplicativeLSTMState(h0, c0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.c, want_c, rtol=0, atol=1e-12)


def test_without_bias_m_alone_carries_the_state():
    """bias=False is the paper's exact form: with a zero input the transition m_t is zero, so every gate sits at
    sigmoid(0) = 1/2 and the cell input at 0, whatever h_{t-1}."""
    cell = MultiplicativeLSTMCell(I, H, bias=False).double()
    h0, c0 = torch.randn(2, H, dtype=torch.float64), torch.randn(2, H, dtype=torch.float64)
    res = rnnzoo.run(cell, torch.zeros(2, 1, I, dtype=torch.float64), MultiplicativeLSTMState(h0, c0))
    torch.testing.assert_close(res.state.c, 0.5 * c0, rtol=0, atol=1e-15)


def test_bad_options_name_the_argument():
    with pytest.raises(TypeError, match="candidate_tanh"):
        MultiplicativeLSTMCell(I, H, candidate_tanh=1)
    with pytest.raises(TypeError, match="bias"):
        MultiplicativeLSTMCell(I, H, bias=None)
