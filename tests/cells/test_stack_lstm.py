"""The stack LSTM (Dyer et al. 2015, arXiv:1505.08075): against a per-operation Python-list implementation typed from
the paper, against torch.nn.LSTM re-run over the stack's contents after every operation, batch against one by one,
invalid operations, the plain-LSTM baseline and gradients."""

from __future__ import annotations

import pytest
import torch
from torch import nn

import rnnzoo
from rnnzoo.cells.stack_lstm import NOOP, POP, PUSH, StackCell, StackInput, StackLSTM, random_operations
from rnnzoo.core.runner import run
from rnnzoo.core.tree import tree_leaves

I, H = 3, 5


def _model(seed: int = 0, **options) -> StackLSTM:
    torch.manual_seed(seed)
    return rnnzoo.create("stack_lstm", input_size=I, hidden_size=H, **options).double()


def _ops(seed: int, batch: int = 4, steps: int = 12, push_prob: float = 0.55) -> StackInput:
    return random_operations(batch, steps, I, generator=torch.Generator().manual_seed(seed), dtype=torch.float64,
                             push_prob=push_prob)


def naive_stack_lstm(cell: StackCell, tokens: torch.Tensor, actions: list[int]) -> list[torch.Tensor]:
    """One sequence, one operation at a time, the stack a Python list of (h, c), the LSTM typed from its equations
    (torch's gate order i, f, g, o): push appends LSTM(x; top), pop removes the top, the summary is the top's h."""
    lstm = cell.inner
    W, U = lstm.weight_ih, lstm.weight_hh
    b = lstm.bias_ih + lstm.bias_hh

    def step(x, h, c):
        z = W @ x + U @ h + b
        i, f, g, o = (z[k * H:(k + 1) * H] for k in range(4))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        return torch.sigmoid(o) * torch.tanh(c), c

    zero = torch.zeros(H, dtype=tokens.dtype)
    stack = [step(cell.guard, zero, zero)]  # the empty stack: the learned guard driven through the LSTM
    out = []
    for x, a in zip(tokens, actions, strict=True):
        if a == PUSH:
            stack.append(step(x, *stack[-1]))
        elif a == POP:
            stack.pop()
        out.append(stack[-1][0] if a != NOOP else zero)
    return out


def _torch_lstm(cell: StackCell) -> nn.LSTM:
    ref = nn.LSTM(I, H, batch_first=True).double()
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(ref, f"{name}_l0").copy_(getattr(cell.inner, name))
    return ref


