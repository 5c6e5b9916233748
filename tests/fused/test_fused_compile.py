"""``rnnzoo.fused.compile_model``: the compiled model computes what the eager model computes."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.fused import compile_model


@pytest.mark.slow
@pytest.mark.parametrize("name", ["peephole_lstm", "lstm"])
def test_compiled_model_equals_eager(name):
    torch.manual_seed(0)
    model = rnnzoo.create(name, input_size=3, hidden_size=8)
    compiled = compile_model(model)
    x = torch.randn(4, 5, 3)
    out_e, state_e = model(x)
    out_c, state_c = compiled(x)
    torch.testing.assert_close(out_c, out_e, atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(tuple(state_c.layers[0]), tuple(state_e.layers[0]), atol=1e-5, rtol=1e-4)
    grads = []
    for m in (model, compiled):
        out, _ = m(x)
        grads.append(torch.autograd.grad(out.pow(2).sum(), list(model.parameters())))
    for a, b in zip(*grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-4)
    assert all(p is q for p, q in zip(compiled.parameters(), model.parameters(), strict=True))


def test_compile_model_rejects_non_modules():
    with pytest.raises(TypeError, match="model"):
        compile_model(lambda x: x)
