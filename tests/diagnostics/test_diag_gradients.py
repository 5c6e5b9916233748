"""gradient_lag: ||dL_t/dh_k|| for all k <= t in one batched backward equals brute-force autograd."""

from __future__ import annotations

import json
import math

import pytest
import torch

import rnnzoo
from rnnzoo.diagnostics import RandomProjectionLoss, diagnose, gradient_lag, to_jsonable
from rnnzoo.diagnostics.plots import plot_gradient_lag

D = torch.float64


def _run_cell(cell, xs, state):
    outs = []
    states = []
    for t in range(xs.shape[1]):
        y, state = cell(xs[:, t], state)
        outs.append(y)
        states.append(state)
    return outs, states


def brute_force(model, x, loss_fn, layer=0):
    """One backward per (t, k): the state s_k made a leaf, the rest of the network rerun from it.

    The state is the cell's full state (every field), its output at step k is read from it (y_k = h_k
    for Elman and LSTM), the layers above rerun on the new outputs: written from the definition,
    with the cells' own forward and no step hook.
    """
    cells = [lay.cell for lay in model.layers]
    steps = x.shape[1]
    inputs = x
    for cell in cells[:layer]:
        outs, _ = _run_cell(cell, inputs, None)
        inputs = torch.stack(outs, 1).detach()
    outs0, states0 = _run_cell(cells[layer], inputs, None)
    matrix = torch.zeros(steps, steps, dtype=D)
    for k in range(steps):
        s_k = type(states0[k])(*(leaf.detach().requires_grad_() for leaf in states0[k]))
        ys = [o.detach() for o in outs0[:k]]
        ys.append(cells[layer].output(s_k))
        s = s_k
        for t in range(k + 1, steps):
            y, s = cells[layer](inputs[:, t], s)
            ys.append(y)
        h = torch.stack(ys, 1)
        for cell in cells[layer + 1:]:
            outs, _ = _run_cell(cell, h, None)
            h = torch.stack(outs, 1)
        losses = loss_fn(h)
        for t in range(k, steps):
            grads = torch.autograd.grad(losses[t], list(s_k), retain_graph=True, allow_unused=True)
            grads = [torch.zeros_like(leaf) if g is None else g for g, leaf in zip(grads, s_k, strict=True)]
            norm = torch.cat([g.flatten(1) for g in grads], 1).norm(dim=1)  # per example
            matrix[t, k] = norm.mean()
    return matrix


@pytest.mark.parametrize("name,layers,layer", [("elman", 1, 0), ("lstm", 1, 0), ("lstm", 2, 0), ("gru", 1, 0)])
def test_one_pass_equals_brute_force(name, layers, layer):
    torch.manual_seed(0)
    model = rnnzoo.create(name, input_size=3, hidden_size=5, num_layers=layers).to(D)
    x = torch.randn(3, 7, 3, dtype=D)
    res = gradient_lag(model, x, layer=layer)
    assert res.method == "batched" and res.num_backward == 1
    expected = brute_force(model, x, RandomProjectionLoss(), layer)
    torch.testing.assert_close(res.matrix, expected, rtol=1e-10, atol=1e-12)
    assert res.fields == (("h", "c") if "lstm" in name else ("h",))
    # lag profile: the mean of each subdiagonal
    assert res.by_lag[2] == pytest.approx(float(torch.diagonal(expected, -2).mean()), rel=1e-10)
    assert torch.count_nonzero(torch.triu(res.matrix, 1)) == 0  # causal: no gradient from a later state


def test_custom_loss_and_h_only():
    torch.manual_seed(1)
    model = rnnzoo.create("lstm", input_size=2, hidden_size=4).to(D)
    x = torch.randn(2, 6, 2, dtype=D)

    def loss_fn(y):  # (B, T, H) -> (T,): squared output of unit 0
        return y[..., 0].pow(2).sum(0)

    res = gradient_lag(model, x, loss_fn=loss_fn)
    torch.testing.assert_close(res.matrix, brute_force(model, x, loss_fn), rtol=1e-10, atol=1e-12)
    h_only = gradient_lag(model, x, loss_fn=loss_fn, fields=["h"])
    assert h_only.fields == ("h",)
    torch.testing.assert_close(h_only.matrix, res.field_matrix["h"])
    with pytest.raises(ValueError, match="fields"):
        gradient_lag(model, x, fields=["s"])


