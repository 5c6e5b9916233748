"""minGRU and minLSTM against naive implementations typed from the paper (float64, loops), and the log-space
scan, the sequential Function and the step loop held equal for any initial state (negative too) and masks."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
import rnnzoo.cells.minrnn as minrnn
from rnnzoo.cells import MinGRUCell, MinLSTMCell, MinRNNState
from rnnzoo.fused.log_scan import linear_recurrence, log_space_scan
from rnnzoo.fused.minrnn import minrnn_recurrence

B, T, I, H = 3, 7, 4, 5
MODES = ["scan", "sequential"]


def _sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def _g(v):
    return v + 0.5 if v >= 0 else _sig(v)


def _naive(cell, x, h0, mask=None):
    """Sec. 3.1 / 3.2 unit by unit: minGRU h = (1 - z) h + z g(k_h); minLSTM h = f/(f+i) h + i/(f+i) g(k_h),
    every pre-activation a dot product of a weight row with x_t plus its bias. Masked steps keep h, output 0."""
    W = torch.cat([cell.weight_gates, cell.weight_h]).detach()
    b = cell.bias.detach()
    n = W.shape[0] // H
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=torch.float64)
    hT = h0.clone()
    for bi in range(x.shape[0]):
        h = [float(v) for v in h0[bi]]
        for t in range(x.shape[1]):
            if mask is not None and not mask[bi, t]:
                continue
            k = [sum(float(W[r, i]) * float(x[bi, t, i]) for i in range(I)) + float(b[r]) for r in range(n * H)]
            for u in range(H):
                if n == 2:  # minGRU: z, h~
                    z, hc = _sig(k[u]), _g(k[H + u])
                    h[u] = (1 - z) * h[u] + z * hc
                else:  # minLSTM: f, i, h~
                    f, i, hc = _sig(k[u]), _sig(k[H + u]), _g(k[2 * H + u])
                    h[u] = f / (f + i) * h[u] + i / (f + i) * hc
            out[bi, t] = torch.tensor(h, dtype=torch.float64)
        hT[bi] = torch.tensor(h, dtype=torch.float64)
    return out, hT


def _mask():
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[0, 5] = mask[1, 4:] = mask[2, 0] = False  # holes, a short sequence, a late start
    return mask


@pytest.mark.parametrize("cls", [MinGRUCell, MinLSTMCell])
@pytest.mark.parametrize("path", ["step", *MODES])
def test_minrnn_equals_naive_for_negative_h0_and_holes(cls, path):
    torch.manual_seed(3)
    cell = cls(I, H, mode="sequential" if path == "step" else path).double()
    x = torch.randn(B, T, I, dtype=torch.float64) * 2
    h0 = torch.randn(B, H, dtype=torch.float64) * 3
    h0[0] = -h0[0].abs()  # negative initial states: what a log-space scan with log h0 inside gets wrong
    mask = _mask()
    want, want_h = _naive(cell, x, h0, mask)
    res = rnnzoo.run(cell, x, MinRNNState(h0), mask=mask, use_fused=path != "step")
    torch.testing.assert_close(res.output, want)
    torch.testing.assert_close(res.state.h, want_h)


@pytest.mark.parametrize("cls", [MinGRUCell, MinLSTMCell])
def test_scan_sequential_and_step_agree_on_long_sequences(cls):
    """T = 600 with gates near 0 and 1 (pre-activations up to +-12): the log-space scan stays finite and
    equal to the step loop (float32, the dtype training uses)."""
    torch.manual_seed(4)
    cell = cls(8, 16)
    x = torch.randn(2, 600, 8) * 6
    h0 = torch.randn(2, 16) * 4 - 2
    mask = torch.rand(2, 600) > 0.2
    ref = rnnzoo.run(cell, x, MinRNNState(h0), mask=mask, use_fused=False)
    for mode in MODES:
        cell.mode = mode
        res = rnnzoo.run(cell, x, MinRNNState(h0), mask=mask)
        assert torch.isfinite(res.output).all()
        torch.testing.assert_close(res.output, ref.output, atol=2e-5, rtol=1e-4)
        torch.testing.assert_close(res.state.h, ref.state.h, atol=2e-5, rtol=1e-4)


@pytest.mark.parametrize("cls", [MinGRUCell, MinLSTMCell])
@pytest.mark.parametrize("mode", MODES)
def test_fused_gradients_equal_the_step_loop(cls, mode):
    torch.manual_seed(5)
    cell = cls(I, H, mode=mode).double()
    x = torch.randn(B, T, I, dtype=torch.float64, requires_grad=True)
    h0 = (torch.randn(B, H, dtype=torch.float64) - 1).requires_grad_()
    mask = _mask()
    grads = []
    for fused in (True, False):
        res = rnnzoo.run(cell, x, MinRNNState(h0), mask=mask, use_fused=fused)
        loss = (res.output * torch.linspace(-1, 2, H, dtype=torch.float64)).sum() + (res.state.h ** 2).sum()
        grads.append(torch.autograd.grad(loss, [x, h0, *cell.parameters()]))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b)


def test_linear_recurrence_and_log_space_scan_gradcheck():
    torch.manual_seed(6)
    a = torch.rand(6, 2, 3, dtype=torch.float64).requires_grad_()
    b = torch.rand(6, 2, 3, dtype=torch.float64).add(0.1).requires_grad_()
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(linear_recurrence, (a, b, h0))
    la, lb = a.detach().log().requires_grad_(), b.detach().log().requires_grad_()
    assert torch.autograd.gradcheck(log_space_scan, (la, lb, h0))
    torch.testing.assert_close(log_space_scan(la, lb, h0), linear_recurrence(a, b, h0))


@pytest.mark.parametrize("cls", [MinGRUCell, MinLSTMCell])
@pytest.mark.parametrize("mode", MODES)
def test_fused_paths_gradcheck_with_holes(cls, mode):
    torch.manual_seed(7)
    cell = cls(2, 3, mode=mode).double()
    x = torch.randn(2, 5, 2, dtype=torch.float64, requires_grad=True)
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, False, True, True, False], [False, True, True, False, True]])
    assert torch.autograd.gradcheck(
        lambda x, h0: (lambda r: (r.output, r.state.h))(rnnzoo.run(cell, x, MinRNNState(h0), mask=mask)), (x, h0))


def test_auto_mode_picks_the_measured_path(monkeypatch):
    cpu, other = torch.device("cpu"), torch.device("meta")
    cell = MinGRUCell(I, H)
    assert cell.mode == "auto" and not cell.uses_scan(cpu) and cell.uses_scan(other)  # measured: see SCAN_ON_CPU
    monkeypatch.setattr(minrnn, "SCAN_ON_CPU", True)
    assert cell.uses_scan(cpu)
    assert MinGRUCell(I, H, mode="scan").uses_scan(cpu) and not MinLSTMCell(I, H, mode="sequential").uses_scan(other)


def test_g_is_positive_and_log_g_is_its_log():
    v = torch.linspace(-30, 30, 601, dtype=torch.float64)
    assert (minrnn.g(v) > 0).all()
    torch.testing.assert_close(minrnn.log_g(v), minrnn.g(v).log())
    torch.testing.assert_close(minrnn.g(torch.tensor([0.0, 2.0, -1.0], dtype=torch.float64)),
                               torch.tensor([0.5, 2.5, 1 / (1 + math.e)], dtype=torch.float64))


def test_minrnn_bad_arguments():
    with pytest.raises(ValueError, match="mode"):
        MinGRUCell(I, H, mode="parallel")
    with pytest.raises(ValueError, match="hidden_size"):
        MinLSTMCell(I, 0)
    with pytest.raises(ValueError, match="a, b, h0"):
        linear_recurrence(torch.rand(3, 2, 4), torch.rand(3, 2, 4), torch.rand(2, 5))


@pytest.mark.parametrize("kind", ["mingru", "minlstm"])
def test_minrnn_function_gradcheck(kind):
    """The sequential Function's hand-written backward, with holes and k_h on both sides of g's kink at 0."""
    torch.manual_seed(8)
    n = 2 if kind == "mingru" else 3
    u = (torch.randn(6, 2, n * 3, dtype=torch.float64) * 2).requires_grad_()
    h0 = torch.randn(2, 3, dtype=torch.float64, requires_grad=True)
    mask = torch.tensor([[True, True], [False, True], [True, False], [True, True], [False, False], [True, True]])
    for m in (None, mask):
        assert torch.autograd.gradcheck(lambda u, h0, m=m: minrnn_recurrence(u, h0, kind=kind, mask=m), (u, h0))
    with pytest.raises(ValueError, match="kind"):
        minrnn_recurrence(u, h0, kind="gru")
    with pytest.raises(ValueError, match="u, h0"):
        minrnn_recurrence(u, h0[:, :2], kind=kind)
