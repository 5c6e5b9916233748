"""The neural Turing machine against a naive implementation typed from Graves et al. 2014 eqs (2)-(9) (loops per
example, per head and per slot, float64), and the pitfalls of RESEARCH.md: NaN from a zero memory in the cosine,
negative sharpening exponents, all-zero inputs (Collier & Beel 2018)."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells.ntm import NTMCell, NTMState
from rnnzoo.core.probe import record as probe_record

N, M, R, W, S = 6, 3, 2, 2, 1


def _cell(**kw) -> NTMCell:
    torch.manual_seed(0)
    opts = {"memory_slots": N, "memory_width": M, "read_heads": R, "write_heads": W, "shift_range": S, **kw}
    return rnnzoo.model_info("ntm").build(4, 5, **opts).double()


def _naive_head(p: list[float], write: bool) -> dict:
    """One head's parameters from its slice of the head layer's output, as the docstring's list says."""
    k = [math.tanh(v) for v in p[:M]]
    beta = math.log1p(math.exp(p[M]))
    g = 1 / (1 + math.exp(-p[M + 1]))
    raw_s = p[M + 2:M + 2 + 2 * S + 1]
    z = sum(math.exp(v) for v in raw_s)
    s = [math.exp(v) / z for v in raw_s]
    gamma = 1 + math.log1p(math.exp(p[M + 3 + 2 * S]))
    out = {"k": k, "beta": beta, "g": g, "s": s, "gamma": gamma}
    if write:
        base = M + 4 + 2 * S
        out["e"] = [1 / (1 + math.exp(-v)) for v in p[base:base + M]]
        out["a"] = [math.tanh(v) for v in p[base + M:base + 2 * M]]
    return out


def _naive_address(h: dict, mem: list[list[float]], prev: list[float], eps: float) -> list[float]:
    kn = math.sqrt(sum(v * v for v in h["k"]) + eps * eps)
    sims = []
    for i in range(N):  # eq (6): cosine similarity per slot
        mn = math.sqrt(sum(v * v for v in mem[i]) + eps * eps)
        sims.append(sum(a * b for a, b in zip(h["k"], mem[i], strict=True)) / (kn * mn + eps))
    z = sum(math.exp(h["beta"] * c) for c in sims)
    wc = [math.exp(h["beta"] * c) / z for c in sims]  # eq (5)
    wg = [h["g"] * wc[i] + (1 - h["g"]) * prev[i] for i in range(N)]  # eq (7)
    ws = []
    for i in range(N):  # eq (8): w~_i = sum_j w^g_j s(i - j), shifts -S..S
        ws.append(sum(wg[j] * h["s"][o + S] for j in range(N) for o in range(-S, S + 1) if (i - j - o) % N == 0))
    pw = [(max(v, 0.0) + eps) ** h["gamma"] for v in ws]  # eq (9)
    return [v / sum(pw) for v in pw]


def _naive_run(cell: NTMCell, x: torch.Tensor) -> tuple[torch.Tensor, list]:
    """Per example, per step, per head, per slot; the controller is stepped by its own (tested) cell."""
    outs, finals = [], []
    for b in range(x.shape[0]):
        st = cell.initial_state(1, dtype=torch.float64)
        mem = [[float(v) for v in row] for row in st.memory[0]]
        rw = [[float(v) for v in st.read_weights[0, h]] for h in range(R)]
        ww = [[float(v) for v in st.write_weights[0, h]] for h in range(W)]
        reads = [[float(v) for v in st.reads[0, h]] for h in range(R)]
        ctrl = st.controller
        ys = []
        for t in range(x.shape[1]):
            u = torch.tensor([list(map(float, x[b, t])) + [v for r in reads for v in r]], dtype=torch.float64)
            y_c, ctrl = cell.controller.step(cell.controller.project(u), ctrl)
            clipped = y_c.clamp(-cell.clip_value, cell.clip_value)
            p = cell.head(clipped).clamp(-cell.clip_value, cell.clip_value)[0].tolist()
            heads_r = [_naive_head(p[h * cell.read_params:(h + 1) * cell.read_params], False) for h in range(R)]
            off = R * cell.read_params
            heads_w = [_naive_head(p[off + h * cell.write_params:off + (h + 1) * cell.write_params], True)
                       for h in range(W)]
            rw = [_naive_address(heads_r[h], mem, rw[h], cell.eps) for h in range(R)]
            ww = [_naive_address(heads_w[h], mem, ww[h], cell.eps) for h in range(W)]
            reads = [[sum(rw[h][i] * mem[i][m] for i in range(N)) for m in range(M)] for h in range(R)]  # eq (2)
            new = [[0.0] * M for _ in range(N)]
            for i in range(N):
                for m in range(M):
                    keep = 1.0
                    for h in range(W):  # eq (3): every erasure
                        keep *= 1 - ww[h][i] * heads_w[h]["e"][m]
                    new[i][m] = mem[i][m] * keep + sum(ww[h][i] * heads_w[h]["a"][m] for h in range(W))  # eq (4)
            mem = new
            ys.append(y_c[0].tolist() + [v for r in reads for v in r])
        outs.append(ys)
        finals.append((mem, rw, ww, reads))
    return torch.tensor(outs, dtype=torch.float64), finals


