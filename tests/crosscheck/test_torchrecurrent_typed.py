"""The "typed" group of issue 15 against torchrecurrent 0.2.5 (float64, weights copied, outputs and final states).

Weight mapping (torchrecurrent -> rnnzoo), written out here once:

* ``TRNN``: ``weight_ih`` (blocks z, f) -> ``weight_ih``; ``bias_ih`` -> ``bias`` (it has no ``bias_hh``).
* ``TGRU`` / ``TLSTM``: ``weight_ih`` (z, f, o) -> ``weight_ih``; ``weight_hh`` (it multiplies ``x_{t-1}``) ->
  ``weight_prev``; ``bias_ih + bias_hh`` -> ``bias``. Its state carries ``x_{t-1}`` itself; rnnzoo's carries
  ``weight_prev @ x_{t-1}`` (both zero at the start).
* ``MiRU1`` / ``MiRU2``: ``weight_ih``, ``weight_hh`` -> the same names; ``bias_ih + bias_hh`` -> ``bias`` (both biases
  sit outside every product, so their sum is the one bias); ``update_coefficient`` / ``reset_coefficient`` copied.
* ``WMCLSTM``: ``weight_ih``, ``weight_hh`` (blocks i, f, g, o) -> the same; ``bias_ih + bias_hh`` -> ``bias``;
  ``weight_mh`` (blocks i, f, o) -> ``weight_ch``. Its ``bias_mh`` sits INSIDE the working-memory tanh,
  ``tanh(V c + b_mh)``, which the paper (Landi et al. 2021) does not have: equal with ``bias_mh = 0``, and with
  ``bias_mh != 0`` torchrecurrent equals a naive loop of its own formula while rnnzoo keeps the paper's.
* ``MCLSTM``: NOT the mass-conserving LSTM. torchrecurrent's MCLSTM is a "memory-controller" LSTM (it cites an
  Intel NIPS 2017 workshop PDF): a control vector ``v = m * tanh(c)`` drives the gates. No mapping exists; the test
  checks torchrecurrent against a naive loop of its own docstring's formula, and that it does not conserve mass
  where rnnzoo's ``mc_lstm`` does (the documented difference: same name, another cell).
"""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import MCLSTMState, MiRUState, WMCLSTMState

tr = pytest.importorskip("torchrecurrent", reason="torchrecurrent (test extra, pinned in constraints) is not installed")

T, B, I, H = 7, 3, 4, 5
ATOL = 1e-12


def _x(seed=0):
    return torch.randn(T, B, I, dtype=torch.float64, generator=torch.Generator().manual_seed(seed))


def _peer(name, **kw):
    torch.manual_seed(1)
    layer = getattr(tr, name)(I, H, **kw).double()
    with torch.no_grad():  # torchrecurrent zeroes its biases: draw them, so every term enters
        for n, p in layer.named_parameters():
            if "bias" in n:
                p.normal_()
    return layer, layer.cells[0]


def _ours(name, **kw):
    return rnnzoo.model_info(name).build(I, H, **kw).double()


@pytest.mark.parametrize("name", ["trnn", "tgru", "tlstm"])
def test_typed_cells_equal_torchrecurrent(name):
    layer, p = _peer(name.upper())
    cell = _ours(name)
    with torch.no_grad():
        cell.weight_ih.copy_(p.weight_ih)
        if name == "trnn":
            cell.bias.copy_(p.bias_ih)
        else:
            cell.weight_prev.copy_(p.weight_hh)
            cell.bias.copy_(p.bias_ih + p.bias_hh)
    x = _x()
    out, state = layer(x)
    res = rnnzoo.run(cell, x, batch_first=False)
    torch.testing.assert_close(res.output, out, rtol=0, atol=ATOL)
    if name == "trnn":
        torch.testing.assert_close(res.state.h, state[0], rtol=0, atol=ATOL)
    else:
        final, x_prev = state
        torch.testing.assert_close(res.state.c if name == "tlstm" else res.state.h, final[0], rtol=0, atol=ATOL)
        # rnnzoo's state holds V x_{t-1}; torchrecurrent's the raw x_{t-1}
        V = cell.weight_prev.view(3, H, I)
        for k, field in enumerate(("pz", "pf", "po")):
            torch.testing.assert_close(getattr(res.state, field), x_prev[0] @ V[k].t(), rtol=0, atol=ATOL)


@pytest.mark.parametrize("name, kw", [("miru1", {"update_coefficient": 0.3}),
                                      ("miru2", {"update_coefficient": 0.7, "reset_coefficient": 0.4})])
def test_miru_equals_torchrecurrent(name, kw):
    layer, p = _peer(name.replace("miru", "MiRU"), **kw)
    cell = _ours(name, **kw)
    with torch.no_grad():
        cell.weight_ih.copy_(p.weight_ih)
        cell.weight_hh.copy_(p.weight_hh)
        cell.bias.copy_(p.bias_ih + p.bias_hh)
    x = _x(2)
    h0 = torch.randn(B, H, dtype=torch.float64, generator=torch.Generator().manual_seed(3))
    out, h_n = layer(x, h0.unsqueeze(0))
    res = rnnzoo.run(cell, x, MiRUState(h0), batch_first=False)
    torch.testing.assert_close(res.output, out, rtol=0, atol=ATOL)
    torch.testing.assert_close(res.state.h, h_n[0], rtol=0, atol=ATOL)


