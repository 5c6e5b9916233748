"""The runner's fast path (a cell's ``fused``) against its reference step loop at realistic sizes, float32:
outputs, final states and every gradient (input, initial state, all parameters), with lengths; and the
rnnzoo Functions against torch's own kernels where a configuration has both. On every device present
(``device``: the CPU, and CUDA when torch sees one); the random draws come from CPU generators, the same on every
device, then move."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
import rnnzoo.fused.gru
import rnnzoo.fused.lstm
from rnnzoo.cells._torch_fused import run_fused
from rnnzoo.core.tree import tree_leaves, tree_map
from rnnzoo.fused import elman_recurrence, gru_recurrence, lstm_recurrence
from rnnzoo.fused.products import forced_form

B, T, I, H = 8, 50, 16, 64
SPATIAL = (6, 6)

# (registry name, options, expected fast path). The expected path is written here from what torch
# computes (its LSTM: forget gate, tanh, no peepholes; its GRU: reset after; its RNN: tanh/relu), not
# read off the code under test; every registered model also runs with its defaults, its expected path
# taken from its registry entry (typed data, checked against the cell in the contract suite).
VARIANTS = [
    ("lstm", {"cell_activation": False}, "rnnzoo"),
    ("lstm", {"input_activation": "sigmoid"}, "rnnzoo"),
    ("lstm", {"proj_size": 16}, "torch"),
    ("lstm", {"peephole": True, "proj_size": 16}, "rnnzoo"),
    ("lstm1997", {"input_activation": "sigmoid", "cell_activation": False}, "rnnzoo"),
    ("cifg_lstm", {"peephole": True}, "rnnzoo"),
    ("gru", {"reset": "before"}, "rnnzoo"),
    ("gru", {"reset": "before", "bias": False}, "rnnzoo"),
    ("scrn", {"learn_alpha": True, "context_size": 24}, "rnnzoo"),
    ("convlstm", {"peephole": True, "spatial_size": SPATIAL}, "rnnzoo"),
    ("elman", {"activation": "relu"}, "torch"),
    *[("elman", {"activation": a}, "rnnzoo") for a in ("sigmoid", "linear", "piecewise_linear", "sine")],
]
DEFAULTS = [(name, {}, rnnzoo.model_info(name).fast_path.value) for name in rnnzoo.list_models()
            if rnnzoo.model_info(name).kind == rnnzoo.ModelKind.CELL]
CONFIGS = DEFAULTS + VARIANTS


def _id(cfg):
    name, opts, _ = cfg
    return name + "".join(f"-{k}={v}" for k, v in opts.items())


def _input(cell, generator, device="cpu"):
    shape = (B, T, cell.input_size, *SPATIAL) if cell.feature_dims == 3 else (B, T, cell.input_size)
    return torch.randn(*shape, generator=generator).to(device)


@pytest.mark.parametrize("cfg", CONFIGS, ids=_id)
@pytest.mark.parametrize(("reverse", "form"), [(False, None), (True, None), (False, "column")],
                         ids=["forward", "reverse", "forward-column"])
def test_fast_path_equals_loop(cfg, reverse, form, monkeypatch, device):
    """``form``: the per-step products' form in the hand-written Functions (rnnzoo.fused.products); None: the size
    rule's (the row form at these sizes), "column": forced, the only run of the column form's code here."""
    with forced_form(form):
        _fast_path_equals_loop(cfg, reverse, monkeypatch, device)


def _fast_path_equals_loop(cfg, reverse, monkeypatch, device):
    name, opts, _ = cfg
    if reverse:  # backward's derivative tables in chunks of 7 steps (T = 50: the last chunk is partial)
        monkeypatch.setattr(rnnzoo.fused.lstm, "_CHUNK_BYTES", 7 * B * 4 * (8 * 36 if name == "convlstm" else H) * 4)
        monkeypatch.setattr(rnnzoo.fused.gru, "_CHUNK_BYTES", 7 * B * H * 4)
    torch.manual_seed(0)
    in_size = 3 if name == "convlstm" else I
    hidden = 8 if name == "convlstm" else H
    cell = rnnzoo.model_info(name).build(in_size, hidden, **opts).to(device)
    gen = torch.Generator().manual_seed(1)
    x = _input(cell, gen, device).requires_grad_()
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    lengths[0] = T
    state0 = tree_map(lambda s: torch.randn(s.shape, generator=gen).to(device).requires_grad_(),
                      cell.initial_state(B, input_shape=tuple(x.shape[2:])))
    leaves = [x, *tree_leaves(state0), *cell.parameters()]
    results = []
    for use_fused in (True, False):
        out = rnnzoo.run(cell, x, state0, lengths=lengths, reverse=reverse, use_fused=use_fused)
        w = torch.randn(out.output.shape, generator=torch.Generator().manual_seed(2)).to(device)
        loss = (out.output * w).sum() + sum(s.pow(2).sum() for s in tree_leaves(out.state))
        # materialize: a state field that only reports the output (fsmn's y) reaches the loss on neither path
        results.append((out.output, out.state, torch.autograd.grad(loss, leaves, materialize_grads=True)))
    (o1, s1, g1), (o2, s2, g2) = results
    torch.testing.assert_close(o1, o2, atol=2e-5, rtol=1e-4)
    for a, b in zip(tree_leaves(s1), tree_leaves(s2), strict=True):
        torch.testing.assert_close(a, b, atol=2e-5, rtol=1e-4)
    for a, b in zip(g1, g2, strict=True):
        _close_to_scale(a, b)


def _close_to_scale(a, b):
    """float32 gradients of long sequences can be large (lstm1997's cell state grows with T): the
    absolute tolerance scales with the reference's magnitude (both paths differ from float64 alike)."""
    torch.testing.assert_close(a, b, atol=2e-5 * max(1.0, b.abs().max().item()), rtol=1e-3)


@pytest.mark.parametrize("cfg", CONFIGS, ids=_id)
def test_fused_kind(cfg, device):
    """Every configuration has a fast path; torch's kernel exactly where torch computes the cell."""
    name, opts, expected = cfg
    cell = rnnzoo.model_info(name).build(3, 32, **opts).to(device)
    assert cell.fused_kind == expected
    x = _input(cell, None, device)[:2, :3]
    steps = rnnzoo.Steps(cell, x.transpose(0, 1), None, None, None, 3, 2)
    assert cell.fused(steps, cell.initial_state(2, device=device, input_shape=tuple(x.shape[2:]))) is not None


def _torch_vs_rnnzoo(cell, ours, device):
    """Outputs and gradients of torch's kernel (cuDNN's on CUDA) and of an rnnzoo Function on the same cell, with
    lengths."""
    cell.to(device)
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(B, T, I, generator=gen).to(device).requires_grad_()
    lengths = torch.randint(1, T + 1, (B,), generator=gen)
    state = tree_map(lambda s: torch.randn(s.shape, generator=gen).to(device), cell.initial_state(B))
    mask = (torch.arange(T)[:, None] < lengths[None, :]).to(device)
    got = []
    kernel = {rnnzoo.LSTMCell: "lstm", rnnzoo.GRUCell: "gru"}.get(type(cell)) or f"rnn_{cell.activation.name}"

    def torch_kernel():
        out, final = run_fused(kernel, x.transpose(0, 1), tuple(state), cell.torch_weights(), cell.bias, lengths)
        return out, final

    for fn in (torch_kernel, lambda: ours(cell.project(x.transpose(0, 1)), state, mask)):
        out, final = fn()
        loss = out.pow(2).sum() + sum(s.sum() for s in tree_leaves(final))
        got.append((out, tree_leaves(final), torch.autograd.grad(loss, [x, *cell.parameters()])))
    (o1, s1, g1), (o2, s2, g2) = got
    torch.testing.assert_close(o1, o2, atol=2e-5, rtol=1e-4)
    torch.testing.assert_close(s1, s2, atol=2e-5, rtol=1e-4)
    for a, b in zip(g1, g2, strict=True):
        _close_to_scale(a, b)


FORMS = pytest.mark.parametrize("form", [None, "column"], ids=["rule", "column"])  # rnnzoo.fused.products


@FORMS
def test_lstm_function_equals_torch_kernel(device, form):
    torch.manual_seed(0)
    cell = rnnzoo.LSTMCell(I, H, proj_size=16)

    def ours(u, s, m):
        out, h, c = lstm_recurrence(u, s.h, s.c, cell.weight_hh, mask=m, weight_hr=cell.weight_hr)
        return out, (h, c)

    with forced_form(form):
        _torch_vs_rnnzoo(cell, ours, device)


@FORMS
@pytest.mark.parametrize("bias", [True, False])
def test_gru_function_equals_torch_kernel(device, form, bias):
    torch.manual_seed(0)
    cell = rnnzoo.GRUCell(I, H, bias=bias)
    with forced_form(form):
        _torch_vs_rnnzoo(cell, lambda u, s, m: gru_recurrence(u, s.h, cell.weight_hh, cell.bias_hh, mask=m), device)


@FORMS
@pytest.mark.parametrize("activation", ["tanh", "relu"])
def test_elman_function_equals_torch_kernel(activation, device, form):
    torch.manual_seed(0)
    cell = rnnzoo.ElmanCell(I, H, activation=activation)
    with forced_form(form):
        _torch_vs_rnnzoo(cell, lambda u, s, m: elman_recurrence(u, s.h, cell.weight_hh, activation=activation,
                                                                mask=m), device)
