"""MiRU1 and MiRU2 against naive loops typed from their equations (float64, unit by unit), the coefficients'
limits, and bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import MiRU1Cell, MiRU2Cell, MiRUState

B, T, I, H = 2, 5, 3, 4


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def _naive(cell, x, h0, mask):
    """Unit by unit: every pre-activation a dot product of a weight row with x_t (or h) plus its bias."""
    W, U, b = cell.weight_ih.tolist(), cell.weight_hh.tolist(), cell.bias.tolist()
    lam = cell.update_coefficient
    out = torch.zeros(B, T, H, dtype=torch.float64)
    hT = h0.clone()
    for e in range(B):
        h = h0[e].tolist()
        for t in range(T):
            if not mask[e, t]:
                continue
            xt = x[e, t].tolist()
            wx = [sum(W[r][i] * xt[i] for i in range(I)) + b[r] for r in range(len(W))]
            if isinstance(cell, MiRU1Cell):
                r = [_sig(wx[j] + sum(U[j][k] * h[k] for k in range(H))) for j in range(H)]
                rh = [r[k] * h[k] for k in range(H)]
                hc = [math.tanh(wx[H + j] + sum(U[H + j][k] * rh[k] for k in range(H))) for j in range(H)]
            else:
                beta = cell.reset_coefficient
                hc = [math.tanh(wx[j] + sum(U[j][k] * beta * h[k] for k in range(H))) for j in range(H)]
            h = [lam * h[j] + (1 - lam) * hc[j] for j in range(H)]
            out[e, t] = torch.tensor(h, dtype=torch.float64)
        hT[e] = torch.tensor(h, dtype=torch.float64)
    return out, hT


@pytest.mark.parametrize("make", [lambda: MiRU1Cell(I, H, update_coefficient=0.3),
                                  lambda: MiRU2Cell(I, H, update_coefficient=0.7, reset_coefficient=0.4)])
@pytest.mark.parametrize("fused", [True, False])
def test_miru_equals_the_naive_loop(make, fused):
    torch.manual_seed(2)
    cell = make().double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 1] = mask[1, 3:] = False
    want, want_h = _naive(cell, x, h0, mask)
    res = rnnzoo.run(cell, x, MiRUState(h0), mask=mask, use_fused=fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-13)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-13)


def test_update_coefficient_zero_is_the_candidate_alone():
    """lambda = 0: h_t = hc_t, so with beta scaling U the MiRU2 step is an Elman tanh step with U scaled."""
    torch.manual_seed(3)
    cell = MiRU2Cell(I, H, update_coefficient=0.0, reset_coefficient=0.5).double()
    x, h = torch.randn(B, I, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    y, _ = cell(x, MiRUState(h))
    want = torch.tanh(x @ cell.weight_ih.t() + cell.bias + (0.5 * h) @ cell.weight_hh.t())
    torch.testing.assert_close(y, want)


def test_registry_and_paths():
    assert rnnzoo.model_info("miru1").fast_path is rnnzoo.FastPath.RNNZOO
    assert rnnzoo.model_info("miru2").fast_path is rnnzoo.FastPath.RNNZOO
    assert rnnzoo.model_info("miru2").recurrence is rnnzoo.Recurrence.MATRIX
    assert rnnzoo.model_info("miru1").paper.arxiv == "2503.06175"


@pytest.mark.parametrize("bad", [1.0, -0.1, float("nan"), True, "0.5"])
def test_update_coefficient_is_checked(bad):
    with pytest.raises(ValueError, match=r"update_coefficient: expected a number in \[0, 1\)"):
        MiRU1Cell(I, H, update_coefficient=bad)
    with pytest.raises(ValueError, match="update_coefficient"):
        MiRU2Cell(I, H, update_coefficient=bad)


@pytest.mark.parametrize("bad", [0.0, 1.5, -1.0, None])
def test_reset_coefficient_is_checked(bad):
    with pytest.raises(ValueError, match=r"reset_coefficient: expected a number in \(0, 1\]"):
        MiRU2Cell(I, H, reset_coefficient=bad)


def test_sizes_and_bias_are_checked():
    with pytest.raises(ValueError, match="hidden_size"):
        MiRU1Cell(I, 0)
    with pytest.raises(TypeError, match="bias"):
        MiRU2Cell(I, H, bias=1)
    assert MiRU2Cell(I, H, bias=False).bias is None


def test_miru2_function_gradcheck_with_holes():
    """The hand-written backward of rnnzoo.fused.miru against autograd's numerical gradients (float64)."""
    from rnnzoo.fused.miru import miru2_recurrence

    torch.manual_seed(6)
    u = torch.randn(5, 2, 3, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    U = torch.randn(3, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, False], [False, True], [True, True], [True, False], [False, True]])
    for m in (None, mask):
        assert torch.autograd.gradcheck(lambda u_, h_, U_, m=m: miru2_recurrence(u_, h_, U_, lam=0.3, beta=0.6,
                                                                                   mask=m), (u, h0, U))
