"""rnnzoo.fused.typed_rnn (T-RNN, T-GRU, T-LSTM) against the cells' step loop (its reference twin) in float64:
outputs, every final state field and every gradient (weights, input, each initial state field), with a mask with
holes (a row starting late, a row ending early, one with no valid step), without a mask, and at T = 1."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import TGRUCell, TLSTMCell, TRNNCell
from rnnzoo.fused.typed_rnn import typed_input_recurrence, typed_recurrence

B, I, H = 4, 3, 5


def _mask(T):
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 0] = False          # a late start (the first valid step reads the initial state's p)
    mask[1, T // 2:] = False    # ends early: the final state is the last valid step's
    mask[2, 1::2] = False       # holes: x_{t-1} is the last VALID input
    mask[3] = False             # nothing valid: the initial state comes back
    return mask


def _run(cell, x, state, mask, fused, batch_first=True):
    xs = x.clone().requires_grad_(True)
    st = type(state)(*(s.clone().requires_grad_(True) for s in state))
    if not batch_first:  # a time-major input: the Function's other memory order
        res = rnnzoo.run(cell, xs.transpose(0, 1).contiguous(), st, mask=mask, use_fused=fused, batch_first=False)
        res = res._replace(output=res.output.transpose(0, 1))
    else:
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
@pytest.mark.parametrize("T,masked,batch_first,bias", [(7, True, True, True), (7, False, True, True),
                                                      (7, False, False, True), (7, False, True, False),
                                                      (1, True, True, True), (1, False, True, True),
                                                      (1, False, False, True)])
def test_function_equals_the_step_loop(cls, T, masked, batch_first, bias):
    torch.manual_seed(T)
    cell = cls(I, H, bias=bias).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = type(cell.initial_state(B, dtype=torch.float64))(*(torch.randn(B, H, dtype=torch.float64)
                                                               for _ in cell.state_type._fields))
    mask = _mask(T) if masked else None
    got, g_got = _run(cell, x, state, mask, True, batch_first)
    want, g_want = _run(cell, x, state, mask, False, batch_first)
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


@pytest.mark.parametrize("kind,cls", [("tgru", TGRUCell), ("tlstm", TLSTMCell)])
@pytest.mark.parametrize("T", [5, 1])
def test_from_x_equals_from_u(kind, cls, T):
    """The unmasked run from x itself (TypedInputFunction) against the Function on ``u = project(x)`` (what a
    wrapper that projects first gets): outputs, final state and every gradient."""
    torch.manual_seed(T)
    cell = cls(I, H).double()
    x = torch.randn(B, T, I, dtype=torch.float64).transpose(0, 1).requires_grad_(True)
    h0, c0, p0 = (torch.randn(B, n * H, dtype=torch.float64, requires_grad=True) for n in (1, 1, 3))
    c = c0 if kind == "tlstm" else None
    inputs = [x, h0, p0, *cell.parameters()] + ([c0] if c is not None else [])
    results = []
    for res in (typed_recurrence(kind, cell.project(x), h0, c, p0),
                typed_input_recurrence(kind, x, cell.weight_ih, cell.weight_prev, cell.bias, h0, c, p0)):
        loss = sum(((k + 1.0) * r * torch.linspace(-1, 1, r.numel(), dtype=r.dtype).view_as(r)).sum()
                   for k, r in enumerate(res))
        grads = torch.autograd.grad(loss, inputs, allow_unused=True)
        results.append((res, grads))
    (r1, g1), (r2, g2) = results
    for a, b in zip(r1, r2, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-13)
    for a, b in zip(g1, g2, strict=True):
        if a is None or b is None:
            assert (a if a is not None else b) is None or (a if a is not None else b).abs().max() == 0
        else:
            torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def test_the_cells_take_the_function():
    for cls in (TRNNCell, TGRUCell, TLSTMCell):
        assert cls(I, H).fused_kind == "rnnzoo"


def test_bad_kind_and_empty_sequence_refused():
    u = torch.zeros(2, B, 2 * H)
    with pytest.raises(ValueError, match="kind"):
        typed_recurrence("tmgu", u, torch.zeros(B, H))
    with pytest.raises(ValueError, match="T must"):
        typed_recurrence("trnn", u[:0], torch.zeros(B, H))
