"""DeepCell: a stack of cells is a cell. Stepping it equals the layer-wise model; its fast path equals its
step loop; create() models expose it as model.cell for decoders."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnzoo
from rnnzoo.core.tree import tree_leaves, tree_map
from tests.conftest import make_input

D = torch.float64


def _close(a, b):
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        torch.testing.assert_close(x, y)


@pytest.mark.parametrize("name", ["lstm", "gru", "peephole_lstm", "scrn", "convlstm"])
@pytest.mark.parametrize("residual", [False, True])
def test_model_cell_stepped_by_hand_equals_the_model(name, residual):
    torch.manual_seed(0)
    hidden = 3 if residual else 4
    model = rnnzoo.create(name, input_size=3, hidden_size=hidden, num_layers=3, residual=residual,
                          dropout=0.3).to(D).eval()
    x = make_input(name, 2, 5, 3, dtype=D)
    out, state = model(x)
    cell = model.cell
    s = None
    for t in range(5):
        y, s = cell(x[:, t], s)
        torch.testing.assert_close(y, out[:, t])
    _close(s, state)
    assert isinstance(s, rnnzoo.StackedState)


def test_encode_with_the_model_then_continue_with_its_cell():
    """A decoder's pattern: the model reads a prefix, its cell continues token by token from that state."""
    torch.manual_seed(0)
    model = rnnzoo.create("lstm", input_size=2, hidden_size=4, num_layers=2).to(D)
    x = torch.randn(3, 7, 2, dtype=D)
    full, final = model(x)
    _, s = model(x[:, :4])
    for t in range(4, 7):
        y, s = model.cell(x[:, t], s)
        torch.testing.assert_close(y, full[:, t])
    _close(s, final)


def test_model_cell_refuses_bidirectional_models():
    model = rnnzoo.create("gru", input_size=2, hidden_size=3, num_layers=2, bidirectional=True)
    with pytest.raises(ValueError, match="layer 0 is bidirectional: it needs the future"):
        _ = model.cell


def test_model_cell_dropout_follows_the_model_mode():
    model = rnnzoo.create("gru", input_size=2, hidden_size=3, num_layers=2, dropout=0.5)
    keys = list(model.state_dict())
    cell = model.cell
    assert cell.training
    model.eval()
    assert not cell.training and not model.cell.training
    assert sum(p.numel() for p in cell.parameters()) == sum(p.numel() for p in model.parameters())
    assert list(model.state_dict()) == keys  # the view adds no keys: checkpoints stay as they were


@pytest.mark.parametrize("lengths", [None, [6, 2, 4]])
@pytest.mark.parametrize("reverse", [False, True])
def test_deep_fast_path_equals_its_step_loop(lengths, reverse):
    torch.manual_seed(0)
    deep = rnnzoo.DeepCell([nn.Linear(3, 5), rnnzoo.LSTMCell(5, 4), nn.Tanh(), rnnzoo.GRUCell(4, 4, reset="before"),
                            rnnzoo.ElmanCell(4, 4, activation="sigmoid")], residual=True).to(D)
    assert deep.input_size == 3 and deep.output_size == 4
    x = torch.randn(3, 6, 3, dtype=D, requires_grad=True)
    results = []
    for use_fused in (True, False):
        out = rnnzoo.run(deep, x, lengths=lengths, reverse=reverse, use_fused=use_fused)
        loss = out.output.pow(2).sum() + sum(t.pow(2).sum() for t in tree_leaves(out.state))
        results.append((out, torch.autograd.grad(loss, [x, *deep.parameters()])))
    (a, ga), (b, gb) = results
    torch.testing.assert_close(a.output, b.output)
    _close(a.state, b.state)
    for g1, g2 in zip(ga, gb, strict=True):
        torch.testing.assert_close(g1, g2)
    if lengths is not None:
        assert a.output[1, 2:].abs().sum() == 0  # zero past the length, residual connections included


def test_deep_cell_inside_layers_and_callables_that_resize():
    torch.manual_seed(0)
    deep = rnnzoo.DeepCell([rnnzoo.GRUCell(2, 6), nn.Linear(6, 3), rnnzoo.LSTMCell(3, 5)])
    assert deep.output_size == 5
    layer = rnnzoo.Bidirectional(deep)
    out, state = layer(torch.randn(2, 4, 2), lengths=[4, 3])
    assert out.shape == (2, 4, 10)
    assert isinstance(state.forward, rnnzoo.StackedState) and len(state.forward.layers) == 2
    with pytest.raises(ValueError, match=r"layers\[2\]: expected input_size 3"):
        rnnzoo.DeepCell([rnnzoo.GRUCell(2, 6), nn.Linear(6, 3), rnnzoo.LSTMCell(4, 5)])
    with pytest.raises(ValueError, match="at least one Cell"):
        rnnzoo.DeepCell([nn.Tanh()])


def test_deep_cell_state_and_stacked_model_state_share_structure():
    model = rnnzoo.create("convlstm", input_size=2, hidden_size=3, num_layers=2)
    x = make_input("convlstm", 2, 3, 2)
    spec = model.cell.state_spec(2, input_shape=tuple(x.shape[2:]))
    _, state = model(x)
    shapes = [tuple(s.shape) for s in tree_leaves(spec, is_leaf=lambda s: isinstance(s, rnnzoo.TensorSpec))]
    assert shapes == [tuple(t.shape) for t in tree_leaves(state)]
    zeros = model.cell.initial_state(2, input_shape=tuple(x.shape[2:]))
    assert all(float(t.abs().sum()) == 0 for t in tree_leaves(zeros))
    assert tree_map(lambda t: t.shape, zeros) == tree_map(lambda t: t.shape, state)
