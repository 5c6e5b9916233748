"""The LSTM with working memory connections (Landi et al. 2021) against a naive loop typed from the paper's
equations (float64, one matrix per gate), and bad arguments."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import WMCLSTMCell, WMCLSTMState

B, T, I, H = 3, 5, 4, 3


def _sig(v):
    return 1.0 / (1.0 + torch.exp(-v))


def _naive(cell, x, h0, c0):
    """The paper's gates with their own matrices: W_* (input), U_* (hidden), V_* (cell, inside tanh)."""
    Wi, Wf, Wg, Wo = cell.weight_ih.detach().view(4, H, I)
    Ui, Uf, Ug, Uo = cell.weight_hh.detach().view(4, H, H)
    Vi, Vf, Vo = cell.weight_ch.detach().view(3, H, H)
    bi, bf, bg, bo = cell.bias.detach().view(4, H)
    outs = []
    for e in range(B):
        h, c = h0[e], c0[e]
        row = []
        for t in range(T):
            xt = x[e, t]
            g = torch.tanh(Wg @ xt + Ug @ h + bg)
            i = _sig(Wi @ xt + Ui @ h + bi + torch.tanh(Vi @ c))
            f = _sig(Wf @ xt + Uf @ h + bf + torch.tanh(Vf @ c))
            c = f * c + i * g
            o = _sig(Wo @ xt + Uo @ h + bo + torch.tanh(Vo @ c))
            h = o * torch.tanh(c)
            row.append(h)
        outs.append((torch.stack(row), h, c))
    return (torch.stack([o[0] for o in outs]), torch.stack([o[1] for o in outs]), torch.stack([o[2] for o in outs]))


def test_wmc_lstm_equals_the_paper_loop():
    torch.manual_seed(0)
    cell = WMCLSTMCell(I, H).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0, c0 = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64) * 2
    want, want_h, want_c = _naive(cell, x, h0, c0)
    res = rnnzoo.run(cell, x, WMCLSTMState(h0, c0))
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-14)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-14)
    torch.testing.assert_close(res.state.c, want_c, rtol=0, atol=1e-14)


def test_zero_working_memory_weights_give_the_lstm():
    """With V = 0 the cell is torch.nn.LSTM (same gate order and weights)."""
    torch.manual_seed(1)
    cell = WMCLSTMCell(I, H).double()
    with torch.no_grad():
        cell.weight_ch.zero_()
    lstm = torch.nn.LSTM(I, H, batch_first=True).double()
    with torch.no_grad():
        lstm.weight_ih_l0.copy_(cell.weight_ih)
        lstm.weight_hh_l0.copy_(cell.weight_hh)
        lstm.bias_ih_l0.copy_(cell.bias)
        lstm.bias_hh_l0.zero_()
    x = torch.randn(B, T, I, dtype=torch.float64)
    torch.testing.assert_close(rnnzoo.run(cell, x).output, lstm(x)[0], rtol=0, atol=1e-14)


def test_bad_arguments_and_registry():
    with pytest.raises(ValueError, match="hidden_size"):
        WMCLSTMCell(I, -2)
    with pytest.raises(TypeError, match="bias"):
        WMCLSTMCell(I, H, bias=None)
    assert WMCLSTMCell(I, H, bias=False).bias is None
    info = rnnzoo.model_info("wmc_lstm")
    assert info.paper.arxiv == "2109.00020" and info.peers == ("torchrecurrent.WMCLSTM",)
