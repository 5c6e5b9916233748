"""Weight exchange with torch.nn and the fused torch kernels."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnzoo
import rnnzoo.cells._torch_fused as tf

TORCH = {
    "lstm": lambda **kw: nn.LSTM(**kw),
    "lstm_proj": lambda **kw: nn.LSTM(proj_size=3, **kw),
    "gru": lambda **kw: nn.GRU(**kw),
    "rnn_tanh": lambda **kw: nn.RNN(**kw),
    "rnn_relu": lambda **kw: nn.RNN(nonlinearity="relu", **kw),
}


def _compare(tm, model, x, lengths=None, batch_first=True):
    if lengths is None:
        ref, ref_state = tm(x)
        out, state = model(x)
    else:
        packed = nn.utils.rnn.pack_padded_sequence(x, torch.tensor(lengths), batch_first=batch_first,
                                                   enforce_sorted=False)
        ref_p, ref_state = tm(packed)
        ref, _ = nn.utils.rnn.pad_packed_sequence(ref_p, batch_first=batch_first, total_length=x.shape[1])
        out, state = model(x, lengths=lengths)
    torch.testing.assert_close(out, ref, atol=1e-6, rtol=1e-5)
    # torch stacks (num_layers * directions, B, H); rnnzoo names them per layer and direction
    ref_h = ref_state[0] if isinstance(ref_state, tuple) else ref_state
    hs = []
    for layer in state.layers:
        if isinstance(layer, rnnzoo.BidirectionalState):
            hs += [layer.forward.h, layer.backward.h]
        else:
            hs.append(layer.h)
    torch.testing.assert_close(torch.stack(hs), ref_h, atol=1e-6, rtol=1e-5)
    if isinstance(ref_state, tuple):
        cs = []
        for layer in state.layers:
            cs += [layer.forward.c, layer.backward.c] if isinstance(layer, rnnzoo.BidirectionalState) else [layer.c]
        torch.testing.assert_close(torch.stack(cs), ref_state[1], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("kind", sorted(TORCH))
@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("lengths", [None, [7, 3, 5]])
def test_from_torch_matches(kind, bidirectional, lengths):
    tm = TORCH[kind](input_size=4, hidden_size=5, num_layers=2, bidirectional=bidirectional, batch_first=True)
    model = rnnzoo.from_torch(tm)
    x = torch.randn(3, 7, 4)
    _compare(tm, model, x, lengths)


@pytest.mark.parametrize("kind", sorted(TORCH))
def test_to_torch_round_trip(kind):
    tm = TORCH[kind](input_size=4, hidden_size=5, num_layers=2, bidirectional=True, batch_first=True)
    model = rnnzoo.from_torch(tm)
    back = model.to_torch()
    assert type(back) is type(tm)
    for (n1, p1), (n2, p2) in zip(tm.named_parameters(), back.named_parameters(), strict=True):
        assert n1 == n2
        torch.testing.assert_close(p1, p2, atol=0, rtol=0)


def test_to_torch_of_a_fresh_model_computes_the_same():
    model = rnnzoo.create("lstm", input_size=3, hidden_size=4, num_layers=2, bidirectional=True)
    tm = model.to_torch()
    _compare(tm, model, torch.randn(2, 5, 3))


def test_time_major_torch_module():
    tm = nn.GRU(4, 5, num_layers=1, batch_first=False)
    model = rnnzoo.from_torch(tm)
    x = torch.randn(7, 3, 4)
    torch.testing.assert_close(model(x)[0], tm(x)[0], atol=1e-6, rtol=1e-5)


@pytest.mark.parametrize("name,options", [("peephole_lstm", {}), ("gru", {"reset": "before"}),
                                          ("elman", {"activation": "sigmoid"}), ("scrn", {})])
def test_to_torch_refuses_what_torch_cannot_express(name, options):
    model = rnnzoo.create(name, input_size=3, hidden_size=4, **options)
    with pytest.raises(ValueError, match="no torch.nn equivalent"):
        model.to_torch()


def test_from_torch_rejects_other_modules():
    with pytest.raises(TypeError, match="module: expected torch.nn.RNN, LSTM or GRU"):
        rnnzoo.from_torch(nn.Linear(2, 3))


@pytest.mark.parametrize("name,options,kernel", [("lstm", {}, "lstm"), ("gru", {}, "gru"),
                                                 ("elman", {}, "rnn_tanh"),
                                                 ("elman", {"activation": "relu"}, "rnn_relu")])
def test_fused_kernel_is_used_where_torch_computes_the_same(monkeypatch, name, options, kernel):
    calls = []
    real = tf.run_fused

    def spy(kind, *a, **k):
        calls.append(kind)
        return real(kind, *a, **k)

    module = {"lstm": "rnnzoo.cells.lstm", "gru": "rnnzoo.cells.gru", "elman": "rnnzoo.cells.elman"}[name]
    monkeypatch.setattr(f"{module}.run_fused", spy)
    # the GRU takes torch's kernel where it is faster (off the CPU); here as if it were
    monkeypatch.setattr("rnnzoo.cells.gru.torch_kernel_is_faster", lambda *args, **kwargs: True)
    model = rnnzoo.create(name, input_size=3, hidden_size=4, bidirectional=True, **options)
    model(torch.randn(2, 5, 3), lengths=[5, 2])
    assert calls == [kernel, kernel]
    calls.clear()
    model.run(torch.randn(2, 5, 3), return_states=True)
    assert calls == [], "returning per-step states needs the step loop"


def test_gru_takes_the_faster_path_for_torchs_form(monkeypatch):
    """Issue 9: torch's GRU kernel on the CPU is a loop of ATen ops recording autograd nodes; the rnnzoo
    Function is faster there (the rule: ``rnnzoo.cells.gru.torch_kernel_is_faster``), torch's kernel elsewhere
    (cuDNN). Both paths agree: tests/fused/test_fused_vs_loop.py::test_gru_function_equals_torch_kernel."""
    from rnnzoo.cells import gru

    assert not gru.torch_kernel_is_faster(torch.device("cpu"), 2)  # the batch below: the Function
    assert gru.torch_kernel_is_faster(torch.device("cuda"), 2)
    calls = []
    real_kernel, real_function = tf.run_fused, gru.gru_recurrence
    monkeypatch.setattr("rnnzoo.cells.gru.run_fused", lambda *a, **k: calls.append("torch") or real_kernel(*a, **k))
    monkeypatch.setattr("rnnzoo.cells.gru.gru_recurrence",
                        lambda *a, **k: calls.append("rnnzoo") or real_function(*a, **k))
    model = rnnzoo.create("gru", input_size=3, hidden_size=4)
    x = torch.randn(2, 5, 3)
    model(x, lengths=[5, 2])
    assert calls == ["rnnzoo"]
    assert model.layers[0].cell.fused_kind == "torch"  # what torch computes: conversion and export keep the kernel
    calls.clear()
    class Output(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.model = model

        def forward(self, t):
            return self.model(t)[0]

    from rnnzoo.export import TorchScriptError

    with pytest.raises(TorchScriptError, match="torch.export"):  # issue 9: a trace would freeze the path taken
        torch.jit.trace(Output(), (x,), check_trace=False)
    assert calls == [], "a refused trace runs no recurrence"


def test_a_projected_lstm_takes_the_rnnzoo_function_on_the_cpu(monkeypatch):
    """oneDNN has no projected LSTM: torch's CPU fallback is a loop of ATen ops, slower than the rnnzoo Function
    (``rnnzoo.cells.lstm.torch_kernel_is_faster``); the plain LSTM keeps oneDNN. Both paths agree:
    tests/fused/test_fused_vs_loop.py::test_lstm_function_equals_torch_kernel."""
    from rnnzoo.cells import lstm

    assert lstm.torch_kernel_is_faster(torch.device("cpu"), projected=False)
    assert not lstm.torch_kernel_is_faster(torch.device("cpu"), projected=True)
    assert lstm.torch_kernel_is_faster(torch.device("cuda"), projected=True)
    calls = []
    real_kernel, real_function = tf.run_fused, lstm.lstm_recurrence
    monkeypatch.setattr("rnnzoo.cells.lstm.run_fused", lambda *a, **k: calls.append("torch") or real_kernel(*a, **k))
    monkeypatch.setattr("rnnzoo.cells.lstm.lstm_recurrence",
                        lambda *a, **k: calls.append("rnnzoo") or real_function(*a, **k))
    x = torch.randn(2, 5, 3)
    for proj, path in ((2, "rnnzoo"), (0, "torch")):
        model = rnnzoo.create("lstm", input_size=3, hidden_size=4, proj_size=proj)
        model(x, lengths=[5, 2])
        assert calls == [path] and model.layers[0].cell.fused_kind == "torch"
        calls.clear()

