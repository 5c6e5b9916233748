"""The hand-written Functions of the cells whose state is one (B, H) field (STAR, CFN, JANET, MinimalRNN, UGRNN, SGRN,
MiRU1, MGU, MiRU2, ATR, the two antisymmetric RNNs, BR and NBR, FastRNN and FastGRNN, SGU and DSGU) against each
cell's own step looped by hand, float64: outputs, final state and every gradient (projected inputs, initial state,
every parameter the step reads: recurrent weights, biases, FastRNN's scalars), without and with a mask with holes, T
= 1, T = 0, without bias where a cell has the option; and the runner's fast path against its step loop. One table,
one harness. The Functions' equality runs with the per-step products in the size rule's form and forced into the
column form (rnnzoo.fused.products)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import rnnzoo
from rnnzoo.cells import AntisymmetricRNNCell, ATRCell, FastGRNNCell, FastRNNCell, GatedAntisymmetricRNNCell, STARCell
from rnnzoo.cells.bistable import BRCell, NBRCell
from rnnzoo.cells.cfn import CFNCell
from rnnzoo.cells.janet import JANETCell
from rnnzoo.cells.mgu import MGUCell
from rnnzoo.cells.minimal_rnn import MinimalRNNCell
from rnnzoo.cells.miru import MiRU1Cell, MiRU2Cell
from rnnzoo.cells.sgrn import SGRNCell
from rnnzoo.cells.sgu import DSGUCell, SGUCell
from rnnzoo.cells.ugrnn import UGRNNCell
from rnnzoo.fused.antisymmetric import antisymmetric_recurrence
from rnnzoo.fused.atr import atr_recurrence
from rnnzoo.fused.bistable import bistable_recurrence
from rnnzoo.fused.cfn import cfn_recurrence
from rnnzoo.fused.fastrnn import fast_recurrence
from rnnzoo.fused.janet import janet_recurrence
from rnnzoo.fused.mgu import mgu_recurrence
from rnnzoo.fused.minimal_rnn import minimal_rnn_recurrence
from rnnzoo.fused.miru import miru2_recurrence
from rnnzoo.fused.miru1 import miru1_recurrence
from rnnzoo.fused.products import forced_form
from rnnzoo.fused.sgrn import sgrn_recurrence
from rnnzoo.fused.sgu import sgu_recurrence
from rnnzoo.fused.star import star_recurrence
from rnnzoo.fused.ugrnn import ugrnn_recurrence

B, I, H = 3, 5, 4


def _antisymmetric(c, u, h0, m):
    return antisymmetric_recurrence(u, c.recurrent_weight(), h0, m, epsilon=c.epsilon, gated=c.gates == 1)


def _sgu(c, u, h0, m):
    return sgu_recurrence(u, c.weight_hg, c.weight_hz, c.weight_go if c.deep else None, h0, c.hard_slope, m)


def _wide(cell, scale=1.5):
    """Every parameter U(-scale, scale): SGU's hard sigmoid reaches both flat ends (test_sgu_function.py checks)."""
    with torch.no_grad():
        for p in cell.parameters():
            p.uniform_(-scale, scale)
    return cell


def _fast(c, u, h0, m):
    a, b = (torch.sigmoid(getattr(c, f"{name}_logit")) for name in c.scalars)
    gated = isinstance(c, FastGRNNCell)
    return fast_recurrence(u, c.weight_hh, c.bias if gated else None, a, b, h0, m, gated=gated)


#: registry name -> (build the cell, run its Function: (cell, u, h0, mask) -> (out, h_T))
CASES: dict[str, tuple[Callable[[], Any], Callable[..., Any]]] = {
    "star": (lambda: STARCell(I, H), lambda c, u, h0, m: star_recurrence(u, c.weight_hh, h0, m)),
    "cfn": (lambda: CFNCell(I, H), lambda c, u, h0, m: cfn_recurrence(u, c.weight_hh, h0, m)),
    "janet": (lambda: JANETCell(I, H), lambda c, u, h0, m: janet_recurrence(u, c.weight_hh, h0, c.beta, m)),
    "minimal_rnn": (lambda: MinimalRNNCell(I, H), lambda c, u, h0, m: minimal_rnn_recurrence(u, c.weight_hh, h0, m)),
    "ugrnn": (lambda: UGRNNCell(I, H), lambda c, u, h0, m: ugrnn_recurrence(u, c.weight_hh, h0, m)),
    "sgrn": (lambda: SGRNCell(I, H), lambda c, u, h0, m: sgrn_recurrence(u, c.weight_hh, c.bias_f, h0, m)),
    "miru1": (lambda: MiRU1Cell(I, H, update_coefficient=0.3),
              lambda c, u, h0, m: miru1_recurrence(u, c.weight_hh, h0, m, lam=c.update_coefficient)),
    "mgu": (lambda: MGUCell(I, H), lambda c, u, h0, m: mgu_recurrence(u, c.weight_hh, h0, m)),
    "miru2": (lambda: MiRU2Cell(I, H, update_coefficient=0.3, reset_coefficient=0.6),
              lambda c, u, h0, m: miru2_recurrence(u, h0, c.weight_hh, lam=c.update_coefficient,
                                                   beta=c.reset_coefficient, mask=m)),
    "sgrn-no-bias": (lambda: SGRNCell(I, H, bias=False),
                     lambda c, u, h0, m: sgrn_recurrence(u, c.weight_hh, c.bias_f, h0, m)),
    "atr": (lambda: ATRCell(I, H), lambda c, u, h0, m: atr_recurrence(u, c.weight_hh, c.bias, h0, m)),
    "atr-no-bias": (lambda: ATRCell(I, H, bias=False),
                    lambda c, u, h0, m: atr_recurrence(u, c.weight_hh, c.bias, h0, m)),
    "antisymmetric_rnn": (lambda: AntisymmetricRNNCell(I, H), _antisymmetric),
    "gated_antisymmetric_rnn": (lambda: GatedAntisymmetricRNNCell(I, H), _antisymmetric),
    "br": (lambda: BRCell(I, H), lambda c, u, h0, m: bistable_recurrence(u, c.weight_hh, h0, m)),
    "nbr": (lambda: NBRCell(I, H), lambda c, u, h0, m: bistable_recurrence(u, c.weight_hh, h0, m)),
    "fastrnn": (lambda: FastRNNCell(I, H), _fast),
    "fastrnn-no-bias": (lambda: FastRNNCell(I, H, bias=False), _fast),
    "fastgrnn": (lambda: FastGRNNCell(I, H), _fast),
    "fastgrnn-no-bias": (lambda: FastGRNNCell(I, H, bias=False), _fast),
    "sgu": (lambda: SGUCell(I, H), _sgu),
    "dsgu": (lambda: DSGUCell(I, H), _sgu),
    "sgu-wide": (lambda: _wide(SGUCell(I, H, hard_slope=1 / 6)), _sgu),
    "dsgu-wide": (lambda: _wide(DSGUCell(I, H, hard_slope=1 / 6)), _sgu),
}


