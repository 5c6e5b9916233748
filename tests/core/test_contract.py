"""The contract every registered model keeps, parametrized over ``rnnzoo.list_models()`` and over the
regularisers of issue 8 wrapped around each (``variant``): the plain model, and the model built by
``rnnzoo.create`` with variational dropout, zoneout, weight drop or layer normalisation, in eval mode
(where variational dropout and weight drop are the identity, zoneout its expectation, layer norm what it
always is). Their training-mode checks under a fixed seed are in ``tests/wrappers/test_wrapper_contract.py``.

Every registered cell runs the ``plain`` variant in ``make test``; the regulariser variants run there for
``tests.conftest.REPRESENTATIVE`` and for the other cells under ``@pytest.mark.slow`` (``tiered``). Each check runs
on every device present (``device``: CPU, and CUDA when torch sees one)."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnzoo
from rnnzoo.core.cell import bind
from rnnzoo.core.probe import record as probe_record
from rnnzoo.core.tree import tree_leaves, tree_map
from tests.conftest import REPRESENTATIVE, make_input, tiered

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
def every(names):
    """(variant, name) over every variant: plain for all names, the regularisers tiered."""
    return pytest.mark.parametrize("variant,name", tiered(names, list(VARIANTS)))

# gradients: variational dropout and weight drop are the identity in eval mode (their training-mode
# gradients are checked in tests/wrappers)
def nontrivial(names):
    return pytest.mark.parametrize("variant,name", tiered(names, ["plain", "zoneout", "layer_norm"]))


def _model(variant, name, input_size=I, hidden_size=H, *, device="cpu", **kw):
    torch.manual_seed(0)
    model = rnnzoo.create(name, input_size=input_size, hidden_size=hidden_size, **VARIANTS[variant], **kw).to(device)
    return model.eval() if variant != "plain" else model


def _cell(variant, name, device="cpu"):
    """One cell as the variant's model has it (wrapped, or with its own layer_norm option)."""
    return _model(variant, name, device=device).layers[0].cell
LENGTHS = [6, 2, 4]  # unsorted on purpose


def _close(a, b, atol=1e-5):
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        torch.testing.assert_close(x, y, atol=atol, rtol=1e-4)


def _batch_elem(state, i):
    return tree_map(lambda t: t[i:i + 1], state)


@every(MODELS)
def test_shapes_and_state(variant, name, device):
    model = _model(variant, name, I, H, num_layers=2, device=device)
    x = make_input(name, B, T, I, device=device)
    out, state = model(x)
    assert out.shape[:2] == (B, T)
    assert out.shape[2] == model.output_size
    assert isinstance(state, rnnzoo.StackedState) and len(state.layers) == 2
    init = model.initial_state(B, input_shape=tuple(x.shape[2:]))
    for a, b in zip(tree_leaves(state), tree_leaves(init), strict=True):
        assert a.shape == b.shape
    assert all(type(s).__name__.endswith("State") for s in state.layers)


@every(UNBATCHED)
def test_unbatched_equals_batch_of_one(variant, name, device):
    model = _model(variant, name, I, H, device=device)
    x = make_input(name, 1, T, I, device=device)
    out1, st1 = model(x[0])
    out, st = model(x)
    torch.testing.assert_close(out1, out[0])
    _close(st1, tree_map(lambda t: t[0], st))