def test_loop_and_fallback_agree(monkeypatch):
    torch.manual_seed(2)
    model = rnnzoo.create("elman", input_size=2, hidden_size=4).to(D)
    x = torch.randn(2, 5, 2, dtype=D)
    batched = gradient_lag(model, x)
    loop = gradient_lag(model, x, batched=False)
    assert loop.method == "loop" and loop.num_backward == 5
    torch.testing.assert_close(batched.matrix, loop.matrix)

    real = torch.autograd.grad

    def no_batching(*args, **kwargs):
        if kwargs.get("is_grads_batched"):
            raise RuntimeError("Batching rule not implemented for aten::something")
        return real(*args, **kwargs)

    monkeypatch.setattr(torch.autograd, "grad", no_batching)
    fell_back = gradient_lag(model, x)
    assert fell_back.method == "loop" and "is_grads_batched failed" in fell_back.fallback_reason
    torch.testing.assert_close(fell_back.matrix, batched.matrix)


def test_lengths_average_over_valid_examples():
    torch.manual_seed(3)
    model = rnnzoo.create("gru", input_size=2, hidden_size=3).to(D)
    x = torch.randn(2, 5, 2, dtype=D)
    res = gradient_lag(model, x, lengths=torch.tensor([5, 3]))
    full0 = gradient_lag(model, x[:1]).matrix
    short1 = gradient_lag(model, x[1:, :3]).matrix
    torch.testing.assert_close(res.matrix[3:], full0[3:])  # only example 0 is valid at t >= 3
    torch.testing.assert_close(res.matrix[:3, :3], (full0[:3, :3] + short1) / 2)


def _exploding_linear_rnn():
    """h_t = W h_(t-1) + U x_t with W = 1e15 Q: float32 gradients overflow from lag 3 on."""
    torch.manual_seed(4)
    model = rnnzoo.create("elman", input_size=2, hidden_size=4, activation="linear")
    q, _ = torch.linalg.qr(torch.randn(4, 4))
    with torch.no_grad():
        model.layers[0].cell.weight_hh.copy_(1e15 * q)
    return model, torch.randn(3, 6, 2)


def test_nonfinite_gradient_is_reported_not_zero(tmp_path):
    model, x = _exploding_linear_rnn()
    res = gradient_lag(model, x)
    assert res.nonfinite
    assert all(math.isfinite(res.at(lag)) for lag in (0, 1, 2))
    assert res.at(1) == pytest.approx(1e15, rel=1e-3)  # ||W^T r|| = 1e15 ||r||, r a unit vector
    assert res.nonfinite_lags == [3, 4, 5]
    assert res.nonfinite_steps == [0, 1, 2]  # the states 3 or more steps before some loss
    for lag in res.nonfinite_lags:
        assert not math.isfinite(res.at(lag)) and res.at(lag) != 0.0
    assert not torch.isfinite(res.matrix[5, 0])

    diag = diagnose(model, x, jacobian=False)
    assert diag.scalars()["grad/nonfinite"] == 1.0
    encoded = to_jsonable(res.to_dict())
    text = json.dumps(encoded, allow_nan=False)  # strict JSON
    assert all(v in ("NaN", "Infinity") for v in encoded["by_lag"][3:])
    assert "NaN" in text or "Infinity" in text

    fig = plot_gradient_lag({"exploding": res}, tmp_path / "g.png")
    ax = fig.axes[0]
    marks = [line for line in ax.get_lines() if line.get_gid() == "nonfinite"]
    assert len(marks) == 1 and len(marks[0].get_xdata()) == 3
    drawn = ax.get_lines()[0].get_ydata()
    assert all(math.isnan(v) for v in drawn[3:])  # the line stops; nothing drawn at zero
    assert (tmp_path / "g.png").stat().st_size > 0


def test_rejects_bidirectional_and_bad_loss():
    model = rnnzoo.create("elman", input_size=2, hidden_size=3, bidirectional=True)
    with pytest.raises(ValueError, match="backwards in time"):
        gradient_lag(model, torch.randn(2, 4, 2))
    model = rnnzoo.create("elman", input_size=2, hidden_size=3)
    with pytest.raises(ValueError, match=r"loss_fn: expected per-step losses of shape \(4,\)"):
        gradient_lag(model, torch.randn(2, 4, 2), loss_fn=lambda y: y.sum())
