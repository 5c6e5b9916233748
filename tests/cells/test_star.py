"""STAR (Turkoglu et al. 2021) against a naive float64 loop typed from the paper's equations; bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import STARCell, STARState

B, T, I, H = 3, 6, 3, 4


def _naive(cell, x, h0, mask):
    """z = tanh(W_z x + b_z); k = sigmoid(W_x x + W_h h + b_k); h' = tanh((1 - k) h + k z), unit by unit."""
    Wz, Wx = (w.detach() for w in cell.weight_ih.chunk(2))
    Wh = cell.weight_hh.detach()
    bz, bk = (b.detach() for b in cell.bias.chunk(2)) if cell.bias is not None else (torch.zeros(H),) * 2
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = h0.clone()
    for b in range(x.shape[0]):
        h = [float(v) for v in h0[b]]
        for t in range(x.shape[1]):
            if not mask[b, t]:
                continue
            xt = [float(v) for v in x[b, t]]
            new = []
            for j in range(H):
                z = math.tanh(sum(float(Wz[j, i]) * xt[i] for i in range(I)) + float(bz[j]))
                k = 1 / (1 + math.exp(-(sum(float(Wx[j, i]) * xt[i] for i in range(I))
                                        + sum(float(Wh[j, m]) * h[m] for m in range(H)) + float(bk[j]))))
                new.append(math.tanh((1 - k) * h[j] + k * z))
            h = new
            out[b, t] = torch.tensor(h, dtype=torch.float64)
        hT[b] = torch.tensor(h, dtype=torch.float64)
    return out, hT


@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_star_equals_naive(use_fused, bias):
    torch.manual_seed(0)
    cell = STARCell(I, H, bias=bias).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(torch.randn_like(p))
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = mask[2, 0] = False
    want, want_h = _naive(cell, x, h0, mask)
    res = rnnzoo.run(cell, x, STARState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


def test_star_bad_arguments():
    with pytest.raises(ValueError, match="hidden_size"):
        STARCell(3, -1)
    with pytest.raises(TypeError, match="bias"):
        STARCell(3, 4, bias=1)
