"""The contract suite of whole models with structured inputs (rnnzoo.core.model.StructuredModel, issue 12).

Every registry entry of kind MODEL with ``test_options`` is built small (``create(name, **test_options)``) and fed
its own ``example_input``: outputs are finite, a batch equals its examples run one by one (no mixing across the
batch, padding included), repeated calls agree (no state kept on ``self`` between calls), gradients reach every
parameter, float64 works, and the model survives an all-zero input without NaN.
"""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.tree import tree_leaves

STRUCTURED = sorted(n for n in rnnzoo.list_models(kind=rnnzoo.ModelKind.MODEL) if rnnzoo.model_info(n).test_options)


def build(name: str, dtype: torch.dtype = torch.float64) -> StructuredModel:
    torch.manual_seed(0)
    model = rnnzoo.create(name, **rnnzoo.model_info(name).test_options).to(dtype)
    assert isinstance(model, StructuredModel), f"{name}: a structured model must subclass StructuredModel"
    return model.eval()


def example(model: StructuredModel, batch: int, seed: int = 0):
    return model.example_input(batch, generator=torch.Generator().manual_seed(seed))


def float_leaves(out) -> list[torch.Tensor]:
    return [t for t in tree_leaves(out) if t.is_floating_point()]


def test_the_structured_models_are_registered() -> None:
    # the issue-12 and issue-13 models; a model that loses its test_options would silently leave this suite
    for name in ("seq2seq", "pointer_net", "memn2n", "dmn", "ggnn", "ggsnn", "match_lstm", "sentence_lstm",
                 "mdlstm", "row_lstm", "spatial_lstm", "grid_lstm", "grid_lstm_1d", "lg_lstm", "tree_lstm", "s_lstm",
                 "tree_seq_lstm", "stack_lstm"):
        assert name in rnnzoo.list_models(), f"{name}: not registered"
        assert name in STRUCTURED, f"{name}: registered without test_options, the contract suite skips it"


@pytest.mark.parametrize("name", STRUCTURED)
def test_outputs_are_finite_and_batch_first(name: str) -> None:
    model = build(name)
    x = example(model, 3)
    out = model(x)
    leaves = float_leaves(out)
    assert leaves, f"{name}: forward returned no floating tensor"
    for t in leaves:
        assert t.shape[0] == 3, f"{name}: outputs must be batch first, got {tuple(t.shape)}"
        assert bool(torch.isfinite(t).all()), f"{name}: non-finite output"


@pytest.mark.parametrize("name", STRUCTURED)
def test_a_batch_equals_its_examples_one_by_one(name: str) -> None:
    model = build(name)
    x = example(model, 4, seed=1)
    full = float_leaves(model(x))
    for i in range(4):
        one = float_leaves(model(model.select(x, torch.tensor([i]))))
        for a, b in zip(full, one, strict=True):
            torch.testing.assert_close(a[i:i + 1], b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("name", STRUCTURED)
def test_calls_are_independent(name: str) -> None:
    model = build(name)
    x1, x2 = example(model, 3, seed=2), example(model, 3, seed=3)
    first = float_leaves(model(x1))
    model(x2)
    again = float_leaves(model(x1))
    for a, b in zip(first, again, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


@pytest.mark.parametrize("name", STRUCTURED)
def test_gradients_reach_every_parameter(name: str) -> None:
    model = build(name).train()
    torch.manual_seed(0)
    out = model(example(model, 3, seed=4))
    sum(t.sum() for t in float_leaves(out) if t.requires_grad).backward()
    missing = [n for n, p in model.named_parameters() if p.requires_grad and p.grad is None]
    assert not missing, f"{name}: parameters without gradient: {missing}"
    bad = [n for n, p in model.named_parameters() if p.grad is not None and not bool(torch.isfinite(p.grad).all())]
    assert not bad, f"{name}: non-finite gradients in {bad}"


@pytest.mark.parametrize("name", STRUCTURED)
def test_float32_and_float64_agree(name: str) -> None:
    m64, m32 = build(name, torch.float64), build(name, torch.float32)
    x64 = example(m64, 2, seed=5)
    x32 = example(m32, 2, seed=5)
    for a, b in zip(float_leaves(m64(x64)), float_leaves(m32(x32)), strict=True):
        assert a.dtype == torch.float64 and b.dtype == torch.float32
        finite = torch.isfinite(a)
        torch.testing.assert_close(b.double()[finite], a[finite], rtol=1e-3, atol=1e-3)


@pytest.mark.parametrize("name", STRUCTURED)
def test_zero_inputs_give_no_nan(name: str) -> None:
    model = build(name)
    x = example(model, 2, seed=6)
    zeroed = type(x)(*[t.new_zeros(t.shape) if isinstance(t, torch.Tensor) and t.is_floating_point() else t
                       for t in x]) if isinstance(x, tuple) else x
    for t in float_leaves(model(zeroed)):
        assert not bool(torch.isnan(t).any()), f"{name}: NaN for all-zero float inputs"


@pytest.mark.parametrize("name", STRUCTURED)
def test_registry_entry(name: str) -> None:
    info = rnnzoo.model_info(name)
    assert info.input_kind not in (rnnzoo.InputKind.VECTOR_SEQUENCE, rnnzoo.InputKind.IMAGE_SEQUENCE)
    assert info.paper.arxiv and info.seed_equations and info.description
    cls = type(build(name))
    doc = (cls.__doc__ or "") + (__import__(cls.__module__, fromlist=["_"]).__doc__ or "")
    assert info.paper.arxiv in doc, f"{name}: the docstring must cite arXiv:{info.paper.arxiv} with its equations"


@pytest.mark.parametrize("name", ["mdlstm", "row_lstm", "spatial_lstm", "grid_lstm", "grid_lstm_1d", "lg_lstm",
                                  "tree_lstm", "s_lstm", "tree_seq_lstm", "stack_lstm"])
def test_work_counts_what_a_forward_processes(name: str) -> None:
    # rnnzoo bench --structured prints these per second: positive counts, the runner steps among them
    model = build(name)
    x = example(model, 3)
    work = model.work(x)
    assert "steps" in work and len(work) >= 2, work
    assert all(isinstance(v, int) and v > 0 for v in work.values()), work
    bigger = model.work(model.select(example(model, 6), torch.arange(6)))
    unit = next(k for k in work if k != "steps")
    assert bigger[unit] > 0 and model.work(model.select(x, torch.tensor([0])))[unit] < work[unit]