def _wmc_pair():
    layer, p = _peer("WMCLSTM")
    cell = _ours("wmc_lstm")
    with torch.no_grad():
        cell.weight_ih.copy_(p.weight_ih)
        cell.weight_hh.copy_(p.weight_hh)
        cell.weight_ch.copy_(p.weight_mh)
        cell.bias.copy_(p.bias_ih + p.bias_hh)
    return layer, p, cell


def _states(seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(B, H, dtype=torch.float64, generator=g), torch.randn(B, H, dtype=torch.float64, generator=g)


def test_wmc_lstm_equals_torchrecurrent_without_its_extra_bias():
    layer, p, cell = _wmc_pair()
    with torch.no_grad():
        p.bias_mh.zero_()
    x, (h0, c0) = _x(4), _states(5)
    out, (h_n, c_n) = layer(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
    res = rnnzoo.run(cell, x, WMCLSTMState(h0, c0), batch_first=False)
    torch.testing.assert_close(res.output, out, rtol=0, atol=ATOL)
    torch.testing.assert_close(res.state.h, h_n[0], rtol=0, atol=ATOL)
    torch.testing.assert_close(res.state.c, c_n[0], rtol=0, atol=ATOL)


def _wmc_torchrecurrent_formula(p, x, h, c):
    """torchrecurrent's WMCLSTM as its code computes it: the paper's step with ``tanh(V c + b_mh)``."""
    sig = torch.sigmoid
    Wi, Wf, Wg, Wo = p.weight_ih.detach().view(4, H, I)
    Ui, Uf, Ug, Uo = p.weight_hh.detach().view(4, H, H)
    b = (p.bias_ih + p.bias_hh).detach().view(4, H)
    Vi, Vf, Vo = p.weight_mh.detach().view(3, H, H)
    bmi, bmf, bmo = p.bias_mh.detach().view(3, H)
    outs = []
    for t in range(x.shape[0]):
        xt = x[t]
        i = sig(xt @ Wi.t() + h @ Ui.t() + b[0] + torch.tanh(c @ Vi.t() + bmi))
        f = sig(xt @ Wf.t() + h @ Uf.t() + b[1] + torch.tanh(c @ Vf.t() + bmf))
        c = f * c + i * torch.tanh(xt @ Wg.t() + h @ Ug.t() + b[2])
        o = sig(xt @ Wo.t() + h @ Uo.t() + b[3] + torch.tanh(c @ Vo.t() + bmo))
        h = o * torch.tanh(c)
        outs.append(h)
    return torch.stack(outs)


def test_wmc_lstm_differs_from_torchrecurrent_by_the_bias_inside_tanh():
    """With ``bias_mh != 0`` torchrecurrent computes ``tanh(V c + b_mh)`` (its formula, reproduced), rnnzoo the
    paper's ``tanh(V c)``; the difference is the bias, not anything else (folding it into a cell with V = 0 is not
    possible, so the outputs differ)."""
    layer, p, cell = _wmc_pair()
    x, (h0, c0) = _x(6), _states(7)
    out, _ = layer(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
    torch.testing.assert_close(out, _wmc_torchrecurrent_formula(p, x, h0, c0), rtol=0, atol=ATOL)
    ours = rnnzoo.run(cell, x, WMCLSTMState(h0, c0), batch_first=False).output
    assert (ours - out).abs().max() > 1e-3


def test_torchrecurrent_mclstm_is_a_memory_controller_lstm_not_the_mass_conserving_one():
    layer, p = _peer("MCLSTM")
    x = _x(8).abs()
    v0, c0 = (t.abs() for t in _states(9))
    out, (v_n, c_n) = layer(x, (v0.unsqueeze(0), c0.unsqueeze(0)))
    # its docstring's formula: five gates from x and the control vector v, v = m * tanh(c), h = o * tanh(c)
    W, U = p.weight_ih.detach(), p.weight_hh.detach()
    b = (p.bias_ih + p.bias_hh).detach()
    v, c, outs = v0, c0, []
    for t in range(T):
        g = x[t] @ W.t() + v @ U.t() + b
        f, i, o, m, n = g.chunk(5, -1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(n)
        outs.append(torch.sigmoid(o) * torch.tanh(c))
        v = torch.sigmoid(m) * torch.tanh(c)
    torch.testing.assert_close(out, torch.stack(outs), rtol=0, atol=ATOL)
    torch.testing.assert_close(v_n[0], v, rtol=0, atol=ATOL)
    torch.testing.assert_close(c_n[0], c, rtol=0, atol=ATOL)
    # no conservation: the mass taken in (the first feature) is not what its cells and outputs hold
    theirs = c_n[0].sum(-1) + out.sum((0, 2)) - c0.sum(-1) - x[..., 0].sum(0)
    assert theirs.abs().max() > 1e-3
    # rnnzoo's mc_lstm on the same input (first feature mass, the rest auxiliary): balanced to rounding
    ours = rnnzoo.model_info("mc_lstm").build(I, H).double()
    res = rnnzoo.run(ours, x, MCLSTMState(torch.zeros(B, H, dtype=torch.float64), c0), batch_first=False)
    balance = res.state.c.sum(-1) + res.output.sum((0, 2)) - c0.sum(-1) - x[..., 0].sum(0)
    assert balance.abs().max() < 1e-12
    assert "torchrecurrent.MCLSTM" not in rnnzoo.model_info("mc_lstm").peers
