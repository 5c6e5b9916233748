"""sLSTM and mLSTM against naive implementations typed from the xLSTM paper (Beck et al. 2024, arXiv:2405.04517,
sections 2.2-2.3), float64, plain Python loops over steps, heads and units, WITHOUT the stabiliser: the cells'
stabilised states must give the paper's unstabilised outputs. Also: the fast paths (sLSTM's fused Function,
mLSTM's parallel form) against the step loop for options the contract suite does not cover (heads, exp forget
gate, holes in the mask, a nonzero initial state), the stabiliser's purpose (no overflow where the unstabilised
form overflows), memory mixing only within heads, and bad arguments."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import MLSTMCell, MLSTMState, SLSTMCell, SLSTMState
from rnnzoo.core.tree import tree_leaves

D = torch.float64
B, T, I = 2, 6, 3


def _sigmoid(a: float) -> float:
    return 1.0 / (1.0 + math.exp(-a))


def naive_slstm(cell: SLSTMCell, x: torch.Tensor) -> torch.Tensor:
    """Eqs (8)-(14), unstabilised: i = exp(i~), f = sigmoid(f~) or exp(f~), z = tanh(z~), o = sigmoid(o~),
    c = f c + i z, n = f n + i, h = o c / n; the recurrent matrix R acts within each head only."""
    H, d = cell.hidden_size, cell.head_size
    W, R, b = cell.weight_ih.tolist(), cell.weight_hh.tolist(), cell.bias.tolist()
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=D)
    for bi in range(x.shape[0]):
        h, c, n = [0.0] * H, [0.0] * H, [0.0] * H
        for t in range(x.shape[1]):
            xt = x[bi, t].tolist()
            pre = [[0.0] * H for _ in range(4)]  # gate g, unit j
            for g in range(4):
                for j in range(H):
                    head, jj = divmod(j, d)
                    row = g * H + j
                    rec = sum(R[head][g * d + jj][kk] * h[head * d + kk] for kk in range(d))
                    pre[g][j] = sum(W[row][a] * xt[a] for a in range(len(xt))) + b[row] + rec
            new_h = [0.0] * H
            for j in range(H):
                i = math.exp(pre[0][j])
                f = _sigmoid(pre[1][j]) if cell.forget_gate == "sigmoid" else math.exp(pre[1][j])
                z, o = math.tanh(pre[2][j]), _sigmoid(pre[3][j])
                c[j] = f * c[j] + i * z
                n[j] = f * n[j] + i
                new_h[j] = o * c[j] / n[j]
            h = new_h
            out[bi, t] = torch.tensor(h, dtype=D)
    return out


def naive_mlstm(cell: MLSTMCell, x: torch.Tensor) -> torch.Tensor:
    """Eqs (19)-(27), unstabilised: C = f C + i v k^T, n = f n + i k, h~ = C q / max(|n . q|, 1), h = o h~,
    k scaled by 1/sqrt(d), i = exp(i~) and f = sigmoid(f~) scalars per head."""
    H, NH, d = cell.hidden_size, cell.num_heads, cell.head_size
    W = torch.cat([cell.weight, cell.weight_gates]).tolist()
    b = torch.cat([cell.bias, cell.bias_gates]).tolist()
    out = torch.zeros(x.shape[0], x.shape[1], H, dtype=D)
    for bi in range(x.shape[0]):
        C = [[[0.0] * d for _ in range(d)] for _ in range(NH)]
        n = [[0.0] * d for _ in range(NH)]
        for t in range(x.shape[1]):
            xt = x[bi, t].tolist()
            u = [sum(W[r][a] * xt[a] for a in range(len(xt))) + b[r] for r in range(len(W))]
            for hd in range(NH):
                q = [u[hd * d + j] for j in range(d)]
                k = [u[H + hd * d + j] / math.sqrt(d) for j in range(d)]
                v = [u[2 * H + hd * d + j] for j in range(d)]
                o = [_sigmoid(u[3 * H + hd * d + j]) for j in range(d)]
                i = math.exp(u[4 * H + hd])
                f = _sigmoid(u[4 * H + NH + hd])
                for r in range(d):
                    for s in range(d):
                        C[hd][r][s] = f * C[hd][r][s] + i * v[r] * k[s]
                    n[hd][r] = f * n[hd][r] + i * k[r]
                den = max(abs(sum(n[hd][s] * q[s] for s in range(d))), 1.0)
                for r in range(d):
                    out[bi, t, hd * d + r] = o[r] * sum(C[hd][r][s] * q[s] for s in range(d)) / den
    return out


@pytest.mark.parametrize("num_heads", [1, 2])
@pytest.mark.parametrize("forget_gate", ["sigmoid", "exp"])
@pytest.mark.parametrize("use_fused", [True, False])
def test_slstm_equals_the_paper(num_heads, forget_gate, use_fused):
    torch.manual_seed(0)
    cell = SLSTMCell(I, 4, num_heads=num_heads, forget_gate=forget_gate).to(D)
    x = torch.randn(B, T, I, dtype=D)
    got = rnnzoo.run(cell, x, use_fused=use_fused).output
    torch.testing.assert_close(got, naive_slstm(cell, x), atol=1e-12, rtol=1e-10)


@pytest.mark.parametrize("num_heads", [1, 2])
@pytest.mark.parametrize("use_fused", [True, False])
def test_mlstm_equals_the_paper(num_heads, use_fused):
    torch.manual_seed(0)
    # eps = 0: the paper's h~ has no epsilon (the default 1e-6 is the package's guard)
    cell = MLSTMCell(I, 4, num_heads=num_heads, eps=0.0).to(D)
    x = torch.randn(B, T, I, dtype=D)
    got = rnnzoo.run(cell, x, use_fused=use_fused).output
    torch.testing.assert_close(got, naive_mlstm(cell, x), atol=1e-12, rtol=1e-10)


def _fast_vs_loop(cell, x, state, mask):
    leaves = [x, *tree_leaves(state), *cell.parameters()]
    results = []
    for use_fused in (True, False):
        out = rnnzoo.run(cell, x, state, mask=mask, use_fused=use_fused)
        w = torch.randn(out.output.shape, generator=torch.Generator().manual_seed(2), dtype=D)
        loss = (out.output * w).sum() + sum((s * s).sum() for s in tree_leaves(out.state))
        results.append((out.output, out.state, torch.autograd.grad(loss, leaves)))
    (o1, s1, g1), (o2, s2, g2) = results
    torch.testing.assert_close(o1, o2, atol=1e-10, rtol=1e-8)
    for a, b in zip([*tree_leaves(s1), *g1], [*tree_leaves(s2), *g2], strict=True):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-8)
    return o1


def _mask_with_holes():
    mask = torch.ones(B + 1, 9, dtype=torch.bool)
    mask[0, [2, 3, 7]] = False
    mask[1, 0] = False
    mask[2, 5:] = False
    return mask


@pytest.mark.parametrize("options", [{"num_heads": 2}, {"num_heads": 2, "forget_gate": "exp"}, {"bias": False}])
def test_slstm_fused_function_equals_step_loop_with_holes_and_a_state(options):
    torch.manual_seed(0)
    cell = SLSTMCell(I, 6, **options).to(D)
    x = torch.randn(B + 1, 9, I, dtype=D, requires_grad=True)
    state = SLSTMState(torch.randn(B + 1, 6, dtype=D), torch.randn(B + 1, 6, dtype=D),
                       torch.rand(B + 1, 6, dtype=D) + 0.5, torch.randn(B + 1, 6, dtype=D))
    state = SLSTMState(*(s.requires_grad_() for s in state))
    out = _fast_vs_loop(cell, x, state, _mask_with_holes())
    assert (out[~_mask_with_holes()] == 0).all()


@pytest.mark.parametrize("options", [{"num_heads": 2}, {"num_heads": 3, "forget_gate": "exp"}])
def test_mlstm_parallel_form_equals_recurrent_form_with_holes_and_a_state(options):
    """The parallel form takes the initial state (C0, n0, m0) and every mask exactly: outputs, final
    state and all gradients equal the recurrent step loop."""
    torch.manual_seed(0)
    cell = MLSTMCell(I, 6, **options).to(D)
    NH, d = cell.num_heads, cell.head_size
    x = torch.randn(B + 1, 9, I, dtype=D, requires_grad=True)
    state = MLSTMState(torch.randn(B + 1, 6, dtype=D), torch.randn(B + 1, NH, d, d, dtype=D),
                       torch.randn(B + 1, NH, d, dtype=D), torch.randn(B + 1, NH, dtype=D))
    state = MLSTMState(*(s.requires_grad_() for s in state))
    _fast_vs_loop(cell, x, state, _mask_with_holes())


def test_mlstm_parallel_form_run_in_chunks_equals_one_run():
    torch.manual_seed(0)
    cell = MLSTMCell(I, 4, num_heads=2).to(D)
    x = torch.randn(B, 10, I, dtype=D)
    whole = rnnzoo.run(cell, x)
    first = rnnzoo.run(cell, x[:, :4])
    second = rnnzoo.run(cell, x[:, 4:], first.state)
    torch.testing.assert_close(torch.cat([first.output, second.output], 1), whole.output)
    for a, b in zip(second.state, whole.state, strict=True):
        torch.testing.assert_close(a, b)


@pytest.mark.parametrize("name", ["slstm", "mlstm"])
@pytest.mark.parametrize("use_fused", [True, False])
def test_stabiliser_keeps_float32_finite_where_exp_overflows(name, use_fused):
    """Input-gate pre-activations near 120 overflow exp in float32 (max ~88.7); the stabilised cell stays
    finite and agrees with the float64 run of the same weights."""
    torch.manual_seed(0)
    cell = rnnzoo.model_info(name).build(I, 4)
    with torch.no_grad():
        if name == "slstm":
            cell.bias[:4] += 120.0
        else:
            cell.bias_gates[:cell.num_heads] += 120.0
    x = torch.randn(B, T, I)
    got = rnnzoo.run(cell, x, use_fused=use_fused).output
    ref = rnnzoo.run(cell.to(D), x.to(D), use_fused=False).output
    assert torch.isfinite(got).all()
    # float32 against float64: h~ divides by |n . q|, which can be small, so the tolerance follows the scale
    torch.testing.assert_close(got.to(D), ref, atol=1e-5 * ref.abs().max().item(), rtol=1e-3)


def test_slstm_heads_mix_memory_only_within_a_head():
    """Section 2.2: R is block-diagonal; changing head 0's h_{t-1} leaves head 1's next step unchanged."""
    torch.manual_seed(0)
    cell = SLSTMCell(I, 4, num_heads=2).to(D)
    x = torch.randn(B, I, dtype=D)
    s = SLSTMState(*(torch.rand(B, 4, dtype=D) + 0.5 for _ in range(4)))
    moved = s._replace(h=s.h + torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=D))
    y1, _ = cell(x, s)
    y2, _ = cell(x, moved)
    torch.testing.assert_close(y1[:, 2:], y2[:, 2:])
    assert (y1[:, :2] - y2[:, :2]).abs().min() > 0


@pytest.mark.parametrize("cls", [SLSTMCell, MLSTMCell])
@pytest.mark.parametrize(("options", "error", "words"), [
    ({"num_heads": 3}, ValueError, ["num_heads", "divisor of hidden_size=4", "3"]),
    ({"num_heads": 0}, ValueError, ["num_heads", "positive int", "0"]),
    ({"forget_gate": "tanh"}, ValueError, ["forget_gate", "sigmoid", "'tanh'"]),
])
def test_bad_arguments_name_the_argument(cls, options, error, words):
    with pytest.raises(error) as err:
        cls(I, 4, **options)
    for w in words:
        assert w in str(err.value)


def test_mlstm_eps_must_be_non_negative():
    with pytest.raises(ValueError, match="eps: expected a number >= 0, got -1.0"):
        MLSTMCell(I, 4, eps=-1.0)


def test_initial_biases_start_remembering():
    """Forget-gate biases linearly spaced in [3, 6] (the package's small init); the other biases zero."""
    s = SLSTMCell(I, 8, num_heads=2)
    f = s.bias[8:16].view(2, 4)
    torch.testing.assert_close(f, torch.linspace(3.0, 6.0, 4).expand(2, 4))
    assert s.bias[:8].eq(0).all() and s.bias[16:].eq(0).all()
    m = MLSTMCell(I, 8, num_heads=4)
    torch.testing.assert_close(m.bias_gates[-4:], torch.linspace(3.0, 6.0, 4))
    assert m.bias.eq(0).all() and m.bias_gates[:4].eq(0).all()
