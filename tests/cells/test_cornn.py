"""coRNN against eq (3) of arXiv:2010.00951 typed as a Python-float loop (the damping implicit in the new
velocity), on the step loop and the PointwiseCell fast path; the authors' explicit-damping variant is a different
map; bad options."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import CoRNNCell, CoRNNState
from tests.cells.ode_naive import H, I, check_against_naive, dot, mat, vec


def _naive_step(cell):
    """Eq (3): z_n = z_{n-1} + dt tanh(W y_{n-1} + Wz z_{n-1} + V u_n + b) - dt gamma y_{n-1} - dt eps z_n, solved
    for z_n unit by unit; y_n = y_{n-1} + dt z_n."""
    Wyz = mat(cell.weight_hh)
    V = mat(cell.weight_ih)
    b = vec(cell.bias, H)
    dt, gamma, eps = cell.dt, cell.gamma, cell.epsilon

    def step(x, state):
        y, z = state
        yz = y + z
        z_new = [(z[i] + dt * math.tanh(dot(Wyz[i], yz) + dot(V[i], x) + b[i]) - dt * gamma * y[i]) / (1 + dt * eps)
                 for i in range(H)]
        return [[y[i] + dt * z_new[i] for i in range(H)], z_new]

    return step


@pytest.mark.parametrize("bias", [True, False])
def test_equals_eq_3(bias):
    torch.manual_seed(0)
    cell = CoRNNCell(I, H, dt=0.4, gamma=1.3, epsilon=2.1, bias=bias).double()
    with torch.no_grad():
        cell.weight_hh.mul_(3)
    check_against_naive(cell, _naive_step(cell))


def test_implicit_damping_is_not_the_explicit_one():
    """One step from z_0 != 0: the implicit damping (eq (3)) and the explicit one (the authors' code) differ by
    dt * eps * (z_1 - z_0) in the velocity; the cell computes the implicit one."""
    torch.manual_seed(1)
    cell = CoRNNCell(I, H, dt=0.5, gamma=1.0, epsilon=3.0).double()
    x = torch.randn(2, I, dtype=torch.float64)
    s0 = CoRNNState(torch.randn(2, H, dtype=torch.float64), torch.randn(2, H, dtype=torch.float64))
    _, new = cell(x, s0)
    s = torch.tanh(cell.project(x) + torch.cat(s0, 1) @ cell.weight_hh.t())
    explicit = s0.z + 0.5 * (s - s0.y - 3.0 * s0.z)
    torch.testing.assert_close(new.z - explicit, -0.5 * 3.0 * (new.z - s0.z), rtol=0, atol=1e-14)
    assert (new.z - explicit).abs().min() > 1e-3


def test_registry_entry():
    info = rnnzoo.model_info("cornn")
    assert info.paper.arxiv == "2010.00951" and not info.gated and "torchrecurrent.coRNN" in info.peers
    assert info.fast_path is rnnzoo.FastPath.RNNZOO and info.recurrence is rnnzoo.Recurrence.MATRIX


@pytest.mark.parametrize(("kw", "match"), [({"dt": 0}, "dt: expected a number > 0, got 0"),
                                           ({"gamma": -1.0}, "gamma: expected a number > 0, got -1.0"),
                                           ({"epsilon": None}, "epsilon: expected a finite real number"),
                                           ({"bias": "yes"}, "bias: expected True or False")])
def test_bad_options(kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        CoRNNCell(I, H, **kw)


def test_hand_written_backward_equals_the_step_loop():
    """The fused Function's values and float64 gradients (inputs, both initial states, every parameter) equal the
    PointwiseCell step loop's, with a mask holding a hole and a short sequence; gradcheck on the Function."""
    from rnnzoo.fused.cornn import cornn_recurrence
    from tests.cells.ode_naive import B, T, holes

    torch.manual_seed(3)
    cell = CoRNNCell(I, H, dt=0.4, gamma=1.3, epsilon=2.1).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    s0 = CoRNNState(*(torch.randn(B, H, dtype=torch.float64, requires_grad=True) for _ in range(2)))
    mask = holes()
    leaves = []
    for fused in (True, False):
        res = rnnzoo.run(cell, x, s0, mask=mask, use_fused=fused)
        loss = (res.output * torch.linspace(-1, 2, H, dtype=torch.float64)).sum() + (res.state.y ** 2).sum() \
            + res.state.z.sum() * 0.5
        leaves.append((res.output, *res.state, *torch.autograd.grad(loss, [x, *s0, *cell.parameters()])))
    for a, b in zip(*leaves, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    u = cell.project(x.detach()).transpose(0, 1).requires_grad_()
    w = cell.weight_hh.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda u_, y_, z_, w_: cornn_recurrence(u_, y_, z_, w_, 0.4, 1.3, 2.1, mask.t()),
                                    (u, *s0, w))
