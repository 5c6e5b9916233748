"""rnnzoo's ODE-family cells against torchrecurrent 0.2.5's layers (the closest peer library), weights mapped,
float64, a random initial state.

Where the two compute the same function the outputs and final states agree to 1e-12. Where torchrecurrent departs
from the paper, the test pins the documented difference (docs/torchrecurrent_ode.md): torchrecurrent equals a
naive implementation of ITS formula, rnnzoo equals the paper's (the naive tests in tests/cells/), and the two differ.
"""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import (
    AntisymmetricRNNCell,
    CoRNNCell,
    FastGRNNCell,
    FastRNNCell,
    GatedAntisymmetricRNNCell,
    LEMCell,
    UnICORNNCell,
)

tr = pytest.importorskip("torchrecurrent", reason="torchrecurrent (the test extra) is not installed")

B, T, I, H = 3, 7, 4, 5
TOL = {"rtol": 0.0, "atol": 1e-12}


def _inputs(n_state: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, I, dtype=torch.float64, generator=g)
    states = [torch.randn(B, H, dtype=torch.float64, generator=g) * 0.5 for _ in range(n_state)]
    return x, states


def _peer(layer_cls, **kw):
    layer = layer_cls(I, H, **kw).double()
    return layer, layer.cells[0]


def _load(cell, **tensors):
    """Copy ``tensors`` into the peer cell's parameters of those names (zeros where None)."""
    with torch.no_grad():
        for name, value in tensors.items():
            p = getattr(cell, name)
            p.copy_(torch.zeros_like(p) if value is None else value.reshape(p.shape))


def _ours(cell, x, states):
    spec = cell.state_spec(B)
    return rnnzoo.run(cell, x, type(spec)(*states))


def _theirs(layer, x, states):
    """torchrecurrent's layer, batch-first in and out; its state (num_layers, B, H) per field."""
    s = states[0].unsqueeze(0) if len(states) == 1 else tuple(t.unsqueeze(0) for t in states)
    out, final = layer(x.transpose(0, 1), s)
    final = [final] if isinstance(final, torch.Tensor) else list(final)
    return out.transpose(0, 1), [f[0] for f in final]


def _agree(ours, theirs):
    torch.testing.assert_close(ours.output, theirs[0], **TOL)
    for a, b in zip(ours.state, theirs[1], strict=True):
        torch.testing.assert_close(a, b, **TOL)


def _differ(ours, theirs):
    assert (ours.output - theirs[0]).abs().max() > 1e-4


# ------------------------------------------------------------------ the same function


@pytest.mark.parametrize("gated", [False, True])
def test_antisymmetric_rnn_agrees(gated):
    """Same update; torchrecurrent's second bias b_hh is zero here (it only duplicates b)."""
    torch.manual_seed(0)
    ours = (GatedAntisymmetricRNNCell if gated else AntisymmetricRNNCell)(I, H, epsilon=0.3, gamma=0.2).double()
    with torch.no_grad():
        ours.bias.normal_()
    layer, peer = _peer(tr.GatedAntisymmetricRNN if gated else tr.AntisymmetricRNN, epsilon=0.3, gamma=0.2)
    _load(peer, weight_ih=ours.weight_ih, weight_hh=ours.weight_hh, bias_ih=ours.bias, bias_hh=None)
    x, s = _inputs(1)
    _agree(_ours(ours, x, s), _theirs(layer, x, s))


def test_unicornn_agrees():
    """Same update: ``weight_ch`` is the time-step logits ``c``; torchrecurrent's optional b_hh is off by default."""
    torch.manual_seed(0)
    ours = UnICORNNCell(I, H, dt=0.3, alpha=2.0).double()
    with torch.no_grad():
        ours.bias.normal_()
    layer, peer = _peer(tr.UnICORNN, dt=0.3, alpha=2.0)
    _load(peer, weight_ih=ours.weight_ih, weight_hh=ours.weight_hh, weight_ch=ours.c, bias_ih=ours.bias)
    x, s = _inputs(2)
    _agree(_ours(ours, x, s), _theirs(layer, x, s))


def test_fastrnn_agrees():
    """Same update; torchrecurrent's ``alpha``/``beta`` parameters are the logits (it applies the sigmoid too)."""
    torch.manual_seed(0)
    ours = FastRNNCell(I, H, alpha_init=-1.0, beta_init=0.5).double()
    with torch.no_grad():
        ours.bias.normal_()
    layer, peer = _peer(tr.FastRNN)
    _load(peer, weight_ih=ours.weight_ih, weight_hh=ours.weight_hh, bias_ih=ours.bias, bias_hh=None,
          alpha=ours.alpha_logit, beta=ours.beta_logit)
    x, s = _inputs(1)
    _agree(_ours(ours, x, s), _theirs(layer, x, s))


def _fastgrnn_pair():
    torch.manual_seed(0)
    ours = FastGRNNCell(I, H, zeta_init=0.5, nu_init=-1.0).double()
    with torch.no_grad():
        ours.bias.normal_()
    return ours, dict(weight_ih=ours.weight_ih, weight_hh=ours.weight_hh, bias_ih=ours.bias, bias_hh=None,
                      zeta=ours.zeta_logit, nu=ours.nu_logit)


def test_fastgrnn_agrees_with_a_sigmoid_gate():
    """With ``nonlinearity="sigmoid"`` (the paper's gate) torchrecurrent computes rnnzoo's FastGRNN."""
    ours, weights = _fastgrnn_pair()
    layer, peer = _peer(tr.FastGRNN, nonlinearity="sigmoid")
    _load(peer, **weights)
    x, s = _inputs(1)
    _agree(_ours(ours, x, s), _theirs(layer, x, s))


