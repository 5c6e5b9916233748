"""The layer-normalised LSTM and GRU Functions: the cells' fast path against their step loop at a realistic
size (float32, lengths, both directions, every gradient; on every device present), and each Function through
finite differences (float64 ``gradcheck``, masks, backward's tables in chunks) and against the step loop at tiny
sizes."""

from __future__ import annotations

import itertools

import pytest
import torch

import rnnzoo
import rnnzoo.fused.layer_norm_gru
import rnnzoo.fused.layer_norm_lstm
from rnnzoo.core.tree import tree_leaves, tree_map
from rnnzoo.fused import layer_norm_gru_recurrence, layer_norm_lstm_recurrence
from rnnzoo.fused.products import forced_form

B, T, I, H = 8, 50, 16, 64

CONFIGS = [("lstm", {}), ("lstm1997", {}), ("cifg_lstm", {}), ("peephole_lstm", {}),
           ("lstm", {"input_activation": "sigmoid"}), ("lstm", {"cell_activation": False}),
           ("lstm", {"proj_size": 16}), ("lstm1997", {"peephole": True, "proj_size": 16}),
           ("gru", {}), ("gru", {"reset": "before"}), ("gru", {"bias": False})]


def _id(cfg):
    name, opts = cfg
    return name + "".join(f"-{k}={v}" for k, v in opts.items())


def _randomise_ln(cell, gen):
    """LN gains around 1 and biases around 0, so that a gain or bias gradient wired wrongly shows."""
    with torch.no_grad():
        for name, p in cell.named_parameters():
            if name.startswith("ln_"):
                p.add_(0.3 * torch.randn(p.shape, generator=gen, dtype=p.dtype))


@pytest.mark.parametrize("cfg", CONFIGS, ids=_id)
@pytest.mark.parametrize(("reverse", "form"), [(False, None), (True, None), (False, "column")],
                         ids=["forward", "reverse", "forward-column"])
def test_fast_path_equals_loop(cfg, reverse, form, monkeypatch, device):
    """``form``: the per-step products' form (rnnzoo.fused.products); "column" forced is the only run of the column
    form's code here (the size rule takes the row form at these sizes)."""
    with forced_form(form):
        _fast_path_equals_loop(cfg, reverse, monkeypatch, device)


def _fast_path_equals_loop(cfg, reverse, monkeypatch, device):
    name, opts = cfg
    if reverse:  # backward's derivative tables in chunks of 7 steps (T = 50: the last chunk is partial)
        monkeypatch.setattr(rnnzoo.fused.layer_norm_lstm, "_CHUNK_BYTES", 7 * B * 4 * H * 4)
        monkeypatch.setattr(rnnzoo.fused.layer_norm_gru, "_CHUNK_BYTES", 7 * B * H * 4)
    torch.manual_seed(0)
    cell = rnnzoo.model_info(name).build(I, H, layer_norm=True, **opts)
    assert cell.fused_kind == "rnnzoo"
    gen = torch.Generator().manual_seed(1)
    _randomise_ln(cell, gen)
    cell.to(device)
    x = torch.randn(B, T, I, generator=gen).to(device).requires_grad_()
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    lengths[0] = T
    state0 = tree_map(lambda s: torch.randn(s.shape, generator=gen).to(device).requires_grad_(), cell.initial_state(B))
    leaves = [x, *tree_leaves(state0), *cell.parameters()]
    results = []
    for use_fused in (True, False):
        out = rnnzoo.run(cell, x, state0, lengths=lengths, reverse=reverse, use_fused=use_fused)
        w = torch.randn(out.output.shape, generator=torch.Generator().manual_seed(2)).to(device)
        loss = (out.output * w).sum() + sum(s.pow(2).sum() for s in tree_leaves(out.state))
        results.append((out.output, out.state, torch.autograd.grad(loss, leaves)))
    (o1, s1, g1), (o2, s2, g2) = results
    torch.testing.assert_close(o1, o2, atol=2e-5, rtol=1e-4)
    for a, b in zip(tree_leaves(s1), tree_leaves(s2), strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=2e-5 * max(1.0, b.abs().max().item()), rtol=1e-3)


# ------------------------------------------------------------------------------------- gradcheck, tiny

t_, b_, h_ = 4, 3, 3
LENGTHS = torch.tensor([4, 1, 3])  # unsorted, one sequence of length 1
F64 = torch.float64


