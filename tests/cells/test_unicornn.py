"""UnICORNN against the symplectic-Euler step of arXiv:2103.05487 (eq (3)) typed as a Python-float loop, on the step
loop and the elementwise PointwiseCell fast path; the authors' initialisation; bad options."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import UnICORNNCell
from tests.cells.ode_naive import H, I, check_against_naive, dot, mat, sig, vec


def _naive_step(cell):
    """z_n = z_{n-1} - dt sig(c) (tanh(w y_{n-1} + V u_n + b) + alpha y_{n-1}); y_n = y_{n-1} + dt sig(c) z_n."""
    V = mat(cell.weight_ih)
    b, w, c = vec(cell.bias, H), vec(cell.weight_hh, H), vec(cell.c, H)
    dt, alpha = cell.dt, cell.alpha

    def step(x, state):
        y, z = state
        d = [dt * sig(c[i]) for i in range(H)]
        z_new = [z[i] - d[i] * (math.tanh(w[i] * y[i] + dot(V[i], x) + b[i]) + alpha * y[i]) for i in range(H)]
        return [[y[i] + d[i] * z_new[i] for i in range(H)], z_new]

    return step


@pytest.mark.parametrize("bias", [True, False])
def test_equals_the_paper(bias):
    torch.manual_seed(0)
    cell = UnICORNNCell(I, H, dt=0.3, alpha=2.5, bias=bias).double()
    with torch.no_grad():
        cell.c.normal_()
        if bias:
            cell.bias.normal_()
    check_against_naive(cell, _naive_step(cell))


def test_initialisation_is_the_authors():
    cell = UnICORNNCell(7, 500)
    assert 0 <= cell.weight_hh.min() and cell.weight_hh.max() <= 1
    assert cell.c.abs().max() <= 0.1 and bool((cell.bias == 0).all())
    assert cell.weight_ih.abs().max() <= math.sqrt(6 / (65 * 7))


def test_registry_entry():
    info = rnnzoo.model_info("unicornn")
    assert info.paper.arxiv == "2103.05487" and info.recurrence is rnnzoo.Recurrence.ELEMENTWISE
    assert info.fast_path is rnnzoo.FastPath.RNNZOO and UnICORNNCell(I, H).recurrent_weight() is None


@pytest.mark.parametrize(("kw", "match"), [({"dt": -0.1}, "dt: expected a time step > 0, got -0.1"),
                                           ({"alpha": -1}, "alpha: expected a number >= 0, got -1"),
                                           ({"dt": math.inf}, "dt: expected a finite real number"),
                                           ({"bias": None}, "bias: expected True or False")])
def test_bad_options(kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        UnICORNNCell(I, H, **kw)


def test_hand_written_backward_equals_the_step_loop():
    """The fused Function's values and float64 gradients (inputs, both initial states, every parameter) equal the
    PointwiseCell step loop's, with a mask holding a hole and a short sequence; gradcheck on the Function."""
    from rnnzoo.cells import UnICORNNState
    from rnnzoo.fused.unicornn import unicornn_recurrence
    from tests.cells.ode_naive import B, T, holes

    torch.manual_seed(3)
    cell = UnICORNNCell(I, H, dt=0.4, alpha=1.5).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    s0 = UnICORNNState(*(torch.randn(B, H, dtype=torch.float64, requires_grad=True) for _ in range(2)))
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
    c = cell.c.detach().clone().requires_grad_()
    assert torch.autograd.gradcheck(lambda u_, y_, z_, w_, c_: unicornn_recurrence(u_, y_, z_, w_, c_, 0.4, 1.5,
                                                                                    mask.t()), (u, *s0, w, c))