def _cell(name: str) -> Any:
    torch.manual_seed(0)
    cell = CASES[name][0]().double()
    with torch.no_grad():  # biases off zero and scalars off their defaults' saturated sigmoids: paths exercised
        for p in cell.parameters():
            if p.dim() < 2:
                p.uniform_(-1.0, 1.0)
    return cell


def _step_loop(cell, u, h0, mask):
    """The reference: ``cell.step`` per step; a masked step keeps the state and outputs zero."""
    state, outs = cell.initial_state(B)._replace(**{cell.initial_state(B)._fields[0]: h0}), []
    for t in range(u.shape[0]):
        y, new = cell.step(u[t], state)
        if mask is not None:
            m = mask[t].unsqueeze(1)
            new, y = type(state)(torch.where(m, new[0], state[0])), torch.where(m, y, torch.zeros_like(y))
        state = new
        outs.append(y)
    return (torch.stack(outs) if outs else u.new_zeros((0, *h0.shape))), state[0]


def _grads(fn, cell, u, h0, mask, w_out, w_h):
    u, h0 = u.detach().requires_grad_(), h0.detach().requires_grad_()
    cell.zero_grad(set_to_none=True)
    out, h = fn(cell, u, h0, mask)
    ((out * w_out).sum() + (h * w_h).sum()).backward()
    leaves = [u, h0, *cell.parameters()]  # weight_ih: unused (u is given), zero on both sides
    return [out.detach(), h.detach(), *(t.grad if t.grad is not None else torch.zeros_like(t) for t in leaves)]


def _assert_equal(a, b):
    """float64 equality to 1e-12 (``torch.testing.assert_close`` costs a 4 s import on its first call here)."""
    assert a.shape == b.shape and a.dtype == b.dtype
    assert torch.allclose(a, b, rtol=1e-12, atol=1e-12), (a - b).abs().max()


def _mask(T):
    g = torch.Generator().manual_seed(1)
    mask = torch.rand(T, B, generator=g) > 0.3
    mask[0, 0] = mask[-1, 1] = False  # a hole at the first step of one row and the last of another
    mask[:, 2] = True
    return mask


@pytest.mark.parametrize("form", [None, "column"], ids=["rule", "column"])
@pytest.mark.parametrize("name", list(CASES))
@pytest.mark.parametrize(("T", "masked"), [(7, False), (7, True), (1, False), (1, True), (0, False)])
def test_function_equals_step_loop(name, T, masked, form):
    """``form``: the per-step products' form (rnnzoo.fused.products); at these sizes the rule takes the row form, so
    "column" is the only run of the column form's code here."""
    with forced_form(form):
        _function_equals_step_loop(name, T, masked)


def _function_equals_step_loop(name, T, masked):
    cell = _cell(name)
    u = cell.project(torch.randn(T, B, I, dtype=torch.float64)).detach()
    h0 = torch.randn(B, H, dtype=torch.float64) * 0.5
    mask = _mask(T) if masked else None
    w_out, w_h = torch.randn(T, B, H, dtype=torch.float64), torch.randn(B, H, dtype=torch.float64)
    got = _grads(CASES[name][1], cell, u, h0, mask, w_out, w_h)
    want = _grads(_step_loop, cell, u, h0, mask, w_out, w_h)
    assert len(got) == len(want) >= 5
    for a, b in zip(got, want, strict=True):
        _assert_equal(a, b)


@pytest.mark.parametrize("name", [n for n in CASES if "-" not in n])
def test_runner_fast_path_equals_step_loop(name):
    cell = _cell(name)
    assert cell.fused_kind == rnnzoo.model_info(name).fast_path.value == "rnnzoo"
    x = torch.randn(B, 6, I, dtype=torch.float64)
    results = []
    for fused in (True, False):
        cell.zero_grad(set_to_none=True)
        res = rnnzoo.run(cell, x, lengths=[6, 3, 1], use_fused=fused)
        (res.output.square().sum() + res.state[0].sum()).backward()
        results.append([res.output.detach(), res.state[0].detach(), *(p.grad.clone() for p in cell.parameters())])
    for a, b in zip(*results, strict=True):
        _assert_equal(a, b)
