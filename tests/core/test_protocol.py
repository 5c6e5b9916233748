"""The extended protocol: structured inputs, per-run context, runs without input, output after hooks,
state specs without allocation, per-step or per-sequence randomness, probes, the one fast-path interface."""

from __future__ import annotations

from typing import NamedTuple

import pytest
import torch
from torch import Tensor, nn

import rnnzoo
from rnnzoo.core import probe
from rnnzoo.core.tree import tree_leaves

D = torch.float64


class HState(NamedTuple):
    h: Tensor


class Pair(NamedTuple):
    token: Tensor
    action: Tensor


class PairCell(rnnzoo.Cell):
    """A structured step input (token (B, I), action (B,) integer): h = tanh(W x + E[a] + U h)."""

    def __init__(self, input_size: int, hidden_size: int, actions: int = 3) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, hidden_size
        self.W = nn.Linear(input_size, hidden_size)
        self.E = nn.Embedding(actions, hidden_size)
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)

    def state_spec(self, batch_size, *, input_shape=None):
        return HState(rnnzoo.TensorSpec((batch_size, self.output_size)))

    def check_input(self, x, name="x", *, batched_rank=None):
        if not isinstance(x, Pair):
            raise TypeError(f"{name}: expected a Pair(token, action), got {type(x).__name__}")

    def project(self, x: Pair) -> Tensor:
        return self.W(x.token) + self.E(x.action)

    def step(self, u_t, state):
        h = torch.tanh(u_t + self.U(state.h))
        return h, HState(h)


def _pair(batch=3, steps=5, size=2, dtype=D):
    return Pair(torch.randn(batch, steps, size, dtype=dtype), torch.randint(0, 3, (batch, steps)))


def _by_hand_pair(cell, x, lengths=None, reverse=False):
    """The structured run written out: one sequence at a time, one step at a time."""
    outs, finals = [], []
    for b in range(x.token.shape[0]):
        n = x.token.shape[1] if lengths is None else lengths[b]
        order = range(n - 1, -1, -1) if reverse else range(n)
        state = None
        out = torch.zeros(x.token.shape[1], cell.output_size, dtype=x.token.dtype)
        for t in order:
            y, state = cell(Pair(x.token[b:b + 1, t], x.action[b:b + 1, t]), state)
            out[t] = y[0]
        outs.append(out)
        finals.append(state.h[0])
    return torch.stack(outs), torch.stack(finals)


@pytest.mark.parametrize("reverse", [False, True])
def test_structured_input_is_sliced_masked_and_reversed_leaf_by_leaf(reverse):
    torch.manual_seed(0)
    cell = PairCell(2, 4).to(D)
    x = _pair()
    lengths = [5, 2, 4]
    out = rnnzoo.run(cell, x, lengths=lengths, reverse=reverse)
    ref_out, ref_h = _by_hand_pair(cell, x, lengths, reverse)
    torch.testing.assert_close(out.output, ref_out)
    torch.testing.assert_close(out.state.h, ref_h)


def test_structured_input_as_dict_and_time_major():
    torch.manual_seed(0)

    class DictCell(PairCell):
        def check_input(self, x, name="x", *, batched_rank=None):
            pass

        def project(self, x):
            return self.W(x["token"]) + self.E(x["action"])

    cell = DictCell(2, 4).to(D)
    p = _pair()
    bf = rnnzoo.run(cell, {"token": p.token, "action": p.action}, lengths=[5, 2, 4])
    tm = rnnzoo.run(cell, {"token": p.token.transpose(0, 1), "action": p.action.t()}, batch_first=False,
                    mask=(torch.arange(5)[:, None] < torch.tensor([5, 2, 4])[None]))
    torch.testing.assert_close(bf.output, tm.output.transpose(0, 1))


def test_structured_input_leaves_must_share_batch_and_time():
    cell = PairCell(2, 4)
    x = Pair(torch.randn(3, 5, 2), torch.randint(0, 3, (3, 4)))
    with pytest.raises(ValueError, match=r"x: every tensor of a structured input must share its \(B, T\) axes"):
        rnnzoo.run(cell, x)
    with pytest.raises(TypeError, match="x: expected a torch.Tensor"):
        rnnzoo.run(rnnzoo.GRUCell(2, 4), Pair(torch.randn(3, 5, 2), torch.randn(3, 5, 2)))


