"""FastRNN and FastGRNN against the paper's updates (arXiv:1901.02358, sec. 3.1 and 3.2) typed as Python-float loops,
on the step loop and the PointwiseCell fast path; the authors' initial scalars; bad options."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import FastGRNNCell, FastRNNCell
from tests.cells.ode_naive import H, I, check_against_naive, dot, mat, sig, vec


def _naive_fastrnn(cell):
    W, U = mat(cell.weight_ih), mat(cell.weight_hh)
    b = vec(cell.bias, H)
    alpha, beta = sig(cell.alpha_logit.item()), sig(cell.beta_logit.item())

    def step(x, state):
        (h,) = state
        return [[alpha * math.tanh(dot(W[i], x) + dot(U[i], h) + b[i]) + beta * h[i] for i in range(H)]]

    return step


def _naive_fastgrnn(cell):
    W, U = mat(cell.weight_ih), mat(cell.weight_hh)
    b = vec(cell.bias, 2 * H)
    zeta, nu = sig(cell.zeta_logit.item()), sig(cell.nu_logit.item())

    def step(x, state):
        (h,) = state
        new = []
        for i in range(H):
            a = dot(W[i], x) + dot(U[i], h)  # shared by the gate and the candidate
            z, cand = sig(a + b[i]), math.tanh(a + b[H + i])
            new.append((zeta * (1 - z) + nu) * cand + z * h[i])
        return [new]

    return step


@pytest.mark.parametrize(("cls", "naive"), [(FastRNNCell, _naive_fastrnn), (FastGRNNCell, _naive_fastgrnn)])
@pytest.mark.parametrize("bias", [True, False])
def test_equals_the_paper(cls, naive, bias):
    torch.manual_seed(0)
    cell = cls(I, H, bias=bias).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(torch.randn_like(p))
    check_against_naive(cell, naive(cell))


def test_initial_scalars_are_the_authors():
    f, g = FastRNNCell(I, H), FastGRNNCell(I, H)
    assert torch.sigmoid(f.alpha_logit).item() == pytest.approx(0.0474, abs=1e-4)
    assert torch.sigmoid(f.beta_logit).item() == pytest.approx(0.9526, abs=1e-4)
    assert torch.sigmoid(g.zeta_logit).item() == pytest.approx(0.7311, abs=1e-4)
    assert torch.sigmoid(g.nu_logit).item() == pytest.approx(0.0180, abs=1e-4)


def test_registry_entries():
    for name, gated in (("fastrnn", False), ("fastgrnn", True)):
        info = rnnzoo.model_info(name)
        assert info.paper.arxiv == "1901.02358" and info.gated == gated
        assert info.fast_path is rnnzoo.FastPath.RNNZOO and info.recurrence is rnnzoo.Recurrence.MATRIX


@pytest.mark.parametrize(("cls", "kw", "match"), [
    (FastRNNCell, {"alpha_init": "a"}, "alpha_init: expected a finite real number"),
    (FastRNNCell, {"beta_init": math.nan}, "beta_init: expected a finite real number"),
    (FastGRNNCell, {"zeta_init": None}, "zeta_init: expected a finite real number"),
    (FastGRNNCell, {"nu_init": math.inf}, "nu_init: expected a finite real number"),
    (FastGRNNCell, {"bias": 1.0}, "bias: expected True or False")])
def test_bad_options(cls, kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        cls(I, H, **kw)
