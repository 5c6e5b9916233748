"""The wrapper part of the contract: ``tests/core/test_contract.py`` runs its whole suite for every
registered cell with each regulariser (eval mode); here, what only wrappers need: the checks that hold
under a fixed seed in training mode (fast path == step loop, gradients, step output == output(state)),
all the regularisers stacked at once, and ``model.cell`` stepping wrapped cells.
The wrappers come through ``rnnzoo.create`` (each layer and direction wrapped).

Every check here is a regulariser variant: it runs in ``make test`` for ``tests.conftest.REPRESENTATIVE`` and for
the other cells under ``@pytest.mark.slow`` (``tiered``).
"""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.core.cell import bind
from rnnzoo.core.tree import tree_leaves, tree_map
from tests.conftest import make_input, tiered

MODELS = [n for n in rnnzoo.list_models(kind=rnnzoo.ModelKind.CELL)
          if rnnzoo.model_info(n).input_kind in (rnnzoo.InputKind.VECTOR_SEQUENCE, rnnzoo.InputKind.IMAGE_SEQUENCE)]
B, T, I, H = 3, 5, 3, 4
LENGTHS = [5, 2, 4]

WRAPS = {
    "vd": dict(variational_dropout={"input": 0.3, "output": 0.3, "state": 0.3}),
    "zoneout": dict(zoneout=0.3),
    "weight_drop": dict(weight_drop=0.5),
    "layer_norm": dict(layer_norm=True),
    "all": dict(layer_norm=True, weight_drop=0.5, zoneout=0.3, variational_dropout=0.3),
}
# (wrapper options, training mode): the random wrappers in training mode with a fixed seed
SEEDED = [("all", False)] + [
    ("vd_io", True), ("vd", True), ("zoneout", True), ("weight_drop", True), ("all", True)]
WRAPS["vd_io"] = dict(variational_dropout={"input": 0.3, "output": 0.3})
# gradients: variational dropout and weight drop are the identity in eval mode ("all" covers their plumbing)
SEEDED_GRAD = [(k, t) for k, t in SEEDED if t or k not in ("vd", "weight_drop")]


def _model(name, wrap, *, train=False, **kw):
    torch.manual_seed(0)
    model = rnnzoo.create(name, input_size=kw.pop("input_size", I), hidden_size=kw.pop("hidden_size", H),
                          **WRAPS[wrap], **kw)
    return model.train(train)


def _close(a, b, atol=1e-5):
    for x, y in zip(tree_leaves(a), tree_leaves(b), strict=True):
        torch.testing.assert_close(x, y, atol=atol, rtol=1e-4)


def _seeded_id(v):
    return f"{v[0]}-{'train' if v[1] else 'eval'}"


@pytest.mark.parametrize("wrap,train,name", tiered(MODELS, SEEDED, plain=None, id_of=_seeded_id))
def test_step_output_is_output_of_state(name, wrap, train):
    """y_t from step equals output(new_state) with the same prepared value (masks included). With
    ``layer_norm`` alone the LSTM and GRU use their own option, so the cell may be bare: the protocol's
    ``bind`` passes ``prepared`` only to methods that take it."""
    cell = _model(name, wrap, train=train).layers[0].cell
    x = make_input(name, B, 1, I)[:, 0]
    shape = tuple(x.shape[1:])
    state = tree_map(torch.randn_like, cell.initial_state(B, input_shape=shape))
    prepared = cell.prepare(None, B, device=x.device, dtype=x.dtype, input_shape=shape)
    torch.manual_seed(0)
    y, new = bind(cell.step, 2, prepared)(bind(cell.project, 1, prepared)(x), state)
    torch.testing.assert_close(bind(cell.output, 1, prepared)(new), y)


@pytest.mark.parametrize("wrap,name", tiered(MODELS, list(WRAPS)[:5], plain=None))
def test_model_cell_steps_as_the_model_runs(name, wrap):
    """``model.cell`` (a DeepCell of the wrapped cells) stepped by hand equals the model's run."""
    model = _model(name, wrap, num_layers=2)
    x = make_input(name, B, T, I)
    out, state = model(x)
    s, ys = None, []
    for t in range(T):
        y, s = model.cell(x[:, t], s)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys, 1), out, atol=1e-5, rtol=1e-4)
    _close(s, state)


@pytest.mark.parametrize("wrap,train,name", tiered(MODELS, SEEDED, plain=None, id_of=_seeded_id))
def test_fast_path_equals_step_loop(name, wrap, train):
    """Outputs, final states and every gradient, bidirectional with lengths; same seed for both runs.

    Zoneout in training mode draws at every step of the loop: this holds because the runner visits the
    steps of a cell without a fast path in the same order whether or not a fast path is allowed."""
    model = _model(name, wrap, train=train, num_layers=2, bidirectional=True)
    x = make_input(name, B, T, I).requires_grad_()
    results = []
    for use_fused in (True, False):
        torch.manual_seed(7)
        out = model.run(x, lengths=LENGTHS, use_fused=use_fused)
        loss = out.output.pow(2).sum() + sum(t.pow(2).sum() for t in tree_leaves(out.state))
        grads = torch.autograd.grad(loss, [x, *model.parameters()])
        results.append((out.output, out.state, grads))
    (o1, s1, g1), (o2, s2, g2) = results
    torch.testing.assert_close(o1, o2, atol=1e-5, rtol=1e-4)
    _close(s1, s2)
    for a, b in zip(g1, g2, strict=True):
        torch.testing.assert_close(a, b, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("wrap,train,name", tiered(MODELS, SEEDED_GRAD, plain=None, id_of=_seeded_id))
def test_gradcheck_float64(name, wrap, train):
    """Gradients through the input (gradcheck, fast mode: a random projection of the Jacobian) and every
    parameter (central differences on a few coordinates), bidirectional with lengths; the seed is reset
    inside the function, so every evaluation draws the same masks."""
    model = _model(name, wrap, train=train, input_size=2, hidden_size=2, bidirectional=True).double()
    x = make_input(name, 2, 3, 2, dtype=torch.float64).requires_grad_()

    def f(x):
        torch.manual_seed(3)
        return model.run(x, lengths=[3, 2]).output

    assert torch.autograd.gradcheck(f, (x,), eps=1e-6, atol=1e-5, fast_mode=True)
    params = list(model.parameters())
    grads = torch.autograd.grad(f(x).pow(2).sum(), params)
    for p, g in zip(params, grads, strict=True):
        flat = p.detach().reshape(-1)
        for j in range(min(2, flat.numel())):
            values = []
            for sign in (1, -1):
                with torch.no_grad():
                    old = p.detach().clone()
                    p.view(-1)[j] += sign * 1e-6
                values.append(f(x.detach()).pow(2).sum())
                with torch.no_grad():
                    p.copy_(old)
            num = (values[0] - values[1]) / 2e-6
            torch.testing.assert_close(g.reshape(-1)[j], num, atol=1e-5, rtol=1e-4)