class MemoryState(NamedTuple):
    h: Tensor


class MemoryCell(rnnzoo.Cell):
    """Reads a per-run memory (B, M, D) by dot-product attention: a context, never sliced over time.
    ``prepare`` projects the memory once per run (and counts its calls)."""

    def __init__(self, input_size: int, hidden_size: int, memory_size: int) -> None:
        super().__init__()
        self.input_size, self.output_size = input_size, hidden_size
        self.W = nn.Linear(input_size, hidden_size)
        self.K = nn.Linear(memory_size, hidden_size, bias=False)
        self.U = nn.Linear(hidden_size, hidden_size, bias=False)
        self.prepared_calls = 0

    def state_spec(self, batch_size, *, input_shape=None):
        return MemoryState(rnnzoo.TensorSpec((batch_size, self.output_size)))

    def prepare(self, context, batch_size, *, device=None, dtype=None, input_shape=None):
        self.prepared_calls += 1
        if context is None:
            raise ValueError("context: MemoryCell needs its memory (B, M, D)")
        return self.K(context)  # (B, M, H): once per run

    def project(self, x):
        return self.W(x)

    def step(self, u_t, state, keys):
        scores = torch.softmax((keys @ state.h.unsqueeze(-1)).squeeze(-1), -1)  # (B, M)
        read = (scores.unsqueeze(-1) * keys).sum(1)
        h = torch.tanh(u_t + self.U(state.h) + read)
        return h, MemoryState(h)


def test_context_is_prepared_once_and_never_sliced_or_reversed():
    torch.manual_seed(0)
    cell = MemoryCell(2, 4, 3).to(D)
    memory = torch.randn(3, 7, 3, dtype=D)
    x = torch.randn(3, 5, 2, dtype=D)
    out = rnnzoo.run(cell, x, context=memory, lengths=[5, 2, 4], reverse=True)
    assert cell.prepared_calls == 1
    keys = cell.K(memory)
    for b, n in enumerate([5, 2, 4]):
        state = MemoryState(torch.zeros(1, 4, dtype=D))
        for t in range(n - 1, -1, -1):
            y, state = cell.step(cell.project(x[b:b + 1, t]), state, keys[b:b + 1])
            torch.testing.assert_close(out.output[b, t], y[0])
        assert out.output[b, n:].abs().sum() == 0
        torch.testing.assert_close(out.state.h[b], state.h[0])
    # through layers and models: model(x, context=...)
    layer = rnnzoo.Bidirectional(cell)
    o, _ = layer(x, context=memory)
    assert o.shape == (3, 5, 8)


def test_context_for_a_cell_that_takes_none_is_refused():
    with pytest.raises(TypeError, match="context: GRUCell takes no context"):
        rnnzoo.run(rnnzoo.GRUCell(2, 4), torch.randn(1, 3, 2), context=torch.randn(1, 2))


def test_run_without_input_takes_k_steps_from_the_state():
    torch.manual_seed(0)
    cell = MemoryCell(2, 4, 3).to(D)
    memory = torch.randn(2, 6, 3, dtype=D)
    h0 = MemoryState(torch.randn(2, 4, dtype=D))

    class Hops(MemoryCell):  # no input at all: the memory hops of a memory network
        def project(self, x):
            return x

        def step(self, u_t, state, keys):
            assert u_t is None
            return super().step(torch.zeros_like(state.h), state, keys)

    hops = Hops(2, 4, 3).to(D)
    hops.load_state_dict(cell.state_dict())
    out = rnnzoo.run(hops, None, h0, steps=3, context=memory)
    assert out.output.shape == (2, 3, 4)
    keys, state = hops.K(memory), h0
    for k in range(3):
        y, state = MemoryCell.step(hops, torch.zeros(2, 4, dtype=D), state, keys)
        torch.testing.assert_close(out.output[:, k], y)
    torch.testing.assert_close(out.state.h, state.h)
    with pytest.raises(ValueError, match="steps: a run without input"):
        rnnzoo.run(hops, None, h0, context=memory)
    with pytest.raises(ValueError, match="state: a run without input"):
        rnnzoo.run(hops, None, None, steps=2)


