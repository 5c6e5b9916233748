"""JANET against a naive implementation typed from van der Westhuizen & Lasenby (2018, arXiv:1804.04849) sec. 3
(float64, a per-step loop with its own named weights), on both paths; its beta, chrono initialisation and options."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells.janet import JANETCell, JANETState

B, T, I, H = 3, 6, 4, 5


def _naive(cell, x, c0, mask, beta):
    """s = U_f h + W_f x + b_f; cc = tanh(U_c h + W_c x + b_c); c = sig(s) c + (1 - sig(s - beta)) cc; h = c."""
    W_f, W_c = cell.weight_ih.detach()[:H], cell.weight_ih.detach()[H:]
    U_f, U_c = cell.weight_hh.detach()[:H], cell.weight_hh.detach()[H:]
    b_f, b_c = cell.bias.detach()[:H], cell.bias.detach()[H:]
    out = torch.zeros(B, T, H, dtype=torch.float64)
    cT = c0.clone()
    for b in range(B):
        c = c0[b].clone()
        for t in range(T):
            if not mask[b, t]:
                continue
            h = c
            s = U_f @ h + W_f @ x[b, t] + b_f
            cc = torch.tanh(U_c @ h + W_c @ x[b, t] + b_c)
            c = torch.sigmoid(s) * c + (1 - torch.sigmoid(s - beta)) * cc
            out[b, t] = c
        cT[b] = c
    return out, cT


@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize("beta", [1.0, 0.0, 2.5])
def test_janet_equals_naive(use_fused, beta):
    torch.manual_seed(0)
    cell = JANETCell(I, H, beta=beta).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    c0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = False
    want, want_c = _naive(cell, x, c0, mask, beta)
    res = rnnzoo.run(cell, x, JANETState(c0), mask=mask, use_fused=use_fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.c, want_c, rtol=0, atol=1e-12)


def test_janet_fast_path_gradients_equal_the_step_loop():
    torch.manual_seed(1)
    cell = JANETCell(I, H).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    grads = []
    for fused in (False, True):
        out = rnnzoo.run(cell, x, use_fused=fused).output
        grads.append(torch.autograd.grad((out * torch.linspace(-1, 1, H, dtype=torch.float64)).sum(),
                                         [x, *cell.parameters()]))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


def test_beta_is_fixed_not_learned():
    cell = JANETCell(I, H, beta=1.0)
    assert "beta" not in dict(cell.named_parameters())
    assert cell.beta == 1.0


def test_chrono_initialisation():
    torch.manual_seed(2)
    cell = JANETCell(I, 64, t_max=784)
    b_f, b_c = cell.bias.detach()[:64], cell.bias.detach()[64:]
    assert torch.all(b_f >= 0) and torch.all(b_f <= math.log(783) + 1e-6)
    assert b_f.std() > 0.5  # spread over log(1)..log(783), not a constant
    assert torch.all(b_c == 0)
    other = JANETCell(I, 64)
    assert other.initialize("chrono", 100.0)
    assert torch.all(other.bias.detach()[:64] <= math.log(99) + 1e-6) and torch.all(other.bias.detach()[64:] == 0)


@pytest.mark.parametrize(("kwargs", "exc", "words"), [
    ({"beta": "1"}, TypeError, "beta"),
    ({"beta": float("nan")}, TypeError, "beta"),
    ({"t_max": 2}, ValueError, "t_max"),
    ({"t_max": "784"}, TypeError, "t_max"),
    ({"bias": 1}, TypeError, "bias"),
])
def test_bad_options_name_the_argument(kwargs, exc, words):
    with pytest.raises(exc, match=words):
        JANETCell(I, H, **kwargs)


def test_chrono_needs_a_bias_and_a_length():
    with pytest.raises(ValueError, match="chrono"):
        JANETCell(I, H, bias=False).initialize("chrono", 100.0)
    with pytest.raises(ValueError, match="chrono"):
        JANETCell(I, H).initialize("chrono", None)
