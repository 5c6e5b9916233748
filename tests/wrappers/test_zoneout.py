"""Zoneout against Krueger et al.'s zoneout LSTM (Sec. 3.2) typed from the paper: the expectation in eval
mode, per-unit Bernoulli keeps in training mode, rates per field."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.wrappers import Zoneout
from tests.wrappers.naive import Leaky, gru_candidate, lstm_candidate

B, T, I, H = 3, 6, 4, 5


def test_eval_is_the_papers_lstm_with_the_expected_noise():
    """c_t = d^c c_{t-1} + (1 - d^c)(f c_{t-1} + i g);  h_t = d^h h_{t-1} + (1 - d^h)(o tanh(f c_{t-1} + i g)),
    with d replaced by its expectation (the rate) at test time."""
    lstm = rnnzoo.LSTMCell(I, H)
    r_h, r_c = 0.3, 0.6
    cell = Zoneout(lstm, {"h": r_h, "c": r_c}).eval()
    x = torch.randn(B, T, I)
    h = c = torch.zeros(B, H)
    ys = []
    for t in range(T):
        h_cand, c_cand = lstm_candidate(lstm, x[:, t], h, c)  # both from the previous (zoned) state
        c = r_c * c + (1 - r_c) * c_cand
        h = r_h * h + (1 - r_h) * h_cand
        ys.append(h)
    out = rnnzoo.run(cell, x)
    torch.testing.assert_close(out.output, torch.stack(ys, 1))
    torch.testing.assert_close(out.state.c, c)


def test_training_keeps_each_unit_or_updates_it_at_the_rate():
    """Every unit of every step is either its previous value (d = 1, probability rate) or the inner
    cell's update (d = 0), drawn per step, unit and batch element."""
    gru = rnnzoo.GRUCell(I, 40)
    rate = 0.3
    cell = Zoneout(gru, rate)
    x = torch.randn(200, T, I)
    states = rnnzoo.run(cell, x, return_states=True).states.h  # (B, T, H)
    prev = torch.zeros(200, 40)
    keeps = []
    for t in range(T):
        cand = gru_candidate(gru, x[:, t], prev)
        new = states[:, t]
        kept = torch.isclose(new, prev, rtol=0, atol=1e-7)
        updated = torch.isclose(new, cand, rtol=0, atol=1e-6)
        assert torch.all(kept | updated)
        keeps.append(kept & ~updated)
        prev = new
    keeps = torch.stack(keeps)
    assert float(keeps[1:].float().mean()) == pytest.approx(rate, abs=0.02)
    assert not torch.equal(keeps[1], keeps[2])  # a new draw at every step


def test_training_draws_follow_the_seed_and_output_is_the_zoned_state():
    cell = Zoneout(rnnzoo.LSTMCell(I, H), {"h": 0.5, "c": 0.2})
    x = torch.randn(B, T, I)
    torch.manual_seed(0)
    a = rnnzoo.run(cell, x, return_states=True)
    torch.manual_seed(0)
    b = rnnzoo.run(cell, x)
    torch.testing.assert_close(a.output, b.output)
    torch.testing.assert_close(a.output, a.states.h)  # y_t = output(s_t): the zoned h


def test_rates_per_field_a_float_for_every_field_and_errors():
    lstm = rnnzoo.LSTMCell(I, H)
    spec = lstm.state_spec(1)
    assert Zoneout(lstm, 0.1)._plan(spec) == (("h", 0.1), ("c", 0.1))
    assert Zoneout(lstm, {"c": 0.5})._plan(spec) == (("c", 0.5),)
    scrn = rnnzoo.SCRNCell(I, H)
    assert Zoneout(scrn, 0.2)._plan(scrn.state_spec(1)) == (("h", 0.2), ("s", 0.2))
    assert Zoneout(Leaky(3), 0.2)._plan(Leaky(3).state_spec(1)) == ((None, 0.2),)
    with pytest.raises(ValueError, match=r"rates: LSTMCell's state has the fields h, c; got 'x'"):
        Zoneout(lstm, {"x": 0.1})
    with pytest.raises(ValueError, match=r"rates: Leaky's state is a TensorSpec without named fields"):
        Zoneout(Leaky(3), {"h": 0.1})
    with pytest.raises(ValueError, match=r"rates\['c'\]: expected a probability in \[0, 1\), got 1"):
        Zoneout(lstm, {"c": 1})
    with pytest.raises(TypeError, match=r"rates: expected a float or a dict"):
        Zoneout(lstm, {})


def test_spatial_cell_fields_are_checked_per_run():
    cell = Zoneout(rnnzoo.ConvLSTMCell(2, 3), {"c": 0.5}).eval()
    out = rnnzoo.run(cell, torch.randn(2, 3, 2, 5, 5))
    assert out.state.c.shape == (2, 3, 5, 5)


def test_no_fast_path():
    cell = Zoneout(rnnzoo.LSTMCell(I, H), 0.1)
    assert cell.fused_kind is None and cell.eval().fused_kind is None
    seq = rnnzoo.Steps(cell, torch.randn(T, B, I), None, None, cell.prepare(None, B, input_shape=(I,)), T, B)
    assert cell.fused(seq, cell.initial_state(B)) is None
