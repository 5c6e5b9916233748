"""The hand-written Functions of the cells whose state is two (B, H) fields (coRNN, LEM, NAS, RAN, the residual,
multiplicative and WMC LSTMs, UnICORNN) against each cell's step loop, the reference twin (``rnnzoo.run(...,
use_fused=False)``), in float64: outputs, both final fields and every gradient (input, initial state, each
parameter), dense and with a mask with holes (one sequence with no valid step), T = 7 and T = 1, each cell's options
(no bias, LEM's dt < 1, the residual LSTM's identity shortcut, the multiplicative LSTM's tanh candidate, UnICORNN's
dt and alpha, a stiff coRNN, RAN's identity output); T = 0; a bad mask refused; the runner taking the Function. One
table, one harness (NAS's own projection path: test_nas_function.py). Each equality runs with the per-step
products in the size rule's form and forced into the column form (rnnzoo.fused.products)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch

import rnnzoo
from rnnzoo.cells.cornn import CoRNNCell
from rnnzoo.cells.lem import LEMCell
from rnnzoo.cells.multiplicative_lstm import MultiplicativeLSTMCell
from rnnzoo.cells.nas import NASCell
from rnnzoo.cells.ran import RANCell
from rnnzoo.cells.res_lstm import ResLSTMCell
from rnnzoo.cells.unicornn import UnICORNNCell
from rnnzoo.cells.wmc_lstm import WMCLSTMCell
from rnnzoo.fused.cornn import CoRNNFunction, cornn_recurrence
from rnnzoo.fused.lem import LEMFunction, lem_recurrence
from rnnzoo.fused.multiplicative_lstm import MultiplicativeLSTMFunction, multiplicative_lstm_recurrence
from rnnzoo.fused.nas import NASFunction, nas_recurrence
from rnnzoo.fused.products import forced_form
from rnnzoo.fused.ran import RANFunction, ran_recurrence
from rnnzoo.fused.res_lstm import ResLSTMFunction, res_lstm_recurrence
from rnnzoo.fused.unicornn import UnICORNNFunction, unicornn_recurrence
from rnnzoo.fused.wmc_lstm import WMCLSTMFunction, wmc_lstm_recurrence

B, T, I, H = 3, 7, 4, 5


class Case:
    """A row: ``build()`` the cell (its input size ``inputs``); ``function(cell, u, h0, c0, mask)`` its Function's
    entry point -> (out, h_T, c_T); ``klass`` the Function; ``recurrent`` the recurrent weight's attribute."""

    def __init__(self, build: Callable[[], Any], function: Callable[..., Any], klass: type,
                 recurrent: str = "weight_hh", inputs: int = I) -> None:
        self.build, self.function, self.klass, self.recurrent, self.inputs = build, function, klass, recurrent, inputs


def _cornn(c, u, y0, z0, m):
    return cornn_recurrence(u, y0, z0, c.weight_hh, c.dt, c.gamma, c.epsilon, m)


def _lem(c, u, h0, c0, m):
    return lem_recurrence(u, c.weight_hh, c.weight_zy, h0, c0, c.dt, m)


def _nas(c, u, h0, c0, m):
    return nas_recurrence(u, c.weight_hh, c.bias, h0, c0, m)


def _ran(c, u, h0, c0, m):
    return ran_recurrence(u, c.weight_hh, h0, c0, m, activation=c.activation)


def _res(c, u, h0, c0, m):
    return res_lstm_recurrence(u, c.weight_hh, c.peephole, c.weight_proj, h0, c0, m)


def _mlstm(c, u, h0, c0, m):
    return multiplicative_lstm_recurrence(u, c.weight_mh, c.weight_m, h0, c0, candidate_tanh=c.candidate_tanh, mask=m)


def _wmc(c, u, h0, c0, m):
    return wmc_lstm_recurrence(u, c.weight_hh, c.weight_ch, h0, c0, m)


def _unicornn(c, u, y0, z0, m):
    return unicornn_recurrence(u, y0, z0, c.weight_hh, c.c, c.dt, c.alpha, m)


