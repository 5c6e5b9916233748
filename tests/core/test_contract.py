"""The contract every registered model keeps, parametrized over ``rnnzoo.list_models()`` and over the
regularisers of issue 8 wrapped around each (``variant``): the plain model, and the model built by
``rnnzoo.create`` with variational dropout, zoneout, weight drop or layer normalisation, in eval mode
(where variational dropout and weight drop are the identity, zoneout its expectation, layer norm what it
always is). Their training-mode checks under a fixed seed are in ``tests/wrappers/test_wrapper_contract.py``."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnzoo
from rnnzoo.core.cell import bind
from rnnzoo.core.probe import record as probe_record
from rnnzoo.core.tree import tree_leaves, tree_map
from tests.conftest import make_input

MODELS = [n for n in rnnzoo.list_models(kind=rnnzoo.ModelKind.CELL)
          if rnnzoo.model_info(n).input_kind in (rnnzoo.InputKind.VECTOR_SEQUENCE, rnnzoo.InputKind.IMAGE_SEQUENCE)]
# what each check needs, read from the registry's typed fields (an entry that lacks a capability is
# listed out of that check here, visibly, never skipped behind an `if` inside a test)
UNBATCHED = [n for n in MODELS if rnnzoo.model_info(n).unbatched]
WITH_LENGTHS = [n for n in MODELS if rnnzoo.model_info(n).lengths]
CHUNKABLE = [n for n in MODELS if rnnzoo.model_info(n).chunkable]
CAUSAL = [n for n in MODELS if rnnzoo.model_info(n).causal]
BIDIRECTIONAL = [n for n in MODELS if rnnzoo.model_info(n).bidirectional_ok]
B, T, I, H = 3, 6, 3, 4
VARIANTS = {"plain": {}, "variational_dropout": {"variational_dropout": 0.3}, "zoneout": {"zoneout": 0.3},
            "weight_drop": {"weight_drop": 0.5}, "layer_norm": {"layer_norm": True}}
EVERY = pytest.mark.parametrize("variant", list(VARIANTS))
# gradients: variational dropout and weight drop are the identity in eval mode (their training-mode
# gradients are checked in tests/wrappers)
NONTRIVIAL = pytest.mark.parametrize("variant", ["plain", "zoneout", "layer_norm"])


def _model(variant, name, input_size=I, hidden_size=H, **kw):
    torch.manual_seed(0)
    model = rnnzoo.create(name, input_size=input_size, hidden_size=hidden_size, **VARIANTS[variant], **kw)
    return model.eval() if variant != "plain" else model


def _cell(variant, name):
    """One cell as the variant's model has it (wrapped, or with its own layer_norm option)."""
    return _model(variant, name).layers[0].cell
LENGTHS = [6, 2, 4]  # unsorted on purpose


def _close(a, b, atol=1e-5):
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        torch.testing.assert_close(x, y, atol=atol, rtol=1e-4)


def _batch_elem(state, i):
    return tree_map(lambda t: t[i:i + 1], state)


@EVERY
@pytest.mark.parametrize("name", MODELS)
def test_shapes_and_state(variant, name):
    model = _model(variant, name, I, H, num_layers=2)
    x = make_input(name, B, T, I)
    out, state = model(x)
    assert out.shape[:2] == (B, T)
    assert out.shape[2] == model.output_size
    assert isinstance(state, rnnzoo.StackedState) and len(state.layers) == 2
    init = model.initial_state(B, input_shape=tuple(x.shape[2:]))
    for a, b in zip(tree_leaves(state), tree_leaves(init), strict=True):
        assert a.shape == b.shape
    assert all(type(s).__name__.endswith("State") for s in state.layers)


@EVERY
@pytest.mark.parametrize("name", UNBATCHED)
def test_unbatched_equals_batch_of_one(variant, name):
    model = _model(variant, name, I, H)
    x = make_input(name, 1, T, I)
    out1, st1 = model(x[0])
    out, st = model(x)
    torch.testing.assert_close(out1, out[0])
    _close(st1, tree_map(lambda t: t[0], st))