@pytest.mark.parametrize("seed", range(4))
def test_agrees_with_a_naive_python_list_stack(seed):
    model = _model(seed)
    x = _ops(seed)
    if seed % 2:  # NOOP steps in the middle too (random tokens there): they leave the stack as it is
        noop = StackInput(torch.randn(x.tokens.shape[0], 1, I, dtype=torch.float64),
                          torch.full((x.tokens.shape[0], 1), NOOP))
        x = StackInput(*(torch.cat([a[:, :2], n, a[:, 2:5], n, a[:, 5:]], 1) for a, n in zip(x, noop, strict=True)))
    y = model(x)
    for b in range(x.tokens.shape[0]):
        want = naive_stack_lstm(model.cell, x.tokens[b], x.actions[b].tolist())
        torch.testing.assert_close(y[b], torch.stack(want), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_summary_equals_an_lstm_rerun_over_the_stack_contents(seed):
    """After every operation of a random sequence, h[top] == torch.nn.LSTM over [guard, tokens on the stack]."""
    model = _model(seed)
    ref = _torch_lstm(model.cell)
    x = _ops(100 + seed, batch=1, steps=16, push_prob=0.5)
    y = model(x)[0]
    contents: list[torch.Tensor] = []
    for t, a in enumerate(x.actions[0].tolist()):
        if a == NOOP:
            continue
        if a == PUSH:
            contents.append(x.tokens[0, t])
        else:
            contents.pop()
        seq = torch.stack([model.cell.guard.detach(), *contents]).unsqueeze(0)
        torch.testing.assert_close(y[t], ref(seq)[0][0, -1], rtol=1e-12, atol=1e-12)


def test_every_operation_a_push_is_a_plain_lstm_and_the_baseline_is_that():
    model = _model(1)
    x = _ops(7)
    pushes = StackInput(x.tokens, torch.where(x.actions == NOOP, NOOP, PUSH))
    plain = _model(1, stack=False)
    torch.testing.assert_close(model(pushes), plain(pushes), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(plain(x), plain(pushes))  # the baseline ignores pops: it reads every token
    ref = _torch_lstm(model.cell)
    n = int((x.actions[0] != NOOP).sum())
    seq = torch.cat([model.cell.guard.detach().view(1, 1, I), x.tokens[:1, :n]], 1)
    torch.testing.assert_close(plain(x)[0, :n], ref(seq)[0][0, 1:], rtol=1e-12, atol=1e-12)


def test_a_batch_equals_its_examples_one_by_one_and_stepping_by_hand_equals_the_run():
    torch.manual_seed(0)
    cell = StackCell(rnnzoo.model_info("lstm").build(I, H), capacity=12).double()
    x = _ops(3, batch=5)
    out = run(cell, x)
    for b in range(5):
        one = run(cell, StackInput(x.tokens[b:b + 1], x.actions[b:b + 1]))
        torch.testing.assert_close(out.output[b:b + 1], one.output, rtol=1e-12, atol=1e-12)
        for got, want in zip(out.state, one.state, strict=True):
            for g, w in zip(tree_leaves(got), tree_leaves(want), strict=True):
                torch.testing.assert_close(g[b:b + 1], w, rtol=1e-12, atol=1e-12)
    state, ys = None, []
    for t in range(x.tokens.shape[1]):
        y, state = cell(StackInput(x.tokens[:, t], x.actions[:, t]), state)
        ys.append(y)
    torch.testing.assert_close(torch.stack(ys, 1), out.output, rtol=0, atol=0)


def test_the_store_is_append_only_and_the_pointer_follows_parents():
    torch.manual_seed(0)
    cell = StackCell(rnnzoo.model_info("lstm").build(I, H), capacity=4).double()
    acts = torch.tensor([[PUSH, PUSH, POP, PUSH, POP, POP]])
    out = run(cell, StackInput(torch.randn(1, 6, I, dtype=torch.float64), acts), return_states=True)
    s = out.states
    assert s.pointer[0].tolist() == [1, 2, 1, 3, 1, 0]
    assert s.size[0].tolist() == [1, 2, 2, 3, 3, 3]  # a pop frees no slot
    assert s.parent[0, -1].tolist() == [0, 0, 1, 1, 0]  # slot 3 was pushed on slot 1
    torch.testing.assert_close(s.store.h[0, -1, 2], s.top.h[0, 1])  # the popped state is kept for backprop


def test_pop_on_an_empty_stack_is_rejected_naming_example_and_operation():
    model = _model()
    x = StackInput(torch.randn(2, 4, I, dtype=torch.float64), torch.tensor([[PUSH, POP, PUSH, NOOP],
                                                                             [PUSH, POP, POP, PUSH]]))
    with pytest.raises(ValueError, match=r"actions: example 1, operation 2 .*pop \(1\) on an empty stack"):
        model(x)
    # invalid="ignore": the pop leaves the empty stack as it is
    y = _model(invalid="ignore")(x)
    empty = _model()(StackInput(x.tokens[1:, :1], torch.tensor([[POP]]).new_full((1, 1), NOOP)))
    want = naive_stack_lstm(model.cell, x.tokens[1], [PUSH, POP, NOOP, PUSH])
    torch.testing.assert_close(y[1, [0, 1, 3]], torch.stack(want)[[0, 1, 3]], rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(y[1, 2], y[1, 1])  # still the empty stack's summary
    assert empty.abs().sum() == 0  # a NOOP step outputs zero


def test_a_full_store_raises_naming_the_capacity_and_a_masked_step_records_nothing():
    model = _model(capacity=2)
    x = StackInput(torch.randn(1, 4, I, dtype=torch.float64), torch.tensor([[PUSH, POP, PUSH, PUSH]]))
    with pytest.raises(ValueError, match=r"operation 3 .*capacity=2 pushes per sequence"):
        model(x)
    cell = model.cell
    bad = StackInput(x.tokens, torch.tensor([[PUSH, POP, POP, PUSH]]))
    out = run(cell, bad, mask=torch.tensor([[True, True, False, True]]))  # the pop on empty is padding
    cell.check(out.state)
    assert int(out.state.fault[0]) == 0 and int(out.state.ops[0]) == 3
    out = run(cell, bad)  # the step itself never raises: the fault is recorded, check raises
    assert int(out.state.fault[0]) == 1 and int(out.state.fault_at[0]) == 2
    with pytest.raises(ValueError, match="example 0, operation 2"):
        cell.check(out.state)


def test_bad_inputs_name_the_argument():
    model = _model()
    tokens = torch.randn(2, 3, I, dtype=torch.float64)
    with pytest.raises(ValueError, match=r"x.actions: expected codes PUSH 0, POP 1, NOOP 2, got \[5\]"):
        model(StackInput(tokens, torch.tensor([[0, 5, 1], [0, 1, 2]])))
    with pytest.raises(ValueError, match=r"x.tokens: expected a float tensor \(B, T, 3\)"):
        model(StackInput(tokens[..., :2], torch.zeros(2, 3, dtype=torch.long)))
    with pytest.raises(ValueError, match=r"x.actions: expected int64 of shape \(2, 3\)"):
        model(StackInput(tokens, torch.zeros(2, 4, dtype=torch.long)))
    with pytest.raises(TypeError, match="x: expected a StackInput"):
        model((tokens, torch.zeros(2, 3, dtype=torch.long)))
    with pytest.raises(ValueError, match="capacity: expected a positive int, got 0"):
        rnnzoo.create("stack_lstm", input_size=I, hidden_size=H, capacity=0)
    with pytest.raises(ValueError, match="initial: expected one of"):
        rnnzoo.create("stack_lstm", input_size=I, hidden_size=H, initial="learned")
    with pytest.raises(ValueError, match="cell: expected a registered vector cell"):
        rnnzoo.create("stack_lstm", input_size=I, hidden_size=H, cell="convlstm")


def test_gradients_through_pops_reach_the_popped_states_float64():
    torch.manual_seed(0)
    cell = StackCell(rnnzoo.model_info("lstm").build(2, 3), capacity=4).double()
    acts = torch.tensor([[PUSH, PUSH, POP, PUSH, POP], [PUSH, POP, PUSH, PUSH, POP]])
    tokens = torch.randn(2, 5, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: run(cell, StackInput(t, acts)).output, (tokens,))
    out = run(cell, StackInput(tokens, acts)).output
    (g,) = torch.autograd.grad(out[0, 2].sum(), tokens)  # after push, push, pop: only the first token counts
    assert g[0, 0].abs().sum() > 0 and g[0, 1:].abs().sum() == 0


@pytest.mark.parametrize("cell,options", [("gru", {}), ("lstm", {"coupled": True, "peephole": True})],
                         ids=["gru", "paper_lstm_variant"])
def test_any_vector_cell_can_be_the_stack_with_a_zero_initial_state(cell, options):
    """The inner cell re-run over the stack's contents (GRU; the coupled-gate peephole LSTM of Dyer et al.'s code)."""
    torch.manual_seed(0)
    model = rnnzoo.create("stack_lstm", input_size=I, hidden_size=H, cell=cell, cell_options=options,
                          initial="zeros").double()
    x = _ops(11, batch=1, steps=14, push_prob=0.5)
    y = model(x)[0]
    inner, contents = model.cell.inner, []
    for t, a in enumerate(x.actions[0].tolist()):
        if a == NOOP:
            continue
        contents.append(x.tokens[0, t]) if a == PUSH else contents.pop()
        want = run(inner, torch.stack(contents).unsqueeze(0)).output[0, -1] if contents else torch.zeros(H).double()
        torch.testing.assert_close(y[t], want, rtol=1e-12, atol=1e-12)
