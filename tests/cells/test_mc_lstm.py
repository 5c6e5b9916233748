"""MC-LSTM (Hoedt et al. 2021) against a naive loop typed from the paper (its column-stochastic K x K
redistribution ``mtot = R c + i x``, float64, unit by unit), its conservation law held exactly, and bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import MCLSTMCell, MCLSTMState

B, T, M, L, K = 2, 5, 2, 3, 4


def _softmax_column(logits):
    """Softmax of a list (one column of the paper's matrices)."""
    top = max(logits)
    e = [math.exp(v - top) for v in logits]
    s = sum(e)
    return [v / s for v in e]


def _naive(cell, x, c0, mask):
    """The paper's step for each example: the gates from a_t and c/||c||_1; the input gate i (K x M) and the
    redistribution R (K x K) with columns summing to one; mtot = R c + i m; c = (1 - o) mtot, h = o mtot."""
    W, U, b = cell.weight_ih.tolist(), cell.weight_hh.tolist(), cell.bias.tolist()
    eps = cell.eps
    out = torch.zeros(B, T, K, dtype=torch.float64)
    cT = c0.clone()
    for e in range(B):
        c = c0[e].tolist()
        for t in range(T):
            if not mask[e, t]:
                continue
            m, a = x[e, t, :M].tolist(), x[e, t, M:].tolist()
            norm = sum(abs(v) for v in c) + eps
            n = [v / norm for v in c]

            def pre(row, a=a, n=n):
                return sum(W[row][q] * a[q] for q in range(L)) + sum(U[row][q] * n[q] for q in range(K)) + b[row]

            # the paper's matrices: i[k][mm] (column mm: mass input mm), R[k][j] (column j: cell j)
            i_cols = [_softmax_column([pre(mm * K + k) for k in range(K)]) for mm in range(M)]
            r_cols = [_softmax_column([pre(M * K + j * K + k) for k in range(K)]) for j in range(K)]
            o = [1.0 / (1.0 + math.exp(-pre(M * K + K * K + k))) for k in range(K)]
            mtot = [sum(r_cols[j][k] * c[j] for j in range(K)) + sum(i_cols[mm][k] * m[mm] for mm in range(M))
                    for k in range(K)]
            c = [(1 - o[k]) * mtot[k] for k in range(K)]
            out[e, t] = torch.tensor([o[k] * mtot[k] for k in range(K)], dtype=torch.float64)
        cT[e] = torch.tensor(c, dtype=torch.float64)
    return out, cT


def _cell(seed=0):
    torch.manual_seed(seed)
    cell = MCLSTMCell(M + L, K, mass_size=M).double()
    with torch.no_grad():  # move off the initialisation's structure so every term matters
        for p in cell.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    return cell


def test_mc_lstm_equals_the_paper_loop():
    cell = _cell()
    x = torch.rand(B, T, M + L, dtype=torch.float64) * 2
    c0 = torch.rand(B, K, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 3:] = False
    want, want_c = _naive(cell, x, c0, mask)
    res = rnnzoo.run(cell, x, MCLSTMState(torch.zeros(B, K, dtype=torch.float64), c0), mask=mask)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-13)
    torch.testing.assert_close(res.state.c, want_c, rtol=0, atol=1e-13)


@pytest.mark.parametrize("mass_size", [1, 3])
def test_mass_is_conserved_step_by_step_and_over_the_sequence(mass_size):
    """sum(c_t) + sum(h_t) = sum(c_{t-1}) + sum(m_t) at every step, and so over the run:
    sum(c_T) + sum_t sum(h_t) = sum(c_0) + sum_t sum(m_t) (float64, to rounding; masked steps move nothing)."""
    torch.manual_seed(4)
    cell = MCLSTMCell(mass_size + 2, 6, mass_size=mass_size).double()
    x = torch.rand(3, 40, mass_size + 2, dtype=torch.float64) * 5
    c0 = torch.rand(3, 6, dtype=torch.float64) * 3
    mask = torch.rand(3, 40) > 0.2
    state = MCLSTMState(torch.zeros(3, 6, dtype=torch.float64), c0)
    res = rnnzoo.run(cell, x, state, mask=mask)
    mass_in = (x[..., :mass_size].sum(-1) * mask).sum(1)
    lhs = res.state.c.sum(-1) + res.output.sum((1, 2))
    torch.testing.assert_close(lhs, c0.sum(-1) + mass_in, rtol=1e-14, atol=1e-12)
    prev = c0
    for t in range(5):  # and each step by hand
        y, new = cell(x[:, t], MCLSTMState(torch.zeros_like(prev), prev))
        torch.testing.assert_close(new.c.sum(-1) + y.sum(-1), prev.sum(-1) + x[:, t, :mass_size].sum(-1),
                                   rtol=1e-14, atol=1e-13)
        assert (new.c >= 0).all() and (y >= 0).all()  # non-negative mass stays non-negative
        prev = new.c


def test_conservation_is_not_vacuous():
    """Break the softmax's normalisation (scale the redistribution by 1.1): the balance fails."""
    cell = _cell(5)
    x = torch.rand(2, M + L, dtype=torch.float64)
    c = torch.rand(2, K, dtype=torch.float64)
    m, i, r, o = cell.gates(cell.project(x), c)
    mtot = (m.unsqueeze(1) @ i).squeeze(1) + (c.unsqueeze(1) @ (1.1 * r)).squeeze(1)
    assert ((mtot.sum(-1) - c.sum(-1) - m.sum(-1)).abs() > 1e-3).all()
    torch.testing.assert_close(i.sum(-1), torch.ones(2, M, dtype=torch.float64))
    torch.testing.assert_close(r.sum(-1), torch.ones(2, K, dtype=torch.float64))


def test_no_auxiliary_input():
    cell = MCLSTMCell(2, 3, mass_size=2).double()
    assert cell.aux_size == 0 and cell.weight_ih.shape == (2 * 3 + 9 + 3, 0)
    x = torch.rand(2, 4, 2, dtype=torch.float64)
    res = rnnzoo.run(cell, x)
    torch.testing.assert_close(res.state.c.sum(-1) + res.output.sum((1, 2)), x.sum((1, 2)))


def test_initialisation_keeps_mass_in_place():
    cell = MCLSTMCell(3, K)
    r_bias = cell.bias[K:K + K * K].view(K, K)
    assert torch.equal(r_bias, 3 * torch.eye(K)) and (cell.bias[K + K * K:] == -3).all() and (cell.bias[:K] == 0).all()


@pytest.mark.parametrize("kw, err, match", [
    ({"mass_size": 0}, ValueError, "mass_size: expected a positive int"),
    ({"mass_size": 4}, ValueError, r"mass_size: expected at most input_size \(3\)"),
    ({"mass_size": True}, ValueError, "mass_size"),
    ({"eps": 0.0}, ValueError, "eps: expected a positive number"),
    ({"eps": "1e-5"}, ValueError, "eps"),
])
def test_bad_arguments_name_themselves(kw, err, match):
    with pytest.raises(err, match=match):
        MCLSTMCell(3, K, **kw)
