"""Mogrifier LSTM against a naive implementation typed from the paper (Melis et al. 2020, eqs (1)-(2))."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.mogrifier import MogrifierLSTMCell

B, T, I, H = 2, 5, 3, 4


def sig(v):
    return 1.0 / (1.0 + torch.exp(-v))


def naive(x, Q, R, W, U, b, rounds):
    """Q: {odd i: (I, H)}, R: {even i: (H, I)}; W, U, b: per-gate lists in (i, f, g, o) order."""
    h = torch.zeros(x.shape[0], U[0].shape[0], dtype=x.dtype)
    c = torch.zeros_like(h)
    outs = []
    for t in range(x.shape[1]):
        xs = {-1: x[:, t]}
        hs = {0: h}
        for i in range(1, rounds + 1):
            if i % 2 == 1:  # eq (1): x^i = 2 sigma(Q^i h^{i-1}) * x^{i-2}
                xs[i] = 2 * sig(hs[i - 1] @ Q[i].T) * xs[i - 2]
            else:  # eq (2): h^i = 2 sigma(R^i x^{i-1}) * h^{i-2}
                hs[i] = 2 * sig(xs[i - 1] @ R[i].T) * hs[i - 2]
        xu, hu = xs[max(xs)], hs[max(hs)]
        gi = sig(xu @ W[0].T + hu @ U[0].T + b[0])
        gf = sig(xu @ W[1].T + hu @ U[1].T + b[1])
        gg = torch.tanh(xu @ W[2].T + hu @ U[2].T + b[2])
        go = sig(xu @ W[3].T + hu @ U[3].T + b[3])
        c = gf * c + gi * gg
        h = go * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs, 1)


def _weights(cell):
    W = cell.weight_ih.chunk(4, 0)
    U = cell.weight_hh.chunk(4, 0)
    b = (cell.bias_ih + cell.bias_hh).chunk(4, 0)
    qs, rs = cell.round_matrices()
    Q = {2 * j + 1: q for j, q in enumerate(qs)}
    R = {2 * j + 2: r for j, r in enumerate(rs)}
    return Q, R, W, U, b


@pytest.mark.parametrize("rounds", [0, 1, 2, 3, 4, 5, 6])
@pytest.mark.parametrize("rank", [0, 2])
def test_mogrifier_equations(rounds, rank):
    torch.manual_seed(rounds + 10 * rank)
    cell = MogrifierLSTMCell(I, H, rounds=rounds, rank=rank).double()
    with torch.no_grad():  # larger round weights so the rounds move x and h far from the identity
        for name, p in cell.named_parameters():
            if name.startswith("mog_"):
                p.mul_(3.0)
    x = torch.randn(B, T, I, dtype=torch.float64)
    Q, R, W, U, b = _weights(cell)
    assert len(Q) == (rounds + 1) // 2 and len(R) == rounds // 2
    got = rnnzoo.run(cell, x, use_fused=False).output
    torch.testing.assert_close(got, naive(x, Q, R, W, U, b, rounds))


def test_mogrifier_low_rank_is_a_product_of_factors():
    cell = MogrifierLSTMCell(I, H, rounds=3, rank=2).double()
    qs, rs = cell.round_matrices()
    torch.testing.assert_close(qs[1], cell.mog_q_left[1] @ cell.mog_q_right[1])
    torch.testing.assert_close(rs[0], cell.mog_r_left[0] @ cell.mog_r_right[0])
    assert torch.linalg.matrix_rank(qs[0]).item() <= 2


def test_mogrifier_rounds_zero_is_the_lstm():
    torch.manual_seed(0)
    mog = MogrifierLSTMCell(I, H, rounds=0).double()
    lstm = rnnzoo.LSTMCell(I, H).double()
    lstm.load_state_dict({k: v for k, v in mog.state_dict().items() if not k.startswith("mog_")})
    x = torch.randn(B, T, I, dtype=torch.float64)
    torch.testing.assert_close(rnnzoo.run(mog, x).output, rnnzoo.run(lstm, x).output)


def test_mogrifier_rounds_have_distinct_parameters():
    """Round 3's Q differs from round 1's and matters: a cell sharing Q across rounds would ignore one of them."""
    torch.manual_seed(1)
    cell = MogrifierLSTMCell(I, H, rounds=5).double()
    assert cell.mog_q.shape == (3, I, H) and cell.mog_r.shape == (2, H, I)
    x = torch.randn(B, T, I, dtype=torch.float64)
    base = rnnzoo.run(cell, x, use_fused=False).output
    outs = []
    for j in range(3):
        c = MogrifierLSTMCell(I, H, rounds=5).double()
        c.load_state_dict(cell.state_dict())
        with torch.no_grad():
            c.mog_q[j].add_(0.5)
        outs.append(rnnzoo.run(c, x, use_fused=False).output)
    for j in range(3):  # each round's own matrix changes the output, each differently
        assert not torch.allclose(outs[j], base)
        for k in range(j):
            assert not torch.allclose(outs[j], outs[k])
    # the gradient reaches every round's matrix separately
    base.sum().backward()
    grads = cell.mog_q.grad.flatten(1).norm(dim=1)
    assert (grads > 0).all() and cell.mog_r.grad.flatten(1).norm(dim=1).gt(0).all()


def test_mogrifier_factor_two_and_first_operand():
    """With Q = R = 0 every round multiplies by 2 sigma(0) = 1: the LSTM; with a large positive Q^1 x is doubled."""
    torch.manual_seed(2)
    cell = MogrifierLSTMCell(I, H, rounds=1).double()
    ref = MogrifierLSTMCell(I, H, rounds=0).double()
    ref.load_state_dict({k: v for k, v in cell.state_dict().items() if not k.startswith("mog_")}, strict=False)
    x = torch.randn(B, 1, I, dtype=torch.float64)
    with torch.no_grad():
        cell.mog_q.zero_()
    torch.testing.assert_close(rnnzoo.run(cell, x).output, rnnzoo.run(ref, x).output)
    # h_0 = 0 so Q^1 h = 0 whatever Q^1: round 1 gates x by h (x unchanged at t = 0); 2 x at sigma -> 1
    state = rnnzoo.LSTMState(torch.full((B, H), 5.0, dtype=torch.float64), torch.zeros(B, H, dtype=torch.float64))
    with torch.no_grad():
        cell.mog_q.fill_(10.0)
    y, _ = cell(x[:, 0], state)
    y_ref, _ = ref(2.0 * x[:, 0], state)
    torch.testing.assert_close(y, y_ref)


@pytest.mark.parametrize("kwargs, match", [({"rounds": -1}, "rounds"), ({"rank": 1.5}, "rank"),
                                           ({"rounds": True}, "rounds"), ({"forget_bias": 1.0, "bias": False},
                                                                          "forget_bias")])
def test_mogrifier_bad_arguments(kwargs, match):
    with pytest.raises((ValueError, TypeError), match=match):
        MogrifierLSTMCell(I, H, **kwargs)


def test_mogrifier_registry_entry():
    info = rnnzoo.model_info("mogrifier_lstm")
    assert info.defaults == {} and info.gated and str(info.recurrence) == "matrix"
    cell = rnnzoo.create("mogrifier_lstm", input_size=I, hidden_size=H, rounds=4, rank=2)
    assert sum(p.numel() for p in cell.parameters()) > 0


@pytest.mark.parametrize("rounds, rank", [(0, 0), (2, 0), (5, 3)])
def test_mogrifier_fast_path_equals_loop_with_holes(rounds, rank):
    """Configurations beside the default, a mask with holes, float64: outputs, state, gradients."""
    torch.manual_seed(7)
    cell = MogrifierLSTMCell(I, H, rounds=rounds, rank=rank).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(B, T) > 0.3
    mask[:, 0] = True
    results = []
    for use_fused in (True, False):
        out = rnnzoo.run(cell, x, mask=mask, use_fused=use_fused)
        loss = out.output.pow(2).sum() + sum(s.pow(2).sum() for s in out.state)
        results.append((out.output, out.state, torch.autograd.grad(loss, [x, *cell.parameters()], allow_unused=True)))
    (o1, s1, g1), (o2, s2, g2) = results
    torch.testing.assert_close(o1, o2)
    for a, b in zip([*s1, *g1], [*s2, *g2], strict=True):
        torch.testing.assert_close(a, b)