def _mask(masked):
    return (torch.arange(t_)[:, None] < LENGTHS[None, :]) if masked else None


def _rand(*shape, scale=1.0, shift=0.0):
    return (shift + torch.randn(*shape, dtype=F64) * scale).requires_grad_()


def _loop(cell, u, state, mask):
    """The cell's own step loop on the projected steps ``u`` (T, B, G): frozen state and zero output where
    masked."""
    outs = []
    for t in range(u.shape[0]):
        y, new = cell.step(u[t], state)
        if mask is not None:
            m = mask[t][:, None]
            new = type(state)(*(torch.where(m, a, b) for a, b in zip(new, state, strict=True)))
            y = y * m
        state = new
        outs.append(y)
    return torch.stack(outs), state


# every gate structure with each input node and cell activation; peepholes, projection and lengths spread
# over them (half of each)
_MASKED = {(True, False, "tanh", True), (True, True, "sigmoid", True), (False, False, "tanh", False),
           (True, False, "sigmoid", False), (True, True, "tanh", False), (False, False, "sigmoid", True)}
LSTM_OPTIONS = [dict(forget_gate=fg, coupled=cp, input_activation=ia, cell_activation=ca, peephole=k % 2 == 1,
                     proj_size=2 if k % 4 in (1, 2) else 0, masked=(fg, cp, ia, ca) in _MASKED)
                for k, ((fg, cp), ia, ca) in enumerate(itertools.product([(True, False), (True, True), (False, False)],
                                                                         ["tanh", "sigmoid"], [True, False]))]


@pytest.mark.parametrize("opts", LSTM_OPTIONS, ids=lambda o: "-".join(f"{k}={v}" for k, v in o.items()))
def test_lstm_gradcheck(opts, monkeypatch):
    index = LSTM_OPTIONS.index(opts)
    opts = dict(opts)
    masked = opts.pop("masked")
    cell = rnnzoo.LSTMCell(2, h_, layer_norm=True, **opts).double()
    n, P = cell.gates.n, cell.output_size
    chunk = [None, 1, 3][index % 3]  # backward's tables all at once, one step or three at a time
    if chunk is not None:
        monkeypatch.setattr(rnnzoo.fused.layer_norm_lstm, "_CHUNK_BYTES", chunk * b_ * n * h_ * 8)
    u, h0, c0 = _rand(t_, b_, n * h_), _rand(b_, P), _rand(b_, h_)
    weights = {"weight_hh": _rand(n * h_, P, scale=0.7), "ln_hh_weight": _rand(n * h_, scale=0.3, shift=1.0),
               "ln_c_weight": _rand(h_, scale=0.3, shift=1.0), "ln_c_bias": _rand(h_, scale=0.3)}
    if cell.peephole:
        weights.update(weight_ci=_rand(h_), weight_co=_rand(h_))
        if n == 4:
            weights["weight_cf"] = _rand(h_)
    if cell.proj_size:
        weights["weight_hr"] = _rand(P, h_, scale=0.7)
    names = list(weights)
    g = cell.gates

    def f(u, h0, c0, *values):
        w = dict(zip(names, values, strict=True))
        peep = (w["weight_ci"], w.get("weight_cf"), w["weight_co"]) if "weight_ci" in w else None
        return layer_norm_lstm_recurrence(u, h0, c0, w["weight_hh"], w["ln_hh_weight"], w["ln_c_weight"],
                                          w["ln_c_bias"], mask=_mask(masked), forget_gate=g.forget_gate,
                                          coupled=g.coupled, input_activation=g.input_activation,
                                          cell_activation=g.cell_activation, peephole=peep,
                                          weight_hr=w.get("weight_hr"))

    # the full Jacobian with lengths; a random directional derivative (fast mode) without, to save time
    assert torch.autograd.gradcheck(f, (u, h0, c0, *weights.values()), fast_mode=not masked)
    with torch.no_grad():
        for name, v in weights.items():
            getattr(cell, name).copy_(v)
    out, h, c = f(u, h0, c0, *weights.values())
    ref, state = _loop(cell, u, rnnzoo.LSTMState(h0, c0), _mask(masked))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close((h, c), tuple(state))


