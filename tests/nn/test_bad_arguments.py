"""rnnzoo.nn refuses what it cannot honour, naming the argument, what was expected and what came."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from torch import nn

import rnnzoo
from rnnzoo import nn as rnn_nn
from rnnzoo.core.registry import register, unregister


class _State(NamedTuple):
    h: torch.Tensor
    c: torch.Tensor


class TwoStateCell(rnnzoo.Cell):
    """A minimal LSTM-family cell with no options at all: no projection, no bias switch, no torch_options."""

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, hidden_size
        self.lin = nn.Linear(input_size + hidden_size, 2 * hidden_size)

    def state_spec(self, batch_size, *, input_shape=None):
        return _State(rnnzoo.TensorSpec((batch_size, self.output_size)), rnnzoo.TensorSpec((batch_size,
                                                                                            self.output_size)))

    def step(self, x_t, state):
        a, b = self.lin(torch.cat([x_t, state.h], -1)).chunk(2, -1)
        c = state.c * torch.sigmoid(a) + torch.tanh(b)
        h = torch.tanh(c)
        return h, _State(h, c)


class ReadsTorchOptions(TwoStateCell):
    """Reads torch's proj_size, but has no such option."""

    @classmethod
    def torch_options(cls, module):
        return {"proj_size": module.proj_size} if module.proj_size else {}


@pytest.fixture
def test_cells():
    paper = rnnzoo.Paper("Nobody", 2026, "a test cell")
    for name, factory in (("test_two_state", TwoStateCell), ("test_reads_torch", ReadsTorchOptions)):
        register(name, paper=paper, seed_equations="-", description="test", family="lstm")(factory)
    try:
        yield
    finally:
        unregister("test_two_state")
        unregister("test_reads_torch")


def test_a_registered_family_cell_without_options_runs(test_cells):
    lstm = rnn_nn.LSTM(3, 4, 2, bidirectional=True, cell="test_two_state")
    out, (h, c) = lstm(torch.randn(5, 2, 3))
    assert out.shape == (5, 2, 8) and h.shape == c.shape == (4, 2, 4)
    assert [n for n, _ in lstm.named_parameters()][:2] == ["lin_weight_l0", "lin_bias_l0"]


@pytest.mark.parametrize("cell,kwargs,error,message", [
    ("test_two_state", dict(proj_size=2), NotImplementedError,
     r"proj_size: cell 'test_two_state' has no torch_options\(\) to read torch.nn.LSTM's proj_size from, so "
     r"proj_size=2 cannot be honoured"),
    ("test_reads_torch", dict(proj_size=2), NotImplementedError,
     r"proj_size: cell 'test_reads_torch' cannot honour proj_size=2 \(it has no 'proj_size' option"),
    ("test_two_state", dict(bias=False), NotImplementedError,
     r"bias: cell 'test_two_state' cannot honour bias=False \(it has no 'bias' option"),
])
def test_torch_arguments_a_cell_cannot_honour(test_cells, cell, kwargs, error, message):
    with pytest.raises(error, match=message):
        rnn_nn.LSTM(3, 4, cell=cell, **kwargs)


@pytest.mark.parametrize("make,error,message", [
    (lambda: rnn_nn.LSTM(3, 4, cell="lstmm"), rnnzoo.UnknownModelError, r"cell: unknown name 'lstmm'; did you mean"),
    (lambda: rnn_nn.LSTM(3, 4, cell="gru"), ValueError,
     r"cell: 'gru' is a cell of the 'gru' family; rnnzoo.nn.LSTM takes a cell of the 'lstm' family .*: "
     r"cifg_lstm, lstm, lstm1997, peephole_lstm"),
    (lambda: rnn_nn.GRU(3, 4, cell="peephole_lstm"), ValueError, r"cell: 'peephole_lstm' is a cell of the 'lstm'"),
    (lambda: rnn_nn.RNN(3, 4, cell="scrn"), ValueError, r"cell: 'scrn' is a cell of no family; rnnzoo.nn.RNN takes"),
    (lambda: rnn_nn.LSTM(3, 4, cell="convlstm"), ValueError, r"cell: 'convlstm' is a cell of no family"),
    (lambda: rnn_nn.LSTM(3, 4, cell=rnnzoo.LSTMCell), TypeError, r"cell: expected a registry name \(str"),
    (lambda: rnn_nn.LSTM(3, 4, proj_size=4), ValueError, r"proj_size: expected an int in \[0, hidden_size=4\), got 4"),
    (lambda: rnn_nn.GRU(3, 4, proj_size=2), TypeError, r"options: 'gru' has no option 'proj_size'"),
    (lambda: rnn_nn.RNN(3, 4, nonlinearity="softsign"), ValueError,
     r"nonlinearity \(the cell's activation option\): expected one of .*got 'softsign'"),
    (lambda: rnn_nn.RNN(3, 4, activation="relu"), TypeError,
     r"options: 'activation' is set by rnnzoo.nn.RNN's own arguments \(nonlinearity=\)"),
    (lambda: rnn_nn.LSTM(3, 4, bias="yes"), TypeError, r"bias: expected True or False, got 'yes'"),
    (lambda: rnn_nn.LSTM(3, 4, dropout=1.5), ValueError, r"dropout: expected a probability in \[0, 1\), got 1.5"),
    (lambda: rnn_nn.LSTM(0, 4), ValueError, r"input_size: expected a positive int, got 0"),
    (lambda: rnn_nn.LSTM(3, 4, zoneout={"q": 0.1}), ValueError, r"zoneout: LSTMCell's state has the fields h, c"),
    (lambda: rnn_nn.LSTM(3, 4, forget_bais=1.0), TypeError, r"options: 'lstm' has no option 'forget_bais' "
                                                             r"\(did you mean 'forget_bias'\?\)"),
])
def test_bad_constructor_arguments(make, error, message):
    with pytest.raises(error, match=message):
        make()


