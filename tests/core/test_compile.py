"""``create(..., compile=True)`` computes what the eager model computes."""

from __future__ import annotations

import pytest
import torch

import rnnzoo


@pytest.mark.slow
@pytest.mark.parametrize("name", ["peephole_lstm", "gru"])
def test_compiled_equals_eager(name):
    torch.manual_seed(0)
    eager = rnnzoo.create(name, input_size=3, hidden_size=8)
    compiled = rnnzoo.create(name, input_size=3, hidden_size=8, compile=True)
    compiled.load_state_dict(eager.state_dict())
    x = torch.randn(4, 12, 3)
    torch.testing.assert_close(compiled(x)[0], eager(x)[0], atol=1e-5, rtol=1e-4)
    compiled(x)[0].sum().backward()
    assert all(p.grad is not None for p in compiled.parameters())


def test_the_constant_mark_is_the_one_torch_sets():
    """``rnnzoo.core.cell`` marks its inspection helper as torch.compiler.assume_constant_result does, without
    importing torch._dynamo at import time: the two marks must stay the same attributes."""
    from rnnzoo.core import cell

    def theirs() -> None: ...

    def ours() -> None: ...

    before = set(vars(theirs))
    torch.compiler.assume_constant_result(theirs)
    cell._assume_constant_result(ours)
    marks = {k: v for k, v in vars(theirs).items() if k not in before}
    assert marks and marks == vars(ours)
    assert cell._positional._dynamo_marked_constant is True