@pytest.mark.parametrize("reset", ["after", "before"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("masked", [False, True])
def test_gru_gradcheck(reset, bias, masked, monkeypatch):
    chunk = 3 if bias else (1 if masked else None)  # backward's tables 3 or 1 steps at a time, or all at once
    if chunk is not None:
        monkeypatch.setattr(rnnzoo.fused.layer_norm_gru, "_CHUNK_BYTES", chunk * b_ * h_ * 8)
    cell = rnnzoo.GRUCell(2, h_, reset=reset, bias=bias, layer_norm=True).double()
    u, h0 = _rand(t_, b_, 3 * h_), _rand(b_, h_)
    w_hh, gain = _rand(3 * h_, h_, scale=0.7), _rand(3 * h_, scale=0.3, shift=1.0)
    b_hh = _rand(3 * h_, scale=0.3) if reset == "after" and bias else None
    args = (u, h0, w_hh, gain) + ((b_hh,) if b_hh is not None else ())

    def f(u, h0, w, gain, b=None):
        return layer_norm_gru_recurrence(u, h0, w, gain, b, reset=reset, mask=_mask(masked))

    assert torch.autograd.gradcheck(f, args, fast_mode=not masked)
    with torch.no_grad():
        cell.weight_hh.copy_(w_hh)
        cell.ln_hh_weight.copy_(gain)
        if b_hh is not None:
            cell.bias_hh.copy_(b_hh)
    out, h = f(*args)
    ref, state = _loop(cell, u, rnnzoo.GRUState(h0), _mask(masked))
    torch.testing.assert_close(out, ref)
    torch.testing.assert_close(h, state.h)


def test_cell_fast_path_gradcheck_through_project():
    """The whole fast path as the runner hands it (hoisted input LN included), every parameter."""
    for cell in (rnnzoo.LSTMCell(2, h_, layer_norm=True).double(), rnnzoo.GRUCell(2, h_, layer_norm=True).double()):
        _randomise_ln(cell, torch.Generator().manual_seed(5))
        x = _rand(b_, t_, 2)
        state = tree_map(lambda s: _rand(*s.shape), cell.initial_state(b_))
        n_state = len(tree_leaves(state))

        def f(x, *rest, cell=cell, state=state, n_state=n_state):
            st = type(state)(*rest[:n_state])
            steps = rnnzoo.Steps(cell, x.transpose(0, 1), _mask(True), LENGTHS, None, t_, b_)
            out, final = cell.fused(steps, st)
            return out, *final

        # fast mode (a random directional derivative): the input weights make the full Jacobian slow
        assert torch.autograd.gradcheck(f, (x, *tree_leaves(state), *cell.parameters()), fast_mode=True)


def test_bad_arguments_raise():
    u, h0 = torch.randn(t_, b_, 4 * h_), torch.zeros(b_, h_)
    w, g = torch.randn(4 * h_, h_), torch.ones(4 * h_)
    with pytest.raises(ValueError, match="mask"):
        layer_norm_lstm_recurrence(u, h0, h0, w, g, g[:h_], g[:h_], mask=torch.ones(b_, t_, dtype=torch.bool))
    with pytest.raises(ValueError, match="u/weight_hh"):
        layer_norm_lstm_recurrence(u, h0, h0, w, g, g[:h_], g[:h_], forget_gate=False)
    with pytest.raises(ValueError, match="input_activation"):
        layer_norm_lstm_recurrence(u, h0, h0, w, g, g[:h_], g[:h_], input_activation="relu")
    with pytest.raises(ValueError, match="peephole"):
        layer_norm_lstm_recurrence(u, h0, h0, w, g, g[:h_], g[:h_], peephole=(g[:h_], None, g[:h_]))
    u3, w3, g3 = torch.randn(t_, b_, 3 * h_), torch.randn(3 * h_, h_), torch.ones(3 * h_)
    with pytest.raises(ValueError, match="reset"):
        layer_norm_gru_recurrence(u3, h0, w3, g3, reset="sideways")
    with pytest.raises(ValueError, match="bias_hh"):
        layer_norm_gru_recurrence(u3, h0, w3, g3, g3, reset="before")
    with pytest.raises(ValueError, match="ln_hh_weight"):
        layer_norm_gru_recurrence(u3, h0, w3, g)


def test_double_backward_is_refused():
    u, h0 = _rand(t_, b_, 3 * h_), _rand(b_, h_)
    w = _rand(3 * h_, h_)
    out, _ = layer_norm_gru_recurrence(u, h0, w, torch.ones(3 * h_, dtype=F64))
    (gw,) = torch.autograd.grad(out.sum(), w, create_graph=True)
    with pytest.raises(RuntimeError):
        gw.sum().backward()
