"""rnnzoo's sLSTM and mLSTM against the ``xlstm`` package (2.0.6), weights copied: its pure-PyTorch sLSTM cell
(``backend="vanilla"``, never the CUDA one, which JIT-compiles) and its mLSTM backend functions (parallel,
recurrent step, chunkwise; plain torch in ``xlstm/blocks/mlstm/backends.py``)."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import MLSTMCell, MLSTMState, SLSTMCell, SLSTMState

xlstm_slstm = pytest.importorskip("xlstm.blocks.slstm.cell", reason="the xlstm package (test extra) is not installed")
backends = pytest.importorskip("xlstm.blocks.mlstm.backends", reason="the xlstm package (test extra) is not installed")

B, T, I = 3, 7, 5


def _package_slstm(cell, dtype):
    """The package's vanilla sLSTM cell with rnnzoo's recurrent weights; the bias stays in rnnzoo's ``u``."""
    cfg = xlstm_slstm.sLSTMCellConfig(hidden_size=cell.hidden_size, num_heads=cell.num_heads, backend="vanilla",
                                      dtype="float32")
    ref = xlstm_slstm.sLSTMCell(cfg).to(dtype)
    assert type(ref).__name__ == "sLSTMCell_vanilla"
    with torch.no_grad():
        # the vanilla backend's internal kernel is (NH, 4d, d), rows gate-major per head: rnnzoo's layout
        ref._recurrent_kernel_.copy_(cell.weight_hh)
        ref._bias_.zero_()
    return ref


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_heads", [1, 2])
@pytest.mark.parametrize("zero_state", [True, False])
def test_slstm_equals_package_vanilla_cell(dtype, num_heads, zero_state):
    torch.manual_seed(0)
    H = 8
    cell = SLSTMCell(I, H, num_heads=num_heads).to(dtype)
    ref = _package_slstm(cell, dtype)
    x = torch.randn(B, T, I, dtype=dtype)
    if zero_state:
        state = cell.initial_state(B, dtype=dtype)
    else:  # a state a run can reach: n > 0
        state = SLSTMState(torch.randn(B, H, dtype=dtype), torch.randn(B, H, dtype=dtype),
                                  torch.rand(B, H, dtype=dtype) + 0.5, torch.randn(B, H, dtype=dtype))
    out = rnnzoo.run(cell, x, state)
    with torch.no_grad():
        u = cell.project(x)  # (B, T, 4H) gate-major, the package's "BSGNH" input
        y, final = ref(u, torch.stack(list(state)))
    y = y.permute(0, 2, 1, 3).reshape(B, T, H)  # BNSH -> (B, T, H)
    tol = {"atol": 1e-5, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 1e-12, "rtol": 1e-10}
    torch.testing.assert_close(out.output.detach(), y, **tol)
    h, c, n, m = final.unbind(0)
    torch.testing.assert_close(out.state.h.detach(), h, **tol)
    # the package starts a zero state at m_1 = i_raw (rnnzoo: m_0 = 0, eq (15)): the stabiliser differs,
    # the unstabilised states c exp(m), n exp(m) and h do not
    s = out.state
    torch.testing.assert_close((s.c * s.m.exp()).detach(), c * m.exp(), **tol)
    torch.testing.assert_close((s.n * s.m.exp()).detach(), n * m.exp(), **tol)
    if not zero_state:
        torch.testing.assert_close(s.m.detach(), m, **tol)


def _mlstm_inputs(cell, x):
    """rnnzoo's projections in the package's layout: q, k (unscaled), v (B, NH, T, d); gate pre-activations
    (B, NH, T, 1); the output gate (B, T, H)."""
    NH, d, H = cell.num_heads, cell.head_size, cell.hidden_size
    u = cell.project(x)
    q, k, v, o_raw, i_raw, f_raw = u.split([H, H, H, H, NH, NH], -1)

    def heads(t):
        return t.reshape(B, -1, NH, d).transpose(1, 2)

    return heads(q), heads(k), heads(v), i_raw.transpose(1, 2)[..., None], f_raw.transpose(1, 2)[..., None], \
        torch.sigmoid(o_raw)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("num_heads", [1, 2])
