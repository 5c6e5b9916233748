"""Attention scores (rnnzoo.attention) and the attention decoder cell against the papers' formulas typed naively.

Bahdanau et al. 2015 (arXiv:1409.0473) eqs (4)-(6), appendix A; Luong et al. 2015 (arXiv:1508.04025) eqs (5)-(8),
section 3.3. The pitfalls of RESEARCH.md pinned here: s_{i-1} (Bahdanau) vs h_t (Luong) as the query, padded
source positions with weight exactly 0 (-inf, not 0, before the softmax), input feeding present.
"""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.attention import ATTENTION_KINDS, Attention, check_key_mask, masked_log_softmax
from rnnzoo.cells.attention_decoder import AttentionDecoderCell
from rnnzoo.core import probe

D = torch.float64


@torch.no_grad()
def naive_score(att: Attention, q: torch.Tensor, k: torch.Tensor) -> float:
    """One score e(q, k) for one query (Q,) and one key (K,), from the papers' formulas."""
    if att.kind == "additive":  # v^T tanh(W q + U k)
        w, u, v = att.w_query.weight, att.w_key.weight, att.v
        return float(sum(v[a] * math.tanh(float(w[a] @ q + u[a] @ k)) for a in range(att.hidden_size)))
    if att.kind == "dot":  # q^T k
        return float(sum(q[i] * k[i] for i in range(q.shape[0])))
    if att.kind == "general":  # q^T W_a k
        return float(sum(q[i] * att.w[i, j] * k[j] for i in range(q.shape[0]) for j in range(k.shape[0])))
    qk = torch.cat([q, k])  # concat: v_a^T tanh(W_a [q; k])
    return float(sum(att.v[a] * math.tanh(float(att.w[a] @ qk)) for a in range(att.hidden_size)))


