"""AntisymmetricRNN and its gated form against the paper's updates typed as Python-float loops (arXiv:1902.09689,
sec. 4 and 4.1), on the step loop and the PointwiseCell fast path; the matrix is antisymmetric up to -gamma I; bad
options."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import AntisymmetricRNNCell, GatedAntisymmetricRNNCell
from tests.cells.ode_naive import H, I, check_against_naive, dot, mat, sig, vec


def _naive_step(cell, gated):
    """h <- h + eps * [z *] tanh((W - W^T - gamma I) h + V_h x + b_h), z = sigmoid(same A h + V_z x + b_z)."""
    W = mat(cell.weight_hh)
    A = [[W[i][j] - W[j][i] - (cell.gamma if i == j else 0.0) for j in range(H)] for i in range(H)]
    V = mat(cell.weight_ih)
    b = vec(cell.bias, len(V))
    eps = cell.epsilon

    def step(x, state):
        (h,) = state
        new = []
        for i in range(H):
            ah = dot(A[i], h)
            if gated:
                z = sig(ah + dot(V[i], x) + b[i])
                cand = math.tanh(ah + dot(V[H + i], x) + b[H + i])
            else:
                z, cand = 1.0, math.tanh(ah + dot(V[i], x) + b[i])
            new.append(h[i] + eps * z * cand)
        return [new]

    return step


@pytest.mark.parametrize("gated", [False, True])
@pytest.mark.parametrize("bias", [True, False])
def test_equals_the_paper(gated, bias):
    torch.manual_seed(0)
    cls = GatedAntisymmetricRNNCell if gated else AntisymmetricRNNCell
    cell = cls(I, H, epsilon=0.7, gamma=0.3, bias=bias).double()
    if bias:
        with torch.no_grad():
            cell.bias.normal_()
    check_against_naive(cell, _naive_step(cell, gated))


def test_the_matrix_is_antisymmetric_minus_diffusion():
    cell = AntisymmetricRNNCell(I, H, gamma=0.25).double()
    A = cell.recurrent_weight()
    torch.testing.assert_close(A + A.t(), -0.5 * torch.eye(H, dtype=torch.float64), rtol=0, atol=1e-15)


def test_registry_entries():
    for name, gated in (("antisymmetric_rnn", False), ("gated_antisymmetric_rnn", True)):
        info = rnnzoo.model_info(name)
        assert info.paper.arxiv == "1902.09689" and info.gated == gated
        assert info.fast_path is rnnzoo.FastPath.RNNZOO and info.recurrence is rnnzoo.Recurrence.MATRIX


@pytest.mark.parametrize("cls", [AntisymmetricRNNCell, GatedAntisymmetricRNNCell])
@pytest.mark.parametrize(("kw", "match"), [({"epsilon": 0.0}, "epsilon: expected a step size > 0, got 0.0"),
                                           ({"epsilon": "1"}, "epsilon: expected a finite real number"),
                                           ({"gamma": -0.1}, "gamma: expected a diffusion strength >= 0, got -0.1"),
                                           ({"gamma": math.nan}, "gamma: expected a finite real number"),
                                           ({"bias": 1}, "bias: expected True or False, got 1")])
def test_bad_options(cls, kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        cls(I, H, **kw)
