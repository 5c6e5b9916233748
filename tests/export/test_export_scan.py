"""The export path's ``scan`` (rnnzoo.core.scan) computes what the runner's reference step loop computes,
run eagerly on the same steps: every registered cell, inside a two-layer stack (a nested state), with a
mask that has holes (masked steps freeze the state and output zero)."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.core.cell import Steps
from rnnzoo.core.runner import _loop
from rnnzoo.core.scan import scan_steps
from rnnzoo.core.tree import tree_leaves
from tests.conftest import make_input

MODELS = [n for n in rnnzoo.list_models(kind=rnnzoo.ModelKind.CELL)
          if rnnzoo.model_info(n).input_kind in (rnnzoo.InputKind.VECTOR_SEQUENCE, rnnzoo.InputKind.IMAGE_SEQUENCE)]
B, T, I, H = 3, 5, 3, 4


def _steps(cell, x, mask):
    xt = x.transpose(0, 1)
    prepared = cell.prepare(None, B, dtype=x.dtype, input_shape=tuple(x.shape[2:]))
    return Steps(cell, xt, mask, None, prepared, T, B)


def tree_map_like_random(state):
    """A random initial state of ``state``'s structure (a zero state would hide a frozen-state bug)."""
    return rnnzoo.core.tree.tree_map(lambda t: torch.randn_like(t), state)


@pytest.mark.parametrize("name", MODELS)
def test_scan_equals_the_step_loop_with_masks(name):
    torch.manual_seed(0)
    cell = rnnzoo.create(name, input_size=I, hidden_size=H, num_layers=2).eval().cell  # a DeepCell
    x = make_input(name, B, T, I)
    mask = torch.tensor([[1, 1, 0, 1, 1], [1, 0, 0, 0, 0], [0, 1, 1, 1, 0]], dtype=torch.bool).t()  # (T, B)
    state = tree_map_like_random(cell.initial_state(B, input_shape=tuple(x.shape[2:])))
    with torch.no_grad():
        want_out, want_state, _ = _loop(_steps(cell, x, mask), state, False, None, lambda i: i, None)
        got_out, got_state = scan_steps(_steps(cell, x, mask), state)
    _assert_same(got_out, got_state, want_out, want_state)
    assert torch.count_nonzero(got_out[2, 1]) == 0  # a masked step outputs zero


def test_scan_equals_the_step_loop_without_mask():
    torch.manual_seed(0)
    cell = rnnzoo.create("peephole_lstm", input_size=I, hidden_size=H, layer_norm=True).eval().layers[0].cell
    x = torch.randn(B, T, I)
    state = tree_map_like_random(cell.initial_state(B))
    with torch.no_grad():
        want_out, want_state, _ = _loop(_steps(cell, x, None), state, False, None, lambda i: i, None)
        got_out, got_state = scan_steps(_steps(cell, x, None), state)
    _assert_same(got_out, got_state, want_out, want_state)


def _assert_same(got_out, got_state, want_out, want_state):
    assert type(got_state) is type(want_state)
    torch.testing.assert_close(got_out, want_out, atol=1e-6, rtol=1e-5)
    for a, b in zip(tree_leaves(got_state), tree_leaves(want_state), strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5)


def test_an_export_at_a_fixed_length_does_not_fix_the_next_ones():
    """scan's body is compiled under one torch.compile cache for the whole process; an entry made for a
    static T must not specialise a later export's symbolic T (rnnzoo.core.scan resets it)."""
    model = rnnzoo.create("gru", input_size=I, hidden_size=H).eval()
    x = torch.randn(B, T, I)
    batch, steps = torch.export.Dim("batch", min=1), torch.export.Dim("steps", min=1)
    torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch}})
    program = torch.export.export(model, (x,), dynamic_shapes={"x": {0: batch, 1: steps}})
    x2 = torch.randn(2, T + 3, I)
    out, _ = program.module()(x2)
    torch.testing.assert_close(out, model(x2)[0])

