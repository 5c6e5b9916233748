"""LEM against eq (3) of arXiv:2110.04744 typed as a Python-float loop (y's update reads the NEW z), on the step loop
and the autograd fast path; bad options."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import LEMCell
from tests.cells.ode_naive import H, I, check_against_naive, dot, mat, sig, vec


def _naive_step(cell):
    V = mat(cell.weight_ih)  # V1, V2, Vz, Vy
    W = mat(cell.weight_hh)  # W1, W2, Wz
    Wy = mat(cell.weight_zy)
    b = vec(cell.bias, 4 * H)
    dt = cell.dt

    def step(x, state):
        y, z = state
        pre = [dot(W[r], y) + dot(V[r], x) + b[r] for r in range(3 * H)]
        d = [dt * sig(pre[i]) for i in range(H)]
        dbar = [dt * sig(pre[H + i]) for i in range(H)]
        z_new = [(1 - d[i]) * z[i] + d[i] * math.tanh(pre[2 * H + i]) for i in range(H)]
        y_new = [(1 - dbar[i]) * y[i] + dbar[i] * math.tanh(dot(Wy[i], z_new) + dot(V[3 * H + i], x) + b[3 * H + i])
                 for i in range(H)]
        return [y_new, z_new]

    return step


@pytest.mark.parametrize(("dt", "bias"), [(1.0, True), (0.3, False)])
def test_equals_eq_3(dt, bias):
    torch.manual_seed(0)
    cell = LEMCell(I, H, dt=dt, bias=bias).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(4)
    check_against_naive(cell, _naive_step(cell))


def test_registry_entry():
    info = rnnzoo.model_info("lem")
    assert info.paper.arxiv == "2110.04744" and info.gated and "torchrecurrent.LEM" in info.peers
    assert info.fast_path is rnnzoo.FastPath.RNNZOO and LEMCell(2, 3).fused_kind == "rnnzoo"


@pytest.mark.parametrize(("kw", "match"), [({"dt": 0.0}, r"dt: expected a time step in \(0, 1\], got 0.0"),
                                           ({"dt": 1.5}, r"dt: expected a time step in \(0, 1\], got 1.5"),
                                           ({"dt": "1"}, "dt: expected a finite real number"),
                                           ({"bias": 0}, "bias: expected True or False")])
def test_bad_options(kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        LEMCell(I, H, **kw)
