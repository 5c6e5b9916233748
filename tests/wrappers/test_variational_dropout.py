"""VariationalDropout against Gal & Ghahramani's variational LSTM typed from the paper, its masks, its
fast path, per-step randomness and users' cells."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
import rnnzoo.cells.gru
import rnnzoo.cells.lstm
from rnnzoo.wrappers import Drawn, VariationalDropout
from tests.wrappers.naive import Echo, Leaky, Pair, gru_candidate, lstm_candidate

B, T, I, H = 3, 6, 4, 5


def _masks(cell, batch, input_shape, seed):
    """What the runner's one ``prepare`` call draws under ``seed``."""
    torch.manual_seed(seed)
    drawn = cell.prepare(None, batch, device="cpu", dtype=torch.float32, input_shape=input_shape)
    assert isinstance(drawn, Drawn)
    return drawn.value


@pytest.mark.parametrize("use_fused", [False, True])
def test_variational_lstm_equals_the_paper(use_fused):
    """Gal & Ghahramani's (tied) variational LSTM: the gates read x_t * m_x and h_{t-1} * m_h with the same
    masks at every step; the output is h_t * m_y; c and the carried h are not masked."""
    lstm = rnnzoo.LSTMCell(I, H)
    cell = VariationalDropout(lstm, input=0.3, output=0.2, state=0.4)
    x = torch.randn(B, T, I)
    masks = _masks(cell, B, (I,), seed=5)
    m_x, m_h, m_y = masks.input, masks.state["h"], masks.output
    assert set(masks.state) == {"h"}
    h = c = torch.zeros(B, H)
    ys = []
    for t in range(T):
        h, c = lstm_candidate(lstm, x[:, t] * m_x, h * m_h, c)
        ys.append(h * m_y)
    torch.manual_seed(5)
    out = rnnzoo.run(cell, x, use_fused=use_fused)
    torch.testing.assert_close(out.output, torch.stack(ys, 1))
    torch.testing.assert_close(out.state.h, h)
    torch.testing.assert_close(out.state.c, c)


def test_masks_are_inverted_bernoulli_per_sequence():
    cell = VariationalDropout(rnnzoo.LSTMCell(I, 50), input=0.25, output=0.5, state=0.1)
    masks = _masks(cell, 400, (I,), seed=0)
    for m, p, shape in ((masks.input, 0.25, (400, I)), (masks.state["h"], 0.1, (400, 50)),
                        (masks.output, 0.5, (400, 50))):
        assert m.shape == shape
        keep = 1 - p
        assert torch.all((m == 0) | torch.isclose(m, torch.tensor(1 / keep)))
        assert float((m == 0).float().mean()) == pytest.approx(p, abs=0.04)
        assert float(m.mean()) == pytest.approx(1.0, abs=0.06)


def test_eval_mode_is_the_inner_cell_and_draws_nothing():
    lstm = rnnzoo.LSTMCell(I, H)
    cell = VariationalDropout(lstm, input=0.5, output=0.5, state=0.5).eval()
    x = torch.randn(B, T, I)
    rng = torch.get_rng_state()
    out = rnnzoo.run(cell, x)
    assert torch.equal(torch.get_rng_state(), rng)
    ref = rnnzoo.run(lstm, x)
    torch.testing.assert_close(out.output, ref.output, rtol=0, atol=0)
    assert cell.fused_kind == "torch"


def test_without_state_dropout_the_inner_kernel_runs_on_the_masked_input(monkeypatch):
    calls = []
    real = rnnzoo.cells.lstm.run_fused

    def spy(kind, x, *args):
        calls.append(x)
        return real(kind, x, *args)

    monkeypatch.setattr(rnnzoo.cells.lstm, "run_fused", spy)
    cell = VariationalDropout(rnnzoo.LSTMCell(I, H), input=0.5, output=0.5)
    assert cell.fused_kind == "torch"
    x = torch.randn(B, T, I)
    masks = _masks(cell, B, (I,), seed=1)
    torch.manual_seed(1)
    out = rnnzoo.run(cell, x)
    assert len(calls) == 1
    torch.testing.assert_close(calls[0], (x * masks.input[:, None]).transpose(0, 1))  # time-major, masked
    torch.manual_seed(1)
    torch.testing.assert_close(out.output, rnnzoo.run(cell, x, use_fused=False).output)


def test_with_state_dropout_the_lstm_recurrence_takes_the_mask(monkeypatch):
    """torch's kernel cannot mask h inside its recurrence; the rnnzoo LSTM recurrence can: it runs with the
    drawn state mask (Steps.state_masks) and equals the step loop under the same seed."""
    monkeypatch.setattr(rnnzoo.cells.lstm, "run_fused", lambda *a: pytest.fail("torch's kernel with state dropout"))
    seen = []
    real = rnnzoo.cells.lstm.lstm_recurrence
    monkeypatch.setattr(rnnzoo.cells.lstm, "lstm_recurrence", lambda *a, **k: seen.append(k["h_mask"]) or real(*a, **k))
    cell = VariationalDropout(rnnzoo.LSTMCell(I, H), state=0.5)
    assert cell.fused_kind == "rnnzoo"
    x = torch.randn(B, T, I)
    torch.manual_seed(3)
    masks = _masks(cell, B, (I,), seed=3)
    torch.manual_seed(3)
    out = rnnzoo.run(cell, x, lengths=[T, 2, 4])
    torch.testing.assert_close(seen[0], masks.state["h"])
    torch.manual_seed(3)
    torch.testing.assert_close(out.output, rnnzoo.run(cell, x, lengths=[T, 2, 4], use_fused=False).output)
    assert cell.eval().fused_kind == "torch"


