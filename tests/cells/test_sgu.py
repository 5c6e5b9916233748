"""SGU and DSGU against naive implementations typed from the paper's equations (float64, loops over time and
units), the hard sigmoid's slope, and the options' bad values."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import DSGUCell, SGUCell, SGUState

B, T, I, H = 3, 6, 3, 4


def _mv(W, v):
    return [sum(float(W[n, k]) * v[k] for k in range(len(v))) for n in range(W.shape[0])]


def _naive(cell, x, h0, mask, deep, slope):
    """x_g = W_xh x + b_g; z_g = tanh(W_zxh (x_g h)); z_out = softplus(z_g h) (SGU) or sigmoid(W_go (z_g h)) (DSGU);
    z = hard_sigmoid(W_xz x + b_z + W_hz h); h = (1 - z) h + z z_out."""
    W, b = cell.weight_ih.detach(), cell.bias.detach()
    Wxh, Wxz, bg, bz = W[:H], W[H:], b[:H], b[H:]
    Wzxh, Whz = cell.weight_hg.detach(), cell.weight_hz.detach()
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = torch.zeros(x.shape[0], H, dtype=torch.float64)
    for bi in range(x.shape[0]):
        h = [float(v) for v in h0[bi]]
        for t in range(x.shape[1]):
            if not mask[bi, t]:
                continue
            xt = [float(v) for v in x[bi, t]]
            xg = [v + float(bg[n]) for n, v in enumerate(_mv(Wxh, xt))]
            zg = [math.tanh(v) for v in _mv(Wzxh, [xg[n] * h[n] for n in range(H)])]
            zh = [zg[n] * h[n] for n in range(H)]
            if deep:
                zout = [1.0 / (1.0 + math.exp(-v)) for v in _mv(cell.weight_go.detach(), zh)]
            else:
                zout = [math.log1p(math.exp(v)) for v in zh]
            pre = [a + float(bz[n]) + c for n, (a, c) in enumerate(zip(_mv(Wxz, xt), _mv(Whz, h), strict=True))]
            z = [min(max(slope * v + 0.5, 0.0), 1.0) for v in pre]
            h = [(1 - z[n]) * h[n] + z[n] * zout[n] for n in range(H)]
            out[bi, t] = torch.tensor(h, dtype=torch.float64)
        hT[bi] = torch.tensor(h, dtype=torch.float64)
    return out, hT


@pytest.mark.parametrize("cls", [SGUCell, DSGUCell])
@pytest.mark.parametrize("slope", [0.2, 1 / 6])
@pytest.mark.parametrize("use_fused", [False, True])
def test_sgu_and_dsgu_equal_the_papers_equations(cls, slope, use_fused):
    torch.manual_seed(0)
    cell = cls(I, H, hard_slope=slope).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-1.5, 1.5)  # wide enough that some gates saturate at 0 or 1
    x = torch.randn(B, T, I, dtype=torch.float64) * 2
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    want, want_h = _naive(cell, x, h0, mask, cls is DSGUCell, slope)
    res = rnnzoo.run(cell, x, SGUState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


@pytest.mark.parametrize("cls", [SGUCell, DSGUCell])
def test_fused_function_equals_the_step_loop_in_float64_gradients(cls):
    torch.manual_seed(3)
    cell = cls(I, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-1.5, 1.5)
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(B, H, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 1] = mask[2, 3:] = False
    grads, outs = [], []
    for use_fused in (False, True):
        res = rnnzoo.run(cell, x, SGUState(h0), mask=mask, use_fused=use_fused)
        loss = (res.output * torch.linspace(-1, 1, H, dtype=torch.float64)).sum() + res.state.h.pow(2).sum()
        grads.append(torch.autograd.grad(loss, [x, h0, *cell.parameters()]))
        outs.append(res.output)
    torch.testing.assert_close(outs[1], outs[0], rtol=0, atol=1e-13)
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)


def test_the_slope_changes_the_function():
    torch.manual_seed(2)
    cell = SGUCell(I, H).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    a = rnnzoo.run(cell, x).output
    cell.hard_slope = 1 / 6
    assert (rnnzoo.run(cell, x).output - a).abs().max() > 1e-4


def test_sgu_bad_options():
    with pytest.raises(ValueError, match="hard_slope: expected a positive slope, got 0"):
        SGUCell(I, H, hard_slope=0)
    with pytest.raises(TypeError, match="hard_slope: expected a finite real number, got 'steep'"):
        DSGUCell(I, H, hard_slope="steep")
    with pytest.raises(TypeError, match="bias: expected True or False, got 'x'"):
        SGUCell(I, H, bias="x")
    assert rnnzoo.model_info("dsgu").build(I, H, hard_slope=0.25).hard_slope == 0.25