@every(WITH_LENGTHS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_padded_batch_equals_each_sequence_alone(variant, name, bidirectional, device):
    model = _model(variant, name, I, H, num_layers=2, bidirectional=bidirectional, device=device)
    x = make_input(name, B, T, I, device=device)
    out, state = model(x, lengths=torch.tensor(LENGTHS))
    for i, n in enumerate(LENGTHS):
        o_i, s_i = model(x[i:i + 1, :n])
        torch.testing.assert_close(out[i:i + 1, :n], o_i, atol=1e-5, rtol=1e-4)
        assert torch.count_nonzero(out[i, n:]) == 0, "outputs past the length must be zero"
        _close(_batch_elem(state, i), s_i)


@every(WITH_LENGTHS)
def test_mask_equals_lengths(variant, name, device):
    model = _model(variant, name, I, H, bidirectional=True, device=device)
    x = make_input(name, B, T, I, device=device)
    mask = (torch.arange(T)[None, :] < torch.tensor(LENGTHS)[:, None]).to(device)
    o1, s1 = model(x, lengths=LENGTHS)
    o2, s2 = model(x, mask=mask)
    torch.testing.assert_close(o1, o2)
    _close(s1, s2)


@every(WITH_LENGTHS)
def test_reverse_with_lengths_equals_flipped_sequence(variant, name, device):
    torch.manual_seed(0)
    cell = _cell(variant, name, device)
    fwd = rnnzoo.Recurrent(cell)
    bwd = rnnzoo.Recurrent(cell, reverse=True)
    x = make_input(name, B, T, I, device=device)
    out, state = bwd(x, lengths=LENGTHS)
    for i, n in enumerate(LENGTHS):
        o_i, s_i = fwd(x[i:i + 1, :n].flip(1))
        torch.testing.assert_close(out[i:i + 1, :n], o_i.flip(1), atol=1e-5, rtol=1e-4)
        assert torch.count_nonzero(out[i, n:]) == 0
        _close(_batch_elem(state, i), s_i)


@every(WITH_LENGTHS)
def test_mask_with_holes_freezes_state(variant, name, device):
    """A masked step leaves the state unchanged and outputs zero: equal to dropping the step."""
    torch.manual_seed(0)
    layer = rnnzoo.Recurrent(_cell(variant, name, device))
    x = make_input(name, 1, T, I, device=device)
    mask = torch.ones(1, T, dtype=torch.bool, device=device)
    mask[0, 2] = False
    out, state = layer(x, mask=mask)
    keep = [t for t in range(T) if t != 2]
    o_ref, s_ref = layer(x[:, keep])
    torch.testing.assert_close(out[:, keep], o_ref, atol=1e-5, rtol=1e-4)
    assert torch.count_nonzero(out[:, 2]) == 0
    _close(state, s_ref)


@every(CHUNKABLE)
def test_two_chunks_carrying_state_equal_one_run(variant, name, device):
    model = _model(variant, name, I, H, num_layers=2, device=device)
    x = make_input(name, B, T, I, device=device)
    out, state = model(x)
    o1, s1 = model(x[:, :2])
    o2, s2 = model(x[:, 2:], s1)
    torch.testing.assert_close(torch.cat([o1, o2], 1), out, atol=1e-5, rtol=1e-4)
    _close(s2, state)


@every(CAUSAL)
def test_causal(variant, name, device):
    model = _model(variant, name, I, H, num_layers=2, device=device)
    x = make_input(name, B, T, I, device=device)
    out, _ = model(x)
    x2 = x.clone()
    x2[:, 3:] = torch.randn_like(x2[:, 3:])
    out2, _ = model(x2)
    torch.testing.assert_close(out[:, :3], out2[:, :3])
    assert not torch.allclose(out[:, 3:], out2[:, 3:])


@nontrivial(MODELS)
@pytest.mark.parametrize("use_fused", [False, True])
def test_gradcheck_float64(variant, name, use_fused, device):
    model = _model(variant, name, 2, 2, bidirectional=True, device=device).double()
    x = make_input(name, 2, 3, 2, dtype=torch.float64, device=device).requires_grad_()
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


@every(MODELS)
def test_state_dict_round_trip(variant, name, device):
    model = _model(variant, name, I, H, num_layers=2, bidirectional=True, device=device)
    cfg = {k: v for k, v in model.config.items() if k != "name"}
    torch.manual_seed(99)
    other = rnnzoo.create(name, **cfg).to(device).train(model.training)
    other.load_state_dict(model.state_dict())
    x = make_input(name, B, T, I, device=device)
    torch.testing.assert_close(model(x)[0], other(x)[0])


@nontrivial(MODELS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_fast_path_equals_reference_loop(variant, name, bidirectional, device):
    model = _model(variant, name, I, H, num_layers=2, bidirectional=bidirectional, device=device)
    x = make_input(name, B, T, I, device=device).requires_grad_()
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


@every(BIDIRECTIONAL)
def test_time_major_equals_batch_first(variant, name, device):
    bf = _model(variant, name, bidirectional=True, device=device)
    tm = _model(variant, name, bidirectional=True, batch_first=False, device=device)
    tm.load_state_dict(bf.state_dict())
    x = make_input(name, B, T, I, device=device)
    o1, s1 = bf(x, lengths=LENGTHS)
    mask_tb = (torch.arange(T)[None, :] < torch.tensor(LENGTHS)[:, None]).t().to(device)
    o2, s2 = tm(x.transpose(0, 1), mask=mask_tb)
    torch.testing.assert_close(o1, o2.transpose(0, 1))
    _close(s1, s2)


@every(WITH_LENGTHS)
def test_packed_sequence(variant, name, device):
    model = _model(variant, name, I, H, bidirectional=True, device=device)
    x = make_input(name, B, T, I, device=device)
    packed = pack_padded_sequence(x, torch.tensor(LENGTHS), batch_first=True, enforce_sorted=False)
    out_p, s_p = model(packed)
    assert isinstance(out_p, torch.nn.utils.rnn.PackedSequence)
    padded, lens = pad_packed_sequence(out_p, batch_first=True, total_length=T)
    o, s = model(x, lengths=LENGTHS)
    assert lens.tolist() == LENGTHS
    torch.testing.assert_close(padded, o)
    _close(s_p, s)


@every(WITH_LENGTHS)
def test_returned_states(variant, name, device):
    model = _model(variant, name, I, H, device=device)
    x = make_input(name, B, T, I, device=device)
    out = model.run(x, lengths=LENGTHS, return_states=True)
    states = out.states.layers[0]
    for i, n in enumerate(LENGTHS):
        last = tree_map(lambda s, i=i, n=n: s[i, n - 1], states)
        _close(last, tree_map(lambda s, i=i: s[i], out.state.layers[0]))
    # the output is the cell's output(state) at valid steps (zero past each length)
    cell = model.layers[0].cell
    from_states = bind(cell.output, 1, cell.prepare(None, B, device=device, input_shape=tuple(x.shape[2:])))(states)
    for i, n in enumerate(LENGTHS):
        torch.testing.assert_close(from_states[i, :n], out.output[i, :n])


@every(MODELS)
def test_stepping_the_cell_by_hand_equals_the_runner(variant, name, device):
    torch.manual_seed(0)
    cell = _cell(variant, name, device)
    x = make_input(name, B, T, I, device=device)
    state = None
    outs = []
    for t in range(T):
        y, state = cell(x[:, t], state)
        outs.append(y)
    out = rnnzoo.run(cell, x, use_fused=False)
    torch.testing.assert_close(torch.stack(outs, 1), out.output)
    _close(state, out.state)


@every(CAUSAL)
def test_streaming_a_stacked_model_equals_the_run(variant, name, device):
    """``model.step(x_t, state)`` token by token, after a prefix read as a sequence, gives the run's
    outputs and final state (2 layers, the state carried by the caller)."""
    model = _model(variant, name, num_layers=2, device=device).eval()
    x = make_input(name, B, T, I, device=device)
    full, final = model(x)
    out, state = model(x[:, :2])
    outs = [out]
    for t in range(2, T):
        y, state = model.step(x[:, t], state)
        outs.append(y.unsqueeze(1))
    torch.testing.assert_close(torch.cat(outs, 1), full)
    _close(state, final)


@every(MODELS)
def test_step_output_is_output_of_state(variant, name, device):
    """What step returns as y_t is cell.output(new_state): the runner emits output(state) after a step
    hook, so the two must agree."""
    cell = _cell(variant, name, device)
    x = make_input(name, B, 1, I, device=device)[:, 0]
    state = tree_map(lambda t: torch.randn_like(t),
                     cell.initial_state(B, device=device, input_shape=tuple(x.shape[1:])))
    prepared = cell.prepare(None, B, device=device, input_shape=tuple(x.shape[1:]))
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


def test_representative_covers_every_fast_path_and_input_kind():
    """The tiered suites keep a cell of every fast-path kind, input kind and recurrence kind in ``make test``: a
    registered cell of a kind no representative has must bring a representative (tests/conftest.py)."""
    assert [n for n in REPRESENTATIVE if n in MODELS] == list(REPRESENTATIVE), "a representative these suites skip"
    for field in ("fast_path", "input_kind", "recurrence"):
        covered = {getattr(rnnzoo.model_info(n), field) for n in REPRESENTATIVE}
        uncovered = {n: getattr(rnnzoo.model_info(n), field) for n in MODELS
                     if getattr(rnnzoo.model_info(n), field) not in covered}
        assert not uncovered, f"{field}: no representative of the kind of {uncovered} in tests/conftest.py"