def test_a_hook_that_edits_the_state_edits_the_output():
    torch.manual_seed(0)
    model = rnnzoo.create("lstm", input_size=2, hidden_size=3, num_layers=2).to(D)
    x = torch.randn(2, 4, 2, dtype=D)
    base = model(x)[0]

    def bump(t, state):
        return state._replace(h=state.h + 1.0) if t == 1 else state

    out = model.run(x, step_hook=[bump, None]).output
    assert torch.allclose(out[:, 0], base[:, 0])
    assert not torch.allclose(out[:, 1], base[:, 1])  # layer 0's edited h reached layer 1 at step 1
    single = rnnzoo.run(model.layers[0].cell, x, step_hook=bump, return_states=True)
    torch.testing.assert_close(single.output, single.states.h)  # output(state) after the hook


class CountingCell(rnnzoo.Cell):
    """Counts its initial_state calls; implements only initial_state (its spec is read on the meta device)."""

    def __init__(self) -> None:
        super().__init__()
        self.input_size = self.output_size = 2
        self.calls: list[str] = []

    def initial_state(self, batch_size, *, device=None, dtype=None, input_shape=None):
        self.calls.append(str(device))
        return HState(torch.zeros(batch_size, 2, device=device, dtype=dtype or torch.float32))

    def step(self, u_t, state):
        h = torch.tanh(u_t + state.h)
        return h, HState(h)


def test_a_given_state_is_checked_against_the_spec_without_allocating():
    cell = CountingCell()
    x = torch.randn(3, 4, 2)
    rnnzoo.run(cell, x, HState(torch.zeros(3, 2)))
    assert cell.calls == ["meta"]  # the spec, read off the meta device: no real zeros
    with pytest.raises(ValueError, match=r"state.h: expected shape \(3, 2\), got \(2,\)"):
        rnnzoo.run(cell, x, HState(torch.zeros(2)))
    with pytest.raises(NotImplementedError, match="implement state_spec or initial_state"):
        rnnzoo.Cell().state_spec(1)


class NoisyCell(rnnzoo.Cell):
    """Draws a random (B, H) mask in prepare: per sequence unless the runner redraws per step."""

    def __init__(self) -> None:
        super().__init__()
        self.input_size = self.output_size = 3
        self.prepares = 0

    def state_spec(self, batch_size, *, input_shape=None):
        return HState(rnnzoo.TensorSpec((batch_size, 3)))

    def prepare(self, context, batch_size, *, device=None, dtype=None, input_shape=None):
        self.prepares += 1
        return (torch.rand(batch_size, 3) > 0.5).to(dtype)

    def step(self, u_t, state, mask):
        return mask, HState(mask)


def test_randomness_per_sequence_or_per_step_is_runner_configuration():
    cell = NoisyCell()
    x = torch.randn(4, 20, 3)
    same = rnnzoo.run(cell, x).output
    assert cell.prepares == 1
    assert (same == same[:, :1]).all()
    fresh = rnnzoo.run(cell, x, randomness="per_step").output
    assert cell.prepares == 1 + 20  # before every step
    assert not (fresh == fresh[:, :1]).all()
    with pytest.raises(ValueError, match="randomness: expected one of"):
        rnnzoo.run(cell, x, randomness="per_batch")


class SpyCell(rnnzoo.Cell):
    """An Elman cell that records what the runner hands its fast path (and can refuse it)."""

    def __init__(self, refuse: bool) -> None:
        super().__init__()
        self.inner = rnnzoo.ElmanCell(2, 3, activation="sigmoid")
        self.input_size, self.output_size, self.refuse = 2, 3, refuse
        self.projections = 0
        self.seen: list[rnnzoo.Steps] = []

    def state_spec(self, batch_size, *, input_shape=None):
        return self.inner.state_spec(batch_size)

    def project(self, x):
        self.projections += 1
        return self.inner.project(x)

    def step(self, u_t, state):
        return self.inner.step(u_t, state)

    def fused(self, steps, state):
        self.seen.append(steps)
        _ = steps.u
        return None if self.refuse else self.inner.fused(steps.replace(cell=self.inner), state)


