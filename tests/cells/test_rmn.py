"""The recurrent memory network against a naive implementation typed from the paper (Tran, Bisazza & Monz 2016,
arXiv:1601.01272, Section 3.1: p_t = softmax(M_t h_t), s_t = C_t p_t, the GRU-like gate), float64, Python loops
over examples, steps and memory slots; and the pitfalls RESEARCH.md lists: the memory holds *inputs* (not hidden
states), the window size n, the causal mask at the start of a sequence."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import RMNCell
from rnnzoo.core import probe

B, T, I, H, N = 3, 9, 5, 4, 4


def sig(v):
    return 1.0 / (1.0 + torch.exp(-v))


def lstm_step(x, h, c, W, U, b):
    pre = W @ x + U @ h + b
    n = h.shape[0]
    i, f, g, o = sig(pre[:n]), sig(pre[n:2 * n]), torch.tanh(pre[2 * n:3 * n]), sig(pre[3 * n:])
    c = f * c + i * g
    return o * torch.tanh(c), c


def naive_rmn(cell, x, lengths):
    """One example, one step, one slot at a time. Returns outputs (B, T, H) (zeros past each length) and the
    attention (B, T, n) with slot n-1 the newest input and 0 on slots the sequence has not filled yet."""
    P = {k: v.detach() for k, v in cell.named_parameters()}
    n = cell.memory_size
    out = torch.zeros(B, T, H, dtype=torch.float64)
    att = torch.zeros(B, T, n, dtype=torch.float64)
    for b in range(B):
        h = c = y = c2 = torch.zeros(H, dtype=torch.float64)
        inputs = []
        for t in range(lengths[b]):
            h, c = lstm_step(x[b, t], h, c, P["weight_ih"], P["weight_hh"], P["bias"])
            inputs.append(x[b, t])
            window = inputs[-n:]  # the last n INPUTS, this one included
            k = len(window)
            ms, cs, scores = [], [], []
            for j, x_i in enumerate(window):
                slot = n - k + j  # the newest input sits in slot n-1
                m_i = P["weight_m"] @ x_i + (P["time_m"][slot] if cell.temporal else 0)
                c_i = P["weight_c"] @ x_i + (P["time_c"][slot] if cell.temporal else 0)
                ms.append(m_i)
                cs.append(c_i)
                scores.append(float(m_i @ h))
            top = max(scores)
            e = [math.exp(v - top) for v in scores]
            p = [v / sum(e) for v in e]
            s = sum(p[j] * cs[j] for j in range(k))
            for j in range(k):
                att[b, t, n - k + j] = p[j]
            Ws, Uh, bg = P["weight_gs"], P["weight_gh"], P["bias_g"]
            z = sig(Ws[:H] @ s + Uh[:H] @ h + bg[:H])
            r = sig(Ws[H:2 * H] @ s + Uh[H:2 * H] @ h + bg[H:2 * H])
            hh = torch.tanh(Ws[2 * H:] @ s + Uh[2 * H:] @ (r * h) + bg[2 * H:])
            y_mb = z * hh + (1 - z) * h
            if cell.top_lstm:
                y, c2 = lstm_step(y_mb, y, c2, P["weight_ih_top"], P["weight_hh_top"], P["bias_top"])
            else:
                y = y_mb
            out[b, t] = y
    return out, att


@pytest.mark.parametrize("name,temporal", [("rmn", True), ("rmn", False), ("rmr", True)])
def test_matches_the_naive_implementation(name, temporal):
    torch.manual_seed(0)
    cell = rnnzoo.model_info(name).build(I, H, memory_size=N, temporal=temporal).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    lengths = [T, 6, 2]  # one shorter than the window, one longer
    with probe.record() as rec:
        got = rnnzoo.run(cell, x, lengths=lengths).output
    want, att = naive_rmn(cell, x, lengths)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-12)  # the step loop (a recording takes it)
    fast = rnnzoo.run(cell, x, lengths=lengths).output  # the fast path
    torch.testing.assert_close(fast, want, rtol=1e-10, atol=1e-12)
    rep = rec.report(cell, "attention")
    assert rep.kind == "attention"
    p = rep.stacked().transpose(0, 1)  # (B, T, n)
    for b, L in enumerate(lengths):
        torch.testing.assert_close(p[b, :L], att[b, :L], rtol=1e-10, atol=1e-12)


def test_the_memory_holds_the_inputs_embeddings_not_hidden_states():
    """After a run, the window is ``M x_i`` and ``C x_i`` of the last n inputs, oldest first (attending over
    hidden states instead is ordinary attention, RESEARCH.md's common mistake)."""
    torch.manual_seed(1)
    cell = RMNCell(I, H, memory_size=N).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    state = rnnzoo.run(cell, x).state
    last = x[:, T - N:]  # (B, n, I)
    torch.testing.assert_close(state.mem_m, last @ cell.weight_m.detach().t())
    torch.testing.assert_close(state.mem_c, last @ cell.weight_c.detach().t())
    assert bool((state.filled == 1).all())


def test_the_start_of_a_sequence_masks_the_empty_slots_instead_of_attending_to_zeros():
    """At step t < n only t+1 slots hold inputs: the others get exactly zero attention, whatever the state's
    unfilled slots contain (garbage there changes nothing), and the weights over the filled ones sum to 1."""
    torch.manual_seed(2)
    cell = RMNCell(I, H, memory_size=N).double()
    x = torch.randn(B, 3, I, dtype=torch.float64)
    clean = cell.initial_state(B, dtype=torch.float64)
    dirty = clean._replace(mem_m=torch.randn(B, N, H, dtype=torch.float64) * 10,
                           mem_c=torch.randn(B, N, H, dtype=torch.float64) * 10)
    with probe.record() as rec:
        a = rnnzoo.run(cell, x, clean).output
    p = rec.report(cell, "attention").stacked()  # (3, B, n)
    torch.testing.assert_close(rnnzoo.run(cell, x, dirty, use_fused=False).output, a, rtol=0, atol=0)
    fused_clean = rnnzoo.run(cell, x, clean).output  # the fast path masks the same slots
    torch.testing.assert_close(rnnzoo.run(cell, x, dirty).output, fused_clean, rtol=0, atol=0)
    for t in range(3):
        assert bool((p[t, :, :N - 1 - t] == 0).all())
        assert bool((p[t, :, N - 1 - t:] > 0).all())
        torch.testing.assert_close(p[t].sum(1), torch.ones(B, dtype=torch.float64))


def test_the_window_is_n_inputs_this_one_included():
    """Stepping by hand from a state after n inputs: the oldest slot (x_{t-n}) is dropped when x_t enters, so
    changing it changes nothing; the next one (x_{t-n+1}) is still attended, so changing it changes y_t."""
    torch.manual_seed(3)
    cell = RMNCell(I, H, memory_size=N).double()
    x = torch.randn(1, N + 1, I, dtype=torch.float64)
    state = rnnzoo.run(cell, x[:, :N]).state  # the window holds x_0 .. x_{n-1}
    base, _ = cell(x[:, N], state)
    for slot, changes in ((0, False), (1, True)):
        mem_m, mem_c = state.mem_m.clone(), state.mem_c.clone()
        mem_m[:, slot] += 1.0
        mem_c[:, slot] += 1.0
        y, _ = cell(x[:, N], state._replace(mem_m=mem_m, mem_c=mem_c))
        assert bool(((y - base).abs().max() > 1e-6) == changes), slot


def test_chunks_shorter_than_the_window_compute_one_run():
    torch.manual_seed(4)
    cell = rnnzoo.model_info("rmr").build(I, H, memory_size=N).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    whole = rnnzoo.run(cell, x)
    state, outs = None, []
    for s in range(0, T, 2):
        r = rnnzoo.run(cell, x[:, s:s + 2], state)
        state = r.state
        outs.append(r.output)
    torch.testing.assert_close(torch.cat(outs, 1), whole.output, rtol=1e-12, atol=1e-14)
    torch.testing.assert_close(state.mem_m, whole.state.mem_m, rtol=1e-12, atol=1e-14)


def test_gradients_in_float64():
    torch.manual_seed(5)
    cell = RMNCell(3, 2, memory_size=2, top_lstm=True).double()
    x = torch.randn(2, 4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: rnnzoo.run(cell, v).output, (x,))


@pytest.mark.parametrize("option,value", [("memory_size", 0), ("memory_size", 2.5), ("top_lstm", "yes"),
                                          ("temporal", 1)])
def test_bad_options_raise_naming_them(option, value):
    with pytest.raises((ValueError, TypeError), match=option):
        RMNCell(I, H, **{option: value})


def test_the_registry_variants():
    assert rnnzoo.model_info("rmr").build(I, H).top_lstm is True
    assert rnnzoo.model_info("rmn").build(I, H).top_lstm is False
    assert rnnzoo.model_info("rmn").build(I, H).memory_size == 15  # the paper's default n


def test_the_attention_heatmaps_of_a_stacked_model():
    """``rnnzoo evaluate --plots`` draws what attention_maps collects: one (steps, n) matrix per example."""
    from rnnzoo.diagnostics.attention import attention_maps

    torch.manual_seed(6)
    model = rnnzoo.create("rmn", I, H, memory_size=N)
    x = torch.randn(2, T, I)
    maps = attention_maps(model, lambda: model(x), examples=2)
    (name, mats), = maps.items()
    assert "attention" in name and [tuple(m.shape) for m in mats] == [(T, N), (T, N)]
    torch.testing.assert_close(mats[0].sum(1), torch.ones(T))
