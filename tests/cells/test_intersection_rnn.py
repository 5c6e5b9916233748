"""Intersection RNN (Collins et al. 2017) against a naive float64 loop typed from the paper's equations (I == H,
the paper's form, and I != H with the carry projection); bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import IntersectionRNNCell, IntersectionState

B, T = 3, 6


def _sig(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def _naive(cell, x, h0, mask):
    """yin = ReLU(W_yx x + W_yh h + b_y); hin = tanh(W_hx x + W_hh h + b_h); gy, gh = sigmoid(...);
    y = gy x + (1 - gy) yin (x through weight_carry when I != H); h' = gh h + (1 - gh) hin, unit by unit."""
    I, H = cell.input_size, cell.hidden_size
    Wx, Wh = cell.weight_ih.detach(), cell.weight_hh.detach()
    bias = cell.bias.detach() if cell.bias is not None else torch.zeros(4 * H)
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT, yT = h0.clone(), torch.zeros_like(h0)
    for b in range(x.shape[0]):
        h, y = [float(v) for v in h0[b]], [0.0] * H
        for t in range(x.shape[1]):
            if not mask[b, t]:
                continue
            xt = [float(v) for v in x[b, t]]
            carry = xt if cell.weight_carry is None else [
                sum(float(cell.weight_carry.detach()[j, k]) * xt[k] for k in range(I)) for j in range(H)]
            pre = [sum(float(Wx[n, k]) * xt[k] for k in range(I)) + sum(float(Wh[n, m]) * h[m] for m in range(H))
                   + float(bias[n]) for n in range(4 * H)]
            ny, nh = [], []
            for j in range(H):
                yin, hin = max(pre[j], 0.0), math.tanh(pre[H + j])
                gy, gh = _sig(pre[2 * H + j]), _sig(pre[3 * H + j])
                ny.append(gy * carry[j] + (1 - gy) * yin)
                nh.append(gh * h[j] + (1 - gh) * hin)
            h, y = nh, ny
            out[b, t] = torch.tensor(y, dtype=torch.float64)
        hT[b], yT[b] = torch.tensor(h, dtype=torch.float64), torch.tensor(y, dtype=torch.float64)
    return out, hT, yT


@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize(("I", "H", "bias"), [(4, 4, True), (3, 4, True), (4, 4, False)])
def test_intersection_rnn_equals_naive(use_fused, I, H, bias):
    torch.manual_seed(0)
    cell = IntersectionRNNCell(I, H, bias=bias).double()
    assert (cell.weight_carry is None) == (I == H)
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(torch.randn_like(p))
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = mask[2, 0] = False
    want, want_h, want_y = _naive(cell, x, h0, mask)
    res = rnnzoo.run(cell, x, IntersectionState(h0, torch.zeros(B, H, dtype=torch.float64)), mask=mask,
                     use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.y, want_y, rtol=0, atol=1e-12)


def test_intersection_rnn_bad_arguments():
    with pytest.raises(ValueError, match="hidden_size"):
        IntersectionRNNCell(3, 0)
    with pytest.raises(ValueError, match="x_t"):
        IntersectionRNNCell(4, 4)(torch.randn(2, 3))