@pytest.mark.parametrize("refuse", [False, True])
def test_the_fast_path_gets_time_major_steps_one_mask_and_one_projection(refuse):
    cell = SpyCell(refuse)
    x = torch.randn(3, 5, 2)
    out = rnnzoo.run(cell, x, lengths=[5, 2, 4], reverse=True)
    ref = rnnzoo.run(cell.inner, x, lengths=[5, 2, 4], reverse=True, use_fused=False)
    torch.testing.assert_close(out.output, ref.output)
    (steps,) = cell.seen
    assert steps.x.shape == (5, 3, 2) and steps.mask.shape == (5, 3)
    assert steps.lengths.tolist() == [5, 2, 4] and steps.prefix
    assert cell.projections == 1  # the step loop reuses the projection the fast path made


def test_probes_record_valid_steps_only_and_take_the_step_loop():
    cell = rnnzoo.LSTMCell(2, 3, forget_bias=30.0)
    x = torch.randn(3, 5, 2)
    with probe.record() as rec:
        out = rnnzoo.run(cell, x, lengths=[5, 1, 2])
    f = rec.valid(cell, "f")
    assert f.shape == (8, 3) and bool((f > 0.99).all())  # 5 + 1 + 2 valid steps of 3 units
    torch.testing.assert_close(out.output, rnnzoo.run(cell, x, lengths=[5, 1, 2]).output)
    assert rec.report(cell, "f").stacked().shape == (5, 3, 3)
    assert not probe.recording()
    with pytest.raises(KeyError, match="reported no 'z'"):
        rec.report(cell, "z")


def test_unbatched_structured_state_and_one_step_forward():
    cell = PairCell(2, 4)
    y, state = cell(Pair(torch.randn(3, 2), torch.randint(0, 3, (3,))))
    assert y.shape == (3, 4) and tree_leaves(state)[0].shape == (3, 4)


def test_a_stack_hands_the_context_only_to_the_cells_that_take_one():
    """An attention-like cell over an LSTM in one DeepCell: the LSTM prepares without the context; fast path,
    step loop and stepping by hand with one prepared value agree."""
    torch.manual_seed(0)
    deep = rnnzoo.DeepCell([rnnzoo.LSTMCell(2, 4), MemoryCell(4, 4, 3)]).to(D)
    assert deep.takes_context and not deep.cells[0].takes_context
    x, memory = torch.randn(3, 5, 2, dtype=D), torch.randn(3, 6, 3, dtype=D)
    fast = rnnzoo.run(deep, x, context=memory, lengths=[5, 2, 4])
    loop = rnnzoo.run(deep, x, context=memory, lengths=[5, 2, 4], use_fused=False)
    torch.testing.assert_close(fast.output, loop.output)
    prepared = deep.prepare(memory, 3)
    state = None
    for t in range(5):
        y, state = deep(x[:, t], state, prepared=prepared)
    torch.testing.assert_close(y[0], fast.output[0, 4])
    with pytest.raises(TypeError, match="context: DeepCell takes no context"):
        rnnzoo.run(rnnzoo.DeepCell([rnnzoo.LSTMCell(2, 4), rnnzoo.GRUCell(4, 4)]), x.float(), context=memory)
    with pytest.raises(ValueError, match="context/prepared: pass the context"):
        deep(x[:, 0], context=memory, prepared=prepared)


def test_stepping_with_one_prepared_value_keeps_one_dropout_mask_per_sequence():
    """A decoder steps model.cell token by token: with prepared= drawn once, the variational masks are the
    run's (same seed, same numbers); without it every call would draw new ones."""
    model = rnnzoo.create("lstm", input_size=2, hidden_size=4, num_layers=2, variational_dropout=0.4).to(D)
    x = torch.randn(3, 5, 2, dtype=D)
    torch.manual_seed(7)
    whole = rnnzoo.run(model.cell, x, use_fused=False).output
    torch.manual_seed(7)
    prepared = model.cell.prepare(None, 3, dtype=D, input_shape=(2,))
    state, outs = None, []
    for t in range(5):
        y, state = model.cell(x[:, t], state, prepared=prepared)
        outs.append(y)
    torch.testing.assert_close(torch.stack(outs, 1), whole)


def test_variational_dropout_over_a_cell_without_a_fast_path_reports_none():
    cell = rnnzoo.create("lstm", input_size=2, hidden_size=3, zoneout=0.1, variational_dropout=0.2).layers[0].cell
    assert cell.fused_kind is None
