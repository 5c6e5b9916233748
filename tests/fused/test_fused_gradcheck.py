"""Each fused Function against finite differences (float64 ``gradcheck``) and against the runner's step loop,
at tiny sizes: every LSTM and GRU option combination, every Elman activation, SCRN (fixed and learned alpha),
ConvLSTM with and without peepholes, and the scan; with lengths and a non-zero initial state; on every device
present (``device``; the random draws are made on the CPU, the same on every device, then moved)."""

from __future__ import annotations

import itertools

import pytest
import torch

import rnnzoo
import rnnzoo.fused.gru
import rnnzoo.fused.lstm
from rnnzoo.core.cell import Cell
from rnnzoo.core.runner import run
from rnnzoo.fused import (
    ACTIVATION_NAMES,
    convlstm_recurrence,
    elman_recurrence,
    gru_recurrence,
    linear_scan,
    lstm_recurrence,
)

T, B, I, H = 4, 3, 2, 3
LENGTHS = torch.tensor([4, 1, 3])  # unsorted, one sequence of length 1
F64 = torch.float64


def _mask(masked: bool, device: torch.device | str = "cpu") -> torch.Tensor | None:
    return (torch.arange(T)[:, None] < LENGTHS[None, :]).to(device) if masked else None


def _rand(*shape, scale=1.0, device: torch.device | str = "cpu"):
    return (torch.randn(*shape, dtype=F64) * scale).to(device).requires_grad_()


class Projected(Cell):
    """``cell`` on already projected input: the runner's step loop over ``u`` (``project`` is the identity)."""

    def __init__(self, cell: Cell, u: torch.Tensor) -> None:
        super().__init__()
        self.cell = cell
        self.feature_dims = cell.feature_dims
        self.input_size = u.shape[2]
        self.output_size = cell.output_size

    def initial_state(self, batch_size, **kwargs):
        return self.cell.initial_state(batch_size, **kwargs)

    def step(self, u_t, state):
        return self.cell.step(u_t, state)


def _loop_reference(cell, u, state, mask):
    return run(Projected(cell, u), u, state, batch_first=False, mask=mask, use_fused=False)


LSTM_OPTIONS = [
    dict(forget_gate=fg, coupled=cp, peephole=pe, input_activation=ia, cell_activation=ca, proj_size=pr)
    for (fg, cp), pe, ia, ca, pr in itertools.product(
        [(True, False), (True, True), (False, False)], [False, True], ["tanh", "sigmoid"], [True, False], [0, 2])
]


def _lstm_id(opts):
    return "-".join(f"{k}={v}" for k, v in opts.items())


def _set_chunk(monkeypatch, module, steps: int | None, step_bytes: int) -> None:
    """Make backward tabulate ``steps`` steps at a time (None: the default, here all T at once)."""
    if steps is not None:
        monkeypatch.setattr(module, "_CHUNK_BYTES", steps * step_bytes)


@pytest.mark.parametrize("opts", LSTM_OPTIONS, ids=_lstm_id)
def test_lstm_gradcheck(opts, monkeypatch, device):
    cell = rnnzoo.LSTMCell(I, H, **opts).double().to(device)
    n, P = cell.gates.n, cell.output_size
    chunk = [None, 1, 3][LSTM_OPTIONS.index(opts) % 3]  # chunks of 3 and 1 steps when T = 4
    _set_chunk(monkeypatch, rnnzoo.fused.lstm, chunk, B * n * H * 8)
    u, h0, c0 = _rand(T, B, n * H, device=device), _rand(B, P, device=device), _rand(B, H, device=device)
    masked = opts["peephole"] or opts["proj_size"] > 0  # half the combinations with lengths
    g = cell.gates
    weights = {"hh": cell.weight_hh}
    if cell.peephole:
        weights.update(ci=cell.weight_ci, co=cell.weight_co)
        if g.n == 4:
            weights["cf"] = cell.weight_cf
    if cell.proj_size:
        weights["hr"] = cell.weight_hr
    names = list(weights)

    def f(u, h0, c0, *values):
        w = dict(zip(names, values, strict=True))
        peep = (w["ci"], w.get("cf"), w["co"]) if "ci" in w else None
        return lstm_recurrence(u, h0, c0, w["hh"], mask=_mask(masked, device), forget_gate=g.forget_gate,
                               coupled=g.coupled, input_activation=g.input_activation,
                               cell_activation=g.cell_activation, peephole=peep, weight_hr=w.get("hr"))

    assert torch.autograd.gradcheck(f, (u, h0, c0, *weights.values()))
    out, h, c = f(u, h0, c0, *weights.values())
    ref = _loop_reference(cell, u, rnnzoo.LSTMState(h0, c0), _mask(masked, device))
    torch.testing.assert_close(out, ref.output)
    torch.testing.assert_close((h, c), tuple(ref.state))