@EVERY
@pytest.mark.parametrize("name", WITH_LENGTHS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_batch_equals_each_sequence_alone(variant, name, bidirectional):
    model = _model(variant, name, I, H, num_layers=2, bidirectional=bidirectional)
    x = make_input(name, B, T, I)
    out, state = model(x, lengths=torch.tensor(LENGTHS))
    for i, n in enumerate(LENGTHS):
        o_i, s_i = model(x[i:i + 1, :n])
        torch.testing.assert_close(out[i:i + 1, :n], o_i, atol=1e-5, rtol=1e-4)
        assert torch.count_nonzero(out[i, n:]) == 0, "outputs past the length must be zero"
        _close(_batch_elem(state, i), s_i)


@EVERY
@pytest.mark.parametrize("name", WITH_LENGTHS)
def test_mask_equals_lengths(variant, name):
    model = _model(variant, name, I, H, bidirectional=True)
    x = make_input(name, B, T, I)
    mask = torch.arange(T)[None, :] < torch.tensor(LENGTHS)[:, None]
    o1, s1 = model(x, lengths=LENGTHS)
    o2, s2 = model(x, mask=mask)
    torch.testing.assert_close(o1, o2)
    _close(s1, s2)


@EVERY
@pytest.mark.parametrize("name", WITH_LENGTHS)
def test_reverse_with_lengths_equals_flipped_sequence(variant, name):
    torch.manual_seed(0)
    cell = _cell(variant, name)
    fwd = rnnzoo.Recurrent(cell)
    bwd = rnnzoo.Recurrent(cell, reverse=True)
    x = make_input(name, B, T, I)
    out, state = bwd(x, lengths=LENGTHS)
    for i, n in enumerate(LENGTHS):
        o_i, s_i = fwd(x[i:i + 1, :n].flip(1))
        torch.testing.assert_close(out[i:i + 1, :n], o_i.flip(1), atol=1e-5, rtol=1e-4)
        assert torch.count_nonzero(out[i, n:]) == 0
        _close(_batch_elem(state, i), s_i)


@EVERY
@pytest.mark.parametrize("name", WITH_LENGTHS)
def test_mask_with_holes_freezes_state(variant, name):
    """A masked step leaves the state unchanged and outputs zero: equal to dropping the step."""
    torch.manual_seed(0)
    layer = rnnzoo.Recurrent(_cell(variant, name))
    x = make_input(name, 1, T, I)
    mask = torch.ones(1, T, dtype=torch.bool)
    mask[0, 2] = False
    out, state = layer(x, mask=mask)
    keep = [t for t in range(T) if t != 2]
    o_ref, s_ref = layer(x[:, keep])
    torch.testing.assert_close(out[:, keep], o_ref, atol=1e-5, rtol=1e-4)
    assert torch.count_nonzero(out[:, 2]) == 0
    _close(state, s_ref)


@EVERY
@pytest.mark.parametrize("name", CHUNKABLE)
def test_two_chunks_carrying_state_equal_one_run(variant, name):
    model = _model(variant, name, I, H, num_layers=2)
    x = make_input(name, B, T, I)
    out, state = model(x)
    o1, s1 = model(x[:, :2])
    o2, s2 = model(x[:, 2:], s1)
    torch.testing.assert_close(torch.cat([o1, o2], 1), out, atol=1e-5, rtol=1e-4)
    _close(s2, state)


@EVERY
@pytest.mark.parametrize("name", CAUSAL)
def test_causal(variant, name):
    model = _model(variant, name, I, H, num_layers=2)
    x = make_input(name, B, T, I)
    out, _ = model(x)
    x2 = x.clone()
    x2[:, 3:] = torch.randn_like(x2[:, 3:])
    out2, _ = model(x2)
    torch.testing.assert_close(out[:, :3], out2[:, :3])
    assert not torch.allclose(out[:, 3:], out2[:, 3:])


@NONTRIVIAL
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("use_fused", [False, True])
def test_gradcheck_float64(variant, name, use_fused):
    model = _model(variant, name, 2, 2, bidirectional=True).double()
    x = make_input(name, 2, 3, 2, dtype=torch.float64).requires_grad_()
    params = list(model.parameters())

    def f(x, *ps):
        out = model.run(x, lengths=[3, 2], use_fused=use_fused)
        return out.output

    # gradcheck through inputs and every parameter (parameters are leaves of the graph)
    assert torch.autograd.gradcheck(lambda x: f(x), (x,), eps=1e-6, atol=1e-5)
    out = f(x).pow(2).sum()
    grads = torch.autograd.grad(out, params)
    for p, g in zip(params, grads, strict=True):
        def fp(v, p=p):
            with torch.no_grad():
                old = p.detach().clone()
                p.copy_(v)
            try:
                return f(x.detach()).pow(2).sum()
            finally:
                with torch.no_grad():
                    p.copy_(old)
        # central differences on a few coordinates of each parameter
        flat = p.detach().reshape(-1)
        for j in range(min(3, flat.numel())):
            e = torch.zeros_like(flat)
            e[j] = 1e-6
            num = (fp((flat + e).view_as(p)) - fp((flat - e).view_as(p))) / 2e-6
            torch.testing.assert_close(g.reshape(-1)[j], num, atol=1e-5, rtol=1e-4)


@EVERY
@pytest.mark.parametrize("name", MODELS)
def test_state_dict_round_trip(variant, name):
    model = _model(variant, name, I, H, num_layers=2, bidirectional=True)
    cfg = {k: v for k, v in model.config.items() if k != "name"}
    torch.manual_seed(99)
    other = rnnzoo.create(name, **cfg).train(model.training)
    other.load_state_dict(model.state_dict())
    x = make_input(name, B, T, I)
    torch.testing.assert_close(model(x)[0], other(x)[0])


@NONTRIVIAL
@pytest.mark.parametrize("name", MODELS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fast_path_equals_reference_loop(variant, name, bidirectional):
    model = _model(variant, name, I, H, num_layers=2, bidirectional=bidirectional)
    x = make_input(name, B, T, I).requires_grad_()
    results = []
    for use_fused in (True, False):
        out = model.run(x, lengths=LENGTHS, use_fused=use_fused)
        loss = out.output.pow(2).sum() + sum(t.pow(2).sum() for t in tree_leaves(out.state))
        grads = torch.autograd.grad(loss, [x, *model.parameters()])
        results.append((out.output, out.state, grads))
    (o1, s1, g1), (o2, s2, g2) = results
    torch.testing.assert_close(o1, o2, atol=1e-5, rtol=1e-4)
    _close(s1, s2)
    for a, b in zip(g1, g2, strict=True):  # float32: the tolerance scales with the gradient's size
        torch.testing.assert_close(a, b, atol=1e-4 * max(1.0, float(b.abs().max())), rtol=1e-3)


@EVERY
@pytest.mark.parametrize("name", BIDIRECTIONAL)
def test_time_major_equals_batch_first(variant, name):
    bf = _model(variant, name, bidirectional=True)
    tm = _model(variant, name, bidirectional=True, batch_first=False)
    tm.load_state_dict(bf.state_dict())
    x = make_input(name, B, T, I)
    o1, s1 = bf(x, lengths=LENGTHS)
    mask_tb = (torch.arange(T)[None, :] < torch.tensor(LENGTHS)[:, None]).t()
    o2, s2 = tm(x.transpose(0, 1), mask=mask_tb)
    torch.testing.assert_close(o1, o2.transpose(0, 1))
    _close(s1, s2)


@EVERY
@pytest.mark.parametrize("name", WITH_LENGTHS)
def test_packed_sequence(variant, name):
    model = _model(variant, name, I, H, bidirectional=True)
    x = make_input(name, B, T, I)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    out_p, s_p = model(packed)
    assert isinstance(out_p, torch.nn.utils.rnn.PackedSequence)
    padded, lens = pad_packed_sequence(out_p, batch_first=True, total_length=T)
    o, s = model(x, lengths=LENGTHS)
    assert lens.tolist() == LENGTHS
    torch.testing.assert_close(padded, o)
    _close(s_p, s)


@EVERY
@pytest.mark.parametrize("name", WITH_LENGTHS)
def test_returned_states(variant, name):
    model = _model(variant, name, I, H)
    x = make_input(name, B, T, I)
    out = model.run(x, lengths=LENGTHS, return_states=True)
    states = out.states.layers[0]
    for i, n in enumerate(LENGTHS):
        last = tree_map(lambda s, i=i, n=n: s[i, n - 1], states)
        _close(last, tree_map(lambda s, i=i: s[i], out.state.layers[0]))
    # the output is the cell's output(state) at valid steps (zero past each length)
    cell = model.layers[0].cell
    from_states = bind(cell.output, 1, cell.prepare(None, B, input_shape=tuple(x.shape[2:])))(states)
    for i, n in enumerate(LENGTHS):
        torch.testing.assert_close(from_states[i, :n], out.output[i, :n])


@EVERY
@pytest.mark.parametrize("name", MODELS)
def test_stepping_the_cell_by_hand_equals_the_runner(variant, name):
    torch.manual_seed(0)
    cell = _cell(variant, name)
    x = make_input(name, B, T, I)
    state = None
    outs = []
    for t in range(T):
        y, state = cell(x[:, t], state)
        outs.append(y)
    out = rnnzoo.run(cell, x, use_fused=False)
    torch.testing.assert_close(torch.stack(outs, 1), out.output)
    _close(state, out.state)


@EVERY
@pytest.mark.parametrize("name", CAUSAL)
def test_streaming_a_stacked_model_equals_the_run(variant, name):
    """``model.step(x_t, state)`` token by token, after a prefix read as a sequence, gives the run's
    outputs and final state (2 layers, the state carried by the caller)."""
    model = _model(variant, name, num_layers=2).eval()
    x = make_input(name, B, T, I)
    full, final = model(x)
    out, state = model(x[:, :2])
    outs = [out]
    for t in range(2, T):
        y, state = model.step(x[:, t], state)
        outs.append(y.unsqueeze(1))
    torch.testing.assert_close(torch.cat(outs, 1), full)
    _close(state, final)


@EVERY
@pytest.mark.parametrize("name", MODELS)
def test_step_output_is_output_of_state(variant, name):
    """What step returns as y_t is cell.output(new_state): the runner emits output(state) after a step
    hook, so the two must agree."""
    cell = _cell(variant, name)
    x = make_input(name, B, 1, I)[:, 0]
    state = tree_map(lambda t: torch.randn_like(t), cell.initial_state(B, input_shape=tuple(x.shape[1:])))
    prepared = cell.prepare(None, B, input_shape=tuple(x.shape[1:]))
    y, new = bind(cell.step, 2, prepared)(bind(cell.project, 1, prepared)(x), state)
    torch.testing.assert_close(bind(cell.output, 1, prepared)(new), y)


@pytest.mark.parametrize("name", MODELS)
def test_registry_fields_match_the_cell(name):
    """The registry's typed fields say what the default configuration is and does."""
    info = rnnzoo.model_info(name)
    cell = info.build(I, H)
    assert isinstance(info.fast_path, rnnzoo.FastPath) and isinstance(info.input_kind, rnnzoo.InputKind)
    assert info.fast_path.value == (cell.fused_kind or "none")
    assert info.causal == cell.causal
    assert (info.input_kind == rnnzoo.InputKind.IMAGE_SEQUENCE) == (cell.feature_dims == 3)
    with probe_record() as rec:
        rnnzoo.run(cell, make_input(name, B, T, I))
    reported = rec.names(cell)
    assert info.gated == any(n in reported for n in ("i", "f", "o", "r", "z", "t")), reported  # t: highway
    assert (info.torch_module is not None) == (cell.torch_equivalent() is not None)
    if info.torch_module is not None:
        assert cell.torch_equivalent().module == info.torch_module


@pytest.mark.parametrize("name", MODELS)
def test_state_spec_describes_initial_state(name):
    cell = rnnzoo.model_info(name).build(I, H)
    x = make_input(name, B, T, I)
    spec = cell.state_spec(B, input_shape=tuple(x.shape[2:]))
    state = cell.initial_state(B, input_shape=tuple(x.shape[2:]))
    specs = tree_leaves(spec, is_leaf=lambda s: isinstance(s, rnnzoo.TensorSpec))
    assert [s.shape for s in specs] == [tuple(t.shape) for t in tree_leaves(state)]
