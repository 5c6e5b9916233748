"""Bad input raises an exception naming the argument, what was expected and what came."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.core.registry import UnknownModelError


@pytest.fixture
def lstm():
    return rnnzoo.create("lstm", input_size=3, hidden_size=4)


def test_wrong_feature_size(lstm):
    with pytest.raises(ValueError, match=r"x: expected 3 input features .* got 5"):
        lstm(torch.randn(2, 4, 5))


def test_wrong_rank(lstm):
    with pytest.raises(ValueError, match=r"x: expected rank 3 .* got rank 4"):
        lstm(torch.randn(2, 4, 3, 1))


def test_integer_dtype(lstm):
    with pytest.raises(TypeError, match=r"x: expected a floating-point tensor .* got dtype torch.int64"):
        lstm(torch.ones(2, 4, 3, dtype=torch.long))


@pytest.mark.parametrize("lengths,match", [
    ([4, 5], r"lengths: expected every length <= the sequence length 4, got maximum 5"),
    ([4, 0], r"lengths: expected every length >= 1, got minimum 0"),
    ([4, -1], r"lengths: expected every length >= 1, got minimum -1"),
    ([4], r"lengths: expected shape \(2,\)"),
    (torch.tensor([4.0, 2.0]), r"lengths: expected an integer tensor, got dtype torch.float32"),
])
def test_bad_lengths(lstm, lengths, match):
    with pytest.raises((ValueError, TypeError), match=match):
        lstm(torch.randn(2, 4, 3), lengths=lengths)


def test_mask_wrong_shape_or_dtype(lstm):
    with pytest.raises(ValueError, match=r"mask: expected shape \(2, 4\) \(B, T\), got \(4, 2\)"):
        lstm(torch.randn(2, 4, 3), mask=torch.ones(4, 2, dtype=torch.bool))
    with pytest.raises(TypeError, match=r"mask: expected a boolean tensor"):
        lstm(torch.randn(2, 4, 3), mask=torch.ones(2, 4))


def test_lengths_and_mask_together(lstm):
    with pytest.raises(ValueError, match="pass one of them"):
        lstm(torch.randn(2, 4, 3), lengths=[4, 4], mask=torch.ones(2, 4, dtype=torch.bool))


def test_initial_state_wrong_shape_is_not_broadcast():
    cell = rnnzoo.LSTMCell(3, 4)
    layer = rnnzoo.Recurrent(cell)
    bad = rnnzoo.LSTMState(torch.zeros(1, 4), torch.zeros(1, 4))
    with pytest.raises(ValueError, match=r"state.h: expected shape \(2, 4\), got \(1, 4\)"):
        layer(torch.randn(2, 4, 3), bad)


def test_initial_state_wrong_type():
    layer = rnnzoo.Recurrent(rnnzoo.LSTMCell(3, 4))
    with pytest.raises(TypeError, match=r"state: expected a LSTMState\('h', 'c'\), got tuple"):
        layer(torch.randn(2, 4, 3), (torch.zeros(2, 4), torch.zeros(2, 4)))
    with pytest.raises(TypeError, match=r"state: expected a LSTMState\('h', 'c'\), got GRUState"):
        layer(torch.randn(2, 4, 3), rnnzoo.GRUState(torch.zeros(2, 4)))


def test_stacked_state_wrong_layer_count(lstm):
    _, state = rnnzoo.create("lstm", input_size=3, hidden_size=4, num_layers=2)(torch.randn(2, 4, 3))
    with pytest.raises(ValueError, match=r"state: expected 1 layer states, got 2"):
        lstm(torch.randn(2, 4, 3), state)


def test_cell_step_checks_its_input():
    cell = rnnzoo.GRUCell(3, 4)
    with pytest.raises(ValueError, match=r"x_t: expected a tensor of rank 2"):
        cell(torch.randn(4, 3, 1))


def test_unknown_model_suggests():
    with pytest.raises(UnknownModelError, match=r"did you mean 'lstm'"):
        rnnzoo.create("lsmt", input_size=3, hidden_size=4)


@pytest.mark.parametrize("kw,match", [
    ({"input_size": 0}, r"input_size: expected a positive int, got 0"),
    ({"hidden_size": 2.5}, r"hidden_size: expected a positive int, got 2.5"),
    ({"num_layers": 0}, r"num_layers: expected a positive int, got 0"),
])
def test_bad_sizes(kw, match):
    args = {"input_size": 3, "hidden_size": 4, **kw}
    with pytest.raises(ValueError, match=match):
        rnnzoo.create("lstm", **args)


@pytest.mark.parametrize("name,options,match", [
    ("elman", {"activation": "softsign"}, r"activation: expected one of .* got 'softsign'"),
    ("gru", {"reset": "middle"}, r"reset: expected one of \('after', 'before'\), got 'middle'"),
    ("lstm", {"proj_size": 9}, r"proj_size: expected an int in \[0, hidden_size=4\), got 9"),
    ("scrn", {"alpha": 1.5}, r"alpha: expected a number in \(0, 1\), got 1.5"),
    ("convlstm", {"kernel_size": 2}, r"kernel_size: expected an odd positive int, got 2"),
    ("lstm", {"colour": "red"}, r"options: 'lstm' has no option 'colour'"),
])
def test_bad_options(name, options, match):
    with pytest.raises((ValueError, TypeError), match=match):
        rnnzoo.create(name, input_size=3, hidden_size=4, **options)


def test_bidirectional_merge_checked():
    with pytest.raises(ValueError, match=r"merge: expected one of"):
        rnnzoo.create("lstm", input_size=3, hidden_size=4, bidirectional=True, merge="max")


def test_residual_needs_equal_sizes():
    with pytest.raises(ValueError, match=r"residual: layer 1 maps 8 -> 4"):
        rnnzoo.Stacked([rnnzoo.Bidirectional(rnnzoo.LSTMCell(3, 4)), rnnzoo.LSTMCell(8, 4)], residual=True)


def test_convlstm_image_shape_checked():
    model = rnnzoo.create("convlstm", input_size=2, hidden_size=3)
    with pytest.raises(ValueError, match=r"x: expected 2 input channels \(axis -3\), got 5"):
        model(torch.randn(1, 4, 5, 6, 6))
    with pytest.raises(ValueError, match=r"x: expected rank 5"):
        model(torch.randn(1, 4, 2))


def test_input_dtype_must_match_the_parameters():
    model = rnnzoo.create("elman", input_size=3, hidden_size=4).double()
    with pytest.raises(TypeError, match=r"x: expected dtype torch.float64 .* got dtype torch.float32"):
        model(torch.randn(2, 5, 3))


def test_state_dtype_must_match_the_input():
    layer = rnnzoo.Recurrent(rnnzoo.GRUCell(3, 4))
    with pytest.raises(TypeError, match=r"state.h: expected dtype torch.float32 .* got dtype torch.float64"):
        layer(torch.randn(2, 5, 3), rnnzoo.GRUState(torch.zeros(2, 4, dtype=torch.float64)))


def test_unbatched_input_with_a_batched_state():
    layer = rnnzoo.Recurrent(rnnzoo.LSTMCell(3, 4))
    with pytest.raises(ValueError, match=r"state.h: expected shape \(4,\), got \(1, 4\)"):
        layer(torch.randn(5, 3), rnnzoo.LSTMState(torch.zeros(1, 4), torch.zeros(1, 4)))


@pytest.mark.parametrize("kw,match", [
    ({"hidden_size": -1}, r"hidden_size: expected a positive int, got -1"),
    ({"peephole": "no"}, r"peephole: expected True or False, got 'no'"),
    ({"forget_bias": "abc"}, r"forget_bias: expected a finite real number or None, got 'abc'"),
    ({"bidirectional": "no"}, r"bidirectional: expected True or False, got 'no'"),
])
def test_cell_arguments_are_checked(kw, match):
    with pytest.raises((TypeError, ValueError), match=match):
        rnnzoo.create("lstm", **{"input_size": 3, "hidden_size": 4, **kw})


def test_empty_batch_with_lengths():
    with pytest.raises(ValueError, match=r"x: expected a batch of at least one sequence, got batch size 0"):
        rnnzoo.create("gru", input_size=3, hidden_size=4)(torch.randn(0, 5, 3), lengths=torch.zeros(0, dtype=int))


def test_dropout_with_one_layer_warns():
    with pytest.warns(UserWarning, match="dropout: applies between stacked layers"):
        rnnzoo.create("lstm", input_size=3, hidden_size=4, dropout=0.5)
