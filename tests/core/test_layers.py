"""Layer behaviour beyond the per-model contract: packed time-major input, callable merges,
stacked spatial states, unbatched cell steps, converter train/eval mode."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnzoo


def test_time_major_packed_sequence_through_a_stack():
    model = rnnzoo.create("lstm", input_size=3, hidden_size=4, num_layers=2, bidirectional=True,
                          batch_first=False)
    x = torch.randn(5, 2, 3)
    out_p, state_p = model(pack_padded_sequence(x, [5, 3], enforce_sorted=False))
    out, state = model(x, lengths=[5, 3])
    torch.testing.assert_close(pad_packed_sequence(out_p)[0], out)
    torch.testing.assert_close(state_p.layers[1].backward.c, state.layers[1].backward.c)


def test_callable_merge():
    model = rnnzoo.create("gru", input_size=3, hidden_size=4, bidirectional=True, merge=lambda f, b: f * b)
    x = torch.randn(2, 5, 3)
    out, _ = model(x)
    layer = model.layers[0]
    f, _ = layer.forward_layer(x)
    b, _ = layer.backward_layer(x)
    torch.testing.assert_close(out, f * b)


def test_stacked_initial_state_follows_each_layers_shape():
    model = rnnzoo.create("convlstm", input_size=1, hidden_size=2, num_layers=2, padding=0)
    x = torch.randn(2, 3, 1, 8, 8)
    state = model.initial_state(2, input_shape=(1, 8, 8))
    assert state.layers[0].h.shape == (2, 2, 6, 6)
    assert state.layers[1].h.shape == (2, 2, 4, 4)
    out, _ = model(x, state)
    assert out.shape == (2, 3, 2, 4, 4)


def test_unbatched_cell_step_like_torch_lstmcell():
    cell = rnnzoo.LSTMCell(3, 4)
    x = torch.randn(3)
    y, state = cell(x)
    yb, stateb = cell(x.unsqueeze(0))
    torch.testing.assert_close(y, yb[0])
    torch.testing.assert_close(state.c, stateb.c[0])
    y2, _ = cell(x, state)
    assert y2.shape == (4,)


def test_converters_keep_train_or_eval_mode():
    tm = torch.nn.LSTM(3, 4, num_layers=2, dropout=0.5).eval()
    model = rnnzoo.from_torch(tm)
    assert not model.training
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(model(x)[0], tm(x)[0])
    assert not model.to_torch().training


def test_step_refuses_layers_that_need_the_future():
    model = rnnzoo.create("gru", input_size=3, hidden_size=4, bidirectional=True)
    with pytest.raises(ValueError, match="bidirectional"):
        model.step(torch.randn(2, 3))
    with pytest.raises(ValueError, match="needs the future"):
        model.layers[0].step(torch.randn(2, 3))
    with pytest.raises(ValueError, match="reversed"):
        rnnzoo.Recurrent(rnnzoo.GRUCell(3, 4), reverse=True).step(torch.randn(2, 3))


def test_step_of_a_recurrent_layer_is_its_cell_step():
    layer = rnnzoo.Recurrent(rnnzoo.LSTMCell(3, 4))
    x = torch.randn(2, 3)
    y, state = layer.step(x)
    y2, state2 = layer.cell(x)
    torch.testing.assert_close(y, y2)
    torch.testing.assert_close(state.c, state2.c)