def test_mlstm_equals_package_parallel_and_recurrent_forms(dtype, num_heads):
    torch.manual_seed(0)
    H = 8
    cell = MLSTMCell(I, H, num_heads=num_heads).to(dtype)
    x = torch.randn(B, T, I, dtype=dtype)
    tol = {"atol": 1e-5, "rtol": 1e-4} if dtype == torch.float32 else {"atol": 1e-12, "rtol": 1e-10}
    with torch.no_grad():
        q, k, v, i_pre, f_pre, o = _mlstm_inputs(cell, x)
        # the package's parallel form starts from m = -inf where its recurrent form (and rnnzoo) start a zero
        # state from m = 0; only eps (added to the stabilised denominator) sees the difference, so both eps = 0
        h_par = backends.parallel_stabilized_simple(q, k, v, i_pre, f_pre, eps=0.0)  # (B, NH, T, d)
        expected = o * h_par.transpose(1, 2).reshape(B, T, H)
        exact = MLSTMCell(I, H, num_heads=num_heads, eps=0.0).to(dtype)
        exact.load_state_dict(cell.state_dict())
        for f in (True, False):
            torch.testing.assert_close(rnnzoo.run(exact, x, use_fused=f).output, expected, **tol)
        # the package's recurrent step from a nonzero state, against rnnzoo's step loop and parallel form
        d = cell.head_size
        C0 = torch.randn(B, num_heads, d, d, dtype=dtype)
        n0, m0 = torch.randn(B, num_heads, d, dtype=dtype), torch.randn(B, num_heads, dtype=dtype)
        state = MLSTMState(torch.zeros(B, H, dtype=dtype), C0, n0, m0)
        c, n, m = C0.transpose(-2, -1).clone(), n0[..., None].clone(), m0[..., None, None].clone()  # C as k v^T
        hs = []
        for t in range(T):
            h_t, (c, n, m) = backends.recurrent_step_stabilized_simple(
                c, n, m, q[:, :, t:t + 1].clone(), k[:, :, t:t + 1].clone(), v[:, :, t:t + 1].clone(),
                i_pre[:, :, t:t + 1], f_pre[:, :, t:t + 1])
            hs.append(h_t.reshape(B, H))
        expected = o * torch.stack(hs, 1)
        for f in (True, False):
            out = rnnzoo.run(cell, x, state, use_fused=f)
            torch.testing.assert_close(out.output, expected, **tol)
            torch.testing.assert_close(out.state.C, c.transpose(-2, -1), **tol)
            torch.testing.assert_close(out.state.n, n[..., 0], **tol)
            torch.testing.assert_close(out.state.m, m[..., 0, 0], **tol)


def test_mlstm_final_state_equals_package_chunkwise_form():
    """The package's chunkwise form (chunks of the parallel form carrying the recurrent state) from a
    nonzero initial state: outputs and final state."""
    torch.manual_seed(1)
    dtype, H, NH, steps = torch.float64, 8, 2, 8
    cell = MLSTMCell(I, H, num_heads=NH).to(dtype)
    x = torch.randn(B, steps, I, dtype=dtype)
    d = H // NH
    C0 = torch.randn(B, NH, d, d, dtype=dtype)
    n0, m0 = torch.randn(B, NH, d, dtype=dtype), torch.randn(B, NH, dtype=dtype)
    with torch.no_grad():
        q, k, v, i_pre, f_pre, o = _mlstm_inputs(cell, x)
        # chunkwise_simple scales the queries, not the keys, by 1/sqrt(d): its C and n are sqrt(d) times ours
        h, (C, n, m) = backends.chunkwise_simple(q, k, v, i_pre[..., 0], f_pre[..., 0],
                                                 C0.transpose(-2, -1) * math.sqrt(d), n0 * math.sqrt(d),
                                                 m0, chunk_size=4,
                                                 return_last_state=True)
        out = rnnzoo.run(cell, x, MLSTMState(torch.zeros(B, H, dtype=dtype), C0, n0, m0))
    torch.testing.assert_close(out.output, o * h.transpose(1, 2).reshape(B, steps, H), atol=1e-10, rtol=1e-8)
    torch.testing.assert_close(out.state.C * math.sqrt(d), C.transpose(-2, -1), atol=1e-10, rtol=1e-8)
    torch.testing.assert_close(out.state.n * math.sqrt(d), n, atol=1e-10, rtol=1e-8)
    torch.testing.assert_close(out.state.m, m[..., 0, 0], atol=1e-10, rtol=1e-8)