def naive_attend(att: Attention, q: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor):
    """Per example, per key: the softmax over the valid keys only; the context sum_j a_j h_j."""
    b, s, _ = keys.shape
    weights = torch.zeros(b, s, dtype=D)
    context = torch.zeros(b, keys.shape[2], dtype=D)
    for n in range(b):
        e = {j: naive_score(att, q[n], keys[n, j]) for j in range(s) if mask[n, j]}
        z = sum(math.exp(x) for x in e.values())
        for j, x in e.items():
            weights[n, j] = math.exp(x) / z
            context[n] += weights[n, j] * keys[n, j]
    return context, weights


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_attention_equals_the_papers_formulas(kind: str) -> None:
    torch.manual_seed(0)
    att = Attention(kind, 4, 4 if kind == "dot" else 6, hidden_size=5).to(D)
    keys = torch.randn(3, 5, att.key_size, dtype=D)
    q = torch.randn(3, 4, dtype=D)
    mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 0, 1, 0, 1]], dtype=torch.bool)
    context, weights = att(q, keys, mask=mask)
    ref_c, ref_w = naive_attend(att, q, keys, mask)
    torch.testing.assert_close(weights, ref_w, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(context, ref_c, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("kind", ATTENTION_KINDS)
def test_padded_keys_weigh_exactly_zero_and_get_no_gradient(kind: str) -> None:
    torch.manual_seed(1)
    att = Attention(kind, 4, 4, hidden_size=3).to(D)
    keys = torch.randn(2, 4, 4, dtype=D, requires_grad=True)
    mask = torch.tensor([[1, 1, 0, 0], [1, 1, 1, 0]], dtype=torch.bool)
    q = torch.randn(2, 4, dtype=D)
    context, weights = att(q, keys, mask=mask)
    assert weights[~mask].eq(0).all()
    (context.sum() + weights.sum()).backward()
    assert keys.grad[~mask].eq(0).all()  # exactly 0, not small
    assert keys.grad[mask].abs().sum() > 0
    # what the padded keys hold changes nothing (a 0 score instead of -inf would give them exp(0)/Z)
    other = keys.detach().clone()
    other[~mask] = 1e3
    c1, w1 = att(q, keys.detach(), mask=mask)
    c2, w2 = att(q, other, mask=mask)
    torch.testing.assert_close(c1, c2, rtol=0, atol=0)
    torch.testing.assert_close(w1, w2, rtol=0, atol=0)


def test_masked_log_softmax_is_minus_inf_on_padding() -> None:
    out = masked_log_softmax(torch.zeros(1, 3), torch.tensor([[True, False, True]]))
    assert out[0, 1] == float("-inf")
    torch.testing.assert_close(out[0, [0, 2]].exp().sum(), torch.tensor(1.0))


def test_bad_masks_and_sizes_raise_naming_the_argument() -> None:
    with pytest.raises(ValueError, match="mask: every example needs at least one valid key"):
        check_key_mask(torch.tensor([[True, False], [False, False]]), 2, 2)
    with pytest.raises(ValueError, match=r"mask: expected a bool tensor of shape \(2, 3\)"):
        check_key_mask(torch.ones(2, 3), 2, 3)
    with pytest.raises(ValueError, match="query_size: dot attention needs"):
        Attention("dot", 3, 4)
    with pytest.raises(ValueError, match="kind: expected one of"):
        Attention("cosine", 3, 4)


# ---------------------------------------------------------------------- the decoder cell, typed naively


def gru(cell, x, h):
    """torch.nn.GRUCell's equations ("after" reset), for one example."""
    wi, wh, bi, bh = cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh
    gi, gh = wi @ x + bi, wh @ h + bh
    n = h.shape[0]
    r = torch.sigmoid(gi[:n] + gh[:n])
    z = torch.sigmoid(gi[n:2 * n] + gh[n:2 * n])
    c = torch.tanh(gi[2 * n:] + r * gh[2 * n:])
    return (1 - z) * c + z * h


def naive_decoder(dec: AttentionDecoderCell, y: torch.Tensor, keys: torch.Tensor, mask: torch.Tensor,
                  swap: bool = False, feed: bool = True) -> torch.Tensor:
    """Loops over examples and steps. ``swap`` asks with the other convention's state (the pitfall); ``feed=False``
    omits Luong's input feeding."""
    b, t, _ = y.shape
    h_size = dec.hidden_size
    outs = torch.zeros(b, t, dec.output_size, dtype=D)
    for n in range(b):
        s = torch.zeros(h_size, dtype=D)
        tilde = torch.zeros(h_size, dtype=D)
        for i in range(t):
            if dec.convention == "bahdanau":
                if swap:  # scores from the NEW state: needs the cell first, with the previous context
                    s_new = gru(dec.inner, torch.cat([y[n, i], torch.zeros(keys.shape[2], dtype=D)]), s)
                    query = s_new
                else:
                    query = s  # s_{i-1}
                c, _ = naive_attend(dec.attention, query.unsqueeze(0), keys[n:n + 1], mask[n:n + 1])
                s = gru(dec.inner, torch.cat([y[n, i], c[0]]), s)
                t_ = dec.u_o.weight @ s + dec.u_o.bias + dec.v_o.weight @ y[n, i] + dec.c_o.weight @ c[0]
                outs[n, i] = torch.stack([torch.max(t_[2 * j], t_[2 * j + 1]) for j in range(dec.maxout_size)])
            else:
                prev = tilde if feed else torch.zeros_like(tilde)
                h_prev = s
                s = gru(dec.inner, torch.cat([y[n, i], prev]), s)
                query = h_prev if swap else s  # h_t
                c, _ = naive_attend(dec.attention, query.unsqueeze(0), keys[n:n + 1], mask[n:n + 1])
                tilde = torch.tanh(dec.w_c.weight @ torch.cat([c[0], s]))
                outs[n, i] = tilde
    return outs


def decoder(convention: str, kind: str) -> AttentionDecoderCell:
    torch.manual_seed(2)
    return AttentionDecoderCell(3, 4, 4, cell="gru", attention=kind, convention=convention,
                                maxout_size=2 if convention == "bahdanau" else None).to(D)


CASES = [("bahdanau", "additive"), ("luong", "dot"), ("luong", "general"), ("luong", "concat"),
         ("bahdanau", "general")]


@pytest.mark.parametrize(("convention", "kind"), CASES)
def test_the_decoder_equals_the_papers_equations(convention: str, kind: str) -> None:
    dec = decoder(convention, kind)
    y, keys = torch.randn(2, 4, 3, dtype=D), torch.randn(2, 5, 4, dtype=D)
    mask = torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    out = rnnzoo.run(dec, y, context=(keys, mask)).output
    torch.testing.assert_close(out, naive_decoder(dec, y, keys, mask), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("convention", ["bahdanau", "luong"])
def test_the_query_is_s_prev_for_bahdanau_and_h_t_for_luong(convention: str) -> None:
    """The known mix-up: the naive decoder asking with the other state gives other numbers."""
    dec = decoder(convention, "general")
    y, keys = torch.randn(2, 4, 3, dtype=D), torch.randn(2, 5, 4, dtype=D)
    mask = torch.ones(2, 5, dtype=torch.bool)
    out = rnnzoo.run(dec, y, context=(keys, mask)).output
    swapped = naive_decoder(dec, y, keys, mask, swap=True)
    assert (out - swapped).abs().max() > 1e-3


def test_luong_feeds_the_attentional_state_back() -> None:
    dec = decoder("luong", "dot")
    y, keys = torch.randn(2, 4, 3, dtype=D), torch.randn(2, 5, 4, dtype=D)
    mask = torch.ones(2, 5, dtype=torch.bool)
    out = rnnzoo.run(dec, y, context=(keys, mask)).output
    assert (out - naive_decoder(dec, y, keys, mask, feed=False))[:, 1:].abs().max() > 1e-3
    # one step: h~_{t-1} (the state's output field) reaches the step; Bahdanau's does not read it
    prepared = dec.prepare((keys, mask), 2)
    state = dec.initial_state(2, dtype=D)
    fed = state._replace(output=torch.randn(2, 4, dtype=D))
    assert (dec.step(y[:, 0], state, prepared)[0] - dec.step(y[:, 0], fed, prepared)[0]).abs().max() > 1e-6
    bah = decoder("bahdanau", "additive")
    prepared = bah.prepare((keys, mask), 2)
    state = bah.initial_state(2, dtype=D)
    fed = state._replace(output=torch.randn(2, 2, dtype=D))
    torch.testing.assert_close(bah.step(y[:, 0], state, prepared)[0], bah.step(y[:, 0], fed, prepared)[0])


@pytest.mark.parametrize("convention", ["bahdanau", "luong"])
def test_reported_weights_are_zero_on_padding_and_sum_to_one(convention: str) -> None:
    dec = decoder(convention, "general")
    keys = torch.randn(2, 5, 4, dtype=D)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 0]], dtype=torch.bool)
    with probe.record() as rec:
        rnnzoo.run(dec, torch.randn(2, 3, 3, dtype=D), context=(keys, mask))
    rep = rec.report(dec, "attention")
    assert rep.kind == "attention" and len(rep.values) == 3
    for a in rep.values:
        assert a.shape == (2, 5)
        assert a[~mask].eq(0).all()
        torch.testing.assert_close(a.sum(-1), torch.ones(2, dtype=D))


