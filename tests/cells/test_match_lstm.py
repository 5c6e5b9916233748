"""match_lstm and sentence_lstm against naive loops typed from Wang & Jiang 2016 (arXiv:1512.08849) section 2."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.match_lstm import MatchLSTM, SentencePair
from rnnzoo.core import probe


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)



def lstm_step(cell, x, h, c):
    """One LSTM step in torch's gate order (i, f, g, o), per example: x (I,), h, c (H,)."""
    pre = cell.weight_ih @ x + cell.bias_ih + cell.weight_hh @ h + cell.bias_hh
    i, f, g, o = pre.chunk(4)
    c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
    return torch.sigmoid(o) * torch.tanh(c), c


def encode(cell, emb, ids, length):
    h = c = torch.zeros(cell.hidden_size)
    out = []
    for t in range(length):
        h, c = lstm_step(cell, emb[ids[t]], h, c)
        out.append(h)
    return out


def naive_match(model: MatchLSTM, x: SentencePair, drop_wm: bool = False):
    """Per example, per word, per premise word: the paper's equations in loops."""
    emb = model.embedding.weight
    att = model.match.attention
    H = model.hidden_size
    w_s, w_q, w = att.w_key.weight, att.w_query.weight, att.v
    w_t, w_m = w_q[:, :H], w_q[:, H:]
    logits, alphas = [], []
    for b in range(x.premise.shape[0]):
        hs = encode(model.premise_lstm, emb, x.premise[b], int(x.premise_lengths[b]))
        ht = encode(model.hypothesis_lstm, emb, x.hypothesis[b], int(x.hypothesis_lengths[b]))
        hm = cm = torch.zeros(H)
        per_word = []
        for k in range(len(ht)):
            wm_term = torch.zeros(H) if drop_wm else w_m @ hm
            e = torch.stack([w @ torch.tanh(w_s @ hs[j] + w_t @ ht[k] + wm_term) for j in range(len(hs))])  # e_kj
            alpha = torch.exp(e - e.max()) / torch.exp(e - e.max()).sum()  # alpha_kj over the valid premise words
            a = sum(alpha[j] * hs[j] for j in range(len(hs)))  # a_k
            hm, cm = lstm_step(model.match.lstm, torch.cat([a, ht[k]]), hm, cm)  # m_k, h^m_k
            per_word.append(alpha)
        logits.append(model.classifier.weight @ hm + model.classifier.bias)  # p(y)
        alphas.append(per_word)
    return torch.stack(logits), alphas


def build(**kw) -> MatchLSTM:
    torch.manual_seed(0)
    return rnnzoo.create("match_lstm", vocab_size=13, hidden_size=4, **kw).double().eval()


def example(model, batch=4, seed=0):
    return model.example_input(batch, generator=torch.Generator().manual_seed(seed))


def test_match_lstm_equals_the_naive_loop():
    model = build()
    x = example(model)
    assert len(set(x.premise_lengths.tolist())) > 1 and len(set(x.hypothesis_lengths.tolist())) > 1
    expected, _ = naive_match(model, x)
    torch.testing.assert_close(model(x).logits, expected, rtol=1e-10, atol=1e-10)


def test_the_score_uses_the_previous_match_state():
    # a model that dropped W^m h^m_{k-1} from the score would attend as this naive loop without it does; ours must not
    model = build()
    torch.manual_seed(1)
    with torch.no_grad():  # weights of order 1, so that every term of the score moves the weights visibly
        for p in model.parameters():
            p.normal_()
    x = example(model, seed=1)
    with probe.record() as rec:
        model(x)
    alpha = rec.report(model.match, "alpha").values
    _, with_wm = naive_match(model, x)
    _, without = naive_match(model, x, drop_wm=True)
    gap = 0.0
    for b in range(4):
        for k in range(int(x.hypothesis_lengths[b])):
            n = int(x.premise_lengths[b])
            torch.testing.assert_close(alpha[k][b, :n], with_wm[b][k], rtol=1e-10, atol=1e-10)
            gap = max(gap, float((alpha[k][b, :n] - without[b][k]).abs().max().detach()))
    assert gap > 1e-3, f"the attention does not depend on h^m_(k-1) (largest change {gap})"
    with torch.no_grad():  # and the W^m block is the only difference: zero it and the two agree
        model.match.attention.w_query.weight[:, model.hidden_size:] = 0.0
    expected, _ = naive_match(model, x, drop_wm=True)
    torch.testing.assert_close(model(x).logits, expected, rtol=1e-10, atol=1e-10)


def test_padded_premise_words_get_weight_exactly_zero():
    model = build()
    x = example(model, seed=2)
    # garbage ids in the premise's padding must not change anything
    pad = ~rnnzoo.core.runner.lengths_to_mask(x.premise_lengths, x.premise.shape[1])
    assert bool(pad.any())
    noisy = x._replace(premise=torch.where(pad, torch.full_like(x.premise, 5), x.premise))
    with probe.record() as rec:
        out = model(noisy).logits
    alpha = rec.report(model.match, "alpha")
    assert alpha.kind == "attention"
    for weights in alpha.values:
        assert bool((weights[pad] == 0).all())
    torch.testing.assert_close(out, model(x).logits, rtol=0, atol=0)
    _, naive = naive_match(model, x)
    for b in range(4):  # the reported weights are the paper's alpha_kj over the valid words
        for k, a in enumerate(naive[b]):
            torch.testing.assert_close(alpha.values[k][b, : len(a)], a, rtol=1e-10, atol=1e-10)


def test_sentence_lstm_equals_the_naive_loop():
    torch.manual_seed(0)
    model = rnnzoo.create("sentence_lstm", vocab_size=13, hidden_size=4).double().eval()
    x = example(model, seed=3)
    emb = model.embedding.weight
    rows = []
    for b in range(4):
        u = encode(model.encoder, emb, x.premise[b], int(x.premise_lengths[b]))[-1]
        v = encode(model.encoder, emb, x.hypothesis[b], int(x.hypothesis_lengths[b]))[-1]
        z = torch.tanh(model.hidden.weight @ torch.cat([u, v, (u - v).abs(), u * v]) + model.hidden.bias)
        rows.append(model.classifier.weight @ z + model.classifier.bias)
    torch.testing.assert_close(model(x).logits, torch.stack(rows), rtol=1e-10, atol=1e-10)


def test_bad_input_is_named():
    model = build()
    x = example(model)
    with pytest.raises(ValueError, match="x.hypothesis_lengths"):
        model(x._replace(hypothesis_lengths=x.hypothesis_lengths + 10))
    with pytest.raises(ValueError, match="x.premise: expected ids"):
        model(x._replace(premise=x.premise + 100))
    with pytest.raises(TypeError, match="SentencePair"):
        model(tuple(x))
    with pytest.raises(ValueError, match="vocab_size"):
        rnnzoo.create("match_lstm", vocab_size=1, hidden_size=4)


def test_attention_maps_are_hypothesis_words_by_premise_words():
    from rnnzoo.diagnostics.attention import attention_maps

    model = build()
    x = example(model, seed=4)
    maps = attention_maps(model, lambda: model(x), examples=4)
    assert list(maps) == ["match.alpha"]
    for b, m in enumerate(maps["match.alpha"]):
        assert m.shape == (int(x.hypothesis_lengths[b]), x.premise.shape[1])
        torch.testing.assert_close(m.sum(1), torch.ones(m.shape[0], dtype=m.dtype))
