"""rnnzoo.decode: beam search against brute-force enumeration, end/pad handling, width 1 == greedy."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnzoo.decode import beam_search, greedy

D = torch.float64
V, PAD, END, START = 4, 0, 1, 2


def make_model(seed: int):
    """A decoder whose next-token distribution depends on the whole history (through a tanh state)."""
    g = torch.Generator().manual_seed(seed)
    emb, a, w = (torch.randn(V, 5, generator=g, dtype=D), torch.randn(5, 5, generator=g, dtype=D),
                 2 * torch.randn(5, V, generator=g, dtype=D))

    def step(tokens: torch.Tensor, h: torch.Tensor):
        h = torch.tanh(h @ a + emb[tokens])
        return torch.log_softmax(h @ w, -1), h

    return step


def brute_force(step, h0: torch.Tensor, length: int, end: int | None):
    """Every hypothesis (stopping at ``end``) with its summed log-probability, for one example (h0 (1, 5))."""
    out = {}
    for seq in itertools.product(range(V), repeat=length):
        if end is not None and end in seq:
            seq = seq[:seq.index(end) + 1]
        if seq in out:
            continue
        h, tok, total = h0, torch.tensor([START]), 0.0
        for t in seq:
            lp, h = step(tok, h)
            total += float(lp[0, t])
            tok = torch.tensor([t])
        out[seq] = total
    return sorted(out.items(), key=lambda kv: -kv[1])


@pytest.mark.parametrize("end", [END, None])
def test_a_wide_beam_finds_the_brute_force_ranking(end: int | None) -> None:
    step = make_model(0)
    h0 = torch.randn(3, 5, generator=torch.Generator().manual_seed(1), dtype=D)
    length = 3
    width = 64 if end is None else 40  # every hypothesis fits: exact search
    beams = beam_search(step, h0, batch_size=3, width=width, max_steps=length, start=START, end=end, pad=PAD)
    for b in range(3):
        ranking = brute_force(step, h0[b:b + 1], length, end)
        for k in range(5):
            seq, score = ranking[k]
            n = len(seq)
            assert tuple(beams.tokens[b, k, :n].tolist()) == seq
            assert beams.tokens[b, k, n:].eq(PAD).all()  # pad after the end token
            assert int(beams.lengths[b, k]) == n  # the end token counted
            assert float(beams.scores[b, k]) == pytest.approx(score, abs=1e-10)


def test_a_narrow_beam_keeps_the_best_of_what_it_explored() -> None:
    step = make_model(3)
    h0 = torch.randn(2, 5, generator=torch.Generator().manual_seed(4), dtype=D)
    beams = beam_search(step, h0, batch_size=2, width=3, max_steps=4, start=START, end=END, pad=PAD)
    assert (beams.scores[:, :-1] >= beams.scores[:, 1:]).all()
    for b in range(2):  # every returned score is the true score of its tokens
        for k in range(3):
            n = int(beams.lengths[b, k])
            seq = tuple(beams.tokens[b, k, :n].tolist())
            h, tok, total = h0[b:b + 1], torch.tensor([START]), 0.0
            for t in seq:
                lp, h = step(tok, h)
                total += float(lp[0, t])
                tok = torch.tensor([t])
            assert float(beams.scores[b, k]) == pytest.approx(total, abs=1e-10)


def test_width_one_is_greedy() -> None:
    step = make_model(5)
    h0 = torch.randn(4, 5, generator=torch.Generator().manual_seed(6), dtype=D)
    beams = greedy(step, h0, batch_size=4, max_steps=6, start=START, end=END, pad=PAD)
    assert beams.tokens.shape[:2] == (4, 1)
    for b in range(4):  # argmax at every step, by hand
        h, tok, seq, total = h0[b:b + 1], torch.tensor([START]), [], 0.0
        for _ in range(6):
            lp, h = step(tok, h)
            t = int(lp.argmax(-1))
            seq.append(t)
            total += float(lp[0, t])
            tok = torch.tensor([t])
            if t == END:
                break
        assert beams.tokens[b, 0, :len(seq)].tolist() == seq
        assert beams.tokens[b, 0, len(seq):].eq(PAD).all()
        assert float(beams.scores[b, 0]) == pytest.approx(total, abs=1e-10)
    wide1 = beam_search(step, h0, batch_size=4, width=1, max_steps=6, start=START, end=END, pad=PAD)
    assert torch.equal(wide1.tokens, beams.tokens)


def test_bad_arguments_raise_naming_them() -> None:
    step = make_model(0)
    with pytest.raises(ValueError, match="width: expected an int >= 1"):
        beam_search(step, torch.zeros(1, 5, dtype=D), batch_size=1, width=0, max_steps=2, start=START)
    with pytest.raises(ValueError, match=r"start: expected an int or an int64 tensor of shape \(2,\)"):
        beam_search(step, torch.zeros(2, 5, dtype=D), batch_size=2, width=1, max_steps=2,
                    start=torch.tensor([1, 2, 3]))
