"""Residual LSTM against a naive implementation typed from Kim, El-Khamy & Lee (2017, arXiv:1701.03360) sec. 3:
float64, a per-step loop with the paper's named matrices and peepholes, identity and learned shortcut."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.res_lstm import ResLSTMCell, ResLSTMState

B, T = 3, 6


def _naive(cell, x, h0, c0, mask, H):
    W_xi, W_xf, W_xc, W_xo = cell.weight_ih.detach().split(H)
    W_hi, W_hf, W_hc, W_ho = cell.weight_hh.detach().split(H)
    w_ci, w_cf, w_co = cell.peephole.detach().split(H)
    b_i, b_f, b_c, b_o = cell.bias.detach().split(H)
    W_p = cell.weight_proj.detach()
    W_h = torch.eye(H, dtype=torch.float64) if cell.weight_short is None else cell.weight_short.detach()
    sig = torch.sigmoid
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT, cT = h0.clone(), c0.clone()
    for b in range(x.shape[0]):
        h, c = h0[b].clone(), c0[b].clone()
        for t in range(x.shape[1]):
            if not mask[b, t]:
                continue
            xt = x[b, t]
            i = sig(W_xi @ xt + W_hi @ h + w_ci * c + b_i)
            f = sig(W_xf @ xt + W_hf @ h + w_cf * c + b_f)
            c = f * c + i * torch.tanh(W_xc @ xt + W_hc @ h + b_c)
            o = sig(W_xo @ xt + W_ho @ h + w_co * c + b_o)
            r = torch.tanh(c)
            m = W_p @ r
            h = o * (m + W_h @ xt)
            out[b, t] = h
        hT[b], cT[b] = h, c
    return out, hT, cT


@pytest.mark.parametrize(("I", "H", "identity"), [(5, 5, None), (3, 5, None), (5, 5, False)])
@pytest.mark.parametrize("use_fused", [False, True])
def test_res_lstm_equals_naive(I, H, identity, use_fused):
    torch.manual_seed(0)
    cell = ResLSTMCell(I, H, identity_shortcut=identity).double()
    assert (cell.weight_short is None) == (I == H and identity is None)
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(2.0)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0, c0 = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    want, want_h, want_c = _naive(cell, x, h0, c0, mask, H)
    res = rnnzoo.run(cell, x, ResLSTMState(h0, c0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.c, want_c, rtol=0, atol=1e-12)


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="identity_shortcut.*input_size=3, hidden_size=5"):
        ResLSTMCell(3, 5, identity_shortcut=True)
    with pytest.raises(TypeError, match="identity_shortcut"):
        ResLSTMCell(5, 5, identity_shortcut=1)
    with pytest.raises(TypeError, match="bias"):
        ResLSTMCell(5, 5, bias="no")
