"""jacobian_lag and power_iteration: the products of 001 eq (11), exact and estimated."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.diagnostics import jacobian_lag, power_iteration, step_jacobians

D = torch.float64


def _linear_rnn(hidden=6):
    torch.manual_seed(0)
    return rnnzoo.create("elman", input_size=3, hidden_size=hidden, activation="linear").to(D)


@pytest.mark.parametrize("method", ["exact", "power"])
def test_linear_rnn_norms_are_powers_of_w(method):
    """h_t = W h_(t-1) + U x_t: dh_t/dh_k = W^(t-k), whatever the inputs."""
    model = _linear_rnn()
    w = model.layers[0].cell.weight_hh.detach()
    x = torch.randn(3, 16, 3, dtype=D)
    res = jacobian_lag(model, x, method=method, top_k=3, pairs=[(15, 14), (15, 10), (15, 3), (9, 0), (15, 0)])
    assert res.method == method
    assert res.lag.tolist() == [1, 5, 12, 9, 15]
    for i, lag in enumerate(res.lag.tolist()):
        power = torch.linalg.matrix_power(w, lag)
        expected = torch.linalg.svdvals(power)
        rtol = 1e-9 if method == "exact" else 1e-4
        torch.testing.assert_close(res.norm_per_example[i], expected[0].expand(3), rtol=rtol, atol=0)
        torch.testing.assert_close(res.singular_values[i], expected[:3], rtol=rtol, atol=0)
        assert float(res.norm[i]) == pytest.approx(float(torch.linalg.matrix_norm(power, ord=2)), rel=rtol)


@pytest.mark.parametrize("shape,k", [((4, 30, 30), 1), ((3, 50, 20), 3), ((2, 16, 40), 4)])
def test_power_iteration_within_one_percent(shape, k):
    gen = torch.Generator().manual_seed(shape[1])
    a = torch.randn(*shape, generator=gen, dtype=D)
    v0 = torch.randn(shape[0], shape[2], k, generator=gen, dtype=D)
    sigma, used = power_iteration(lambda v: a @ v, lambda w: a.transpose(1, 2) @ w, v0)
    exact = torch.linalg.svdvals(a)[:, :k]
    assert used >= 2
    assert float(((sigma - exact).abs() / exact).max()) < 0.01


def test_exact_and_power_agree_on_gated_cells():
    torch.manual_seed(1)
    model = rnnzoo.create("lstm", input_size=2, hidden_size=4).to(D)
    x = torch.randn(2, 12, 2, dtype=D)
    exact = jacobian_lag(model, x, method="exact", top_k=2)
    power = jacobian_lag(model, x, method="power", top_k=2)
    assert exact.dim == 8  # (h, c)
    assert exact.lag.tolist() == power.lag.tolist()
    torch.testing.assert_close(power.norm_per_example, exact.norm_per_example, rtol=1e-3, atol=0)


def test_step_jacobian_is_eq_12():
    """dh_i/dh_(i-1) = diag(f'(o_i)) W_HH for the Elman cell (001 eq (12), numerator layout)."""
    torch.manual_seed(2)
    model = rnnzoo.create("elman", input_size=2, hidden_size=5).to(D)
    cell = model.layers[0].cell
    x = torch.randn(3, 4, 2, dtype=D)
    states = model.run(x, return_states=True).states.layers[0]
    h = states.h  # (B, T, H)
    prev = type(states)(torch.cat([torch.zeros(3, 1, 5, dtype=D), h[:, :-1]], 1))
    jac = step_jacobians(cell, cell.project(x), prev)
    expected = (1 - h.pow(2)).unsqueeze(-1) * cell.weight_hh.detach()  # tanh' = 1 - tanh^2
    torch.testing.assert_close(jac, expected)


def test_pairs_are_checked():
    model = _linear_rnn(3)
    x = torch.randn(1, 5, 3, dtype=D)
    with pytest.raises(ValueError, match=r"0 <= k < t < T=5"):
        jacobian_lag(model, x, pairs=[(5, 1)])
    with pytest.raises(ValueError, match="method"):
        jacobian_lag(model, x, method="svd")


@pytest.mark.parametrize("options", [{"zoneout": 0.2}, {"variational_dropout": 0.3}, {"weight_drop": 0.5}])
def test_jacobians_of_a_regularised_model_are_its_eval_mode_jacobians(options):
    torch.manual_seed(0)
    model = rnnzoo.create("lstm", input_size=2, hidden_size=3, **options).to(D)
    x = torch.randn(2, 6, 2, dtype=D)
    assert model.training
    train = jacobian_lag(model, x, method="exact", lags=[1, 3])
    assert model.training  # restored
    evaluated = jacobian_lag(model.eval(), x, method="exact", lags=[1, 3])
    torch.testing.assert_close(train.norm_per_example, evaluated.norm_per_example)
