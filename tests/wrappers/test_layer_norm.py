"""The LayerNorm wrapper against Ba et al.'s normalisation typed from the paper (Sec. 3, eqs (3)-(4):
mu, sigma over the units of the layer, then gain / sigma * (a - mu) + bias), per state field and on the
projected input."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.wrappers import LayerNorm
from tests.wrappers.naive import Leaky, lstm_candidate

B, T, I, H = 3, 6, 4, 5
EPS = 1e-5


def ln(a, g, b, dims=1):
    """mu = mean of a over its last `dims` axes, sigma = sqrt(mean((a - mu)^2) + eps); g * (a - mu) / sigma + b,
    g and b per channel (the first of those axes)."""
    axes = tuple(range(a.dim() - dims, a.dim()))
    n = 1
    for ax in axes:
        n *= a.shape[ax]
    mu = a.sum(axes, keepdim=True) / n
    sigma = torch.sqrt(((a - mu) ** 2).sum(axes, keepdim=True) / n + EPS)
    shape = (-1,) + (1,) * (dims - 1)
    return g.view(shape) * (a - mu) / sigma + b.view(shape)


def _randomise(cell):
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(torch.randn_like(p) * 0.3)


def test_elman_state_normalised_each_step():
    elman = rnnzoo.ElmanCell(I, H)
    cell = LayerNorm(elman)
    _randomise(cell)
    x = torch.randn(B, T, I)
    h = torch.zeros(B, H)
    ys = []
    for t in range(T):
        h = torch.tanh(x[:, t] @ elman.weight_ih.T + elman.bias_ih + h @ elman.weight_hh.T + elman.bias_hh)
        h = ln(h, cell.gain["h"], cell.bias["h"])
        ys.append(h)
    torch.testing.assert_close(rnnzoo.run(cell, x).output, torch.stack(ys, 1))


def test_lstm_fields_and_projected_input():
    lstm = rnnzoo.LSTMCell(I, H)
    cell = LayerNorm(lstm, ("h", "c"), input=True)
    _randomise(cell)
    assert cell.input_gain.shape == (4 * H,)
    x = torch.randn(B, T, I)
    h = c = torch.zeros(B, H)
    ys = []
    for t in range(T):
        u = ln(x[:, t] @ lstm.weight_ih.T + lstm.bias_ih + lstm.bias_hh, cell.input_gain, cell.input_bias)
        i, f, g, o = (u + h @ lstm.weight_hh.T).chunk(4, 1)
        c_new = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h_new = torch.sigmoid(o) * torch.tanh(c_new)
        h, c = ln(h_new, cell.gain["h"], cell.bias["h"]), ln(c_new, cell.gain["c"], cell.bias["c"])
        ys.append(h)
    out = rnnzoo.run(cell, x)
    torch.testing.assert_close(out.output, torch.stack(ys, 1))
    torch.testing.assert_close(out.state.c, c)
    # default field: h only, c carried as the LSTM computes it
    plain = LayerNorm(lstm)
    assert plain.fields == ("h",) and set(plain.gain) == {"h"}
    h = c = torch.zeros(B, H)
    for t in range(T):
        h, c = lstm_candidate(lstm, x[:, t], h, c)
        h = ln(h, plain.gain["h"], plain.bias["h"])
    torch.testing.assert_close(rnnzoo.run(plain, x).state.c, c)


def test_spatial_state_normalised_over_channels_and_space():
    conv = rnnzoo.ConvLSTMCell(2, 3)
    cell = LayerNorm(conv, input=True)
    _randomise(cell)
    assert cell.gain["h"].shape == (3,) and cell.input_gain.shape == (12,)
    x = torch.randn(2, 1, 2, 5, 5)
    state = conv.initial_state(2, input_shape=(2, 5, 5))
    u = ln(conv.project(x[:, 0]), cell.input_gain, cell.input_bias, dims=3)
    h, _ = conv.step(u, state)
    out = rnnzoo.run(cell, x).output[:, 0]
    torch.testing.assert_close(out, ln(h, cell.gain["h"], cell.bias["h"], dims=3))
    peep = rnnzoo.ConvLSTMCell(2, 3, peephole=True, spatial_size=(4, 4))
    with pytest.raises(ValueError, match=r"input_shape: ConvLSTMCell cannot size its state"):
        LayerNorm(peep)
    assert LayerNorm(peep, input_shape=(2, 4, 4)).gain["h"].shape == (3,)


def test_users_cell_and_errors():
    leaky = Leaky(I)
    cell = LayerNorm(leaky)
    assert set(cell.gain) == {"state"}
    x = torch.randn(B, T, I)
    s = torch.zeros(B, I)
    for t in range(T):
        s = ln(0.5 * s + torch.tanh(x[:, t] @ leaky.weight.T), cell.gain["state"], cell.bias["state"])
    torch.testing.assert_close(rnnzoo.run(cell, x).state, s)
    with pytest.raises(ValueError, match=r"fields: LSTMCell's state has the fields h, c; got 'q'"):
        LayerNorm(rnnzoo.LSTMCell(I, H), "q")
    with pytest.raises(ValueError, match=r"eps: expected a number > 0, got 0"):
        LayerNorm(rnnzoo.LSTMCell(I, H), eps=0)
    assert LayerNorm(rnnzoo.GRUCell(I, H)).fused_kind is None


def test_draws_nothing_while_probing():
    inner = rnnzoo.WeightDrop(rnnzoo.LSTMCell(I, H), 0.5)  # its prepare draws a mask
    rng = torch.get_rng_state()
    LayerNorm(inner, input=True)
    assert torch.equal(torch.get_rng_state(), rng)
