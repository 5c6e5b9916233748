"""rnnzoo.nn.LSTM / GRU / RNN against torch.nn's, in float64: outputs, final states and every gradient,
after ``load_state_dict(torch_module.state_dict())``; state_dict keys, shapes and initial values."""

from __future__ import annotations

import itertools

import pytest
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence

from rnnzoo import nn as rnn_nn

F64 = torch.float64
KINDS = {  # what is built: (class name, its torch arguments beyond the sizes)
    "lstm": ("LSTM", {}),
    "lstm_proj": ("LSTM", {"proj_size": 2}),
    "lstm_nobias": ("LSTM", {"bias": False}),
    "gru": ("GRU", {}),
    "rnn_tanh": ("RNN", {"nonlinearity": "tanh"}),
    "rnn_relu": ("RNN", {"nonlinearity": "relu"}),
}
LAYOUTS = list(itertools.product([1, 2], [False, True], [False, True]))  # num_layers, bidirectional, batch_first
CASES = [pytest.param(k, *layout, id=f"{k}-L{layout[0]}-{'bi' if layout[1] else 'uni'}-{'bf' if layout[2] else 'tm'}")
         for k in KINDS for layout in LAYOUTS]
I, H, B, T = 3, 5, 3, 6


def pair(kind: str, num_layers: int, bidirectional: bool, batch_first: bool, **extra):
    """torch's module (float64, seeded) and rnnzoo.nn's, loaded from torch's state_dict."""
    name, args = KINDS[kind]
    kw = dict(num_layers=num_layers, bidirectional=bidirectional, batch_first=batch_first, dtype=F64, **args, **extra)
    torch.manual_seed(0)
    ref = getattr(nn, name)(I, H, **kw)
    torch.manual_seed(1)  # different initial values: the load must bring torch's
    ours = getattr(rnn_nn, name)(I, H, **kw)
    ours.load_state_dict(ref.state_dict())
    return ref, ours


def states(result):
    """(output, h_n) or (output, (h_n, c_n)) -> [output, h_n, (c_n)]."""
    out, hx = result
    return [out, *(hx if isinstance(hx, tuple) else (hx,))]


def hx_for(ref, batch: int | None):
    """Random initial states of torch's shapes (None batch: unbatched), requiring gradients."""
    D = 2 if ref.bidirectional else 1
    lead = (ref.num_layers * D,) + ((batch,) if batch is not None else ())
    h = torch.randn(*lead, ref.proj_size or ref.hidden_size, dtype=F64, requires_grad=True)
    if isinstance(ref, nn.LSTM):
        return h, torch.randn(*lead, ref.hidden_size, dtype=F64, requires_grad=True)
    return h


