"""WeightDrop: DropConnect on recurrent weights (AWD-LSTM) against a naive LSTM with W_hh * M / (1 - p);
the inner fast path runs with the dropped weight (spies); gradients reach W through the mask; the swap
leaves nothing behind; names nest through wrappers."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
import rnnzoo.cells.convlstm
import rnnzoo.cells.elman
import rnnzoo.cells.gru
import rnnzoo.cells.lstm
import rnnzoo.cells.scrn
from rnnzoo.wrappers import LayerNorm, WeightDrop, swap_parameters
from tests.conftest import make_input
from tests.wrappers.naive import Leaky, lstm_candidate

B, T, I, H = 3, 6, 4, 5

# the function each registered cell's fast path calls, and where it finds the recurrent weight among
# that call's arguments: written here from the cells' fused methods
FAST = {
    "lstm": (rnnzoo.cells.lstm, "run_fused", lambda args, kw: args[3][1]),
    "lstm1997": (rnnzoo.cells.lstm, "lstm_recurrence", lambda args, kw: args[3]),
    "peephole_lstm": (rnnzoo.cells.lstm, "lstm_recurrence", lambda args, kw: args[3]),
    "cifg_lstm": (rnnzoo.cells.lstm, "lstm_recurrence", lambda args, kw: args[3]),
    "gru": (rnnzoo.cells.gru, "gru_recurrence", lambda args, kw: args[2]),  # on the CPU (torch_kernel_is_faster)
    "elman": (rnnzoo.cells.elman, "run_fused", lambda args, kw: args[3][1]),
    "scrn": (rnnzoo.cells.scrn, "elman_recurrence", lambda args, kw: args[2]),
    "convlstm": (rnnzoo.cells.convlstm, "convlstm_recurrence", lambda args, kw: args[3]),
}


def _dropped(cell, batch, input_shape, seed):
    torch.manual_seed(seed)
    return cell.prepare(None, batch, device="cpu", dtype=torch.float32, input_shape=input_shape).value


@pytest.mark.parametrize("name", sorted(FAST))
def test_the_inner_fast_path_runs_with_the_dropped_weight(name, monkeypatch):
    module, attr, weight_of = FAST[name]
    real = getattr(module, attr)
    seen = []

    def spy(*args, **kw):
        seen.append(weight_of(args, kw))
        return real(*args, **kw)

    monkeypatch.setattr(module, attr, spy)
    cell = WeightDrop(rnnzoo.model_info(name).build(3, 4), 0.5)
    x = make_input(name, 2, 4, 3)
    dropped = _dropped(cell, 2, tuple(x.shape[2:]), seed=0)["weight_hh"]
    torch.manual_seed(0)
    out = rnnzoo.run(cell, x)
    assert len(seen) == 1, "the inner fast path did not run"
    torch.testing.assert_close(seen[0], dropped, rtol=0, atol=0)
    assert seen[0] is not cell.inner.weight_hh
    w = cell.inner.weight_hh
    assert torch.all((dropped == 0) | torch.isclose(dropped, w * 2))  # W * M / (1 - p), p = 0.5
    assert isinstance(w, torch.nn.Parameter) and cell.inner._parameters["weight_hh"] is w  # swapped back
    torch.manual_seed(0)
    ref = rnnzoo.run(cell, x, use_fused=False)
    torch.testing.assert_close(out.output, ref.output, atol=1e-5, rtol=1e-4)


def test_weight_dropped_lstm_equals_the_naive_one_and_gradients_reach_w():
    lstm = rnnzoo.LSTMCell(I, H)
    p = 0.4
    cell = WeightDrop(lstm, p)
    x = torch.randn(B, T, I)
    dropped = _dropped(cell, B, (I,), seed=3)["weight_hh"]
    mask = (dropped != 0).float()  # M (entries of W that are exactly 0 are not expected)
    w_hh = lstm.weight_hh.detach().clone().requires_grad_()
    h = c = torch.zeros(B, H)
    for t in range(T):
        h, c = lstm_candidate(lstm, x[:, t], h, c, W_hh=w_hh * mask / (1 - p))
    naive_loss = h.pow(2).sum() + c.pow(2).sum()
    (g_naive,) = torch.autograd.grad(naive_loss, [w_hh])
    for use_fused in (True, False):
        torch.manual_seed(3)
        out = rnnzoo.run(cell, x, use_fused=use_fused)
        torch.testing.assert_close(out.state.h, h)
        (g,) = torch.autograd.grad(out.state.h.pow(2).sum() + out.state.c.pow(2).sum(), [lstm.weight_hh])
        torch.testing.assert_close(g, g_naive)
        assert torch.all(g[mask == 0] == 0) and torch.any(g[mask == 1] != 0)


def test_eval_mode_and_p_zero_are_the_identity():
    lstm = rnnzoo.LSTMCell(I, H)
    x = torch.randn(B, T, I)
    ref = rnnzoo.run(lstm, x).output
    for cell in (WeightDrop(lstm, 0.5).eval(), WeightDrop(lstm, 0.0)):
        rng = torch.get_rng_state()
        torch.testing.assert_close(rnnzoo.run(cell, x).output, ref, rtol=0, atol=0)
        assert torch.equal(torch.get_rng_state(), rng)


def test_swap_parameters_restores_even_on_error():
    cell = LayerNorm(rnnzoo.LSTMCell(I, H))
    w = cell.inner.weight_hh
    other = torch.zeros_like(w)
    with swap_parameters(cell, {"inner.weight_hh": other}):
        assert cell.inner.weight_hh is other
        assert dict(cell.named_parameters())["inner.weight_hh"] is other
    assert cell.inner.weight_hh is w
    with pytest.raises(RuntimeError, match="boom"), swap_parameters(cell, {"inner.weight_hh": other}):
        raise RuntimeError("boom")
    assert cell.inner.weight_hh is w and isinstance(cell.inner.weight_hh, torch.nn.Parameter)
    assert "weight_hh" not in vars(cell.inner)  # nothing left on the module


def test_names_nest_through_wrappers():
    lstm = rnnzoo.LSTMCell(I, H)
    inner = LayerNorm(lstm)
    assert inner.recurrent_weights() == ["inner.weight_hh"]
    assert {b.parameter for b in inner.recurrent_blocks()} == {"inner.weight_hh"}
    cell = WeightDrop(inner, 0.5)
    assert cell.weights == ("inner.weight_hh",)
    assert cell.recurrent_weights() == ["inner.inner.weight_hh"]
    assert cell.get_parameter("inner.inner.weight_hh") is lstm.weight_hh
    x = torch.randn(B, T, I)
    torch.manual_seed(1)
    a = rnnzoo.run(cell, x).output
    torch.manual_seed(1)
    b = rnnzoo.run(cell.eval(), x).output
    assert not torch.allclose(a, b)  # the weight was dropped inside LayerNorm's inner cell
    twice = WeightDrop(WeightDrop(rnnzoo.LSTMCell(I, H), 0.5), 0.5)  # masks compose: about 1/4 of W kept
    assert twice.weights == ("inner.weight_hh",)
    kept = twice.prepare(None, 1).inner.value["weight_hh"] != 0
    assert 0.1 < float(kept.float().mean()) < 0.4


def test_a_stack_names_its_cells_weights():
    deep = rnnzoo.DeepCell([rnnzoo.LSTMCell(I, H), torch.nn.Dropout(0.0), rnnzoo.GRUCell(H, H)])
    assert deep.recurrent_weights() == ["layers.0.weight_hh", "layers.2.weight_hh"]
    cell = WeightDrop(deep, 0.3)
    x = torch.randn(B, T, I)
    torch.manual_seed(2)
    a = rnnzoo.run(cell, x, lengths=[6, 2, 4])
    torch.manual_seed(2)
    b = rnnzoo.run(cell, x, lengths=[6, 2, 4], use_fused=False)
    torch.testing.assert_close(a.output, b.output, atol=1e-5, rtol=1e-4)


def test_functional_call_composes():
    cell = WeightDrop(rnnzoo.LSTMCell(I, H), 0.5)
    params = {k: v.detach() * 2 for k, v in cell.named_parameters()}
    x = torch.randn(B, T, I)
    torch.manual_seed(4)
    out = torch.func.functional_call(cell, params, (x[:, 0],))[0]
    with torch.no_grad():
        for k, v in cell.named_parameters():
            v.copy_(params[k])
    torch.manual_seed(4)
    torch.testing.assert_close(out, cell(x[:, 0])[0])


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match=r"weights: Leaky names no recurrent weights"):
        WeightDrop(Leaky(3), 0.5)
    assert WeightDrop(Leaky(3), 0.5, weights="weight").weights == ("weight",)
    with pytest.raises(ValueError, match=r"weights: LSTMCell has no parameter 'weight_xx'; its parameters are "
                                         r"weight_ih, weight_hh, bias_ih, bias_hh"):
        WeightDrop(rnnzoo.LSTMCell(I, H), 0.5, weights=["weight_xx"])
    with pytest.raises(ValueError, match=r"p: expected a probability in \[0, 1\), got 1.0"):
        WeightDrop(rnnzoo.LSTMCell(I, H), 1.0)
