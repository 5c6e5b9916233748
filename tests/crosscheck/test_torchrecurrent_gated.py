"""rnnzoo's gated cells of issue 15 against torchrecurrent 0.2.5's layers (MGU, MinimalRNN, UGRNN, SGRN, ATR, SGU,
DSGU), in float64.

Each test builds torchrecurrent's layer with its own initialisation, overwrites its weights with the rnnzoo cell's
through the mapping written out in the test (torchrecurrent's ``b_ih``/``b_hh`` pairs: where the two biases only
ever appear summed, one of them carries rnnzoo's bias and the other is zero), runs both on the same input and initial
state and compares every output and the final state to 1e-12.

Where torchrecurrent computes something else than the paper (ATR's extra input-side bias, SGU/DSGU's bias inside the
multiplicative path and torch's hard-sigmoid slope), the test shows both: with the extra parameter at zero and the
slope set alike the two agree; with it drawn, torchrecurrent equals a naive implementation of ITS formula (typed
here from its docstring) and differs from rnnzoo. The differences are tabled in ``docs/torchrecurrent_gated.md``.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import rnnzoo

torchrecurrent = pytest.importorskip("torchrecurrent", reason="torchrecurrent (test extra, pinned in constraints) "
                                                              "is not installed")

B, T, I, H = 3, 7, 3, 4
TOL = {"rtol": 0.0, "atol": 1e-12}


def _pair(name, layer_cls, **options):
    torch.manual_seed(0)
    cell = rnnzoo.model_info(name).build(I, H, **options).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-0.9, 0.9)
    layer = getattr(torchrecurrent, layer_cls)(I, H, batch_first=True).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    return cell, layer, layer.cells[0], x, h0


def _run_both(cell, layer, x, h0):
    res = rnnzoo.run(cell, x, type(cell.initial_state(1))(h0))
    out, hn = layer(x, h0.unsqueeze(0))
    return res, out, hn[0]


def _assert_equal(cell, layer, x, h0):
    res, out, hn = _run_both(cell, layer, x, h0)
    torch.testing.assert_close(out, res.output, **TOL)
    torch.testing.assert_close(hn, res.state.h, **TOL)


def test_mgu():
    cell, layer, tc, x, h0 = _pair("mgu", "MGU")
    with torch.no_grad():  # [f; h] blocks in both; torchrecurrent's two biases are only ever summed
        tc.weight_ih.copy_(cell.weight_ih)
        tc.weight_hh.copy_(cell.weight_hh)
        tc.bias_ih.copy_(cell.bias)
        tc.bias_hh.zero_()
    _assert_equal(cell, layer, x, h0)
    with torch.no_grad():  # the redundancy: any split of the bias gives the same function
        tc.bias_ih.sub_(0.3)
        tc.bias_hh.fill_(0.3)
    _assert_equal(cell, layer, x, h0)


def test_minimal_rnn():
    cell, layer, tc, x, h0 = _pair("minimal_rnn", "MinimalRNN")
    with torch.no_grad():  # W_x, b_z -> weight_ih, bias_ih; U_h -> weight_hh; U_z -> weight_mm; b_u -> bias_hh
        tc.weight_ih.copy_(cell.weight_ih)
        tc.bias_ih.copy_(cell.bias_z)
        tc.weight_hh.copy_(cell.weight_hh)
        tc.weight_mm.copy_(cell.weight_hz)
        tc.bias_hh.copy_(cell.bias_u)
    _assert_equal(cell, layer, x, h0)


def test_ugrnn():
    cell, layer, tc, x, h0 = _pair("ugrnn", "UGRNN")
    with torch.no_grad():  # [c; g] blocks in both
        tc.weight_ih.copy_(cell.weight_ih)
        tc.weight_hh.copy_(cell.weight_hh)
        tc.bias_ih.copy_(cell.bias)
        tc.bias_hh.zero_()
    _assert_equal(cell, layer, x, h0)


def test_sgrn():
    cell, layer, tc, x, h0 = _pair("sgrn", "SGRN")
    with torch.no_grad():  # bias -> bias_ih (gate and written value), bias_f -> bias_hh (gate only)
        tc.weight_ih.copy_(cell.weight_ih)
        tc.weight_hh.copy_(cell.weight_hh)
        tc.bias_ih.copy_(cell.bias)
        tc.bias_hh.copy_(cell.bias_f)
    _assert_equal(cell, layer, x, h0)


def _atr_torchrecurrent_formula(tc, x, h0):
    """torchrecurrent's docstring: p = W_ih x + b_ih; q = W_hh h + b_hh; i = sig(p + q); f = sig(p - q);
    h = i p + f h."""
    h, outs = h0, []
    for t in range(x.shape[1]):
        p = x[:, t] @ tc.weight_ih.t() + tc.bias_ih
        q = h @ tc.weight_hh.t() + tc.bias_hh
        h = torch.sigmoid(p + q) * p + torch.sigmoid(p - q) * h
        outs.append(h)
    return torch.stack(outs, 1), h


def test_atr_agrees_without_the_input_bias_and_differs_with_it():
    cell, layer, tc, x, h0 = _pair("atr", "ATR")
    with torch.no_grad():  # p = W x (no bias, the authors' code), q = U h + bias
        tc.weight_ih.copy_(cell.weight_ih)
        tc.weight_hh.copy_(cell.weight_hh)
        tc.bias_ih.zero_()
        tc.bias_hh.copy_(cell.bias)
    _assert_equal(cell, layer, x, h0)
    with torch.no_grad():  # torchrecurrent's extra b_ih: enters both gates and the written value i * p
        tc.bias_ih.uniform_(-0.9, 0.9)
        res, out, hn = _run_both(cell, layer, x, h0)
        want, want_h = _atr_torchrecurrent_formula(tc, x, h0)
    torch.testing.assert_close(out, want, **TOL)
    torch.testing.assert_close(hn, want_h, **TOL)
    assert (out - res.output).abs().max() > 1e-2


def _sgu_torchrecurrent_formula(tc, x, h0, deep):
    """torchrecurrent's docstring: x_g, x_z = W_ih x + b_ih; z_g = tanh(W_hh^g (x_g h) + b_hh^g);
    z_out = softplus(z_g h) (SGU) or sigmoid(W_ho (z_g h)) (DSGU); z = hardsigmoid_torch(x_z + W_hh^z h + b_hh^z)."""
    Wg, Wz = tc.weight_hh.chunk(2, 0)
    bg, bz = tc.bias_hh.chunk(2, 0)
    h, outs = h0, []
    for t in range(x.shape[1]):
        xg, xz = (x[:, t] @ tc.weight_ih.t() + tc.bias_ih).chunk(2, 1)
        zg = torch.tanh((xg * h) @ Wg.t() + bg)
        zout = torch.sigmoid((zg * h) @ tc.weight_ho.t()) if deep else F.softplus(zg * h)
        z = torch.clamp((xz + h @ Wz.t() + bz) / 6 + 0.5, 0, 1)
        h = (1 - z) * h + z * zout
        outs.append(h)
    return torch.stack(outs, 1), h


@pytest.mark.parametrize("name,layer_cls", [("sgu", "SGU"), ("dsgu", "DSGU")])
def test_sgu_dsgu_agree_at_torchs_slope_without_the_extra_bias_and_differ_otherwise(name, layer_cls):
    cell, layer, tc, x, h0 = _pair(name, layer_cls, hard_slope=1 / 6)
    x = x * 2  # drive some gates into the hard sigmoid's flat parts
    with torch.no_grad():  # [x_g; x_z] blocks in both; weight_hh = [W_zxh; W_hz]; b_hh^z redundant with b_z
        tc.weight_ih.copy_(cell.weight_ih)
        tc.bias_ih.copy_(cell.bias)
        tc.weight_hh.copy_(torch.cat([cell.weight_hg, cell.weight_hz]))
        tc.bias_hh.zero_()
        if name == "dsgu":
            tc.weight_ho.copy_(cell.weight_go)
    _assert_equal(cell, layer, x, h0)
    # the paper's multiplicative path has no bias; torchrecurrent's b_hh^g changes the function
    with torch.no_grad():
        tc.bias_hh[:H].uniform_(-0.9, 0.9)
        res, out, hn = _run_both(cell, layer, x, h0)
        want, want_h = _sgu_torchrecurrent_formula(tc, x, h0, name == "dsgu")
    torch.testing.assert_close(out, want, **TOL)
    torch.testing.assert_close(hn, want_h, **TOL)
    assert (out - res.output).abs().max() > 1e-3
    # rnnzoo's default slope (0.2, Theano/Keras's hard sigmoid) is another function than torch's Hardsigmoid (1/6)
    with torch.no_grad():
        tc.bias_hh.zero_()
    cell.hard_slope = 0.2
    res, out, _ = _run_both(cell, layer, x, h0)
    assert (out - res.output).abs().max() > 1e-3
