"""The contract of tests/core/test_contract.py for the layer-normalised configurations
(``create(name, ..., layer_norm=True)``): bidirectional stacks with lengths, masks, reversal, chunked runs,
float64 gradients, the fast path against the step loop, state dicts and stepping by hand.

Layer normalisation is a regulariser variant: the configurations of ``tests.conftest.REPRESENTATIVE`` cells run
in ``make test``, the others under ``@pytest.mark.slow`` (``tiered``); each check runs on every device present."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.core.tree import tree_leaves, tree_map
from tests.conftest import tiered

CONFIGS = [("lstm", {}), ("lstm1997", {}), ("peephole_lstm", {}), ("cifg_lstm", {}), ("gru", {}),
           ("gru", {"reset": "before"}), ("lstm", {"proj_size": 2})]
B, T, I, H = 3, 6, 3, 4
LENGTHS = [6, 2, 4]  # unsorted on purpose


def _id(cfg):
    name, opts = cfg
    return name + "".join(f"-{k}={v}" for k, v in opts.items())


EACH = pytest.mark.parametrize("cfg", tiered(CONFIGS, name_of=lambda c: c[0], id_of=_id))


def _model(cfg, device="cpu", **kw):
    name, opts = cfg
    torch.manual_seed(0)
    model = rnnzoo.create(name, input_size=kw.pop("input_size", I), hidden_size=kw.pop("hidden_size", H),
                          layer_norm=True, **opts, **kw).to(device)
    gen = torch.Generator().manual_seed(1)
    with torch.no_grad():  # LN parameters away from their initial 1 and 0, so that each one matters
        for n, p in model.named_parameters():
            if ".ln_" in n:
                p.add_(0.3 * torch.randn(p.shape, generator=gen).to(device))
    return model


def _x(batch=B, steps=T, size=I, dtype=torch.float32, device="cpu"):
    return torch.randn(batch, steps, size, dtype=dtype, generator=torch.Generator().manual_seed(2)).to(device)


def _close(a, b, atol=1e-5):
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        torch.testing.assert_close(x, y, atol=atol, rtol=1e-4)


@EACH
def test_fast_path_is_the_layer_norm_function(cfg, device):
    model = _model(cfg, device, num_layers=2, bidirectional=True)
    cells = [c for layer in model.layers for c in (layer.forward_layer.cell, layer.backward_layer.cell)]
    assert all(c.layer_norm and c.fused_kind == "rnnzoo" and c.torch_equivalent() is None for c in cells)


@EACH
def test_padded_batch_equals_each_sequence_alone(cfg, device):
    model = _model(cfg, device, num_layers=2, bidirectional=True)
    x = _x(device=device)
    out, state = model(x, lengths=torch.tensor(LENGTHS))
    for i, n in enumerate(LENGTHS):
        o_i, s_i = model(x[i:i + 1, :n])
        torch.testing.assert_close(out[i:i + 1, :n], o_i, atol=1e-5, rtol=1e-4)
        assert torch.count_nonzero(out[i, n:]) == 0, "outputs past the length must be zero"
        _close(tree_map(lambda t, i=i: t[i:i + 1], state), s_i)


@EACH
def test_mask_with_holes_equals_dropping_the_step(cfg, device):
    layer = rnnzoo.Recurrent(_model(cfg, device).layers[0].cell)
    x = _x(1, device=device)
    mask = torch.ones(1, T, dtype=torch.bool, device=device)
    mask[0, 2] = False
    out, state = layer(x, mask=mask)
    keep = [t for t in range(T) if t != 2]
    o_ref, s_ref = layer(x[:, keep])
    torch.testing.assert_close(out[:, keep], o_ref, atol=1e-5, rtol=1e-4)
    assert torch.count_nonzero(out[:, 2]) == 0
    _close(state, s_ref)


@EACH
def test_reverse_with_lengths_equals_flipped_sequence(cfg, device):
    cell = _model(cfg, device).layers[0].cell
    fwd, bwd = rnnzoo.Recurrent(cell), rnnzoo.Recurrent(cell, reverse=True)
    x = _x(device=device)
    out, state = bwd(x, lengths=LENGTHS)
    for i, n in enumerate(LENGTHS):
        o_i, s_i = fwd(x[i:i + 1, :n].flip(1))
        torch.testing.assert_close(out[i:i + 1, :n], o_i.flip(1), atol=1e-5, rtol=1e-4)
        _close(tree_map(lambda t, i=i: t[i:i + 1], state), s_i)


@EACH
def test_two_chunks_carrying_state_equal_one_run(cfg, device):
    model = _model(cfg, device, num_layers=2)
    x = _x(device=device)
    out, state = model(x)
    o1, s1 = model(x[:, :2])
    o2, s2 = model(x[:, 2:], s1)
    torch.testing.assert_close(torch.cat([o1, o2], 1), out, atol=1e-5, rtol=1e-4)
    _close(s2, state)
    y, st = None, None  # and one token at a time through the stack as one cell
    outs = []
    for t in range(T):
        y, st = model.cell(x[:, t], st)
        outs.append(y)
    torch.testing.assert_close(torch.stack(outs, 1), out, atol=1e-5, rtol=1e-4)


@EACH
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fast_path_equals_reference_loop(cfg, bidirectional, device):
    model = _model(cfg, device, num_layers=2, bidirectional=bidirectional)
    x = _x(device=device).requires_grad_()
    results = []
    for use_fused in (True, False):
        out = model.run(x, lengths=LENGTHS, use_fused=use_fused)
        loss = out.output.pow(2).sum() + sum(t.pow(2).sum() for t in tree_leaves(out.state))
        results.append((out.output, out.state, torch.autograd.grad(loss, [x, *model.parameters()])))
    (o1, s1, g1), (o2, s2, g2) = results
    torch.testing.assert_close(o1, o2, atol=1e-5, rtol=1e-4)
    _close(s1, s2)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@EACH
@pytest.mark.parametrize("use_fused", [False, True])
def test_gradcheck_float64(cfg, use_fused, device):
    """Bidirectional, lengths: finite differences through the input and every parameter."""
    hidden = 3 if "proj_size" in cfg[1] else 2  # proj_size < hidden_size
    model = _model(cfg, device, input_size=2, hidden_size=hidden, bidirectional=True).double()
    x = _x(2, 3, 2, dtype=torch.float64, device=device).requires_grad_()
    params = list(model.parameters())

    def f(x, *ps):
        return model.run(x, lengths=[3, 2], use_fused=use_fused).output

    # parameters enter through the module: gradcheck perturbs them in place (fast mode keeps it quick)
    assert torch.autograd.gradcheck(f, (x, *params), fast_mode=True)


@EACH
def test_state_dict_round_trip(cfg, device):
    model = _model(cfg, device, num_layers=2, bidirectional=True)
    names = [n for n, _ in model.named_parameters()]
    assert any(n.endswith("ln_hh_weight") for n in names) and any(n.endswith("ln_ih_weight") for n in names)
    cfg_ = {k: v for k, v in model.config.items() if k != "name"}
    assert cfg_["layer_norm"] is True
    torch.manual_seed(99)
    other = rnnzoo.create(model.name, **cfg_).to(device)
    other.load_state_dict(model.state_dict())
    x = _x(device=device)
    torch.testing.assert_close(model(x)[0], other(x)[0])


@EACH
def test_stepping_the_cell_by_hand_equals_the_runner(cfg, device):
    cell = _model(cfg, device).layers[0].cell
    x = _x(device=device)
    state, outs = None, []
    for t in range(T):
        y, state = cell(x[:, t], state)
        outs.append(y)
    out = rnnzoo.run(cell, x)  # the fast path
    torch.testing.assert_close(torch.stack(outs, 1), out.output, atol=1e-5, rtol=1e-4)
    _close(state, out.state)
