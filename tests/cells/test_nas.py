"""The NAS cell against a naive implementation typed from Zoph & Le (2017, arXiv:1611.01578)'s Penn Treebank cell as
the authors released it (TensorFlow's NASCell): float64, a per-step loop over eight named leaves, on both paths."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.nas import NASCell, NASState

B, T, I, H = 3, 6, 4, 5


def _naive(cell, x, h0, c0, mask):
    W = cell.weight_ih.detach().split(H)  # W_0..W_7: the input's matrices, one per leaf
    U = cell.weight_hh.detach().split(H)  # U_0..U_7: the state's
    bias = cell.bias.detach().split(H) if cell.bias is not None else [torch.zeros(H, dtype=torch.float64)] * 8
    sig, tanh, relu = torch.sigmoid, torch.tanh, torch.relu
    out = torch.zeros(B, T, H, dtype=torch.float64)
    hT, cT = h0.clone(), c0.clone()
    for b in range(B):
        h, c = h0[b].clone(), c0[b].clone()
        for t in range(T):
            if not mask[b, t]:
                continue
            a = [W[k] @ x[b, t] for k in range(8)]
            m = [U[k] @ h + bias[k] for k in range(8)]
            leaf = [sig(a[0] + m[0]), relu(a[1] + m[1]), sig(a[2] + m[2]), relu(a[3] * m[3]),
                    tanh(a[4] + m[4]), sig(a[5] + m[5]), tanh(a[6] + m[6]), sig(a[7] + m[7])]
            l2 = [tanh(leaf[0] * leaf[1]), tanh(leaf[2] + leaf[3]), tanh(leaf[4] * leaf[5]), sig(leaf[6] + leaf[7])]
            inj = tanh(l2[0] + c)
            c = inj * l2[1]
            h = tanh(c * tanh(l2[2] + l2[3]))
            out[b, t] = h
        hT[b], cT[b] = h, c
    return out, hT, cT


@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_nas_equals_naive(use_fused, bias):
    torch.manual_seed(0)
    cell = NASCell(I, H, bias=bias).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(3.0)  # larger than the default init, so every relu and tanh sees both signs
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0, c0 = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    want, want_h, want_c = _naive(cell, x, h0, c0, mask)
    res = rnnzoo.run(cell, x, NASState(h0, c0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.c, want_c, rtol=0, atol=1e-12)


def test_leaf_3_multiplies_input_and_state():
    """Only leaf 3's input weights (W_3 x = 2) and biases nonzero, h_0 = 0, c_0 = 1: leaf 3 = relu(2 * b_3), so
    c_1 = tanh(tanh(0) + 1) * tanh(sigmoid(b_2) + relu(2 b_3)); an additive leaf 3 would give relu(2 + b_3)."""
    cell = NASCell(2, 1).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.weight_ih[3].fill_(1.0)
        cell.bias[2], cell.bias[3] = 0.3, 0.5
    x = torch.ones(1, 1, 2, dtype=torch.float64)
    one = torch.ones(1, 1, dtype=torch.float64)
    c1 = rnnzoo.run(cell, x, NASState(0 * one, one)).state.c.squeeze().detach()
    d = torch.tensor
    want = torch.tanh(d(1.0, dtype=torch.float64)) * torch.tanh(torch.sigmoid(d(0.3, dtype=torch.float64)) + 1.0)
    additive = torch.tanh(d(1.0, dtype=torch.float64)) * torch.tanh(torch.sigmoid(d(0.3, dtype=torch.float64)) + 2.5)
    torch.testing.assert_close(c1, want, rtol=0, atol=1e-14)
    assert abs(float(c1 - additive)) > 1e-3


def test_bad_options_name_the_argument():
    with pytest.raises(TypeError, match="bias"):
        NASCell(I, H, bias="yes")
    with pytest.raises(ValueError, match="hidden_size"):
        NASCell(I, 0)
