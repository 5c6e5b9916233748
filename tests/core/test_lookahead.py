"""The runner's look-ahead (``Cell.lookahead``): a cell whose step t emits the output of step t - lookahead is
run with that many zero steps after each sequence and its outputs shifted back."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnzoo
from rnnzoo.core.spec import TensorSpec
from rnnzoo.train.heads import SequenceModel
from rnnzoo.train.tbptt import Chunks

B, T, I = 3, 7, 2


class PeekState(NamedTuple):
    y: Tensor
    prev: Tensor


class Peek(rnnzoo.Cell):
    """Toy cell with lookahead 1: at step t it emits y_{t-1} = x_{t-1} + 2 x_t."""

    lookahead = 1
    causal = False

    def __init__(self) -> None:
        super().__init__()
        self.input_size = self.output_size = I

    def state_spec(self, batch_size: int, *, input_shape=None) -> PeekState:
        return PeekState(TensorSpec((batch_size, I)), TensorSpec((batch_size, I)))

    def step(self, u_t: Tensor, state: PeekState) -> tuple[Tensor, PeekState]:
        y = state.prev + 2 * u_t
        return y, PeekState(y, u_t)


def _expected(x: Tensor) -> Tensor:
    ahead = torch.cat([x[:, 1:], torch.zeros_like(x[:, :1])], 1)
    return x + 2 * ahead


def test_outputs_are_shifted_back_to_their_positions():
    x = torch.randn(B, T, I)
    out = rnnzoo.run(Peek(), x)
    torch.testing.assert_close(out.output, _expected(x))
    # the final state is after the extra zero step: prev is that zero input
    assert (out.state.prev == 0).all()
    torch.testing.assert_close(out.state.y, x[:, -1])


def test_lengths_zero_the_input_past_each_end():
    x = torch.randn(B, T, I)
    lengths = [7, 3, 5]
    garbage = x.clone()
    for b, n in enumerate(lengths):
        garbage[b, n:] = 100.0  # must not be read
    out = rnnzoo.run(Peek(), garbage, lengths=lengths)
    for b, n in enumerate(lengths):
        torch.testing.assert_close(out.output[b, :n], _expected(x[b:b + 1, :n])[0])
        assert (out.output[b, n:] == 0).all()
        torch.testing.assert_close(out.state.y[b], x[b, n - 1])


def test_return_states_and_time_major_and_packed():
    x = torch.randn(B, T, I)
    out = rnnzoo.run(Peek(), x, return_states=True)
    assert out.states.y.shape == (B, T, I)
    torch.testing.assert_close(out.states.y, out.output)
    tm = rnnzoo.run(Peek(), x.transpose(0, 1), batch_first=False)
    torch.testing.assert_close(tm.output.transpose(0, 1), _expected(x))
    lengths = torch.tensor([7, 3, 5])
    packed = rnnzoo.run(Peek(), pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False))
    padded, _ = pad_packed_sequence(packed.output, batch_first=True)
    torch.testing.assert_close(padded, rnnzoo.run(Peek(), x, lengths=lengths).output)


def test_what_a_lookahead_run_cannot_do_is_refused():
    x = torch.randn(B, T, I)
    with pytest.raises(ValueError, match="reverse: Peek has lookahead=1"):
        rnnzoo.run(Peek(), x, reverse=True)
    with pytest.raises(ValueError, match="step_hook: Peek has lookahead=1"):
        rnnzoo.run(Peek(), x, step_hook=lambda t, s: s)
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[1, 3] = False
    with pytest.raises(ValueError, match="mask: Peek has lookahead=1.*holes"):
        rnnzoo.run(Peek(), x, mask=mask)
    with pytest.raises(ValueError, match="forward: Peek has lookahead=1"):
        rnnzoo.Bidirectional(Peek())
    with pytest.raises(ValueError, match="lookahead"):
        rnnzoo.Recurrent(Peek(), reverse=True).run(x)


def test_a_lookahead_run_does_not_continue_from_a_state():
    """A run ends by feeding zero steps, so its final state cannot continue the sequence: chunked runs of an FSMN
    with look-ahead would differ from one run without a word (review of issue 11), so a given state is refused."""
    x = torch.randn(B, T, I)
    state = rnnzoo.run(Peek(), x[:, :3]).state
    with pytest.raises(ValueError, match="state: Peek has lookahead=1.*chunks"):
        rnnzoo.run(Peek(), x[:, 3:], state)
    fsmn = rnnzoo.create("fsmn", I, 4, lookback=2, lookahead=2)
    _, state = fsmn(x[:, :4])
    with pytest.raises(ValueError, match="state: FSMNCell has lookahead=2"):
        fsmn(x[:, 4:], state)


def test_a_wrapper_that_hides_the_lookahead_is_refused():
    class Hiding(rnnzoo.Cell):
        causal = False

        def __init__(self) -> None:
            super().__init__()
            self.inner = Peek()
            self.input_size = self.output_size = I

        def state_spec(self, batch_size: int, *, input_shape=None) -> PeekState:
            return self.inner.state_spec(batch_size)

        def step(self, u_t: Tensor, state: PeekState) -> tuple[Tensor, PeekState]:
            return self.inner.step(u_t, state)

    with pytest.raises(TypeError, match="holds a Peek with lookahead=1 but declares lookahead=0"):
        rnnzoo.run(Hiding(), torch.randn(B, T, I))


def test_tbptt_refuses_a_lookahead_model_saying_why():
    model = SequenceModel("fsmn", input_size=I, output_size=3, hidden_size=4, head="per_step",
                          options={"lookahead": 2})
    assert not model.backbone.causal
    x = torch.randn(B, T, I)
    with pytest.raises(ValueError, match="tbptt: a non-causal model.*lookahead > 0"):
        Chunks(model, x, torch.zeros(B, T, dtype=torch.long), 3, 3, loss="ce")
