"""MGU against a naive implementation typed from the paper's equations (float64, loops over time and units), and its
options' bad values."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import MGUCell, MGUState

B, T, I, H = 3, 6, 3, 4


def _mv(W, v):
    return [sum(float(W[n, k]) * v[k] for k in range(len(v))) for n in range(W.shape[0])]


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def _naive(Wf, Wh, Uf, Uh, bf, bh, x, h0, mask):
    """f = sigmoid(W_f x + U_f h + b_f); hc = tanh(W_h x + U_h (f * h) + b_h); h = (1 - f) h + f hc.
    Masked steps keep h and output 0."""
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = torch.zeros(x.shape[0], H, dtype=torch.float64)
    for b in range(x.shape[0]):
        h = [float(v) for v in h0[b]]
        for t in range(x.shape[1]):
            if not mask[b, t]:
                continue
            xt = [float(v) for v in x[b, t]]
            wfx, whx, ufh = _mv(Wf, xt), _mv(Wh, xt), _mv(Uf, h)
            f = [_sig(wfx[n] + ufh[n] + float(bf[n])) for n in range(H)]
            uhf = _mv(Uh, [f[n] * h[n] for n in range(H)])
            hc = [math.tanh(whx[n] + uhf[n] + float(bh[n])) for n in range(H)]
            h = [(1 - f[n]) * h[n] + f[n] * hc[n] for n in range(H)]
            out[b, t] = torch.tensor(h, dtype=torch.float64)
        hT[b] = torch.tensor(h, dtype=torch.float64)
    return out, hT


@pytest.mark.parametrize("use_fused", [False, True])
def test_mgu_equals_the_papers_equations(use_fused):
    torch.manual_seed(0)
    cell = MGUCell(I, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-0.9, 0.9)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    W, U, bias = cell.weight_ih.detach(), cell.weight_hh.detach(), cell.bias.detach()
    want, want_h = _naive(W[:H], W[H:], U[:H], U[H:], bias[:H], bias[H:], x, h0, mask)
    res = rnnzoo.run(cell, x, MGUState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


def test_fused_function_equals_the_step_loop_in_float64_gradients():
    torch.manual_seed(3)
    cell = MGUCell(I, H).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 1] = mask[2, 3:] = False
    grads, results = [], []
    for use_fused in (False, True):
        res = rnnzoo.run(cell, x, MGUState(h0), mask=mask, use_fused=use_fused)
        loss = (res.output * torch.linspace(-1, 1, H, dtype=torch.float64)).sum() + res.state.h.pow(2).sum()
        grads.append(torch.autograd.grad(loss, [x, h0, *cell.parameters()]))
        results.append(res)
    torch.testing.assert_close(results[1].output, results[0].output, rtol=0, atol=1e-13)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def test_mgu_without_bias():
    torch.manual_seed(1)
    cell = MGUCell(I, H, bias=False).double()
    assert cell.bias is None
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    zeros = torch.zeros(H, dtype=torch.float64)
    W, U = cell.weight_ih.detach(), cell.weight_hh.detach()
    want, want_h = _naive(W[:H], W[H:], U[:H], U[H:], zeros, zeros, x, h0, torch.ones(B, T, dtype=torch.bool))
    res = rnnzoo.run(cell, x, MGUState(h0))
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)


def test_mgu_bad_options():
    with pytest.raises(TypeError, match="bias: expected True or False, got 'yes'"):
        MGUCell(I, H, bias="yes")
    with pytest.raises(ValueError, match="hidden_size: expected a positive int, got 0"):
        MGUCell(I, 0)
    with pytest.raises(TypeError, match="'mgu' has no option 'gate'"):
        rnnzoo.create("mgu", input_size=I, hidden_size=H, gate="hard")