PROJECTION_OPTIONS = [o for o in LSTM_OPTIONS if o["proj_size"] == 0 or o["peephole"]]


@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("opts", PROJECTION_OPTIONS, ids=_lstm_id)
def test_lstm_projection_gradcheck(opts, bias, monkeypatch, device):
    """The input projection inside the Function (``projection=(x, weight_ih, bias)``, what the cell's fast path
    passes): gradients of x, weight_ih and bias by finite differences, and the same outputs as on ``u``."""
    cell = rnnzoo.LSTMCell(I, H, **opts).double().to(device)
    n, P = cell.gates.n, cell.output_size
    chunk = [None, 1, 3][PROJECTION_OPTIONS.index(opts) % 3]
    _set_chunk(monkeypatch, rnnzoo.fused.lstm, chunk, B * n * H * 8)
    x = _rand(B, T, I, device=device).transpose(0, 1)  # time-major view of batch-first input, as the runner passes it
    w_ih, b = _rand(n * H, I, device=device), _rand(n * H, device=device)
    h0, c0 = _rand(B, P, device=device), _rand(B, H, device=device)
    masked = bool(opts["peephole"]) != bool(bias)
    g = cell.gates
    peep = (cell.weight_ci, cell.weight_cf if g.n == 4 else None, cell.weight_co) if cell.peephole else None
    kw = dict(mask=_mask(masked, device), forget_gate=g.forget_gate, coupled=g.coupled,
              input_activation=g.input_activation, cell_activation=g.cell_activation, peephole=peep,
              weight_hr=cell.weight_hr if cell.proj_size else None)

    def f(x, w_ih, h0, c0, *b):
        return lstm_recurrence(None, h0, c0, cell.weight_hh, projection=(x, w_ih, b[0] if b else None), **kw)

    args = (x, w_ih, h0, c0) + ((b,) if bias else ())
    assert torch.autograd.gradcheck(f, args)
    u = x @ w_ih.t() + (b if bias else 0)
    for got, want in zip(f(*args), lstm_recurrence(u, h0, c0, cell.weight_hh, **kw), strict=True):
        torch.testing.assert_close(got, want)


def test_lstm_projection_exactly_one():
    h0 = torch.zeros(B, H)
    with pytest.raises(ValueError, match="exactly one of u and projection"):
        lstm_recurrence(None, h0, h0, torch.randn(4 * H, H))
    with pytest.raises(ValueError, match="projection: expected"):
        lstm_recurrence(None, h0, h0, torch.randn(4 * H, H), projection=(torch.randn(T, B, I), torch.randn(H, I), None))