def check_same(ref, ours, make_args):
    """Same outputs, states and gradients (inputs, hx, every parameter by name) from the two modules."""
    results = []
    for module in (ref, ours):
        module.zero_grad()
        args = make_args()
        outs = states(module(*args))
        tensors = [o.data if isinstance(o, PackedSequence) else o for o in outs]
        gen = torch.Generator().manual_seed(7)
        loss = sum((t * torch.randn(t.shape, generator=gen, dtype=F64)).sum() for t in tensors)
        leaves = [a for a in _leaves(args) if a.requires_grad]
        grads = torch.autograd.grad(loss, leaves + list(module.parameters()))
        results.append((outs, tensors, grads[:len(leaves)], dict(zip([n for n, _ in module.named_parameters()],
                                                                     grads[len(leaves):], strict=True))))
    (ref_outs, ref_t, ref_g_in, ref_g_p), (outs, t, g_in, g_p) = results
    for a, b in zip(ref_outs, outs, strict=True):
        assert type(a) is type(b)
        if isinstance(a, PackedSequence):
            torch.testing.assert_close(b.batch_sizes, a.batch_sizes)
            torch.testing.assert_close(b.sorted_indices, a.sorted_indices)
            torch.testing.assert_close(b.unsorted_indices, a.unsorted_indices)
    for a, b in zip(ref_t, t, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    for a, b in zip(ref_g_in, g_in, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-12)
    assert list(g_p) == list(ref_g_p)
    for name in ref_g_p:
        torch.testing.assert_close(g_p[name], ref_g_p[name], rtol=1e-10, atol=1e-12, msg=name)


def _leaves(args):
    for a in args:
        if isinstance(a, PackedSequence):
            yield a.data
        elif isinstance(a, tuple):
            yield from a
        elif isinstance(a, torch.Tensor):
            yield a


def _input(batch_first: bool, batch: int | None = B):
    shape = (T, I) if batch is None else ((batch, T, I) if batch_first else (T, batch, I))
    return torch.randn(*shape, dtype=F64, requires_grad=True)


@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first", CASES)
def test_plain_input(kind, num_layers, bidirectional, batch_first):
    ref, ours = pair(kind, num_layers, bidirectional, batch_first)
    x = _input(batch_first)
    check_same(ref, ours, lambda: (x,))


@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first", CASES)
def test_given_hx(kind, num_layers, bidirectional, batch_first):
    ref, ours = pair(kind, num_layers, bidirectional, batch_first)
    x, hx = _input(batch_first), hx_for(ref, B)
    check_same(ref, ours, lambda: (x, hx))


@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first", CASES)
def test_unbatched_input_with_and_without_hx(kind, num_layers, bidirectional, batch_first):
    ref, ours = pair(kind, num_layers, bidirectional, batch_first)
    x, hx = _input(batch_first, None), hx_for(ref, None)
    check_same(ref, ours, lambda: (x,))
    check_same(ref, ours, lambda: (x, hx))


@pytest.mark.parametrize("kind,num_layers,bidirectional,batch_first", CASES)
def test_packed_sequence_unsorted(kind, num_layers, bidirectional, batch_first):
    ref, ours = pair(kind, num_layers, bidirectional, batch_first)
    x, hx = _input(batch_first, 4), hx_for(ref, 4)
    lengths = torch.tensor([3, T, 1, 3])  # unsorted, with a tie

    def packed():
        return (pack_padded_sequence(x, lengths, batch_first=batch_first, enforce_sorted=False), hx)

    check_same(ref, ours, packed)


def test_packed_sequence_sorted_keeps_no_indices():
    ref, ours = pair("lstm", 2, True, False)
    x = _input(False, 3)
    check_same(ref, ours, lambda: (pack_padded_sequence(x, torch.tensor([T, 4, 4]), enforce_sorted=True),))
    out, _ = ours(pack_padded_sequence(x, torch.tensor([T, 4, 4])))
    assert out.sorted_indices is None and out.unsorted_indices is None


@pytest.mark.parametrize("kind", list(KINDS))
def test_dropout_between_layers_only_in_training(kind):
    ref, ours = pair(kind, 3, True, True, dropout=0.4)
    x = _input(True)
    ref.eval()
    ours.eval()
    check_same(ref, ours, lambda: (x,))
    ours.train()
    first, second = ours(x)[0], ours(x)[0]
    assert not torch.allclose(first, second)  # fresh masks per call, as torch's
    ref_out = ref(x)[0]
    assert not torch.allclose(first, ref_out)
    ours_zero_dropout = pair(kind, 3, True, True, dropout=0.0)[1].train()
    torch.testing.assert_close(ours_zero_dropout(x)[0], ref_out, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("kind", list(KINDS))
def test_state_dict_keys_shapes_and_parameter_order_are_torchs(kind):
    ref, ours = pair(kind, 2, True, False)
    assert list(ours.state_dict()) == list(ref.state_dict())
    assert [(n, p.shape) for n, p in ours.named_parameters()] == [(n, p.shape) for n, p in ref.named_parameters()]
    for name, p in ref.named_parameters():
        assert torch.equal(getattr(ours, name), p)  # attribute access by torch's name
    assert [[w.shape for w in layer] for layer in ours.all_weights] == [[w.shape for w in layer]
                                                                         for layer in ref.all_weights]


@pytest.mark.parametrize("kind", list(KINDS))
def test_same_seed_same_initial_values_as_torch(kind):
    name, args = KINDS[kind]
    torch.manual_seed(3)
    ref = getattr(nn, name)(I, H, 2, bidirectional=True, **args)
    torch.manual_seed(3)
    ours = getattr(rnn_nn, name)(I, H, 2, bidirectional=True, **args)
    for (n, a), (m, b) in zip(ref.named_parameters(), ours.named_parameters(), strict=True):
        assert n == m and torch.equal(a, b), n


def test_positional_arguments_in_torchs_order():
    torch.manual_seed(0)
    lstm = rnn_nn.LSTM(I, H, 2, False, True, 0.0, True, 2)  # ... bias, batch_first, dropout, bidirectional, proj
    assert (lstm.num_layers, lstm.bias, lstm.batch_first, lstm.bidirectional, lstm.proj_size) == (2, False, True,
                                                                                                   True, 2)
    rnn = rnn_nn.RNN(I, H, 1, "relu", False)  # nonlinearity fourth, as torch's RNN
    assert (rnn.nonlinearity, rnn.bias, rnn.mode) == ("relu", False, nn.RNN(I, H, 1, "relu").mode)
    gru = rnn_nn.GRU(I, H, 2, True, True)
    assert gru.batch_first and gru.num_layers == 2
    assert rnn_nn.LSTM(I, H, dtype=F64).weight_hh_l0.dtype == F64


def test_flatten_parameters_is_a_no_op_and_train_eval_reach_the_cells():
    ref, ours = pair("lstm", 2, False, False)
    assert ours.flatten_parameters() is None
    x = _input(False)
    check_same(ref, ours, lambda: (x,))
    assert ours.eval() is ours and not ours._model.training
    assert all(not m.training for m in ours._model.modules())
    ours.train()
    assert all(m.training for m in ours._model.modules())
