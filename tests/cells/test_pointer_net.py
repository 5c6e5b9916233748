"""pointer_net (Vinyals et al. 2015, arXiv:1506.03134): eq (3) against a naive loop, the chosen-mask, padding."""

from __future__ import annotations

import itertools
import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells.pointer_net import PointerInput, PointerNet, pointer_log_probs
from rnnzoo.core import probe


def build(stop: str = "all", hidden: int = 6, seed: int = 0, embedding: int | None = None) -> PointerNet:
    torch.manual_seed(seed)
    return rnnzoo.create("pointer_net", input_size=2, hidden_size=hidden, stop=stop,
                         embedding_size=embedding).double().eval()


@torch.no_grad()
def naive_log_probs(net: PointerNet, points: torch.Tensor, length: int, pointers: list[int]) -> list[list[float]]:
    """One example, typed from eq (3): plain loops over steps and positions, the chosen set as a Python set."""
    enc, dec, att = net.encoder, net.decoder.cell, net.decoder.attention
    n = points.shape[0]
    start = net.start
    if net.embed is not None:  # x -> W x + b before both cells
        points = torch.stack([net.embed.weight @ p + net.embed.bias for p in points])
        start = net.embed.weight @ start + net.embed.bias
    state = enc.initial_state(1, dtype=torch.float64)
    keys = []
    for j in range(length):  # e_j: the encoder stepped by hand over the valid points only
        out, state = enc(points[j:j + 1], state)
        keys.append(out[0])
    keys.append(net.decoder.end_key)  # END, position n
    positions = list(range(length)) + [n]
    chosen: set[int] = set()
    inp = start.unsqueeze(0)
    rows = []
    for i, target in enumerate(pointers):
        out, state = dec(inp, state)
        d = out[0]
        u = {j: float(att.v @ torch.tanh(att.w_key.weight @ keys[k] + att.w_query.weight @ d))
             for k, j in enumerate(positions)}
        left = [j for j in range(length) if j not in chosen]
        allowed = left + ([n] if (not left if net.stop == "all" else (chosen or not left)) else [])
        z = math.log(sum(math.exp(u[j]) for j in allowed))
        rows.append([u[j] - z if j in allowed else -math.inf for j in range(n + 1)])
        chosen.add(target)
        inp = points[target:target + 1] if target < n else torch.zeros(1, points.shape[1], dtype=torch.float64)
        del i
    return rows


@pytest.mark.parametrize(("stop", "embedding"), [("all", None), ("any", None), ("all", 5)])
def test_forward_equals_a_naive_loop_from_eq_3(stop: str, embedding: int | None) -> None:
    net = build(stop, embedding=embedding)
    x = net.example_input(4, generator=torch.Generator().manual_seed(3))
    x = x._replace(points=x.points.double())
    got = net(x).log_probs()
    for b in range(4):
        m = int(x.pointer_lengths[b])
        want = naive_log_probs(net, x.points[b], int(x.lengths[b]), x.pointers[b, :m].tolist())
        torch.testing.assert_close(got[b, :m], torch.tensor(want, dtype=torch.float64), rtol=1e-10, atol=1e-10)
        assert bool(torch.isneginf(got[b, m:]).all()), "steps past the label are all -inf (padding)"


def test_masks_come_before_the_log_softmax() -> None:
    net = build()
    x = net.example_input(5, generator=torch.Generator().manual_seed(4))
    out = net(x)
    lp = out.log_probs()
    steps = torch.arange(lp.shape[1]) < x.pointer_lengths.unsqueeze(1)
    # the available positions carry all the probability (a 0-filled mask would leave exp(0)/Z elsewhere)
    torch.testing.assert_close(lp.exp().sum(-1)[steps], torch.ones(int(steps.sum()), dtype=torch.float64))
    assert bool(torch.isneginf(lp[~out.available]).all())
    zero_filled = torch.log_softmax(out.scores.masked_fill(~out.available, 0.0), -1)
    assert not torch.allclose(zero_filled[steps], lp[steps].clamp(min=-1e300)), "the test would not see a 0-fill"
    # a row with nothing available gives -inf, never NaN
    assert not bool(torch.isnan(pointer_log_probs(torch.zeros(1, 3), torch.zeros(1, 3, dtype=torch.bool))).any())


def test_padding_is_never_pointed_at_and_chosen_positions_never_again() -> None:
    net = build(hidden=5, seed=1)
    x = net.example_input(8, generator=torch.Generator().manual_seed(5))
    out = net(x)
    n = x.points.shape[1]
    for b in range(8):
        length = int(x.lengths[b])
        assert not bool(out.available[b, :, length:n].any()), "a padded position was available"
        for i in range(int(x.pointer_lengths[b])):
            before = set(x.pointers[b, :i].tolist())
            assert not any(bool(out.available[b, i, j]) for j in before if j < n), f"step {i} may repeat {before}"


