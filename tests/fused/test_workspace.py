"""The Functions' buffer pool (:mod:`rnnzoo.fused.workspace`): a buffer is handed out again only when nothing but the
pool references it (not while a view is alive, saved in a live graph, kept by ``retain_graph`` or returned as an
output); keys, the size floor and cap, poison, the switch; and two live graphs of one Function both backpropagating
correctly while reusing the pool."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.cfn import CFNCell
from rnnzoo.fused import workspace as ws


@pytest.fixture(autouse=True)
def pool():
    previous = ws.configure(enabled=True, min_bytes=0, max_bytes=1 << 30, poison=False)
    ws.clear()
    yield
    ws.clear()
    ws.configure(**previous)


def _ptr(t: torch.Tensor) -> int:
    return t.untyped_storage().data_ptr()


class _Saves(torch.autograd.Function):
    """y = 3 x, saving a pooled buffer holding 2 x (read back in the backward)."""

    @staticmethod
    def forward(ctx, x):
        buf = ws.buffer(x, (7, 5))
        torch.mul(x, 2, out=buf)
        ctx.save_for_backward(x, buf)
        return x * 3

    @staticmethod
    def backward(ctx, g):
        x, buf = ctx.saved_tensors
        return g * 1.5 * buf / x  # = 3 g while buf holds 2 x; NaN or wrong once another call overwrote it


def test_a_released_buffer_is_handed_out_again_and_a_held_one_is_not():
    like, before = torch.empty(0), ws.stats()
    a = ws.buffer(like, (4, 6))
    pa = _ptr(a)
    b = ws.buffer(like, (6, 4))  # same size, a still held: a new base
    assert _ptr(b) != pa
    del a
    c = ws.buffer(like, (24,))
    assert _ptr(c) == pa and c.shape == (24,) and c.is_contiguous()
    after = ws.stats()
    assert (after["hits"] - before["hits"], after["misses"] - before["misses"]) == (1, 2)


def test_a_view_of_a_view_keeps_it_taken():
    like = torch.empty(0)
    a = ws.buffer(like, (4, 6))
    pa, row = _ptr(a), a[1]
    del a
    assert _ptr(ws.buffer(like, (4, 6))) != pa
    del row
    assert _ptr(ws.buffer(like, (4, 6))) == pa


def test_a_buffer_saved_in_a_live_graph_is_not_reused_until_the_graph_is_freed():
    ws.configure(poison=True)
    x = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    y = _Saves.apply(x)
    for _ in range(3):  # other calls meanwhile: they must not get (and poison) the saved buffer
        _Saves.apply(torch.randn(7, 5, dtype=torch.float64))
    y.sum().backward(retain_graph=True)
    torch.testing.assert_close(x.grad, torch.full_like(x, 3.0))
    _Saves.apply(torch.randn(7, 5, dtype=torch.float64, requires_grad=True)).sum().backward()
    y.sum().backward()  # the retained graph's buffer survived the call in between
    torch.testing.assert_close(x.grad, torch.full_like(x, 6.0))
    hits = ws.stats()["hits"]
    del y
    _Saves.apply(torch.randn(7, 5, dtype=torch.float64))
    assert ws.stats()["hits"] == hits + 1  # freed with its graph: handed out again


def test_two_live_graphs_of_a_real_function_both_backpropagate_exactly():
    """Two forward calls of a hand-written Function before either backward (poisoned pool, reuse everywhere): each
    backward equals the step loop's."""
    ws.configure(poison=True)
    cell = CFNCell(3, 4).double()
    xs = [torch.randn(2, 6, 3, dtype=torch.float64) for _ in range(2)]

    def grads(use_fused):
        out = []
        losses = [rnnzoo.run(cell, x, use_fused=use_fused).output.square().sum() for x in xs]
        for loss in reversed(losses):
            cell.zero_grad(set_to_none=True)
            loss.backward()
            out.append([p.grad.clone() for p in cell.parameters()])
        return out

    for a, b in zip(grads(True), grads(False), strict=True):
        for ga, gb in zip(a, b, strict=True):
            torch.testing.assert_close(ga, gb, rtol=1e-12, atol=1e-12)


def test_a_held_storage_object_or_shared_memory_keeps_a_buffer_taken():
    like = torch.empty(0)
    a = ws.buffer(like, (4, 6))
    pa, storage = _ptr(a), a.untyped_storage()  # e.g. a saved-tensor hook keeping storages
    del a
    b = ws.buffer(like, (4, 6))
    assert _ptr(b) != pa
    del storage, b
    shared = ws.buffer(like, (4, 6))
    shared.share_memory_()  # what torch.multiprocessing does to a tensor it sends
    ps = _ptr(shared)
    del shared
    assert _ptr(ws.buffer(like, (4, 6))) != ps  # dropped from the pool, never handed out again


