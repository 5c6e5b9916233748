"""LightRU (Ye et al. 2024) against a naive float64 loop typed from its equations; bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import LightRUCell, LightRUState

B, T, I, H = 3, 6, 3, 4


def _naive(cell, x, h0, mask):
    """hc = tanh(W_h x); f = sigmoid(W_f x + U_f h + b_f); h' = (1 - f) h + f hc, unit by unit."""
    Wh, Wf = (w.detach() for w in cell.weight_ih.chunk(2))
    Uf = cell.weight_hh.detach()
    bf = cell.bias.detach() if cell.bias is not None else torch.zeros(H)
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
                hc = math.tanh(sum(float(Wh[j, i]) * xt[i] for i in range(I)))
                f = 1 / (1 + math.exp(-(sum(float(Wf[j, i]) * xt[i] for i in range(I))
                                        + sum(float(Uf[j, m]) * h[m] for m in range(H)) + float(bf[j]))))
                new.append((1 - f) * h[j] + f * hc)
            h = new
            out[b, t] = torch.tensor(h, dtype=torch.float64)
        hT[b] = torch.tensor(h, dtype=torch.float64)
    return out, hT


@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_lightru_equals_naive(use_fused, bias):
    torch.manual_seed(0)
    cell = LightRUCell(I, H, bias=bias).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(torch.randn_like(p))
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = mask[2, 0] = False
    want, want_h = _naive(cell, x, h0, mask)
    res = rnnzoo.run(cell, x, LightRUState(h0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)


def test_lightru_bad_arguments():
    with pytest.raises(ValueError, match="input_size"):
        LightRUCell(2.5, 4)
    with pytest.raises(TypeError, match="bias"):
        LightRUCell(3, 4, bias="no")
