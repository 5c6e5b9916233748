"""dRNN against a naive implementation typed from the paper (Veeriah et al. 2015; 001 eqs (29)-(31))."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.drnn import DRNNCell

B, T, I, H = 2, 7, 3, 4


def sig(v):
    return 1.0 / (1.0 + torch.exp(-v))


def naive(x, cell, order):
    """Plain loop over t with the internal states kept in a list (s[-1] = s_{t-1}, zeros before t = 0)."""
    W = cell.weight_ih.chunk(4, 0)
    U = cell.weight_hh.chunk(4, 0)
    b = (cell.bias_ih + cell.bias_hh).chunk(4, 0)
    V_i, V_f = cell.weight_dos_if.chunk(2, 0)
    V_o = cell.weight_dos_o
    Vi = V_i.chunk(order + 1, 1)  # W^(r)_id for r = 0..R
    Vf = V_f.chunk(order + 1, 1)
    Vo = V_o.chunk(order + 1, 1)
    zero = torch.zeros(x.shape[0], H, dtype=x.dtype)
    s_hist = [zero, zero, zero]  # s_{-3}, s_{-2}, s_{-1}
    h = zero
    outs = []

    def dos(r, k):
        """d^r s_k / dt^r with k an index into s_hist (negative from the end)."""
        if r == 0:
            return s_hist[k]
        if r == 1:
            return s_hist[k] - s_hist[k - 1]
        return s_hist[k] - 2 * s_hist[k - 1] + s_hist[k - 2]

    for t in range(x.shape[1]):
        xt = x[:, t]
        # eqs (29)-(30): the DoS of s_{t-1}
        i = sig(xt @ W[0].T + h @ U[0].T + b[0] + sum(dos(r, -1) @ Vi[r].T for r in range(order + 1)))
        f = sig(xt @ W[1].T + h @ U[1].T + b[1] + sum(dos(r, -1) @ Vf[r].T for r in range(order + 1)))
        g = torch.tanh(xt @ W[2].T + h @ U[2].T + b[2])
        s = f * s_hist[-1] + i * g
        s_hist.append(s)
        # eq (31): the DoS of s_t, after the update
        o = sig(xt @ W[3].T + h @ U[3].T + b[3] + sum(dos(r, -1) @ Vo[r].T for r in range(order + 1)))
        h = o * torch.tanh(s)
        outs.append(h)
    return torch.stack(outs, 1)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_drnn_equations(order):
    torch.manual_seed(order)
    cell = DRNNCell(I, H, order=order).double()
    with torch.no_grad():  # large DoS weights so a wrong difference or a wrong time index shows
        cell.weight_dos_if.mul_(4.0)
        cell.weight_dos_o.mul_(4.0)
    x = torch.randn(B, T, I, dtype=torch.float64) * 2
    torch.testing.assert_close(rnnzoo.run(cell, x, use_fused=False).output, naive(x, cell, order))


def test_drnn_output_gate_reads_the_dos_at_t():
    """Order 1 with only the r = 1 term of the output gate: o must move with s_t - s_{t-1}, the DoS at t. At the
    first step s_{t-1} = 0 and s_0 != 0, so the DoS at t is s_0 while the DoS at t-1 is 0: the output differs
    from the cell with that term zeroed only if the gate reads t."""
    torch.manual_seed(3)
    cell = DRNNCell(I, H, order=1).double()
    with torch.no_grad():
        cell.weight_dos_if.zero_()
        cell.weight_dos_o[:, :H].zero_()
    ref = DRNNCell(I, H, order=1).double()
    ref.load_state_dict(cell.state_dict())
    with torch.no_grad():
        ref.weight_dos_o.zero_()
    x = torch.randn(B, 1, I, dtype=torch.float64)
    assert not torch.allclose(rnnzoo.run(cell, x).output, rnnzoo.run(ref, x).output)


def test_drnn_input_gates_read_the_dos_at_t_minus_1():
    """With only the input/forget DoS terms, the first step cannot see them (s_{-1} = s_{-2} = 0); the second does."""
    torch.manual_seed(4)
    cell = DRNNCell(I, H, order=2).double()
    with torch.no_grad():
        cell.weight_dos_o.zero_()
    ref = DRNNCell(I, H, order=2).double()
    ref.load_state_dict(cell.state_dict())
    with torch.no_grad():
        ref.weight_dos_if.zero_()
    x = torch.randn(B, 2, I, dtype=torch.float64)
    a, r = rnnzoo.run(cell, x).output, rnnzoo.run(ref, x).output
    torch.testing.assert_close(a[:, 0], r[:, 0])
    assert not torch.allclose(a[:, 1], r[:, 1])


@pytest.mark.parametrize("order", [1, 2])
def test_drnn_chunks_carry_the_past_states(order):
    """Two chunks carrying the state give the whole sequence's outputs (the state holds s_{t-1}, s_{t-2})."""
    torch.manual_seed(5)
    cell = DRNNCell(I, H, order=order).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    whole = rnnzoo.run(cell, x).output
    first = rnnzoo.run(cell, x[:, :3])
    second = rnnzoo.run(cell, x[:, 3:], first.state)
    torch.testing.assert_close(torch.cat([first.output, second.output], 1), whole)
    assert first.state.past.shape == (B, order * H)


@pytest.mark.parametrize("order", [-1, 3, 1.0, True])
def test_drnn_bad_order(order):
    with pytest.raises(ValueError, match="order"):
        DRNNCell(I, H, order=order)


@pytest.mark.parametrize("order", [0, 1, 2])
def test_drnn_fast_path_equals_loop_with_holes(order):
    """Every order (the contract suite runs the default), a mask with holes, float64: outputs, state, gradients."""
    torch.manual_seed(6)
    cell = DRNNCell(I, H, order=order).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    mask = torch.rand(B, T) > 0.3
    mask[:, 0] = True
    results = []
    for use_fused in (True, False):
        out = rnnzoo.run(cell, x, mask=mask, use_fused=use_fused)
        loss = out.output.pow(2).sum() + sum(s.pow(2).sum() for s in out.state)
        results.append((out.output, out.state, torch.autograd.grad(loss, [x, *cell.parameters()])))
    (o1, s1, g1), (o2, s2, g2) = results
    torch.testing.assert_close(o1, o2)
    for a, b in zip([*s1, *g1], [*s2, *g2], strict=True):
        torch.testing.assert_close(a, b)