CASES: dict[str, Case] = {
    "cornn": Case(lambda: CoRNNCell(I, H), _cornn, CoRNNFunction),
    "cornn-stiff": Case(lambda: CoRNNCell(I, H, dt=0.4, gamma=1.3, epsilon=2.1), _cornn, CoRNNFunction),
    "lem": Case(lambda: LEMCell(I, H), _lem, LEMFunction),
    "lem-no-bias": Case(lambda: LEMCell(I, H, bias=False), _lem, LEMFunction),
    "lem-dt": Case(lambda: LEMCell(I, H, dt=0.3), _lem, LEMFunction),
    "nas": Case(lambda: NASCell(I, H), _nas, NASFunction),
    "nas-no-bias": Case(lambda: NASCell(I, H, bias=False), _nas, NASFunction),
    "ran": Case(lambda: RANCell(I, H), _ran, RANFunction),
    "ran-identity": Case(lambda: RANCell(I, H, activation="identity"), _ran, RANFunction),
    "res_lstm": Case(lambda: ResLSTMCell(I, H), _res, ResLSTMFunction),
    "res_lstm-no-bias": Case(lambda: ResLSTMCell(I, H, bias=False), _res, ResLSTMFunction),
    "res_lstm-identity": Case(lambda: ResLSTMCell(H, H), _res, ResLSTMFunction, inputs=H),
    "multiplicative_lstm": Case(lambda: MultiplicativeLSTMCell(I, H), _mlstm, MultiplicativeLSTMFunction, "weight_mh"),
    "multiplicative_lstm-tanh": Case(lambda: MultiplicativeLSTMCell(I, H, candidate_tanh=True), _mlstm,
                                     MultiplicativeLSTMFunction, "weight_mh"),
    "multiplicative_lstm-no-bias": Case(lambda: MultiplicativeLSTMCell(I, H, bias=False), _mlstm,
                                        MultiplicativeLSTMFunction, "weight_mh"),
    "wmc_lstm": Case(lambda: WMCLSTMCell(I, H), _wmc, WMCLSTMFunction),
    "wmc_lstm-no-bias": Case(lambda: WMCLSTMCell(I, H, bias=False), _wmc, WMCLSTMFunction),
    "unicornn": Case(lambda: UnICORNNCell(I, H), _unicornn, UnICORNNFunction),
    "unicornn-dt-alpha": Case(lambda: UnICORNNCell(I, H, dt=0.4, alpha=1.5), _unicornn, UnICORNNFunction),
    "unicornn-no-bias": Case(lambda: UnICORNNCell(I, H, bias=False), _unicornn, UnICORNNFunction),
}


def _cell(name: str) -> Any:
    torch.manual_seed(0)
    cell = CASES[name].build().double()
    with torch.no_grad():  # biases and peepholes away from their initialisation, so their paths are exercised
        for pname, p in cell.named_parameters():
            if pname.startswith(("bias", "peephole")):
                p.uniform_(-0.5, 0.5)
    return cell


