"""dmn against a naive implementation typed from Kumar et al. 2016 (arXiv:1506.07285) section 2, eqs (6)-(10)."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.dmn import DMN, DMNOutput, gate_features, gate_loss, random_babi_input
from rnnzoo.core import probe


@pytest.fixture(autouse=True)
def _float64():
    old = torch.get_default_dtype()
    torch.set_default_dtype(torch.float64)
    yield
    torch.set_default_dtype(old)


def gru(cell, x, h):
    """The paper's GRU per example (torch's form: r * (U_n h + b_hn)): x (I,), h (H,)."""
    wr, wz, wn = cell.weight_ih.chunk(3)
    ur, uz, un = cell.weight_hh.chunk(3)
    bir, biz, bin_ = cell.bias_ih.chunk(3)
    bhr, bhz, bhn = cell.bias_hh.chunk(3)
    r = torch.sigmoid(wr @ x + bir + ur @ h + bhr)
    z = torch.sigmoid(wz @ x + biz + uz @ h + bhz)
    n = torch.tanh(wn @ x + bin_ + r * (un @ h + bhn))
    return z * h + (1 - z) * n


def z_features(c, m, q, w_b):
    """Eq (6)'s feature vector, one fact: the paper's list, in its order."""
    return torch.cat([c, m, q, c * q, c * m, (c - q).abs(), (c - m).abs(),
                      (c @ w_b @ q).reshape(1), (c @ w_b @ m).reshape(1)])


def naive_dmn(model: DMN, x):
    emb = model.embedding.weight
    mem = model.memory
    H = model.hidden_size
    logits, gates = [], []
    for b in range(x.words.shape[0]):
        h = torch.zeros(H)
        states = []
        for t in range(int(x.word_lengths[b])):  # input module: a GRU over every word of the story
            h = gru(model.input_gru, emb[x.words[b, t]], h)
            states.append(h)
        facts = [states[int(x.sentence_ends[b, i])] for i in range(int(x.story_lengths[b]))]  # c_t at sentence ends
        q = torch.zeros(H)
        for t in range(int(x.question_lengths[b])):  # question module: the same GRU
            q = gru(model.input_gru, emb[x.question[b, t]], q)
        m = q
        per_pass = []
        for _ in range(model.passes):
            g_all = []
            for c in facts:  # eq (6)
                hidden = torch.tanh(mem.gate_1.weight @ z_features(c, m, q, mem.w_b) + mem.gate_1.bias)
                g_all.append(torch.sigmoid(mem.gate_2.weight @ hidden + mem.gate_2.bias)[0])
            e = torch.zeros(H)
            for c, g in zip(facts, g_all, strict=True):  # eq (7)
                e = g * gru(mem.episode.gru, c, e) + (1 - g) * e
            m = gru(mem.memory, e, m)  # eq (8): e^i = h_T, m^i = GRU(e^i, m^{i-1})
            per_pass.append(torch.stack(g_all))
        a = m  # eqs (9)-(10), one answer step
        y0 = torch.softmax(model.answer.w_a.weight @ a + model.answer.w_a.bias, 0)
        a = gru(model.answer.gru, torch.cat([y0, q]), a)
        logits.append(model.answer.w_a.weight @ a + model.answer.w_a.bias)
        gates.append(per_pass)
    return torch.stack(logits), gates


def build(**kw) -> DMN:
    torch.manual_seed(0)
    model = rnnzoo.create("dmn", vocab_size=12, hidden_size=4, **kw).double().eval()
    with torch.no_grad():  # weights of order 1, so that every term moves the output visibly
        for p in model.parameters():
            p.mul_(3.0)
    return model


def example(batch=4, seed=0):
    return random_babi_input(batch, 12, facts=4, words=3, generator=torch.Generator().manual_seed(seed))


def test_dmn_equals_the_naive_loops():
    model = build()
    x = example()
    assert len(set(x.story_lengths.tolist())) > 1
    expected, gates = naive_dmn(model, x)
    with probe.record() as rec:
        out = model(x)
    torch.testing.assert_close(out.logits, expected, rtol=1e-10, atol=1e-10)
    reported = rec.report(model.memory, "gates")
    assert reported.kind == "attention" and len(reported.values) == model.passes
    for b in range(4):
        n = int(x.story_lengths[b])
        for i in range(model.passes):
            torch.testing.assert_close(reported.values[i][b, :n], gates[b][i], rtol=1e-10, atol=1e-10)
            torch.testing.assert_close(torch.sigmoid(out.gate_logits[b, i, :n]), gates[b][i], rtol=1e-10, atol=1e-10)
            assert bool((reported.values[i][b, n:] == 0).all())


def test_gate_features_are_the_papers_list():
    torch.manual_seed(1)
    c, m, q, w_b = torch.randn(2, 3, 5), torch.randn(2, 5), torch.randn(2, 5), torch.randn(5, 5)
    z = gate_features(c, m, q, w_b)
    assert z.shape == (2, 3, 7 * 5 + 2)
    for b in range(2):
        for t in range(3):
            torch.testing.assert_close(z[b, t], z_features(c[b, t], m[b], q[b], w_b), rtol=1e-12, atol=1e-12)


def test_padding_and_the_story_window_do_not_leak():
    model = build()
    x = example(seed=2)
    pad = torch.arange(x.words.shape[1]) >= x.word_lengths.unsqueeze(1)
    noisy = x._replace(words=torch.where(pad, torch.full_like(x.words, 7), x.words))
    torch.testing.assert_close(model(noisy).logits, model(x).logits, rtol=0, atol=0)


def test_each_pass_gates_on_the_previous_memory():
    torch.manual_seed(0)
    model = build(passes=2)
    x = example(seed=3)
    out = model(x)
    assert out.gate_logits.shape == (4, 2, 4) and out.answer_logits.shape == (4, 1, 12)
    # pass 2's gates see m^1, not q: they differ from pass 1's
    assert float((out.gate_logits[:, 0] - out.gate_logits[:, 1]).abs().max().detach()) > 1e-3


def test_gate_loss_by_hand():
    logits = torch.tensor([[[0.5, -1.0, 2.0], [1.0, 0.0, -2.0]]])  # B=1, K=2 passes, M=3 facts
    mask = torch.tensor([[True, True, False]])
    out = DMNOutput(torch.zeros(1, 5), torch.zeros(1, 1, 5), logits, mask, torch.ones(1))
    supports = torch.tensor([[1, 0, -1]])  # pass 1 -> fact 1, pass 2 -> fact 0

    def bce(z, y):
        return -(y * torch.log(torch.sigmoid(z)) + (1 - y) * torch.log(1 - torch.sigmoid(z)))

    p1 = (bce(torch.tensor(0.5), 0.0) + bce(torch.tensor(-1.0), 1.0)) / 2
    p2 = (bce(torch.tensor(1.0), 1.0) + bce(torch.tensor(0.0), 0.0)) / 2
    torch.testing.assert_close(gate_loss(out, supports), (p1 + p2) / 2)
    # one supporting fact: every pass targets it; no supporting fact in memory: the example is left out
    one = gate_loss(out, torch.tensor([[0, -1, -1]]))
    q1 = (bce(torch.tensor(0.5), 1.0) + bce(torch.tensor(-1.0), 0.0)) / 2
    torch.testing.assert_close(one, (q1 + p2) / 2)
    two = DMNOutput(*[torch.cat([t, t]) for t in out])
    torch.testing.assert_close(gate_loss(two, torch.tensor([[0, -1, -1], [-1, -1, -1]])), one)
    soft = gate_loss(out, supports, "softmax")
    l1 = -torch.log_softmax(torch.tensor([0.5, -1.0]), 0)[1]
    l2 = -torch.log_softmax(torch.tensor([1.0, 0.0]), 0)[0]
    torch.testing.assert_close(soft, (l1 + l2) / 2)


def test_softmax_gates_sum_to_one_over_valid_facts():
    model = build(gate="softmax")
    x = example(seed=4)
    with probe.record() as rec:
        model(x)
    for g in rec.report(model.memory, "gates").values:
        torch.testing.assert_close(g.sum(-1), torch.ones(4))
        assert bool((g * (torch.arange(4) >= x.story_lengths.unsqueeze(1)) == 0).all())


def test_bad_input_is_named():
    model = build()
    x = example()
    with pytest.raises(ValueError, match="x.sentence_ends"):
        model(x._replace(sentence_ends=x.sentence_ends.clamp(max=0) - 1))
    with pytest.raises(ValueError, match="x.question_lengths"):
        model(x._replace(question_lengths=x.question_lengths * 0))
    with pytest.raises(TypeError, match="BabiInput"):
        model(tuple(x))
    with pytest.raises(ValueError, match="gate"):
        rnnzoo.create("dmn", vocab_size=5, hidden_size=3, gate="tanh")


@pytest.mark.parametrize("gate", ["sigmoid", "softmax"])
def test_supervision_follows_the_model_option(gate):
    from rnnzoo.cells.dmn import dmn_loss, supervision_loss

    x = example(seed=5)
    supports = torch.tensor([[0, -1], [1, 0], [-1, -1], [2, -1]])
    for flag in (False, True):
        out = build(gate=gate, gate_supervision=flag)(x)
        answer = torch.tensor([1, 2, 3, 4])
        ce = torch.nn.functional.cross_entropy(out.logits, answer)
        if flag:
            assert bool((out.supervise == (1.0 if gate == "sigmoid" else 2.0)).all())
            torch.testing.assert_close(supervision_loss(out, supports), gate_loss(out, supports, gate))
            torch.testing.assert_close(dmn_loss(out, answer, supports), ce + gate_loss(out, supports, gate))
        else:
            assert supervision_loss(out, supports) is None
            torch.testing.assert_close(dmn_loss(out, answer, supports), ce)


def test_attention_maps_are_passes_by_facts():
    from rnnzoo.diagnostics.attention import attention_maps

    model = build()
    x = example(seed=6)
    maps = attention_maps(model, lambda: model(x), examples=4)
    assert list(maps) == ["memory.gates"]
    for b, m in enumerate(maps["memory.gates"]):
        assert m.shape == (model.passes, x.sentence_ends.shape[1])
        assert bool((m[:, int(x.story_lengths[b]):] == 0).all())