def test_any_registered_cell_can_be_the_decoder() -> None:
    for name in ("lstm", "elman", "indrnn"):
        dec = AttentionDecoderCell(3, 4, 6, cell=name, attention="additive")
        out = rnnzoo.run(dec, torch.randn(2, 3, 3), lengths=[3, 1],
                         context=(torch.randn(2, 5, 6), torch.ones(2, 5, dtype=torch.bool))).output
        assert out.shape == (2, 3, 4) and torch.isfinite(out).all()


def test_bad_arguments_raise_naming_them() -> None:
    with pytest.raises(ValueError, match="convention: expected one of"):
        AttentionDecoderCell(3, 4, 4, convention="vaswani")
    with pytest.raises(ValueError, match="maxout_size"):
        AttentionDecoderCell(3, 4, 4, convention="luong", maxout_size=2)
    dec = AttentionDecoderCell(3, 4, 6)
    with pytest.raises(ValueError, match=r"context: expected encoder outputs of shape \(2, S, 6\)"):
        rnnzoo.run(dec, torch.randn(2, 3, 3), context=(torch.randn(2, 5, 4), None))
    with pytest.raises(TypeError, match="context: expected"):
        rnnzoo.run(dec, torch.randn(2, 3, 3), context=torch.randn(2, 5, 6))
