"""IndRNN against a naive implementation typed from the paper's eq (2) (float64, loops over time and units),
its constraint, and the fused Function's gradients."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import IndRNNCell, IndRNNState
from rnnzoo.fused.indrnn import indrnn_recurrence

B, T, I, H = 3, 7, 4, 5


def _naive(cell, x, h0, mask=None, activation="relu", bound=1.0, ln=False):
    """h_{n,t} = act(sum_i W_ni x_it + u_n h_{n,t-1} + b_n), eq (2), unit by unit; u clipped to [-bound, bound].
    With ln: the input part W x_t normalised over the units (mean 0, biased variance 1, eps 1e-5), times
    the gain, plus b. Masked steps keep h and output 0."""
    W, u, b = cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias.detach()
    act = (lambda v: v if v > 0 else 0.0) if activation == "relu" else math.tanh
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = h0.clone()
    for bi in range(x.shape[0]):
        h = [float(v) for v in h0[bi]]
        for t in range(x.shape[1]):
            wx = [sum(float(W[n, i]) * float(x[bi, t, i]) for i in range(I)) for n in range(H)]
            if ln:
                mu = sum(wx) / H
                var = sum((v - mu) ** 2 for v in wx) / H
                wx = [float(cell.ln_gain[n]) * (v - mu) / math.sqrt(var + 1e-5) for n, v in enumerate(wx)]
            if mask is not None and not mask[bi, t]:
                continue
            h = [act(wx[n] + min(max(float(u[n]), -bound), bound) * h[n] + float(b[n])) for n in range(H)]
            out[bi, t] = torch.tensor(h, dtype=torch.float64)
        hT[bi] = torch.tensor(h, dtype=torch.float64)
    return out, hT


@pytest.mark.parametrize("activation", ["relu", "tanh"])
@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize("ln", [False, True])
def test_indrnn_equals_naive(activation, use_fused, ln):
    torch.manual_seed(1)
    cell = IndRNNCell(I, H, activation=activation, layer_norm=ln).double()
    with torch.no_grad():
        cell.weight_hh.copy_(torch.tensor([0.3, -1.4, 0.99, 1.7, -0.5]))  # two past the bound of 1
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64).abs()
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = mask[2, 0] = False  # holes, a short sequence, a late start
    want, want_h = _naive(cell, x, h0, mask, activation, ln=ln)
    res = rnnzoo.run(cell, x, IndRNNState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want)
    torch.testing.assert_close(res.state.h, want_h)


def test_indrnn_constraint_bound_and_constrain_():
    cell = IndRNNCell(I, H, recurrent_max=2 ** (1 / 100)).double()
    with torch.no_grad():
        cell.weight_hh.copy_(torch.tensor([0.5, 3.0, -3.0, 1.0, 0.0]))
    x = torch.randn(B, T, I, dtype=torch.float64)
    before = rnnzoo.run(cell, x).output
    want, _ = _naive(cell, x, torch.zeros(B, H, dtype=torch.float64), bound=2 ** (1 / 100))
    torch.testing.assert_close(before, want)
    cell.constrain_()
    torch.testing.assert_close(cell.weight_hh.detach(),
                               torch.tensor([0.5, 2 ** (1 / 100), -(2 ** (1 / 100)), 1.0, 0.0], dtype=torch.float64))
    torch.testing.assert_close(rnnzoo.run(cell, x).output, before)  # clipping the parameter changes nothing computed
    free = IndRNNCell(I, H, recurrent_max=None).double()
    free.load_state_dict(cell.state_dict())
    with torch.no_grad():
        free.weight_hh.fill_(3.0)
    assert torch.equal(free.w, free.weight_hh)  # no bound: the parameter as it is


def test_indrnn_initialisation():
    cell = IndRNNCell(I, 1000)
    assert 0.0 <= float(cell.weight_hh.min()) and float(cell.weight_hh.max()) <= 1.0
    assert 0.4 < float(cell.weight_hh.mean()) < 0.6  # U(0, 1), the authors' relu initialisation
    last = IndRNNCell(I, 8, recurrent_init=(1.0, 1.0))
    assert torch.equal(last.weight_hh.detach(), torch.ones(8))


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_indrnn_function_gradcheck(activation):
    torch.manual_seed(2)
    u = torch.randn(6, 3, 4, dtype=torch.float64, requires_grad=True)
    h0 = torch.rand(3, 4, dtype=torch.float64, requires_grad=True)
    w = (torch.rand(4, dtype=torch.float64) * 1.6 - 0.3).requires_grad_()
    mask = torch.ones(6, 3, dtype=torch.bool)
    mask[1, 0] = mask[4:, 1] = mask[0, 2] = False
    for m in (None, mask):
        assert torch.autograd.gradcheck(lambda a, b, c, m=m: indrnn_recurrence(a, b, c, activation=activation, mask=m),
                                        (u, h0, w))


def test_indrnn_bad_arguments():
    with pytest.raises(ValueError, match="activation"):
        IndRNNCell(I, H, activation="sigmoid")
    with pytest.raises(ValueError, match="recurrent_max"):
        IndRNNCell(I, H, recurrent_max=0.0)
    with pytest.raises(ValueError, match="recurrent_init"):
        IndRNNCell(I, H, recurrent_init=(1.0, 0.0))
    with pytest.raises(ValueError, match="w: expected shape"):
        indrnn_recurrence(torch.randn(2, 1, 3), torch.zeros(1, 3), torch.ones(4))
    with pytest.raises(ValueError, match="x_t"):
        IndRNNCell(I, H)(torch.randn(2, I + 1))
