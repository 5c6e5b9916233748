"""Li-GRU (Ravanelli et al. 2018) against a naive float64 loop typed from the paper's equations (ReLU and tanh
candidates; batch normalisation in training and eval mode); the initialisation; bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import LiGRUCell, LiGRUState

B, T, I, H = 3, 6, 3, 4


def _bn(v, mean, var, gamma, beta, eps):
    return [float(gamma[j]) * (v[j] - float(mean[j])) / math.sqrt(float(var[j]) + eps) + float(beta[j])
            for j in range(len(v))]


def _naive(cell, x, h0, mask, activation, bn_stats=None):
    """z = sigmoid(BN(W_z x) + U_z h); hc = act(BN(W_h x) + U_h h); h' = z h + (1 - z) hc, unit by unit.
    BN(v) = v + bias without batch norm; with it, the given per-feature (mean, var) (the batch's or the running
    ones), the affine gamma, beta. Masked steps keep h, output 0."""
    W = cell.weight_ih.detach()
    Uz, Uh = (w.detach() for w in cell.weight_hh.chunk(2))
    act = (lambda v: max(v, 0.0)) if activation == "relu" else math.tanh
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = h0.clone()
    for b in range(x.shape[0]):
        h = [float(v) for v in h0[b]]
        for t in range(x.shape[1]):
            wx = [sum(float(W[j, k]) * float(x[b, t, k]) for k in range(I)) for j in range(2 * H)]
            if bn_stats is not None:
                wx = _bn(wx, *bn_stats, cell.norm.weight.detach(), cell.norm.bias.detach(), cell.norm.eps)
            elif cell.bias is not None:
                wx = [v + float(cell.bias.detach()[j]) for j, v in enumerate(wx)]
            if not mask[b, t]:
                continue
            new = []
            for j in range(H):
                z = 1 / (1 + math.exp(-(wx[j] + sum(float(Uz[j, m]) * h[m] for m in range(H)))))
                hc = act(wx[H + j] + sum(float(Uh[j, m]) * h[m] for m in range(H)))
                new.append(z * h[j] + (1 - z) * hc)
            h = new
            out[b, t] = torch.tensor(h, dtype=torch.float64)
        hT[b] = torch.tensor(h, dtype=torch.float64)
    return out, hT


def _inputs():
    torch.manual_seed(3)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = mask[2, 0] = False
    return x, h0, mask


@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize(("activation", "bias"), [("relu", True), ("tanh", True), ("relu", False)])
def test_ligru_equals_naive(use_fused, activation, bias):
    torch.manual_seed(0)
    cell = LiGRUCell(I, H, bias=bias, activation=activation).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(torch.randn_like(p))
    x, h0, mask = _inputs()
    want, want_h = _naive(cell, x, h0, mask, activation)
    res = rnnzoo.run(cell, x, LiGRUState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


@pytest.mark.parametrize("training", [True, False])
def test_ligru_batch_norm_equals_naive(training):
    torch.manual_seed(0)
    cell = LiGRUCell(I, H, batch_norm=True).double()
    assert cell.bias is None
    with torch.no_grad():
        cell.norm.weight.uniform_(0.5, 1.5)
        cell.norm.bias.normal_()
        cell.norm.running_mean.normal_()
        cell.norm.running_var.uniform_(0.5, 2.0)
    cell.train(training)
    x, h0, _ = _inputs()
    mask = torch.ones(B, T, dtype=torch.bool)
    if training:  # the batch statistics: over every (example, step) of W x, biased variance
        wx = (x @ cell.weight_ih.detach().t()).reshape(-1, 2 * H)
        stats = (wx.mean(0), wx.var(0, unbiased=False))
    else:
        stats = (cell.norm.running_mean, cell.norm.running_var)
    want, want_h = _naive(cell, x, h0, mask, "relu", bn_stats=stats)
    res = rnnzoo.run(cell, x, LiGRUState(h0), mask=mask)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


def test_ligru_initialisation():
    cell = LiGRUCell(5, 6)
    for w in cell.weight_hh.detach().chunk(2):
        torch.testing.assert_close(w @ w.t(), torch.eye(6), atol=1e-5, rtol=0)
    assert float(cell.weight_ih.detach().abs().max()) <= 1 / math.sqrt(5)
    assert torch.equal(cell.bias.detach(), torch.zeros(12))


def test_ligru_bad_arguments():
    with pytest.raises(ValueError, match="activation: expected one of"):
        LiGRUCell(3, 4, activation="sigmoid")
    with pytest.raises(TypeError, match="batch_norm"):
        LiGRUCell(3, 4, batch_norm=1)
