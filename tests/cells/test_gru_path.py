"""Issue 11: the ``gru`` cell (reset="after") picks torch's GRU kernel or the rnnzoo GRU Function per device and
batch (:func:`rnnzoo.cells.gru.torch_kernel_is_faster`, measured in ``benchmarks/gru_path.py``). The rule picks
as documented, the model takes the path the rule picks, and the two paths give equal outputs, final states
and gradients (float64) at batches on each side of the crossover."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import _torch_fused
from rnnzoo.cells import gru as gru_module

CPU, CUDA = torch.device("cpu"), torch.device("cuda")
PER_THREAD = gru_module.KERNEL_BATCH_PER_THREAD


def test_the_rule_picks_as_documented() -> None:
    """The kernel off the CPU at any batch; on the CPU from 64 sequences per thread up, the Function below."""
    assert PER_THREAD == 64
    for batch in (1, 63, 64, 1000):
        assert gru_module.torch_kernel_is_faster(CUDA, batch, threads=1)
    for threads in (1, 2, 4):
        assert not gru_module.torch_kernel_is_faster(CPU, 64 * threads - 1, threads=threads)
        assert gru_module.torch_kernel_is_faster(CPU, 64 * threads, threads=threads)
    assert not gru_module.torch_kernel_is_faster(CPU, 32, threads=1)  # the small size: the Function
    assert gru_module.torch_kernel_is_faster(CPU, 64, threads=1)  # the large size, one thread: the kernel
    assert not gru_module.torch_kernel_is_faster(CPU, 64, threads=2)  # two threads: the Function
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    try:  # threads default to torch's setting
        assert gru_module.torch_kernel_is_faster(CPU, 64) and not gru_module.torch_kernel_is_faster(CPU, 63)
    finally:
        torch.set_num_threads(previous)


def _calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    kernel, function = _torch_fused.run_fused, gru_module.gru_recurrence
    monkeypatch.setattr(gru_module, "run_fused", lambda *a, **k: calls.append("kernel") or kernel(*a, **k))
    monkeypatch.setattr(gru_module, "gru_recurrence", lambda *a, **k: calls.append("function") or function(*a, **k))
    return calls


def _run(model: torch.nn.Module, x: torch.Tensor, lengths: list[int] | None) -> tuple[torch.Tensor, ...]:
    """Output, final h, and the gradients of a fixed weighted sum of both with respect to x and every parameter."""
    model.zero_grad(set_to_none=True)
    x = x.clone().requires_grad_(True)
    out, state = model(x, lengths=lengths)
    h = state.layers[0].h  # one layer: StackedState(layers=(GRUState(h),))
    g = torch.Generator().manual_seed(1)
    loss = (out * torch.randn(out.shape, generator=g, dtype=out.dtype)).sum() + (h * 0.5).sum()
    loss.backward()
    return (out.detach(), h.detach(), x.grad, *(p.grad for p in model.parameters()))


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("side", ["below", "at"])
@pytest.mark.parametrize("lengths", [False, True], ids=["full", "lengths"])
def test_both_paths_agree_on_each_side_of_the_rule(side: str, threads: int, lengths: bool,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    """At B = 64 * threads - 1 the rule takes the Function, at B = 64 * threads the kernel; forcing the other
    path gives the same outputs, final state and gradients (float64)."""
    batch = PER_THREAD * threads - (1 if side == "below" else 0)
    picks = "function" if side == "below" else "kernel"
    torch.manual_seed(0)
    model = rnnzoo.create("gru", input_size=3, hidden_size=5).double()
    x = torch.randn(batch, 7, 3, dtype=torch.float64)
    lens = [7 - (b % 4) for b in range(batch)] if lengths else None
    calls = _calls(monkeypatch)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        chosen = _run(model, x, lens)
        assert calls == [picks], f"batch {batch}, {threads} thread(s): expected the {picks}, ran {calls}"
        calls.clear()
        other = picks == "function"  # force the other path
        monkeypatch.setattr(gru_module, "torch_kernel_is_faster", lambda *a, **k: other)
        forced = _run(model, x, lens)
        assert calls == ["kernel" if other else "function"]
    finally:
        torch.set_num_threads(previous)
    for a, b in zip(chosen, forced, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-10)


def test_a_mask_with_holes_takes_the_function_even_where_the_kernel_is_faster(monkeypatch: pytest.MonkeyPatch
                                                                              ) -> None:
    """torch's kernel needs prefix masks; where the rule picks it, holes go to the Function (not the step loop),
    which equals the step loop."""
    from rnnzoo.core.runner import run

    torch.manual_seed(0)
    cell = rnnzoo.GRUCell(3, 4).double()
    x = torch.randn(2, 6, 3, dtype=torch.float64)
    mask = torch.ones(2, 6, dtype=torch.bool)
    mask[0, 2] = False  # a hole
    calls = _calls(monkeypatch)
    monkeypatch.setattr(gru_module, "torch_kernel_is_faster", lambda *a, **k: True)
    fused = run(cell, x, mask=mask)
    assert calls == ["function"]
    loop = run(cell, x, mask=mask, use_fused=False)
    torch.testing.assert_close(fused.output, loop.output, rtol=1e-10, atol=1e-10)
    assert fused.output[0, 2].abs().max() == 0  # the masked step outputs zeros
