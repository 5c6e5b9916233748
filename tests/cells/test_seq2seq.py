"""The seq2seq model: teacher forcing agrees with step-by-step decoding, lengths on both sides, the bridge s_0."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.seq2seq import END, PAD, START, Seq2Seq, Seq2SeqInput

D = torch.float64


def model(**options) -> Seq2Seq:
    torch.manual_seed(0)
    opts = {"vocab_size": 8, "hidden_size": 6, "embedding_size": 5, **options}
    return Seq2Seq(**opts).to(D).eval()


CONFIGS = [{}, {"attention": "additive", "maxout_size": 3}, {"attention": "general", "convention": "luong"},
           {"attention": "additive", "bidirectional": True, "encoder": "lstm", "decoder": "lstm"},
           {"attention": "dot", "convention": "luong", "decoder": "elman"}, {"bidirectional": True, "num_layers": 2}]


@pytest.mark.parametrize("options", CONFIGS)
def test_beam_scores_are_the_teacher_forced_log_probabilities(options: dict) -> None:
    m = model(**options)
    x = m.example_input(3, generator=torch.Generator().manual_seed(1))
    beams = m.generate(x, width=3, max_steps=5)
    for k in range(3):  # feed each hypothesis back through forward (the run path): same log-probs
        tokens, lengths = beams.tokens[:, k], beams.lengths[:, k]
        target = torch.cat([torch.full((3, 1), START), tokens[:, :-1]], 1)
        target = target.masked_fill(torch.arange(target.shape[1]) >= lengths.unsqueeze(1), PAD)
        logp = torch.log_softmax(m(x._replace(target=target, target_lengths=lengths)), -1)
        picked = logp.gather(2, tokens.unsqueeze(2)).squeeze(2)
        picked = picked.masked_fill(torch.arange(tokens.shape[1]) >= lengths.unsqueeze(1), 0.0)
        torch.testing.assert_close(picked.sum(1), beams.scores[:, k], rtol=1e-9, atol=1e-9)


def test_greedy_is_the_argmax_of_teacher_forcing_on_its_own_output() -> None:
    m = model(attention="additive")
    x = m.example_input(4, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        m.out.bias[END] -= 1.5  # an untrained model: end later, in some rows only
    beams = m.generate(x, max_steps=6)
    tokens, lengths = beams.tokens[:, 0], beams.lengths[:, 0]
    n = tokens.shape[1]
    assert n > 1
    target = torch.cat([torch.full((4, 1), START), tokens[:, :-1]], 1)
    logits = m(x._replace(target=target.masked_fill(torch.arange(n) >= lengths.unsqueeze(1), PAD),
                          target_lengths=lengths))
    valid = torch.arange(n) < lengths.unsqueeze(1)
    assert torch.equal(logits.argmax(-1)[valid], tokens[valid])
    ended = tokens.eq(END).any(1)
    assert torch.equal(tokens.gather(1, (lengths - 1).unsqueeze(1)).squeeze(1).eq(END), ended)


@pytest.mark.parametrize("options", CONFIGS)
def test_source_padding_changes_nothing(options: dict) -> None:
    m = model(**options)
    x = m.example_input(3, generator=torch.Generator().manual_seed(3))
    pad = torch.arange(x.source.shape[1]) >= x.source_lengths.unsqueeze(1)
    assert pad.any()
    other = x._replace(source=x.source.masked_fill(pad, 5))
    torch.testing.assert_close(m(x), m(other), rtol=0, atol=0)


def test_without_attention_the_source_reaches_the_decoder_only_through_s0() -> None:
    m = model()
    x = m.example_input(2, generator=torch.Generator().manual_seed(4))
    h, mask, state = m.encode(x.source, x.source_lengths)
    last = h[torch.arange(2), x.source_lengths - 1]
    torch.testing.assert_close(state.h, torch.tanh(m.bridge(last)))  # s_0 = tanh(W_s h_S), Cho / Sutskever
    y = x._replace(source=torch.where(x.source > 2, 10 - x.source, x.source))  # another source
    assert (m(x) - m(y)).abs().max() > 1e-6


def test_a_bidirectional_bridge_reads_the_forward_end_and_the_backward_start() -> None:
    m = model(bidirectional=True, attention="additive")
    x = m.example_input(3, generator=torch.Generator().manual_seed(5))
    h, _, state = m.encode(x.source, x.source_lengths)
    summary = torch.cat([h[torch.arange(3), x.source_lengths - 1, :6], h[:, 0, 6:]], -1)
    torch.testing.assert_close(state.cell.h, torch.tanh(m.bridge(summary)))


def test_registry_and_create() -> None:
    info = rnnzoo.model_info("seq2seq")
    assert info.kind is rnnzoo.ModelKind.MODEL and info.input_kind is rnnzoo.InputKind.SEQUENCE_TO_SEQUENCE
    m = rnnzoo.create("seq2seq", vocab_size=7, hidden_size=4, attention="concat", convention="luong")
    assert isinstance(m, Seq2Seq)


def test_bad_inputs_raise_naming_the_argument() -> None:
    m = model(attention="additive")
    x = m.example_input(2, generator=torch.Generator().manual_seed(6))
    with pytest.raises(ValueError, match="x.source: expected int64 ids"):
        m(x._replace(source=x.source.float()))
    with pytest.raises(ValueError, match=r"x.target: ids must lie in \[0, 8\)"):
        m(x._replace(target=x.target + 8))
    with pytest.raises(ValueError, match="x.source_lengths: expected lengths in"):
        m(x._replace(source_lengths=x.source_lengths * 0))
    with pytest.raises(TypeError, match="x: expected a Seq2SeqInput"):
        m(tuple(x))
    with pytest.raises(ValueError, match="attention: expected None or one of"):
        Seq2Seq(vocab_size=5, hidden_size=4, attention="luong")
    with pytest.raises(ValueError, match="query_size: dot attention needs"):
        Seq2Seq(vocab_size=5, hidden_size=4, attention="dot", convention="luong", bidirectional=True)
    with pytest.raises(ValueError, match="decoder: a decoder must be causal"):
        Seq2Seq(vocab_size=5, hidden_size=4, decoder="fsmn", decoder_options={"lookahead": 1})
    with pytest.raises(ValueError, match="cell: a decoder must be causal"):
        Seq2Seq(vocab_size=5, hidden_size=4, attention="additive", decoder="fsmn", decoder_options={"lookahead": 1})
    assert isinstance(x, Seq2SeqInput)


def test_the_model_reports_its_attention_for_the_heatmaps() -> None:
    from rnnzoo.core import probe

    m = model(attention="additive", bidirectional=True)
    x = m.example_input(3, generator=torch.Generator().manual_seed(7))
    with probe.record() as rec:
        m(x)
    reports = rec.within(m)
    rep = reports["decoder.attention"]
    assert rep.kind == "attention" and len(rep.values) == x.target.shape[1]
    pad = torch.arange(x.source.shape[1]) >= x.source_lengths.unsqueeze(1)
    for a in rep.values:
        assert a.shape == x.source.shape and a[pad].eq(0).all()