def test_dropout_with_one_layer_warns_at_the_caller():
    with pytest.warns(UserWarning, match=r"dropout: applies between stacked layers.*got dropout=0.3") as record:
        rnn_nn.LSTM(3, 4, dropout=0.3)
    assert [w.filename for w in record] == [__file__]


@pytest.mark.parametrize("call,error,message", [
    (lambda m: m(torch.randn(5, 2, 3), (torch.zeros(2, 2, 4), torch.zeros(4, 2, 4))), ValueError,
     r"hx\[0\] \(h_0\): expected shape \(4, 2, 2\) \(num_layers \* num_directions, batch, proj_size\) for a batch "
     r"of 2 input, got \(2, 2, 4\)"),
    (lambda m: m(torch.randn(5, 2, 3), (torch.zeros(4, 2, 2), torch.zeros(4, 3, 4))), ValueError,
     r"hx\[1\] \(c_0\): expected shape \(4, 2, 4\) \(num_layers \* num_directions, batch, hidden_size\) .*"
     r"got \(4, 3, 4\)"),
    (lambda m: m(torch.randn(5, 3), (torch.zeros(4, 1, 2), torch.zeros(4, 1, 4))), ValueError,
     r"hx\[0\] \(h_0\): expected shape \(4, 2\) \(num_layers \* num_directions, proj_size\) for unbatched input, "
     r"got \(4, 1, 2\)"),
    (lambda m: m(torch.randn(5, 2, 3), torch.zeros(4, 2, 2)), TypeError,
     r"hx: expected a tuple \(h_0, c_0\) of two tensors, got Tensor"),
    (lambda m: m(torch.randn(5, 2, 3), (torch.zeros(4, 2, 2),)), TypeError,
     r"hx: expected a tuple \(h_0, c_0\) of two tensors, got tuple of length 1"),
    (lambda m: m(torch.randn(5, 2, 3), (torch.zeros(4, 2, 2, dtype=torch.float64), torch.zeros(4, 2, 4))),
     TypeError, r"hx\[0\] \(h_0\): expected dtype torch.float32 on cpu \(the input's\), got dtype torch.float64"),
    (lambda m: m(torch.randn(5, 2, 3), (None, torch.zeros(4, 2, 4))), TypeError,
     r"hx\[0\] \(h_0\): expected a tensor, got NoneType"),
    (lambda m: m(torch.randn(1, 5, 2, 3)), ValueError,
     r"input: expected a 3-D \(T, B, input_size\) tensor or a 2-D \(T, input_size\) unbatched one, got shape "
     r"\(1, 5, 2, 3\)"),
    (lambda m: m(torch.randn(5, 2, 4)), ValueError,
     r"input: expected input_size=3 features in the last axis, got shape \(5, 2, 4\)"),
    (lambda m: m(torch.randn(5, 2, 3, dtype=torch.float64)), TypeError,
     r"input: expected dtype torch.float32 on cpu \(the parameters'\), got dtype torch.float64"),
    (lambda m: m([[0.0] * 3] * 5), TypeError, r"input: expected a tensor or a PackedSequence, got list"),
])
def test_bad_forward_arguments_lstm(call, error, message):
    model = rnn_nn.LSTM(3, 4, 2, bidirectional=True, proj_size=2)
    with pytest.raises(error, match=message):
        call(model)


@pytest.mark.parametrize("cls", [rnn_nn.GRU, rnn_nn.RNN])
def test_bad_hx_gru_and_rnn(cls):
    model = cls(3, 4, 2)
    with pytest.raises(ValueError, match=r"hx \(h_0\): expected shape \(2, 3, 4\) \(num_layers \* num_directions, "
                                         r"batch, hidden_size\) for a batch of 3 input, got \(2, 4\)"):
        model(torch.randn(5, 3, 3), torch.zeros(2, 4))
    with pytest.raises(ValueError, match=r"hx \(h_0\): expected shape \(2, 4\) .* unbatched input, got \(2, 1, 4\)"):
        model(torch.randn(5, 3), torch.zeros(2, 1, 4))


def test_bad_hidden_size_is_named_before_proj_size():
    with pytest.raises(ValueError, match="hidden_size"):
        rnn_nn.LSTM(4, 0)