def _outputs_and_grads(cell, run: Callable[..., Any], steps: int, mask) -> list[torch.Tensor]:
    """``run(x (T, B, I), h0, c0, mask) -> (out, h_T, c_T)``; those and the gradients of a random linear loss of
    them with respect to x, h0, c0 and every parameter."""
    g = torch.Generator().manual_seed(1)
    x = torch.randn(steps, B, cell.input_size, generator=g, dtype=torch.float64, requires_grad=True)
    h0, c0 = (torch.randn(B, H, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(2))
    res = run(x, h0, c0, mask)
    w = [torch.randn(v.shape, generator=g, dtype=torch.float64) for v in res]
    loss = sum((a * b).sum() for a, b in zip(res, w, strict=True))
    return [*(v.detach() for v in res), *torch.autograd.grad(loss, [x, h0, c0, *cell.parameters()])]


def _runner(cell, use_fused: bool) -> Callable[..., Any]:
    state_type = type(cell.initial_state(1))

    def run(x, h0, c0, mask):
        r = rnnzoo.run(cell, x, state_type(h0, c0), mask=mask, batch_first=False, use_fused=use_fused)
        return (r.output, *r.state)
    return run


@pytest.mark.parametrize("form", [None, "column"], ids=["rule", "column"])
@pytest.mark.parametrize("holes", [False, True], ids=["dense", "holes"])
@pytest.mark.parametrize("steps", [T, 1])
@pytest.mark.parametrize("name", list(CASES))
def test_function_equals_step_loop(name, steps, holes, form):
    """``form``: the per-step products' form (rnnzoo.fused.products); at these sizes the rule takes the row form, so
    "column" is the only run of the column form's code here."""
    with forced_form(form):
        _function_equals_step_loop(name, steps, holes)


def _function_equals_step_loop(name, steps, holes):
    cell = _cell(name)
    assert cell.input_size == CASES[name].inputs
    mask = None
    if holes:
        mask = torch.rand(steps, B, generator=torch.Generator().manual_seed(2)) > 0.4
        mask[:, 0] = False  # a sequence with no valid step at all
        mask[0, 1] = True
    want = _outputs_and_grads(cell, _runner(cell, False), steps, mask)
    for run in (lambda x, h0, c0, m: CASES[name].function(cell, cell.project(x), h0, c0, m), _runner(cell, True)):
        got = _outputs_and_grads(cell, run, steps, mask)
        assert len(got) == len(want)
        for a, b in zip(got, want, strict=True):
            torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", list(CASES))
def test_a_masked_step_keeps_the_state_and_outputs_zero(name):
    cell = _cell(name)
    x = torch.randn(4, B, cell.input_size, dtype=torch.float64)
    h0, c0 = torch.randn(2, B, H, dtype=torch.float64)
    mask = torch.ones(4, B, dtype=torch.bool)
    mask[1:, 0] = False
    out, h, c = CASES[name].function(cell, cell.project(x), h0, c0, mask)
    assert (out[1:, 0] == 0).all() and (out[0, 0] != 0).any()
    torch.testing.assert_close(h[0], out[0, 0])
    one_step = CASES[name].function(cell, cell.project(x[:1]), h0, c0, None)
    torch.testing.assert_close(c[0], one_step[2][0])


@pytest.mark.parametrize("name", list(CASES))
def test_no_steps(name):
    cell = _cell(name)
    u = cell.project(torch.zeros(0, B, cell.input_size, dtype=torch.float64))
    h0, c0 = (torch.randn(B, H, dtype=torch.float64, requires_grad=True) for _ in range(2))
    out, h, c = CASES[name].function(cell, u, h0, c0, None)
    assert out.shape == (0, B, H)
    torch.testing.assert_close(h, h0)
    torch.testing.assert_close(c, c0)
    (h.sum() + 2 * c.sum()).backward()
    torch.testing.assert_close(h0.grad, torch.ones(B, H, dtype=torch.float64))
    torch.testing.assert_close(c0.grad, torch.full((B, H), 2.0, dtype=torch.float64))
    assert getattr(cell, CASES[name].recurrent).grad.abs().max() == 0


@pytest.mark.parametrize("name", list(CASES))
def test_a_bad_mask_is_refused(name):
    cell = _cell(name)
    u, h0 = cell.project(torch.zeros(T, B, cell.input_size, dtype=torch.float64)), torch.zeros(B, H)
    with pytest.raises(ValueError, match="mask"):
        CASES[name].function(cell, u, h0, h0, torch.ones(T, B))


@pytest.mark.parametrize("name", list(CASES))
def test_the_runner_takes_the_function(name, monkeypatch):
    calls = []
    klass = CASES[name].klass
    apply = klass.apply
    monkeypatch.setattr(klass, "apply", lambda *a: calls.append(1) or apply(*a))
    cell = CASES[name].build()
    rnnzoo.run(cell, torch.randn(B, T, cell.input_size))
    assert calls and cell.fused_kind == "rnnzoo"