@pytest.mark.parametrize("reset", ["after", "before"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("chunk", [None, 3])
def test_gru_gradcheck(reset, bias, masked, chunk, monkeypatch, device):
    _set_chunk(monkeypatch, rnnzoo.fused.gru, chunk, B * H * 8)
    cell = rnnzoo.GRUCell(I, H, reset=reset, bias=bias).double().to(device)
    u, h0 = _rand(T, B, 3 * H, device=device), _rand(B, H, device=device)
    b_hh = cell.bias_hh if reset == "after" else None
    args = (u, h0, cell.weight_hh) + ((b_hh,) if b_hh is not None else ())

    def f(u, h0, w, b=None):
        return gru_recurrence(u, h0, w, b, reset=reset, mask=_mask(masked, device))

    assert torch.autograd.gradcheck(f, args)
    if reset == "before" and bias:  # the loop's projection folds b_hh in; ours is the identity here
        return
    out, h = f(*args)
    ref = _loop_reference(cell, u, rnnzoo.GRUState(h0), _mask(masked, device))
    torch.testing.assert_close(out, ref.output)
    torch.testing.assert_close(h, ref.state.h)


@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
@pytest.mark.parametrize("masked", [False, True])
def test_elman_gradcheck(activation, masked, device):
    cell = rnnzoo.ElmanCell(I, H, activation=activation).double().to(device)
    # scale 2: saturate sine / hard tanh sometimes
    u, h0 = _rand(T, B, H, scale=2.0, device=device), _rand(B, H, device=device)

    def f(u, h0, w):
        return elman_recurrence(u, h0, w, activation=activation, mask=_mask(masked, device))

    assert torch.autograd.gradcheck(f, (u, h0, cell.weight_hh))
    out, h = f(u, h0, cell.weight_hh)
    ref = _loop_reference(cell, u, rnnzoo.ElmanState(h0), _mask(masked, device))
    torch.testing.assert_close(out, ref.output)
    torch.testing.assert_close(h, ref.state.h)


@pytest.mark.parametrize("alpha_shape", [(), (4,)])
@pytest.mark.parametrize("masked", [False, True])
def test_linear_scan_gradcheck(alpha_shape, masked, device):
    b, s0 = _rand(T, B, 4, device=device), _rand(B, 4, device=device)
    alpha = torch.rand(alpha_shape, dtype=F64).to(device).requires_grad_()
    assert torch.autograd.gradcheck(lambda b, s0, a: linear_scan(b, s0, a, mask=_mask(masked, device)), (b, s0, alpha))
    out, s = linear_scan(b, s0, alpha, mask=_mask(masked, device))
    ref, state = [], s0
    for t in range(T):  # s_t = (1 - alpha) b_t + alpha s_{t-1}, frozen past the length: 001 eq (32)
        new = (1 - alpha) * b[t] + alpha * state
        valid = _mask(masked, device)[t, :, None] if masked else torch.ones(B, 1, dtype=torch.bool, device=device)
        state = torch.where(valid, new, state)
        ref.append(state * valid)
    torch.testing.assert_close(out, torch.stack(ref))
    torch.testing.assert_close(s, state)


@pytest.mark.parametrize("learn_alpha", [False, True])
def test_scrn_fused_gradcheck(learn_alpha, device):
    """The cell's fused path (scan + hoisted context product + sigmoid Elman) through finite differences."""
    cell = rnnzoo.SCRNCell(I, H, context_size=2, learn_alpha=learn_alpha, alpha=0.7).double().to(device)
    x = _rand(B, T, I, device=device)
    state = rnnzoo.SCRNState(_rand(B, H, device=device), _rand(B, 2, device=device))
    params = list(cell.parameters())
    assert any(p is getattr(cell, "alpha_logit", None) for p in params) == learn_alpha

    lengths = torch.as_tensor(LENGTHS)
    mask = (torch.arange(T)[:, None] < lengths[None, :]).to(device)

    def f(x, h0, s0, *ps):  # the fast path as the runner hands it: time-major steps and one mask
        steps = rnnzoo.Steps(cell, x.transpose(0, 1), mask, lengths, None, T, B)
        out, st = cell.fused(steps, rnnzoo.SCRNState(h0, s0))
        return out, st.h, st.s

    assert torch.autograd.gradcheck(f, (x, *state, *params))


@pytest.mark.parametrize("peephole", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_convlstm_gradcheck(peephole, masked, monkeypatch, device):
    hid, spatial = 2, (3, 3)
    _set_chunk(monkeypatch, rnnzoo.fused.lstm, 3 if masked else None, B * 4 * hid * 9 * 8)
    cell = rnnzoo.ConvLSTMCell(I, hid, kernel_size=3, peephole=peephole, spatial_size=spatial).double().to(device)
    u = _rand(T, B, 4 * hid, *spatial, device=device)
    h0, c0 = _rand(B, hid, *spatial, device=device), _rand(B, hid, *spatial, device=device)
    peep = (cell.weight_ci, cell.weight_cf, cell.weight_co) if peephole else ()

    def f(u, h0, c0, w, *pe):
        return convlstm_recurrence(u, h0, c0, w, mask=_mask(masked, device), peephole=pe or None)

    # fast mode (a random directional derivative) keeps the many tiny convolutions affordable
    assert torch.autograd.gradcheck(f, (u, h0, c0, cell.weight_hh, *peep), fast_mode=True)
    out, h, c = f(u, h0, c0, cell.weight_hh, *peep)
    ref = _loop_reference(cell, u, rnnzoo.ConvLSTMState(h0, c0), _mask(masked, device))
    torch.testing.assert_close(out, ref.output)
    torch.testing.assert_close((h, c), tuple(ref.state))


def test_bad_arguments_raise():
    u, h0 = torch.randn(T, B, H), torch.zeros(B, H)
    with pytest.raises(ValueError, match="mask"):
        elman_recurrence(u, h0, torch.randn(H, H), mask=torch.ones(B, T, dtype=torch.bool))
    with pytest.raises(ValueError, match="activation"):
        elman_recurrence(u, h0, torch.randn(H, H), activation="softsign")
    with pytest.raises(ValueError, match="reset"):
        gru_recurrence(torch.randn(T, B, 3 * H), h0, torch.randn(3 * H, H), reset="sideways")
    with pytest.raises(ValueError, match="alpha"):
        linear_scan(u, h0, torch.rand(H + 1))
    with pytest.raises(ValueError, match="peephole"):
        w = torch.randn(H)
        lstm_recurrence(torch.randn(T, B, 4 * H), h0, h0, torch.randn(4 * H, H), peephole=(w, None, w))


def test_double_backward_is_refused():
    u, h0 = _rand(T, B, H), _rand(B, H)
    w = torch.randn(H, H, dtype=F64, requires_grad=True)
    out, _ = elman_recurrence(u, h0, w)
    (g,) = torch.autograd.grad(out.sum(), w, create_graph=True)
    with pytest.raises(RuntimeError):
        g.sum().backward()