# ------------------------------------------------------------------ documented differences


def test_fastgrnn_default_gate_is_tanh():
    """torchrecurrent's FastGRNNCell defaults to ``nonlinearity="tanh"`` and applies it to the GATE z (its layer's
    docstring says sigmoid): z in (-1, 1), so ``zeta (1 - z) + nu`` can exceed 1. It equals the naive tanh-gate
    formula; rnnzoo (the paper's sigmoid gate) differs."""
    ours, weights = _fastgrnn_pair()
    layer, peer = _peer(tr.FastGRNN)
    _load(peer, **weights)
    x, s = _inputs(1)
    theirs = _theirs(layer, x, s)
    h, outs = s[0], []
    zeta, nu = torch.sigmoid(ours.zeta_logit), torch.sigmoid(ours.nu_logit)
    bz, bh = ours.bias.chunk(2)
    for t in range(T):
        a = x[:, t] @ ours.weight_ih.t() + h @ ours.weight_hh.t()
        z = torch.tanh(a + bz)  # torchrecurrent's default gate
        h = (zeta * (1 - z) + nu) * torch.tanh(a + bh) + z * h
        outs.append(h)
    torch.testing.assert_close(theirs[0], torch.stack(outs, 1), **TOL)
    _differ(_ours(ours, x, s), theirs)


def test_cornn_damping_is_explicit_in_torchrecurrent():
    """torchrecurrent (like the authors' released code) damps with the OLD velocity, ``- dt eps z_{t-1}``; eq (3)
    of the paper (and rnnzoo) with the new one, ``- dt eps z_t``. torchrecurrent's docstring writes eq (3)'s
    ``c(t)`` but its code uses ``c(t-1)``. Also, its three biases are one here (their sum)."""
    torch.manual_seed(0)
    dt, gamma, eps = 0.3, 1.5, 2.0
    ours = CoRNNCell(I, H, dt=dt, gamma=gamma, epsilon=eps).double()
    layer, peer = _peer(tr.coRNN, dt=dt, gamma=gamma, epsilon=eps)
    _load(peer, weight_ih=ours.weight_ih, weight_hh=ours.weight_hh[:, :H], weight_ch=ours.weight_hh[:, H:],
          bias_ih=ours.bias, bias_hh=None, bias_ch=None)
    x, s = _inputs(2)
    theirs = _theirs(layer, x, s)
    y, z = s
    outs = []
    for t in range(T):
        act = torch.tanh(ours.project(x[:, t]) + torch.cat([y, z], 1) @ ours.weight_hh.t())
        z = z + dt * act - dt * gamma * y - dt * eps * z  # explicit damping
        y = y + dt * z
        outs.append(y)
    torch.testing.assert_close(theirs[0], torch.stack(outs, 1), **TOL)
    torch.testing.assert_close(theirs[1][1], z, **TOL)
    _differ(_ours(ours, x, s), theirs)


def _lem_pair(dt):
    torch.manual_seed(0)
    ours = LEMCell(I, H, dt=dt).double()
    layer, peer = _peer(tr.LEM, dt=dt)
    # torchrecurrent's chunks: input [y's gate, z's gate, z candidate, y candidate], recurrent [y's gate, z's gate,
    # z candidate]; rnnzoo's (eq (3)'s order): [dt (z's), dtbar (y's), z, y] and [W1, W2, Wz]
    v1, v2, vz, vy = ours.weight_ih.chunk(4)
    b1, b2, bz, by = ours.bias.chunk(4)
    w1, w2, wz = ours.weight_hh.chunk(3)
    _load(peer, weight_ih=torch.cat([v2, v1, vz, vy]), bias_ih=torch.cat([b2, b1, bz, by]),
          weight_hh=torch.cat([w2, w1, wz]), bias_hh=None, weight_ch=ours.weight_zy, bias_ch=None)
    return ours, layer


def test_lem_reads_the_old_slow_state_in_torchrecurrent():
    """Eq (3) (and the authors' code) update y with ``tanh(Wy z_t + ...)``, the slow state just computed;
    torchrecurrent uses ``Wy z_{t-1}``. It equals the naive old-z formula; rnnzoo (eq (3)) differs."""
    ours, layer = _lem_pair(0.8)
    x, s = _inputs(2)
    theirs = _theirs(layer, x, s)
    y, z = s
    outs = []
    for t in range(T):
        v1, v2, vz, vy = ours.project(x[:, t]).chunk(4, 1)
        w1, w2, wz = (y @ ours.weight_hh.t()).chunk(3, 1)
        d, dbar = 0.8 * torch.sigmoid(v1 + w1), 0.8 * torch.sigmoid(v2 + w2)
        z_new = (1 - d) * z + d * torch.tanh(vz + wz)
        y = (1 - dbar) * y + dbar * torch.tanh(z @ ours.weight_zy.t() + vy)  # the OLD z
        z = z_new
        outs.append(y)
    torch.testing.assert_close(theirs[0], torch.stack(outs, 1), **TOL)
    torch.testing.assert_close(theirs[1][1], z, **TOL)
    _differ(_ours(ours, x, s), theirs)


def test_lem_slow_state_agrees():
    """The z update alone is the same in both (the difference is only in y's): after one step the z's agree."""
    ours, layer = _lem_pair(0.8)
    x, s = _inputs(2)
    theirs = _theirs(layer, x[:, :1], s)
    mine = _ours(ours, x[:, :1], s)
    torch.testing.assert_close(mine.state.z, theirs[1][1], **TOL)
