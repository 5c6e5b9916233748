"""SRU++ against a naive implementation typed from the paper (Lei 2021, arXiv:2102.12459, Section 3, Fig. 2):
Q = W^q X, K = W^k Q, V = W^v Q, A^T = softmax(Q^T K / sqrt(d')) V^T over the causal window, U^T = W^o
LayerNorm(Q + alpha A), then the SRU recurrence; float64, Python loops over batch, time and window."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import SRUppCell

B, T = 2, 9


def sig(v):
    return 1.0 / (1.0 + torch.exp(-v))


def naive_srupp(cell, x, mask=None):
    """One sequence at a time; step t attends to the last ``window`` valid steps up to t (padding skipped)."""
    d, H, W = cell.proj_size, cell.hidden_size, cell.window
    Wq, Wkv, Wo = (p.detach() for p in (cell.weight_q, cell.weight_kv, cell.weight_o))
    Wk, Wv = Wkv[:d], Wkv[d:]
    alpha = float(cell.alpha.detach())
    vf, vr = cell.weight_c.detach()
    bf, br = cell.bias.detach()
    out = torch.zeros(B, T, H, dtype=torch.float64)
    finals = []
    for b in range(B):
        seen_k, seen_v = [], []
        c = torch.zeros(H, dtype=torch.float64)
        for t in range(T):
            if mask is not None and not mask[b, t]:
                continue
            q = Wq @ x[b, t]
            seen_k.append(Wk @ q)
            seen_v.append(Wv @ q)
            ks, vs = seen_k[-W:], seen_v[-W:]
            scores = torch.stack([q @ k / math.sqrt(d) for k in ks])
            e = torch.exp(scores - scores.max())
            p = e / e.sum()
            a = sum(p[j] * vs[j] for j in range(len(vs)))
            y = q + alpha * a
            if cell.ln_weight is not None:
                mu, var = y.mean(), ((y - y.mean()) ** 2).mean()
                y = (y - mu) / torch.sqrt(var + 1e-5) * cell.ln_weight.detach() + cell.ln_bias.detach()
            u = Wo @ y
            z, uf, ur = u[:H], u[H:2 * H], u[2 * H:3 * H]
            xp = u[3 * H:] if u.shape[0] == 4 * H else x[b, t] * cell.scale_x
            f = sig(uf + vf * c + bf)
            r = sig(ur + vr * c + br)
            c = f * c + (1 - f) * z
            out[b, t] = r * c + (1 - r) * xp
        finals.append(c)
    return out, torch.stack(finals)


@pytest.mark.parametrize(("I", "H", "opts"), [(4, 4, {}), (3, 8, {"proj_size": 3}), (4, 4, {"layer_norm": False}),
                                              (4, 4, {"rescale": True, "window": 1}), (4, 4, {"window": 20})])
@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_sru_pp_equals_paper(I, H, opts, use_fused, masked):
    torch.manual_seed(0)
    cell = SRUppCell(I, H, **{"window": 3, **opts}).double()
    with torch.no_grad():
        cell.alpha.fill_(0.8)  # the paper's init (0) would hide the attention
        cell.bias.normal_()
        if cell.ln_weight is not None:
            cell.ln_weight.normal_()
            cell.ln_bias.normal_()
    x = torch.randn(B, T, I, dtype=torch.float64)
    lengths = torch.tensor([T, 5])
    mask = (torch.arange(T) < lengths.unsqueeze(1)) if masked else None
    out = rnnzoo.run(cell, x, lengths=lengths if masked else None, use_fused=use_fused)
    h_ref, c_ref = naive_srupp(cell, x, mask)
    torch.testing.assert_close(out.output, h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.state.c, c_ref, rtol=1e-12, atol=1e-12)


def test_mask_with_holes_skips_the_padding_in_the_window():
    """A hole is not a key: later steps attend to the valid steps only (the step loop runs: the fast path
    declines holes)."""
    torch.manual_seed(1)
    cell = SRUppCell(4, 4, window=3).double()
    with torch.no_grad():
        cell.alpha.fill_(1.0)
    x = torch.randn(B, T, 4, dtype=torch.float64)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2:5] = False
    mask[1, 0] = False
    out = rnnzoo.run(cell, x, mask=mask)
    h_ref, c_ref = naive_srupp(cell, x, mask)
    torch.testing.assert_close(out.output, h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.state.c, c_ref, rtol=1e-12, atol=1e-12)


def test_alpha_zero_is_a_factorised_sru():
    """At the paper's initialisation (alpha = 0) the layer is U = W_o LN(W_q x): the keys change nothing."""
    torch.manual_seed(2)
    cell = SRUppCell(4, 4, window=2).double()
    x = torch.randn(B, T, 4, dtype=torch.float64)
    a = rnnzoo.run(cell, x).output
    with torch.no_grad():
        cell.weight_kv.normal_()
    torch.testing.assert_close(rnnzoo.run(cell, x).output, a, rtol=0, atol=0)


def test_long_sequence_fast_path_blocks_equal_step_loop():
    """More steps than one query block of the fast path (128), state carried over a chunk boundary."""
    torch.manual_seed(3)
    cell = SRUppCell(4, 4, window=7, alpha=0.5)
    x = torch.randn(2, 300, 4)
    a = rnnzoo.run(cell, x, use_fused=False)
    first = rnnzoo.run(cell, x[:, :130])
    second = rnnzoo.run(cell, x[:, 130:], first.state)
    torch.testing.assert_close(torch.cat([first.output, second.output], 1), a.output)
    for p, q in zip(second.state, a.state, strict=True):
        torch.testing.assert_close(p, q)


def test_bad_arguments_name_themselves():
    with pytest.raises(ValueError, match="window"):
        SRUppCell(4, 4, window=0)
    with pytest.raises(ValueError, match="proj_size"):
        SRUppCell(4, 4, proj_size=-1)
    with pytest.raises(TypeError, match="alpha"):
        SRUppCell(4, 4, alpha="0")
    with pytest.raises(TypeError, match="layer_norm"):
        SRUppCell(4, 4, layer_norm=1)
    with pytest.raises(ValueError, match="proj_size: expected at least 2"):
        SRUppCell(4, 4, proj_size=1)
    assert SRUppCell(4, 4, proj_size=1, layer_norm=False).proj_size == 1
