"""Acceptance of the protocol: a new cell written in this file, in one class, gets every feature of the
library (bidirectional and stacked layers, stepping as part of a stack, truncated BPTT, the gradient,
Jacobian, gate-saturation and weight-spectrum diagnostics, the benchmark) without editing any other file.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from torch import Tensor, nn

import rnnzoo
from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.registry import unregister
from rnnzoo.diagnostics import gate_saturation, gradient_lag, jacobian_lag, weight_report

D = torch.float64


class MGUState(NamedTuple):
    h: Tensor


class MGUCell(rnnzoo.Cell):
    """Minimal gated unit (Zhou, Wu, Zhang & Zhou 2016, arXiv:1603.09420), one gate::

        f   = sigmoid(W_f x_t + U_f h_{t-1} + b_f)
        h~  = tanh(W_h x_t + U_h (f * h_{t-1}) + b_h)
        h_t = (1 - f) * h_{t-1} + f * h~
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, hidden_size
        self.weight_ih = nn.Parameter(torch.randn(2 * hidden_size, input_size) / input_size ** 0.5)
        self.bias = nn.Parameter(torch.zeros(2 * hidden_size))
        self.weight_hh = nn.Parameter(torch.randn(2 * hidden_size, hidden_size) / hidden_size ** 0.5)

    def state_spec(self, batch_size, *, input_shape=None):
        return MGUState(rnnzoo.TensorSpec((batch_size, self.output_size)))

    def project(self, x):
        return x @ self.weight_ih.t() + self.bias

    def step(self, u_t, state):
        H = self.output_size
        uf, uh = u_t.split(H, -1)
        f = torch.sigmoid(uf + state.h @ self.weight_hh[:H].t())
        self.report("f", f, "sigmoid")
        h_tilde = torch.tanh(uh + (f * state.h) @ self.weight_hh[H:].t())
        h = (1 - f) * state.h + f * h_tilde
        return h, MGUState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        return gate_blocks(self.weight_hh, ("f", "h"), ("sigmoid", "tanh"))


def _mgu_by_hand(cell, x):
    """The paper's equations, one example and one step at a time."""
    H = cell.output_size
    W, b, U = cell.weight_ih, cell.bias, cell.weight_hh
    outs = []
    for xb in x:
        h = torch.zeros(H, dtype=x.dtype)
        seq = []
        for xt in xb:
            f = torch.sigmoid(W[:H] @ xt + U[:H] @ h + b[:H])
            h_tilde = torch.tanh(W[H:] @ xt + U[H:] @ (f * h) + b[H:])
            h = (1 - f) * h + f * h_tilde
            seq.append(h)
        outs.append(torch.stack(seq))
    return torch.stack(outs)


def test_it_computes_its_equations():
    torch.manual_seed(0)
    cell = MGUCell(2, 3).to(D)
    x = torch.randn(2, 5, 2, dtype=D)
    torch.testing.assert_close(rnnzoo.run(cell, x).output, _mgu_by_hand(cell, x))


def test_bidirectional_stacked_masked_and_stepped_as_a_stack():
    torch.manual_seed(0)
    model = rnnzoo.Stacked([rnnzoo.Bidirectional(MGUCell(2, 3)), MGUCell(6, 3)], dropout=0.1).to(D).eval()
    x = torch.randn(3, 6, 2, dtype=D)
    out, state = model(x, lengths=[6, 2, 4])
    alone, _ = model(x[1:2, :2])
    torch.testing.assert_close(out[1:2, :2], alone)
    assert out[1, 2:].abs().sum() == 0
    deep = rnnzoo.DeepCell([MGUCell(2, 3), MGUCell(3, 3)]).to(D)
    seq = rnnzoo.run(deep, x)
    s = None
    for t in range(6):
        y, s = deep(x[:, t], s)
    torch.testing.assert_close(y, seq.output[:, -1])


def test_diagnostics():
    torch.manual_seed(0)
    model = rnnzoo.Stacked([MGUCell(2, 4), MGUCell(4, 4)]).to(D)
    x = torch.randn(3, 12, 2, dtype=D)
    g = gradient_lag(model, x, layer=1)
    assert g.matrix.shape == (12, 12) and torch.isfinite(g.matrix).all() and g.fields == ("h",)
    j = jacobian_lag(model, x, method="exact", lags=[1, 4])
    assert j.dim == 4 and torch.isfinite(j.norm).all()
    sats = gate_saturation(model, x, lengths=torch.tensor([12, 5, 9]))
    assert [(s.layer, s.gate) for s in sats] == [(0, "f"), (1, "f")]
    assert sats[0].count == (12 + 5 + 9) * 4
    blocks = [r.block for r in weight_report(model)]
    assert blocks == ["weight_hh[f]", "weight_hh[h]"] * 2
    rnnzoo.diagnostics.apply_init(model, "orthogonal")
    w = model.layers[0].cell.weight_hh[:4].detach()
    torch.testing.assert_close(w @ w.t(), torch.eye(4, dtype=D))


@pytest.fixture
def registered_mgu():
    rnnzoo.register("test_mgu", paper=rnnzoo.Paper("Zhou, Wu, Zhang & Zhou", 2016, "Minimal gated unit for "
                                                   "recurrent neural networks", "1603.09420"),
                    seed_equations="-", description="MGU defined in a test file", gated=True)(MGUCell)
    yield "test_mgu"
    unregister("test_mgu")


def test_truncated_bptt_and_create(registered_mgu):
    from rnnzoo.train import SequenceModel, full_loss, make_targets, tbptt

    torch.manual_seed(0)
    model = SequenceModel(registered_mgu, input_size=2, output_size=1, hidden_size=3, num_layers=2).double()
    x, y = torch.randn(4, 8, 2, dtype=D), torch.randn(4, 1, dtype=D)
    targets = make_targets("last", y, None, 8, "mse")
    model.zero_grad()
    full_loss(model(x)[0], targets, "mse").backward()
    full = [p.grad.clone() for p in model.parameters()]
    model.zero_grad()
    tbptt(model, x, targets, 8, 8, loss="mse", update=lambda loss, i: loss.backward())
    for a, p in zip(full, model.parameters(), strict=True):
        torch.testing.assert_close(p.grad, a)
    model.zero_grad()
    calls = []
    total, _ = tbptt(model, x, targets, 3, 3, loss="mse", update=lambda loss, i: calls.append(i))
    assert calls == [2]  # only the chunk holding the last step is scored
    # chunks of 3 steps carrying the state: the loss at the last step is the whole run's
    torch.testing.assert_close(total, full_loss(model(x)[0], targets, "mse").detach())


def test_benchmark(registered_mgu):
    from rnnzoo import bench

    rows = bench.bench_size([bench.baseline_case(), bench.rnnzoo_case(registered_mgu)], bench.Size(2, 4, 3, 5),
                            reps=1, warmup=0, memory=False)
    assert [r.model for r in rows] == ["torch.nn.LSTM", "test_mgu"] and rows[1].time_ratio > 0