def test_with_state_dropout_a_cell_without_state_masks_takes_the_step_loop(monkeypatch):
    monkeypatch.setattr(rnnzoo.cells.gru, "run_fused", lambda *a: pytest.fail("fused kernel with state dropout"))
    cell = VariationalDropout(rnnzoo.GRUCell(I, H), state=0.5)
    assert cell.fused_kind is None
    rnnzoo.run(cell, torch.randn(B, T, I))
    assert cell.eval().fused_kind == "torch"


@pytest.mark.parametrize("randomness", ["per_sequence", "per_step"])
def test_per_step_randomness_draws_new_masks_every_step(randomness):
    """``run(randomness="per_step")`` calls prepare before every step: the input mask then differs between
    steps (Zaremba et al.'s per-step dropout); per sequence it is the same at every step."""
    cell = VariationalDropout(Echo(20), input=0.5)
    out = rnnzoo.run(cell, torch.ones(4, T, 20), randomness=randomness).output  # Echo outputs its masked input
    same = [torch.equal(out[:, t], out[:, 0]) for t in range(1, T)]
    assert all(same) if randomness == "per_sequence" else not any(same)
    assert set(out.unique().tolist()) <= {0.0, 2.0}


def test_state_fields_and_their_errors():
    lstm = rnnzoo.LSTMCell(I, H)
    cell = VariationalDropout(lstm, state=0.5, state_fields="c")
    masks = _masks(cell, B, (I,), seed=2)
    assert set(masks.state) == {"c"}
    x = torch.randn(B, T, I)
    h = c = torch.zeros(B, H)
    for t in range(T):
        h, c = lstm_candidate(lstm, x[:, t], h, c * masks.state["c"])
    torch.manual_seed(2)
    torch.testing.assert_close(rnnzoo.run(cell, x).state.h, h)
    assert set(_masks(VariationalDropout(lstm, state=0.5, state_fields=("h", "c")), B, (I,), 0).state) == {"h", "c"}
    with pytest.raises(ValueError, match=r"state_fields: LSTMCell's state has the fields h, c; got 'x'"):
        VariationalDropout(lstm, state=0.5, state_fields="x")
    with pytest.raises(ValueError, match=r"state_fields: .*Leaky's state is a TensorSpec"):
        VariationalDropout(Leaky(3), state=0.5, state_fields="h")
    with pytest.raises(ValueError, match=r"state: expected a probability in \[0, 1\), got 1.0"):
        VariationalDropout(lstm, state=1.0)
    with pytest.raises(ValueError, match=r"input: expected a probability in \[0, 1\), got -0.1"):
        VariationalDropout(lstm, input=-0.1)


def test_gru_state_mask_reaches_the_carried_term():
    """The Deviations note: for a GRU the masked h_{t-1} is also what z * h_{t-1} carries."""
    gru = rnnzoo.GRUCell(I, H)
    cell = VariationalDropout(gru, state=0.5)
    x = torch.randn(B, T, I)
    m_h = _masks(cell, B, (I,), seed=3).state["h"]
    h = torch.zeros(B, H)
    for t in range(T):
        h = gru_candidate(gru, x[:, t], h * m_h)
    torch.manual_seed(3)
    torch.testing.assert_close(rnnzoo.run(cell, x).state.h, h)


def test_users_cells_tensor_state_and_structured_input():
    leaky = Leaky(I)
    cell = VariationalDropout(leaky, input=0.5, output=0.5, state=0.5)
    x = torch.randn(B, T, I)
    masks = _masks(cell, B, (I,), seed=4)
    s = torch.zeros(B, I)
    ys = []
    for t in range(T):
        s = 0.5 * (s * masks.state[None]) + torch.tanh((x[:, t] * masks.input) @ leaky.weight.T)
        ys.append(s * masks.output)
    torch.manual_seed(4)
    torch.testing.assert_close(rnnzoo.run(cell, x).output, torch.stack(ys, 1))

    pair = VariationalDropout(Pair(I), input=0.5)
    x = {"a": torch.randn(B, T, I), "n": torch.randint(0, 5, (B, T))}
    shape = {"a": (I,), "n": ()}
    masks = _masks(pair, B, shape, seed=6)
    torch.manual_seed(6)
    out = rnnzoo.run(pair, x).output
    torch.testing.assert_close(out, x["a"] * masks.input["a"][:, None] + x["n"][..., None].float())


def test_one_step_and_unbatched_step():
    cell = VariationalDropout(rnnzoo.LSTMCell(I, H), input=0.5, output=0.5, state=0.5)
    y, state = cell(torch.randn(B, I))
    assert y.shape == (B, H) and state.c.shape == (B, H)
    y, state = cell(torch.randn(I))
    assert y.shape == (H,) and state.h.shape == (H,)
