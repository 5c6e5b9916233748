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
