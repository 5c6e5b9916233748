"""rnnzoo.fused.typed_rnn (T-RNN, T-GRU, T-LSTM) against the cells' step loop (its reference twin) in float64:
outputs, every final state field and every gradient (weights, input, each initial state field), with a mask with
holes (a row starting late, a row ending early, one with no valid step), without a mask, and at T = 1."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import TGRUCell, TLSTMCell, TRNNCell
from rnnzoo.fused.typed_rnn import typed_recurrence

B, I, H = 4, 3, 5


def _mask(T):
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 0] = False          # a late start (the first valid step reads the initial state's p)
    mask[1, T // 2:] = False    # ends early: the final state is the last valid step's
    mask[2, 1::2] = False       # holes: x_{t-1} is the last VALID input
    mask[3] = False             # nothing valid: the initial state comes back
    return mask


def _run(cell, x, state, mask, fused):
    xs = x.clone().requires_grad_(True)
    st = type(state)(*(s.clone().requires_grad_(True) for s in state))
    res = rnnzoo.run(cell, xs, st, mask=mask, use_fused=fused)
    cell.zero_grad(set_to_none=True)
    w = torch.linspace(-1.0, 1.0, res.output.numel(), dtype=torch.float64).view_as(res.output)
    loss = (res.output * w).sum() + sum(((k + 2.0) * f).sum() for k, f in enumerate(res.state))
    loss.backward()
    grads = {n: p.grad.clone() for n, p in cell.named_parameters()}
    grads["x"] = xs.grad
    for name, s in zip(st._fields, st, strict=True):
        grads["state." + name] = s.grad
    return res, grads


@pytest.mark.parametrize("cls", [TRNNCell, TGRUCell, TLSTMCell])
@pytest.mark.parametrize("T,masked", [(7, True), (7, False), (1, True), (1, False)])
def test_function_equals_the_step_loop(cls, T, masked):
    torch.manual_seed(T)
    cell = cls(I, H).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = type(cell.initial_state(B, dtype=torch.float64))(*(torch.randn(B, H, dtype=torch.float64)
                                                               for _ in cell.state_type._fields))
    mask = _mask(T) if masked else None
    got, g_got = _run(cell, x, state, mask, fused=True)
    want, g_want = _run(cell, x, state, mask, fused=False)
    torch.testing.assert_close(got.output, want.output, rtol=0, atol=1e-13)
    for name, a, b in zip(want.state._fields, got.state, want.state, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13, msg=name)
    assert g_got.keys() == g_want.keys()
    for name in g_want:
        a, b = g_got[name], g_want[name]
        if b is None:  # the step loop never reads it (T-LSTM's initial h without a mask)
            assert a is None or a.abs().max() == 0, name
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12, msg=name)


def test_the_cells_take_the_function():
    for cls in (TRNNCell, TGRUCell, TLSTMCell):
        assert cls(I, H).fused_kind == "rnnzoo"


def test_bad_kind_and_empty_sequence_refused():
    u = torch.zeros(2, B, 2 * H)
    with pytest.raises(ValueError, match="kind"):
        typed_recurrence("tmgu", u, torch.zeros(B, H))
    with pytest.raises(ValueError, match="T must"):
        typed_recurrence("trnn", u[:0], torch.zeros(B, H))
