"""MemN2N against a naive implementation typed from the paper (arXiv:1503.08895), and its known pitfalls."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells.memn2n import MemN2N, position_encoding
from rnnzoo.core import probe
from rnnzoo.data.babi import BabiInput


def build(**opts) -> MemN2N:
    torch.manual_seed(0)
    base = {"vocab_size": 9, "memory_size": 5, "sentence_len": 4, "hidden_size": 6, "hops": 3}
    return rnnzoo.create("memn2n", **{**base, **opts}).double().eval()


def example(model: MemN2N, batch: int = 4, seed: int = 0) -> BabiInput:
    return model.example_input(batch, generator=torch.Generator().manual_seed(seed))


def naive(model: MemN2N, x: BabiInput, b: int, *, linear: bool = False) -> list[float]:
    """Answer logits of example b, with loops over hops, memories, words and dimensions (float64, paper sec. 2, 4)."""
    hops = model.hops
    K, d, V = hops.hops, model.hidden_size, model.vocab_size
    E = hops.embed.detach().double()
    T = hops.time.detach().double() if hops.time is not None else None
    if hops.tying == "adjacent":  # A^k = E_{k-1}, C^k = E_k, B = A^1, W^T = C^K (sec. 2.2)
        A = [E[k - 1] for k in range(1, K + 1)]
        C = [E[k] for k in range(1, K + 1)]
        TA = [T[k - 1] for k in range(1, K + 1)] if T is not None else None
        TC = [T[k] for k in range(1, K + 1)] if T is not None else None
        Bm, W = E[0], E[K]  # tables are (V, d): row v of W is C^K x_v
    else:  # layer-wise: A^1 = ... = A^K, C^1 = ... = C^K, H between hops, separate B and W
        A, C = [E[0]] * K, [E[1]] * K
        TA = [T[0]] * K if T is not None else None
        TC = [T[1]] * K if T is not None else None
        Bm, W = model.B.detach().double()[0], model.W.weight.detach().double()

    def embed(table: torch.Tensor, words: list[int]) -> list[float]:
        J = len(words)
        out = [0.0] * d
        for j0, w in enumerate(words):
            j = j0 + 1
            for k0 in range(d):
                k = k0 + 1
                l_kj = (1 - j / J) - (k / d) * (1 - 2 * j / J) if hops.use_pe else 1.0
                out[k0] += l_kj * float(table[w, k0])
        return out

    n = int(x.story_lengths[b])
    facts = [[int(w) for w in x.story[b, i] if int(w) != 0] for i in range(n)]
    u = embed(Bm, [int(w) for w in x.question[b] if int(w) != 0])
    for k in range(K):
        m, c = [], []
        for i, f in enumerate(facts):
            t = n - 1 - i  # reverse order: the most recent fact is T(1), row 0 here
            mi, ci = embed(A[k], f), embed(C[k], f)
            if TA is not None:
                mi = [mi[q] + float(TA[k][t, q]) for q in range(d)]
                ci = [ci[q] + float(TC[k][t, q]) for q in range(d)]
            m.append(mi)
            c.append(ci)
        scores = [sum(u[q] * m[i][q] for q in range(d)) for i in range(n)]
        if linear:
            p = scores
        else:
            top = max(scores)
            e = [math.exp(s - top) for s in scores]
            p = [v / sum(e) for v in e]
        o = [sum(p[i] * c[i][q] for i in range(n)) for q in range(d)]
        if hops.H is not None:
            Hw = hops.H.weight.detach().double()
            u = [sum(float(Hw[r, q]) * u[q] for q in range(d)) + o[r] for r in range(d)]
        else:
            u = [u[q] + o[q] for q in range(d)]
    return [sum(float(W[v, q]) * u[q] for q in range(d)) for v in range(V)]


@pytest.mark.parametrize("opts", [
    {},
    {"tying": "layerwise"},
    {"position_encoding": False},
    {"temporal_encoding": False, "hops": 1},
    {"tying": "layerwise", "position_encoding": False, "hops": 2},
])
def test_matches_naive(opts: dict) -> None:
    model = build(**opts)
    x = example(model, 4, seed=1)
    got = model(x)
    for b in range(4):
        torch.testing.assert_close(got[b], torch.tensor(naive(model, x, b), dtype=torch.float64),
                                   rtol=1e-10, atol=1e-10)


def test_linear_start_removes_the_softmax_then_restores_it() -> None:
    model = build(linear_start=2).train()
    model.random_noise = 0.0
    x = example(model, 3, seed=2)
    with torch.no_grad():  # a forward without gradients (a plot, a check) is no training batch: not counted
        model(x)
    for _ in range(2):
        assert model.linear
        out = model(x).detach()
        torch.testing.assert_close(out[0], torch.tensor(naive(model, x, 0, linear=True), dtype=torch.float64))
    assert not model.linear  # after 2 training batches: the softmax is back (the paper's pitfall: keep it)
    with torch.no_grad(), probe.record() as rec:
        out = model(x)
    torch.testing.assert_close(out[1], torch.tensor(naive(model, x, 1), dtype=torch.float64))
    p = rec.report(model.hops, "attention")
    assert p.kind == "attention" and len(p.values) == model.hops.hops
    for v in p.values:
        torch.testing.assert_close(v.sum(-1), torch.ones(3, dtype=torch.float64))
        lengths = x.story_lengths
        assert bool((v[torch.arange(v.shape[1]) >= lengths[:, None]] == 0).all())  # no weight on empty slots


def test_eval_never_counts_linear_start_batches() -> None:
    model = build(linear_start=1)
    model(example(model))
    assert model.linear


def test_position_encoding_formula_and_own_length() -> None:
    # l_kj = (1 - j/J) - (k/d)(1 - 2j/J), section 4.1: J = 3, d = 2
    pe = position_encoding(torch.tensor([[5, 6, 7, 0, 0]]), 2, torch.float64)[0]
    want = torch.tensor([[(1 - 1 / 3) - 0.5 * (1 - 2 / 3), (1 - 1 / 3) - 1.0 * (1 - 2 / 3)],
                         [(1 - 2 / 3) - 0.5 * (1 - 4 / 3), (1 - 2 / 3) - 1.0 * (1 - 4 / 3)],
                         [0.0 - 0.5 * (1 - 2), 0.0 - 1.0 * (1 - 2)],
                         [0.0, 0.0], [0.0, 0.0]], dtype=torch.float64)
    torch.testing.assert_close(pe, want)
    # J is the sentence's own length: the same sentence padded wider has the same weights on its words
    wide = position_encoding(torch.tensor([[5, 6, 7, 0, 0, 0, 0]]), 2, torch.float64)[0]
    torch.testing.assert_close(wide[:3], pe[:3])


def test_temporal_encoding_uses_reverse_order() -> None:
    """The most recent fact gets T(1) whatever the padding: padding more slots changes nothing, and the
    order of facts matters only through TE (without PE/TE the memory is a bag)."""
    model = build()
    x = example(model, 2, seed=3)
    x = x._replace(story_lengths=torch.tensor([3, 3]), story=x.story * (torch.arange(5) < 3)[None, :, None])
    base = model(x)
    times = model.temporal_index(x.story_lengths, 5)
    assert times[0].tolist() == [2, 1, 0, 0, 0]
    swapped = x._replace(story=x.story[:, [1, 0, 2, 3, 4]])
    assert not torch.allclose(model(swapped), base)
    bag = build(temporal_encoding=False, position_encoding=False)
    torch.testing.assert_close(bag(swapped), bag(x))


def test_adjacent_tying_shares_the_matrices() -> None:
    model = build(hops=3)
    hops = model.hops
    assert hops.embed.shape == (4, 9, 6) and hops.time.shape[0] == 4  # K + 1 matrices, not 2K + 2
    assert not hasattr(model, "W") and not hasattr(model, "B")
    # W^T = C^K: the logits move when only E_K changes, and the question embedding B = A^1 = E_0
    x = example(model, 2)
    base = model(x)
    with torch.no_grad():
        hops.embed[3] += 0.5
    assert not torch.allclose(model(x), base)
    layer = build(tying="layerwise")
    assert layer.hops.embed.shape == (2, 9, 6) and layer.hops.H is not None
    with pytest.raises(ValueError, match="tying"):
        build(tying="both")


def test_random_noise_shifts_time_in_training_only() -> None:
    model = build(random_noise=0.1, memory_size=40).train()
    lengths = torch.full((2000,), 40)
    torch.manual_seed(0)
    t = model.temporal_index(lengths, 40)
    base = (39 - torch.arange(40)).expand(2000, 40)
    shift = (t - base).double()
    assert bool((shift >= 0).all())
    # the oldest fact has 39 facts after it: about 10% of them empty memories inserted (clamped at the last row)
    assert 3.0 < float(shift[:, 0].mean()) < 4.6 and float(shift[:, -1].mean()) < 0.15
    model.eval()
    assert torch.equal(model.temporal_index(lengths, 40), base)


def test_hops_are_a_run_without_input() -> None:
    model = build(hops=4)
    with probe.record() as rec:
        model(example(model, 2))
    assert len(rec.report(model.hops, "attention").values) == 4


def test_bad_input_raises() -> None:
    model = build()
    x = example(model, 2)
    with pytest.raises(ValueError, match="memory_size"):
        model(x._replace(story=torch.ones(2, 6, 4, dtype=torch.long)))
    with pytest.raises(ValueError, match="x: expected story int64"):
        model(x._replace(question=x.question[:, :2]))
    with pytest.raises(ValueError, match="at least one valid key"):
        model(x._replace(story_lengths=torch.tensor([0, 1])))
    with pytest.raises(ValueError, match="hops"):
        build(hops=0)


def test_bad_lengths_and_ids_are_named() -> None:
    model = build().eval()
    x = example(model, 3, seed=3)
    with pytest.raises(ValueError, match="story_lengths"):
        model(x._replace(story_lengths=torch.full_like(x.story_lengths, x.story.shape[1] + 4)))
    with pytest.raises(ValueError, match="x.question"):
        model(x._replace(question=torch.full_like(x.question, 10_000)))