def test_a_hook_keeping_storages_backpropagates_exactly_across_other_calls():
    """A saved-tensor hook that packs the storage and rebuilds the tensor on unpack (a legal hook): the saved buffer
    must stay taken while only the hook's storage object holds it."""
    ws.configure(poison=True)

    def pack(t):
        return t.untyped_storage(), t.storage_offset(), t.size(), t.stride(), t.dtype

    def unpack(p):
        storage, offset, size, stride, dtype = p
        return torch.empty(0, dtype=dtype).set_(storage, offset, size, stride)

    x = torch.randn(7, 5, dtype=torch.float64, requires_grad=True)
    with torch.autograd.graph.saved_tensors_hooks(pack, unpack):
        y = _Saves.apply(x)
    for _ in range(3):
        _Saves.apply(torch.randn(7, 5, dtype=torch.float64))
    y.sum().backward()
    torch.testing.assert_close(x.grad, torch.full_like(x, 3.0))


def test_buffers_are_not_views_and_nearby_sizes_share_a_base():
    """An in-place operation on a returned buffer behaves as on a fresh tensor (no view-of-a-view errors); sizes
    within one of 8 classes per octave share a base (variable-length batches do not fill the pool)."""
    like = torch.empty(0)
    a = ws.buffer(like, (100, 64, 3))
    assert a._base is None and a.is_contiguous()
    a.relu_()
    pa = _ptr(a)
    del a
    b = ws.buffer(like, (97, 64, 3))  # 18624 and 19200 floats: one size class
    assert _ptr(b) == pa and b.shape == (97, 64, 3)
    assert ws._size_class(1000) == 1000 and ws._size_class(19200) == 20480
    assert all(n <= ws._size_class(n) <= 1.125 * n for n in range(1, 5000, 7))


def test_fake_tensors_pass_through():
    from torch._subclasses.fake_tensor import FakeTensorMode

    cell = CFNCell(3, 4)
    with FakeTensorMode(allow_non_fake_inputs=True) as mode:
        assert rnnzoo.run(cell, mode.from_tensor(torch.randn(2, 6, 3))).output.shape == (2, 6, 4)
    assert not any(type(b) is not torch.Tensor for bases in ws._POOL.bases.values() for b in bases)
    assert torch.isfinite(rnnzoo.run(cell, torch.randn(2, 6, 3)).output).all()


def test_an_output_held_by_the_caller_is_not_reused():
    cell = CFNCell(3, 4)
    with torch.no_grad():
        first = rnnzoo.run(cell, torch.randn(2, 6, 3)).output
        kept = first.clone()
        for _ in range(3):
            rnnzoo.run(cell, torch.randn(2, 6, 3))
    torch.testing.assert_close(first, kept)


def test_keys_floor_cap_poison_and_the_switch():
    like = torch.empty(0)
    a = ws.buffer(like, (8,))
    pa = _ptr(a)
    del a
    assert _ptr(ws.buffer(torch.empty(0, dtype=torch.float64), (8,))) != pa  # another dtype, another key
    with torch.inference_mode():
        assert _ptr(ws.buffer(like, (8,))) != pa  # inference tensors are kept apart
    ws.configure(min_bytes=1 << 20)
    before = ws.stats()
    small = ws.buffer(like, (16,))
    assert ws.stats()["misses"] == before["misses"] and small.shape == (16,)  # below the floor: not pooled
    ws.configure(min_bytes=0, max_bytes=1000)
    ws.buffer(like, (100,))
    ws.buffer(like, (200,))
    assert ws.stats()["bytes"] <= 1000
    ws.configure(poison=True)
    assert torch.isnan(ws.buffer(like, (3, 3))).all()
    assert ws.buffer(torch.empty(0, dtype=torch.bool), (3,)).dtype == torch.bool  # not poisoned: not floating
    ws.configure(enabled=False)
    assert ws.stats()["bytes"] == 0
    ws.buffer(like, (5,))
    assert ws.stats()["bytes"] == 0
    assert ws.buffer(torch.empty(0, device="meta"), (5,)).device.type == "meta"


@pytest.mark.parametrize("option,value", [("min_bytes", -1), ("max_bytes", 1.5), ("max_bytes", True)])
def test_bad_options_are_refused(option, value):
    with pytest.raises(ValueError, match=option):
        ws.configure(**{option: value})


def test_the_use_count_this_relies_on_exists():
    """The pool reads ``torch._C._storage_Use_Count``; a torch without it would silently turn the pool off."""
    assert ws._LONE is not None and ws._POOL.enabled
