"""The generic fast path of :class:`~rnnzoo.core.pointwise.PointwiseCell` (:mod:`rnnzoo.fused.pointwise`).

Four cells typed here (a reset-after GRU: three recurrent blocks, one state field; a coupled-oscillator-like cell: two
state fields both feeding the product, per-unit parameters in the update; a diagonal recurrence without a matrix; an
MGU-like cell with a second product after its gate) run through the Function and through a
plain step loop written here; outputs, final states and float64 gradients of everything agree, with masks holding
holes and ends. Every registered cell that is a PointwiseCell is checked for the unit-locality the backward needs.
"""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from torch import nn

import rnnzoo
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.pointwise import pointwise_recurrence


class H1(NamedTuple):
    h: torch.Tensor


class YZ(NamedTuple):
    y: torch.Tensor
    z: torch.Tensor


class ToyGRU(PointwiseCell):
    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.wi = nn.Parameter(torch.randn(3 * hidden_size, input_size) * 0.5)
        self.wh = nn.Parameter(torch.randn(3 * hidden_size, hidden_size) * 0.5)
        self.b = nn.Parameter(torch.randn(3 * hidden_size) * 0.1)

    def state_spec(self, batch_size, *, input_shape=None):
        return H1(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x):
        return x @ self.wi.t() + self.b

    def recurrent_weight(self):
        return self.wh

    def pointwise(self, u, r, state):
        ur, uz, un = u.chunk(3, -1)
        rr, rz, rn = r.chunk(3, -1)
        reset, z = torch.sigmoid(ur + rr), torch.sigmoid(uz + rz)
        n = torch.tanh(un + reset * rn)
        return H1((1 - z) * n + z * state.h)


class ToyOscillator(PointwiseCell):
    recurrent_fields = ("y", "z")
    output_field = "y"

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.wi = nn.Parameter(torch.randn(hidden_size, input_size) * 0.5)
        self.w = nn.Parameter(torch.randn(hidden_size, 2 * hidden_size) * 0.5)
        self.dt = nn.Parameter(torch.rand(hidden_size))
        self.gamma = nn.Parameter(torch.rand(hidden_size))

    def state_spec(self, batch_size, *, input_shape=None):
        return YZ(TensorSpec((batch_size, self.hidden_size)), TensorSpec((batch_size, self.hidden_size)))

    def project(self, x):
        return x @ self.wi.t()

    def recurrent_weight(self):
        return self.w * 1.0  # a derived tensor: its gradient flows back through the derivation

    def pointwise(self, u, r, state):
        z = state.z + self.dt * (torch.tanh(u + r) - self.gamma * state.y - 0.5 * state.z)
        return YZ(state.y + self.dt * z, z)


class ToyMGU(PointwiseCell):
    """A second product after the gate (MGU: ``tanh(W x + U_h (f * h))``), 2 blocks of candidate input too."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.wi = nn.Parameter(torch.randn(2 * hidden_size, input_size) * 0.5)
        self.wf = nn.Parameter(torch.randn(hidden_size, hidden_size) * 0.5)
        self.wh = nn.Parameter(torch.randn(hidden_size, 2 * hidden_size) * 0.5)
        self.scale = nn.Parameter(torch.rand(hidden_size))

    def state_spec(self, batch_size, *, input_shape=None):
        return H1(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x):
        return x @ self.wi.t()

    def recurrent_weight(self):
        return self.wf

    def second_weight(self):
        return self.wh

    def gated_input(self, u, r1, state):
        f = torch.sigmoid(u[:, :self.hidden_size] + r1)
        return torch.cat([f * state.h, self.scale * f * f], dim=-1)

    def pointwise(self, u, r, state):
        H = self.hidden_size
        f = torch.sigmoid(u[:, :H] + r[:, :H])
        cand = torch.tanh(u[:, H:] + r[:, H:])
        return H1((1 - f) * state.h + f * cand)


class ToyDiagonal(PointwiseCell):
    """No recurrent matrix (``recurrent_weight()`` None): a per-unit recurrent weight, IndRNN-like."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.wi = nn.Parameter(torch.randn(hidden_size, input_size) * 0.5)
        self.w = nn.Parameter(torch.randn(hidden_size))

    def state_spec(self, batch_size, *, input_shape=None):
        return H1(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x):
        return x @ self.wi.t()

    def recurrent_weight(self):
        return None

    def pointwise(self, u, r, state):
        assert r is None
        return H1(torch.tanh(u + self.w * state.h))