@pytest.mark.parametrize("width", [1, 3, 5])
def test_decoding_outputs_a_permutation_of_the_valid_points(width: int) -> None:
    net = build(hidden=5, seed=2)
    x = net.example_input(8, generator=torch.Generator().manual_seed(6))
    beams = net.generate(x, width=width)
    n = x.points.shape[1]
    for b in range(8):
        length = int(x.lengths[b])
        for w in range(width):
            if not math.isfinite(float(beams.scores[b, w])):
                continue  # fewer than W valid permutations (a short example): the beam is marked impossible
            seq = beams.tokens[b, w].tolist()
            assert sorted(seq[:length]) == list(range(length)), f"example {b} beam {w}: {seq} (length {length})"
            assert seq[length:] == [n] * (n + 1 - length)
            assert int(beams.lengths[b, w]) == length + 1
    assert bool(torch.isfinite(beams.scores[x.lengths == n]).all())


def test_exhaustive_beam_search_finds_the_most_likely_permutation() -> None:
    net = build(hidden=5, seed=3)
    g = torch.Generator().manual_seed(7)
    points = torch.rand(2, 4, 2, generator=g, dtype=torch.float64)
    lengths = torch.tensor([4, 4])
    beams = net.generate((points, lengths), width=24)  # 4! hypotheses: beam search is exhaustive
    perms = torch.tensor(list(itertools.permutations(range(4))))
    for b in range(2):
        x = PointerInput(points[b:b + 1].expand(24, 4, 2), lengths[:1].expand(24), perms, torch.full((24,), 4))
        scores = net(x).log_probs().gather(2, perms.unsqueeze(2)).squeeze(2).sum(1)
        best = int(scores.argmax())
        assert beams.tokens[b, 0, :4].tolist() == perms[best].tolist()
        torch.testing.assert_close(beams.scores[b, 0], scores[best], rtol=1e-10, atol=1e-10)
        torch.testing.assert_close(beams.scores[b].sort(descending=True).values, scores.sort(descending=True).values)


def test_hull_mode_end_only_after_a_choice() -> None:
    net = build("any")
    x = net.example_input(4, generator=torch.Generator().manual_seed(8))
    out = net(x)
    n = x.points.shape[1]
    assert not bool(out.available[:, 0, n].any()), "END before any point was chosen"
    assert bool(out.available[:, 1, n].all())
    beams = net.generate(x, width=2)
    for b in range(4):
        seq = beams.tokens[b, 0].tolist()
        k = seq.index(n)
        assert k >= 1 and len(set(seq[:k])) == k and max(seq[:k]) < int(x.lengths[b])


def test_the_pointer_distribution_is_reported_as_attention() -> None:
    net = build()
    x = net.example_input(3, generator=torch.Generator().manual_seed(9))
    with probe.record() as rec:
        lp = net(x).log_probs()
    rep = rec.report(net.decoder, "attention")
    assert rep.kind == "attention" and len(rep.values) == x.pointers.shape[1]
    torch.testing.assert_close(rep.values[0], lp[:, 0].exp())


def test_bad_inputs_raise_naming_the_argument() -> None:
    net = build()
    x = net.example_input(2, generator=torch.Generator().manual_seed(10))
    with pytest.raises(ValueError, match="x.points"):
        net(x._replace(points=x.points[..., :1]))
    with pytest.raises(ValueError, match="x.lengths"):
        net(x._replace(lengths=x.lengths * 0))
    with pytest.raises(ValueError, match="x.pointers"):
        net(x._replace(pointers=x.pointers + 10))
    with pytest.raises(ValueError, match="x.pointer_lengths"):
        net(x._replace(pointer_lengths=x.pointer_lengths.int()))
    with pytest.raises(TypeError, match="x: expected a PointerInput"):
        net(x.points)
    with pytest.raises(ValueError, match="stop"):
        rnnzoo.create("pointer_net", stop="some")
    with pytest.raises(ValueError, match="cell"):
        rnnzoo.create("pointer_net", cell="pointer_net")


def test_gru_encoder_and_decoder() -> None:
    torch.manual_seed(0)
    net = rnnzoo.create("pointer_net", input_size=1, hidden_size=4, cell="gru")
    x = net.example_input(3, generator=torch.Generator().manual_seed(11))
    x = x._replace(points=x.points[..., :1])
    assert bool(torch.isfinite(net(x).scores).all())
    assert net.generate(x).tokens.shape == (3, 1, 7)