@pytest.mark.parametrize("memory_init", ["constant", "random"])
def test_equals_naive_loops_from_the_paper(memory_init):
    cell = _cell(memory_init=memory_init)
    x = torch.randn(2, 5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    res = rnnzoo.run(cell, x)
    want, finals = _naive_run(cell, x)
    torch.testing.assert_close(res.output, want, atol=1e-10, rtol=1e-9)
    for b, (mem, rw, ww, reads) in enumerate(finals):
        st = res.state
        torch.testing.assert_close(st.memory[b], torch.tensor(mem, dtype=torch.float64), atol=1e-10, rtol=1e-9)
        torch.testing.assert_close(st.read_weights[b], torch.tensor(rw, dtype=torch.float64), atol=1e-10, rtol=1e-9)
        torch.testing.assert_close(st.write_weights[b], torch.tensor(ww, dtype=torch.float64), atol=1e-10, rtol=1e-9)
        torch.testing.assert_close(st.reads[b], torch.tensor(reads, dtype=torch.float64), atol=1e-10, rtol=1e-9)


def test_shift_moves_a_focused_weighting_by_one_slot():
    """eq (8) with s all on +1 and g = 0: the focus moves from slot i to slot i + 1 (circularly)."""
    from rnnzoo.cells.ntm import address
    prev = torch.zeros(1, 1, N, dtype=torch.float64)
    prev[0, 0, N - 1] = 1.0
    s = torch.tensor([[[0.0, 0.0, 1.0]]], dtype=torch.float64)
    w = address(torch.zeros(1, 1, M, dtype=torch.float64), torch.ones(1, 1, dtype=torch.float64),
                torch.zeros(1, 1, dtype=torch.float64), s, torch.full((1, 1), 50.0, dtype=torch.float64),
                torch.rand(1, N, M, dtype=torch.float64), prev, 1e-12)
    assert int(w[0, 0].argmax()) == 0 and float(w[0, 0, 0]) > 0.999


@pytest.mark.parametrize("memory_init", ["constant", "learned", "random"])
def test_no_nan_for_zero_inputs_and_a_zero_memory(memory_init):
    """The NaN causes of RESEARCH.md: a zero memory in the cosine's denominator, zero keys, zero weightings."""
    cell = _cell(memory_init=memory_init).float()
    torch.nn.init.zeros_(cell.head.weight)  # zero keys k = tanh(0), and zero controller inputs to the heads
    x = torch.zeros(3, 7, 4, requires_grad=True)
    zero = NTMState(cell.initial_state(3).controller, torch.zeros(3, N, M), torch.zeros(3, R, N),
                    torch.zeros(3, W, N), torch.zeros(3, R, M))
    zero = NTMState(zero.controller, *(t.requires_grad_() for t in zero[1:]))
    for state in (None, zero):
        res = rnnzoo.run(cell, x, state)
        assert torch.isfinite(res.output).all()
        assert all(torch.isfinite(t).all() for t in res.state[1:])
        (res.output.sum() + res.state.memory.sum()).backward()
        assert torch.isfinite(x.grad).all()
        assert all(torch.isfinite(p.grad).all() for p in cell.parameters() if p.grad is not None)
    assert all(torch.isfinite(t.grad).all() for t in zero[1:])


def test_no_nan_for_a_negative_weighting_in_the_state():
    """An edited state (random weightings, negative entries) must not raise a negative number to a power."""
    cell = _cell()
    g = torch.Generator().manual_seed(3)
    st = cell.initial_state(2, dtype=torch.float64)
    st = st._replace(read_weights=torch.randn(2, R, N, generator=g, dtype=torch.float64),
                     write_weights=torch.randn(2, W, N, generator=g, dtype=torch.float64))
    res = rnnzoo.run(cell, torch.randn(2, 3, 4, dtype=torch.float64), st)
    assert torch.isfinite(res.output).all()


def test_weightings_are_distributions_and_gamma_is_at_least_one():
    cell = _cell()
    with torch.no_grad():
        cell.head.bias.fill_(-30.0)  # softplus(gamma) -> 0: gamma -> 1, never below
    x = torch.randn(2, 4, 4, dtype=torch.float64)
    with probe_record() as rec:
        res = rnnzoo.run(cell, x)
    for w in (res.state.read_weights, res.state.write_weights):
        assert (w >= 0).all()
        torch.testing.assert_close(w.sum(-1), torch.ones(w.shape[:2], dtype=torch.float64))
    names = rec.names(cell)
    assert names == ["read0", "read1", "write0", "write1"]
    assert {rec.report(cell, n).kind for n in names} == {"attention"}


def test_memory_inits():
    const = _cell()
    torch.testing.assert_close(const.initial_state(2, dtype=torch.float64).memory,
                               torch.full((2, N, M), 1e-6, dtype=torch.float64))
    learned = _cell(memory_init="learned")
    assert isinstance(learned.memory0, torch.nn.Parameter)
    rnnzoo.run(learned, torch.randn(2, 3, 4, dtype=torch.float64)).output.sum().backward()
    assert learned.memory0.grad is not None and learned.memory0.grad.abs().sum() > 0
    rand = _cell(memory_init="random")
    assert "memory0" not in dict(rand.named_parameters())
    a, b = rand.initial_state(1).memory, rand.initial_state(1).memory
    torch.testing.assert_close(a, b)
    assert a.std() > 0.1


def test_any_registered_controller():
    for name in ("gru", "elman"):
        cell = rnnzoo.model_info("ntm").build(4, 6, controller=name, memory_slots=8, memory_width=3)
        assert type(cell.controller).__name__.lower().startswith(name[:3])
        assert rnnzoo.run(cell, torch.randn(2, 3, 4)).output.shape == (2, 3, 6 + 3)


def test_profiler_sees_the_three_parts():
    cell = _cell().float()
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
        rnnzoo.run(cell, torch.randn(2, 3, 4))
    names = {e.key for e in prof.key_averages()}
    assert {"ntm/controller", "ntm/addressing", "ntm/memory"} <= names


@pytest.mark.parametrize("kw, match", [
    ({"memory_slots": 0}, "memory_slots"), ({"read_heads": 0}, "read_heads"), ({"write_heads": -1}, "write_heads"),
    ({"shift_range": 3, "memory_slots": 6}, "shift_range"), ({"memory_init": "zeros"}, "memory_init"),
    ({"clip_value": 0.0}, "clip_value"), ({"eps": 0.0}, "eps"), ({"controller": "nope"}, "nope"),
])
def test_bad_arguments_name_themselves(kw, match):
    with pytest.raises((ValueError, TypeError, KeyError), match=match):
        rnnzoo.model_info("ntm").build(4, 5, **kw)


def test_batched_equals_each_example_alone():
    cell = _cell()
    x = torch.randn(3, 4, 4, dtype=torch.float64)
    whole = rnnzoo.run(cell, x).output
    for b in range(3):
        torch.testing.assert_close(rnnzoo.run(cell, x[b:b + 1]).output, whole[b:b + 1])



def test_head_parameters_are_bounded_and_gamma_at_least_one():
    """Collier & Beel's clipping and the paper's ranges: beta >= 0, g and e in [0, 1], s a distribution, gamma >= 1
    (a gamma below 1 or negative makes the sharpening a root of a negative number: NaN)."""
    cell = _cell()
    for value in (-1e6, 0.0, 1e6):
        p = torch.full((2, W * cell.write_params), value, dtype=torch.float64).clamp(-cell.clip_value, cell.clip_value)
        k, beta, g, s, gamma, e, a = cell._split(p, W, True)
        assert (gamma >= 1).all() and (beta >= 0).all() and ((g >= 0) & (g <= 1)).all()
        assert ((e >= 0) & (e <= 1)).all() and k.abs().max() <= 1 and a.abs().max() <= 1
        torch.testing.assert_close(s.sum(-1), torch.ones(2, W, dtype=torch.float64))