def _loop(cell, u, state, mask):
    """The reference: the cell's step, masked as the runner does (state kept, output zero)."""
    outs = []
    for t in range(u.shape[0]):
        y, new = cell.step(u[t], state)
        m = mask[t].unsqueeze(1)
        state = type(state)(*(torch.where(m, a, b) for a, b in zip(new, state, strict=True)))
        outs.append(cell.output(state) * m)
    return torch.stack(outs), state


@pytest.mark.parametrize("make", [ToyGRU, ToyOscillator, ToyDiagonal, ToyMGU])
def test_function_equals_the_step_loop_in_values_and_gradients(make):
    torch.manual_seed(0)
    cell = make(3, 4).double()
    T, B = 6, 5
    x = torch.randn(T, B, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(T, B, dtype=torch.bool)
    mask[4:, 1] = False
    mask[2, 3] = False
    spec = cell.state_spec(B)
    s0 = type(spec)(*(torch.randn(B, 4, dtype=torch.float64, requires_grad=True) for _ in spec))
    ref = _loop(cell, cell.project(x), s0, mask)
    fused = pointwise_recurrence(cell, cell.project(x), s0, mask)
    ref_leaves, fused_leaves = [ref[0], *ref[1]], [fused[0], *fused[1]]
    for a, b in zip(ref_leaves, fused_leaves, strict=True):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-14)
    weights = [torch.randn_like(t) for t in ref_leaves]
    inputs = [x, *s0, *cell.parameters()]
    ga = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, ref_leaves, strict=True)), inputs)
    gb = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, fused_leaves, strict=True)), inputs)
    for a, b in zip(ga, gb, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    assert torch.autograd.gradcheck(lambda x_, *s: pointwise_recurrence(cell, cell.project(x_), type(spec)(*s),
                                                                         mask)[0], (x, *s0))


def test_no_steps():
    cell = ToyGRU(2, 3).double()
    x = torch.randn(0, 2, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    out, final = pointwise_recurrence(cell, cell.project(x), H1(h0), None)
    assert out.shape == (0, 2, 3)
    (g,) = torch.autograd.grad(final.h.sum(), [h0])
    torch.testing.assert_close(g, torch.ones_like(h0))


def test_an_unused_output_and_no_mask():
    torch.manual_seed(1)
    cell = ToyGRU(2, 3).double()
    x = torch.randn(4, 2, 2, dtype=torch.float64, requires_grad=True)
    s0 = H1(torch.zeros(2, 3, dtype=torch.float64))
    _, final = pointwise_recurrence(cell, cell.project(x), s0, None)
    (g_fused,) = torch.autograd.grad(final.h.sum(), [x])
    _, ref_final = _loop(cell, cell.project(x), s0, torch.ones(4, 2, dtype=torch.bool))
    (g_ref,) = torch.autograd.grad(ref_final.h.sum(), [x])
    torch.testing.assert_close(g_fused, g_ref, rtol=1e-10, atol=1e-12)


def unit_local_violations(cell: PointwiseCell, *, units: int, generator: torch.Generator) -> list[str]:
    """Where ``cell.pointwise`` reads another unit (what the fast path's diagonal tables cannot represent): the full
    Jacobian of each new state field with respect to ``u_t``, ``r_t`` and each old field, at a random point."""
    H = units
    spec = cell.state_spec(2)
    state = type(spec)(*(torch.randn(2, H, dtype=torch.float64, generator=generator) for _ in spec))
    x = torch.randn(2, cell.input_size, dtype=torch.float64, generator=generator)
    u = cell.project(x).detach()
    r = cell.recurrent(state)
    r = r.detach() if r is not None else None
    problems = []
    for i, name in enumerate(spec._fields):
        def field(u_, r_, *s, i=i):
            return cell.pointwise(u_, r_, type(spec)(*s))[i]

        args = (u, r, *state) if r is not None else (u, *state)
        if r is None:
            jac = torch.autograd.functional.jacobian(lambda u_, *s: field(u_, None, *s), args)
        else:
            jac = torch.autograd.functional.jacobian(field, args)
        names = ["u", "r", *spec._fields] if r is not None else ["u", *spec._fields]
        for arg_name, arg, j in zip(names, args, jac, strict=True):
            # j: (2, H, 2, K); K = blocks * H. Unit n of the output may read unit n of each block of row b only.
            K = arg.shape[-1]
            if K % H:
                problems.append(f"{name} <- {arg_name}: width {K} is not a multiple of hidden_size {H}")
                continue
            allowed = torch.zeros(2, H, 2, K, dtype=torch.bool)
            for b in range(2):
                for n in range(H):
                    allowed[b, n, b, n::H] = True
            if (j.abs() * (~allowed)).max() > 0:
                problems.append(f"{name} <- {arg_name}")
    return problems


POINTWISE = [name for name in rnnzoo.list_models()
             if rnnzoo.model_info(name).kind.value == "cell"
             and isinstance(rnnzoo.model_info(name).build(3, 4), PointwiseCell)]


@pytest.mark.parametrize("name", POINTWISE)
def test_registered_pointwise_cells_are_unit_local(name):
    cell = rnnzoo.model_info(name).build(3, 4).double()
    assert unit_local_violations(cell, units=4, generator=torch.Generator().manual_seed(0)) == []


def test_the_locality_check_catches_a_cell_that_mixes_units():
    class Mixing(ToyGRU):
        def pointwise(self, u, r, state):
            h = super().pointwise(u, r, state).h
            return H1(h + h.roll(1, dims=-1))

    cell = Mixing(3, 4).double()
    assert unit_local_violations(cell, units=4, generator=torch.Generator().manual_seed(0)) == ["h <- u", "h <- r",
                                                                                                   "h <- h"]


@pytest.mark.parametrize("name", POINTWISE)
def test_registered_pointwise_cells_through_the_generic_function_equal_their_step(name):
    """``use_function=True`` (the opt-in path; with a cell's closed-form ``pointwise_derivatives``/``_vjp`` where it
    has them) against the cell's own step, masked, in float64 values and gradients."""
    torch.manual_seed(0)
    cell = rnnzoo.model_info(name).build(3, 4).double()
    T, B = 5, 3
    x = torch.randn(T, B, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.ones(T, B, dtype=torch.bool)
    mask[3:, 1] = False
    mask[1, 2] = False
    spec = cell.state_spec(B)
    s0 = type(spec)(*(0.5 * torch.randn(B, 4, dtype=torch.float64) for _ in spec))
    ref = _loop(cell, cell.project(x), s0, mask)
    fused = pointwise_recurrence(cell, cell.project(x), s0, mask)
    ref_leaves, fused_leaves = [ref[0], *ref[1]], [fused[0], *fused[1]]
    for a, b in zip(ref_leaves, fused_leaves, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    weights = [torch.randn_like(t) for t in ref_leaves]
    inputs = [x, *(p for p in cell.parameters() if p.requires_grad)]
    ga = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, ref_leaves, strict=True)), inputs,
                             allow_unused=True)
    gb = torch.autograd.grad(sum((w * t).sum() for w, t in zip(weights, fused_leaves, strict=True)), inputs,
                             allow_unused=True)
    for a, b in zip(ga, gb, strict=True):
        assert (a is None) == (b is None)
        if a is not None:
            torch.testing.assert_close(b, a, rtol=1e-9, atol=1e-11)
