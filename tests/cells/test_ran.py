"""RAN (Lee, Levy & Zettlemoyer 2017) against a naive float64 loop typed from the paper's equations (both output
activations); bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import RANCell, RANState

B, T, I, H = 3, 6, 3, 4


def _naive(cell, x, h0, c0, mask, activation):
    """ct = W_cx x; i = sigmoid(W_ih h + W_ix x + b_i); f = sigmoid(W_fh h + W_fx x + b_f); c' = i ct + f c;
    h' = g(c'), unit by unit. Masked steps keep (h, c), output 0."""
    Wcx, Wix, Wfx = (w.detach() for w in cell.weight_ih.chunk(3))
    Wih, Wfh = (w.detach() for w in cell.weight_hh.chunk(2))
    bi, bf = (b.detach() for b in cell.bias.chunk(2)) if cell.bias is not None else (torch.zeros(H),) * 2
    g = math.tanh if activation == "tanh" else (lambda v: v)
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT, cT = h0.clone(), c0.clone()
    for b in range(x.shape[0]):
        h, c = [float(v) for v in h0[b]], [float(v) for v in c0[b]]
        for t in range(x.shape[1]):
            if not mask[b, t]:
                continue
            xt = [float(v) for v in x[b, t]]
            nc = []
            for j in range(H):
                ct = sum(float(Wcx[j, k]) * xt[k] for k in range(I))
                i = 1 / (1 + math.exp(-(sum(float(Wih[j, m]) * h[m] for m in range(H))
                                        + sum(float(Wix[j, k]) * xt[k] for k in range(I)) + float(bi[j]))))
                f = 1 / (1 + math.exp(-(sum(float(Wfh[j, m]) * h[m] for m in range(H))
                                        + sum(float(Wfx[j, k]) * xt[k] for k in range(I)) + float(bf[j]))))
                nc.append(i * ct + f * c[j])
            c, h = nc, [g(v) for v in nc]
            out[b, t] = torch.tensor(h, dtype=torch.float64)
        hT[b], cT[b] = torch.tensor(h, dtype=torch.float64), torch.tensor(c, dtype=torch.float64)
    return out, hT, cT


@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize(("activation", "bias"), [("tanh", True), ("identity", True), ("tanh", False)])
def test_ran_equals_naive(use_fused, activation, bias):
    torch.manual_seed(0)
    cell = RANCell(I, H, bias=bias, activation=activation).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(torch.randn_like(p))
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0, c0 = torch.randn(B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = mask[2, 0] = False
    want, want_h, want_c = _naive(cell, x, h0, c0, mask, activation)
    res = rnnzoo.run(cell, x, RANState(h0, c0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.c, want_c, rtol=0, atol=1e-12)


def test_ran_bad_arguments():
    with pytest.raises(ValueError, match="activation: expected one of .*'relu'"):
        RANCell(3, 4, activation="relu")
    with pytest.raises(ValueError, match="hidden_size"):
        RANCell(3, 0)
