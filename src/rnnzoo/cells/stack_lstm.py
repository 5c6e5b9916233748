r"""The stack LSTM (Dyer, Ballesteros, Ling, Matthews & Smith 2015, arXiv:1505.08075; 001 section 4.2).

An LSTM whose "previous state" is the state at a **stack pointer** ``p`` instead of the state of the previous
time step (001 section 4.2: "a stack pointer can determine which cell in the LSTM provides state and memory cell
of previous time step"). Every step reads a pair (token ``x_t``, operation ``a_t``)::

    PUSH (a_t = 0):  (h_new, c_new) = LSTM(x_t; h[p], c[p])       # the LSTM step from the state at the pointer
                     n = n + 1;  h[n], c[n] = h_new, c_new;  parent[n] = p;  p = n
    POP  (a_t = 1):  p = parent[p]                                 # no computation, nothing deleted
    NOOP (a_t = 2):  nothing                                       # (padding)
    y_t = h[p]                                                     # the summary of the stack's contents

with the LSTM of the inner cell (``LSTM(x; h, c)`` is :class:`~rnnzoo.cells.lstm.LSTMCell`'s step, 001 eqs
(16)-(20) without peepholes, torch's gate order). ``h, c`` (``store``), ``parent``, ``p`` (``pointer``) and ``n``
(``size``) live in the returned :class:`StackState`: the store is **append-only** (a pop moves the pointer and
keeps the popped states, so backpropagation reaches them: deleting them is the classic mistake), slot 0 holds the
empty stack, and every example of the batch has its own pointer, so one step is one batched LSTM step plus gathers
and scatters (``store[b, p_b]``), never a Python loop over examples. After any sequence of operations ``h[p]``
equals the LSTM re-run from the empty stack over the tokens currently on the stack, bottom to top
(``tests/cells/test_stack_lstm.py`` checks this for random sequences).

The empty stack (``initial``): ``"guard"`` (default) is what Dyer et al.'s code does (clab/lstm-parser,
``lstm-parse.cc``: a learned ``stack_guard`` vector is driven through the LSTM first), ``(h[0], c[0]) =
LSTM(x_guard; 0, 0)`` with a learned ``x_guard`` ``(I,)``; ``"zeros"``: ``h[0] = c[0] = 0``.

The store's capacity: the state has one shape across steps (the runner freezes masked steps with
``torch.where``), so the store holds ``capacity`` pushes per sequence (``(B, capacity + 1, H)``; a pop frees no
slot). **Invalid operations are rejected**: a pop on the empty stack, or a push when the store is full, leaves the
stack unchanged inside the step (a step cannot raise for one example of a batch, and a padding step that the
runner masks must not count) and is recorded in the state (``fault``: 1 pop on empty, 2 store full; ``fault_at``:
the operation's index among the sequence's pushes and pops); :meth:`StackCell.check` raises on it, naming the
example, the operation and the capacity, and :class:`StackLSTM` calls it after every run (``invalid="ignore"``
lets pops on an empty stack pass as no-ops; a full store always raises). An action code outside {0, 1, 2} raises
before the run.

Shapes: :class:`StackInput` ``tokens`` ``(B, T, I)`` float and ``actions`` int64 ``(B, T)``; output ``(B, T, H)``
(``(B, T, C)`` logits with ``num_classes``), zero at NOOP steps in :class:`StackLSTM`.
Cost: a step is an LSTM step for every example (a pop's result is discarded by a ``torch.where``) plus one
scatter into and one gather from the store. The scatter is out of place (the state is returned, never written in
place), so every step copies the store, ``O(capacity x H)`` per example, forward and backward: set ``capacity`` to
the most pushes a sequence makes. ``rnnzoo bench --structured`` splits a step into ``cell`` (the LSTM) and
``stack`` (the bookkeeping): the stack takes 75% of a train step at capacity 64 for 7 operations (H = 128, B = 32).
A fused path writing a preallocated store in place inside one autograd Function would remove the copies; there is
none yet.

**Deviations.** The paper's LSTM (in the reference code: cnn's ``LSTMBuilder``, ``cnn/lstm.cc``) couples the forget
gate to the input gate (``f = 1 - i``) and has peephole matrices from ``c`` into ``i`` and ``o``; the default here
is the standard forget-gate LSTM (``cell="lstm"``, exactly torch.nn.LSTM); ``cell_options={"coupled": True,
"peephole": True}`` gives the coupled gate with rnnzoo's diagonal peepholes (not full matrices). Any registered
vector cell can be the inner cell (``cell="gru"``). The paper's parser (three stack LSTMs, composition functions,
``p_t = ReLU(W[s_t; b_t; a_t] + d)``) is not built here: the model is one stack LSTM and an optional linear head.
The paper's section and equation numbers were not re-read for this file (no copy of the paper was at hand); the
empty stack and the LSTM variant were checked against the reference code.

>>> import torch, rnnzoo
>>> model = rnnzoo.create("stack_lstm", input_size=3, hidden_size=4)
>>> x = StackInput(torch.randn(1, 4, 3), torch.tensor([[PUSH, PUSH, POP, POP]]))
>>> y = model(x)
>>> y.shape
torch.Size([1, 4, 4])
>>> torch.equal(y[0, 2], y[0, 0])  # after push, push, pop: the summary after the first push again
True
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn
from torch.profiler import record_function

from rnnzoo.core.cell import Cell
from rnnzoo.core.checks import positive_int
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.registry import FastPath, InputKind, ModelKind, Paper, model_info, register
from rnnzoo.core.runner import run
from rnnzoo.core.spec import TensorSpec, map_spec
from rnnzoo.core.tree import tree_map, tree_where

__all__ = ["NOOP", "POP", "PUSH", "StackCell", "StackInput", "StackLSTM", "StackState", "check_stack_input",
           "random_operations"]

PUSH, POP, NOOP = 0, 1, 2
"""The operation codes of :class:`StackInput` ``actions``."""
POP_EMPTY, FULL = 1, 2
"""The fault codes of :class:`StackState` ``fault`` (0: none)."""
INITIALS = ("guard", "zeros")


class StackInput(NamedTuple):
    """tokens: float (B, T, I) (a step: (B, I)); actions: int64 (B, T) (a step: (B,)), PUSH 0, POP 1, NOOP 2."""

    tokens: Tensor
    actions: Tensor


class StackState(NamedTuple):
    """top: the inner cell's state at the pointer (for an LSTM ``LSTMState(h (B, H), c (B, H))``); store: the same
    structure with a slot axis, leaves (B, capacity + 1, ...), slot 0 the empty stack; parent: int64 (B, capacity + 1)
    the slot below each slot; pointer: int64 (B,) the top's slot; size: int64 (B,) pushes so far; ops: int64 (B,)
    pushes and pops done (NOOP and masked steps do not count); fault: int64 (B,) 0, or the first invalid
    operation's code (1 pop on empty, 2 store full); fault_at: int64 (B,) that operation's index in ``ops``."""

    top: Any
    store: Any
    parent: Tensor
    pointer: Tensor
    size: Tensor
    ops: Tensor
    fault: Tensor
    fault_at: Tensor


def check_stack_input(x: Any, input_size: int, name: str = "x") -> StackInput:
    """Raise unless ``x`` is a :class:`StackInput` with float tokens ``(..., input_size)``, int64 actions of the
    tokens' leading shape, every code in {PUSH, POP, NOOP}; returns ``x``."""
    if not isinstance(x, StackInput):
        raise TypeError(f"{name}: expected a StackInput(tokens, actions), got {type(x).__name__}")
    tokens, actions = x
    if not isinstance(tokens, Tensor) or not tokens.is_floating_point() or tokens.dim() < 2 \
            or tokens.shape[-1] != input_size:
        got = f"{tokens.dtype} {tuple(tokens.shape)}" if isinstance(tokens, Tensor) else type(tokens).__name__
        raise ValueError(f"{name}.tokens: expected a float tensor (B, T, {input_size}) (a step: (B, {input_size})), "
                         f"got {got}")
    if not isinstance(actions, Tensor) or actions.dtype != torch.long or actions.shape != tokens.shape[:-1]:
        got = f"{actions.dtype} {tuple(actions.shape)}" if isinstance(actions, Tensor) else type(actions).__name__
        raise ValueError(f"{name}.actions: expected int64 of shape {tuple(tokens.shape[:-1])} (the tokens' leading "
                         f"axes), got {got}")
    if actions.numel() and bool(((actions < PUSH) | (actions > NOOP)).any()):
        bad = sorted(set(actions[(actions < PUSH) | (actions > NOOP)].tolist()))
        raise ValueError(f"{name}.actions: expected codes PUSH {PUSH}, POP {POP}, NOOP {NOOP}, got {bad}")
    return x


def _slot_index(store: Tensor, slot: Tensor) -> Tensor:
    """``slot`` (B,) as an index of ``store`` (B, K + 1, *S) along axis 1: (B, 1, *S)."""
    rest = store.shape[2:]
    return slot.view(-1, 1, *([1] * len(rest))).expand(-1, 1, *rest)


def _at(store: Tensor, slot: Tensor) -> Tensor:
    """``store[b, slot[b]]`` for every b: (B, K + 1, *S) -> (B, *S)."""
    return store.gather(1, _slot_index(store, slot)).squeeze(1)


def _put(store: Tensor, slot: Tensor, value: Tensor) -> Tensor:
    """``store`` with ``store[b, slot[b]] = value[b]`` (out of place, so autograd keeps every earlier store)."""
    return store.scatter(1, _slot_index(store, slot), value.unsqueeze(1))


class StackCell(Cell):
    """A stack of any vector cell's states driven by (token, operation) pairs (the module docstring).

    Args: inner: the cell a push steps (an :class:`~rnnzoo.cells.lstm.LSTMCell` for the stack LSTM). capacity:
    pushes a sequence may make (the store has ``capacity + 1`` slots). initial: ``"guard"`` (a learned guard
    token read from the zero state, Dyer et al.'s code) or ``"zeros"``.

    Input :class:`StackInput`; state :class:`StackState`; output ``inner.output(top)`` (the LSTM's ``h[p]``).
    """

    def __init__(self, inner: Cell, *, capacity: int = 64, initial: str = "guard") -> None:
        super().__init__()
        if not isinstance(inner, Cell) or inner.feature_dims != 1:
            raise TypeError(f"inner: expected an rnnzoo vector Cell (feature_dims 1), got {type(inner).__name__}")
        if inner.takes_context:
            raise TypeError(f"inner: {type(inner).__name__} reads a per-run context; a stack steps it without one")
        if initial not in INITIALS:
            raise ValueError(f"initial: expected one of {INITIALS}, got {initial!r}")
        self.inner = inner
        self.capacity = positive_int("capacity", capacity)
        self.initial = initial
        self.input_size, self.output_size = inner.input_size, inner.output_size
        self.guard = nn.Parameter(torch.randn(inner.input_size) * 0.1) if initial == "guard" else None

    # ------------------------------------------------------------------ state

    def _inner_shape(self, input_shape: Any) -> Any:
        return tuple(input_shape.tokens) if isinstance(input_shape, StackInput) else input_shape

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> StackState:
        top = self.inner.state_spec(batch_size, input_shape=self._inner_shape(input_shape))
        slots = self.capacity + 1
        store = map_spec(lambda s: TensorSpec((s.shape[0], slots, *s.shape[1:]), s.dtype), top)
        index = TensorSpec((batch_size,), torch.long)
        return StackState(top, store, TensorSpec((batch_size, slots), torch.long), index, index, index, index, index)

    def initial_state(self, batch_size: int, *, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None, input_shape: Any = None) -> StackState:
        """The empty stack: ``top = store[:, 0]`` = the guard's LSTM state (or zeros), pointer 0, no faults."""
        dtype = dtype or self.default_dtype()
        shape = self._inner_shape(input_shape)
        top = self.inner.initial_state(batch_size, device=device, dtype=dtype, input_shape=shape)
        if self.guard is not None:  # (h[0], c[0]) = LSTM(x_guard; 0, 0)
            u = self.inner.project(self.guard.to(device=device, dtype=dtype)).expand(batch_size, -1)
            top = self.inner.step(u, top)[1]
        slots = self.capacity + 1
        store = tree_map(lambda t: torch.cat([t.unsqueeze(1), t.new_zeros(t.shape[0], slots - 1, *t.shape[1:])], 1),
                         top)
        zero = torch.zeros(batch_size, dtype=torch.long, device=device)
        parent = torch.zeros(batch_size, slots, dtype=torch.long, device=device)
        return StackState(top, store, parent, zero, zero, zero, zero, zero)

    # ------------------------------------------------------------------ one step

    def check_input(self, x: Any, name: str = "x", *, batched_rank: int | None = None) -> None:
        check_stack_input(x, self.input_size, name)

    def project(self, x: StackInput) -> StackInput:
        """The inner cell's input projection of the tokens (all steps at once); the actions pass through."""
        return StackInput(self.inner.project(x.tokens), x.actions)

    def step(self, u_t: StackInput, state: StackState) -> tuple[Tensor, StackState]:
        a = u_t.actions
        push, pop = a == PUSH, a == POP
        full = state.size >= self.capacity
        empty = state.pointer == 0
        push_ok, pop_ok = push & ~full, pop & ~empty
        with record_function("stack_lstm/cell"):  # rnnzoo bench --structured splits a step's time by these labels
            _, pushed = self.inner.step(u_t.tokens, state.top)  # the LSTM from the state at the pointer
        with record_function("stack_lstm/stack"):
            return self._move(a, push, pop, full, empty, push_ok, pop_ok, pushed, state)

    def _move(self, a: Tensor, push: Tensor, pop: Tensor, full: Tensor, empty: Tensor, push_ok: Tensor,
              pop_ok: Tensor, pushed: Any, state: StackState) -> tuple[Tensor, StackState]:
        """The stack's bookkeeping of a step: write the pushed state, move the pointer, read the new top."""
        slot = state.size + 1
        # one scatter for every example: a push writes its new state into slot n + 1; the others rewrite their top
        # slot with its own value (state.top == store[p]), which changes nothing
        where = torch.where(push_ok, slot, state.pointer)
        store = tree_map(lambda s, v: _put(s, where, v), state.store, tree_where(push_ok, pushed, state.top))
        parent = state.parent.scatter(1, where.unsqueeze(1), torch.where(
            push_ok, state.pointer, state.parent.gather(1, where.unsqueeze(1)).squeeze(1)).unsqueeze(1))
        below = state.parent.gather(1, state.pointer.unsqueeze(1)).squeeze(1)
        pointer = torch.where(push_ok, slot, torch.where(pop_ok, below, state.pointer))
        top = tree_map(lambda s: _at(s, pointer), store)  # h[p], c[p]
        code = torch.where(push & full, FULL, torch.where(pop & empty, POP_EMPTY, 0))
        first = (state.fault == 0) & (code != 0)
        new = StackState(top, store, parent, pointer, state.size + push_ok.long(), state.ops + (a != NOOP).long(),
                         torch.where(first, code, state.fault), torch.where(first, state.ops, state.fault_at))
        return self.output(new), new

    def output(self, state: StackState) -> Tensor:
        """The summary ``h[p]`` (the inner cell's output of the state at the pointer)."""
        return self.inner.output(state.top)

    def check(self, state: StackState, *, pops: bool = True) -> None:
        """Raise if any example of ``state`` made an invalid operation (a full store always; a pop on the empty
        stack when ``pops``): the error names the example, the operation's index and what was wrong."""
        bad = (state.fault == FULL) | ((state.fault == POP_EMPTY) & pops)
        if not bool(bad.any()):
            return
        b = int(bad.nonzero()[0, 0])
        code, at = int(state.fault[b]), int(state.fault_at[b])
        what = (f"push ({PUSH}) with the store full: it holds capacity={self.capacity} pushes per sequence (a pop "
                "frees no slot); build the model with a larger capacity") if code == FULL else (
                f"pop ({POP}) on an empty stack")
        raise ValueError(f"actions: example {b}, operation {at} (its push or pop number {at + 1}): {what}; "
                         f"{int(bad.sum())} example(s) of {bad.numel()} made an invalid operation")

    def extra_repr(self) -> str:
        return f"capacity={self.capacity}, initial={self.initial!r}"


class StackLSTM(StructuredModel):
    """The stack LSTM as a whole model (Dyer et al. 2015, arXiv:1505.08075; equations in the module docstring).

    Args (keyword-only): input_size: I, the token features. hidden_size: H. num_classes: C for a linear head on
    every step's summary (None: the summaries ``(B, T, H)`` are the output). capacity: pushes per sequence.
    stack: False runs the inner cell as a plain LSTM over every non-NOOP token (the baseline: a stack LSTM whose
    every operation is a push), with the same parameters and empty-stack state. initial: ``"guard"`` or
    ``"zeros"``. invalid: ``"raise"`` (default) or ``"ignore"`` (a pop on the empty stack is a no-op). cell: the
    inner cell's registry name (a vector cell, default ``"lstm"``); cell_options: its options.

    ``forward(x)``: :class:`StackInput` -> ``(B, T, C)`` logits (or ``(B, T, H)``), zero at NOOP steps before the
    head. The steps are one ``rnnzoo.run`` of :class:`StackCell` (a NOOP step leaves the stack unchanged).
    """

    def __init__(self, *, input_size: int, hidden_size: int, num_classes: int | None = None, capacity: int = 64,
                 stack: bool = True, initial: str = "guard", invalid: str = "raise", cell: str = "lstm",
                 cell_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        if not isinstance(stack, bool):
            raise TypeError(f"stack: expected True or False, got {stack!r}")
        if invalid not in ("raise", "ignore"):
            raise ValueError(f"invalid: expected 'raise' or 'ignore', got {invalid!r}")
        info = model_info(cell)
        if info.kind is not ModelKind.CELL or info.input_kind is not InputKind.VECTOR_SEQUENCE:
            raise ValueError(f"cell: expected a registered vector cell (e.g. 'lstm', 'gru'), got {cell!r} "
                             f"({info.kind.value}, {info.input_kind.value})")
        self.input_size, self.hidden_size, self.stack, self.invalid = input_size, hidden_size, stack, invalid
        self.cell = StackCell(info.build(input_size, hidden_size, **dict(cell_options or {})), capacity=capacity,
                              initial=initial)
        if num_classes is not None:
            positive_int("num_classes", num_classes)
        self.head = nn.Linear(self.cell.output_size, num_classes) if num_classes else None

    def forward(self, x: StackInput) -> Tensor:
        check_stack_input(x, self.input_size)
        if x.tokens.dim() != 3:
            raise ValueError(f"x.tokens: expected (B, T, {self.input_size}), got {tuple(x.tokens.shape)}")
        valid = x.actions != NOOP
        if self.stack:  # NOOP steps leave the stack as it is (no runner mask: no per-step copy of the store)
            out = run(self.cell, x)
            self.cell.check(out.state, pops=self.invalid == "raise")
            y = out.output.masked_fill(~valid.unsqueeze(-1), 0.0)
        else:  # every token pushed: a plain run of the inner cell from the empty stack's state
            start = self.cell.initial_state(x.tokens.shape[0], device=x.tokens.device, dtype=x.tokens.dtype).top
            y = run(self.cell.inner, x.tokens, start, mask=valid).output
        return self.head(y) if self.head is not None else y

    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> StackInput:
        """Random tokens and valid operations (no pop on an empty stack), NOOP padding after a random length."""
        return random_operations(batch_size, 7, self.input_size, generator=generator, device=self.device,
                                 dtype=self.dtype)

    def work(self, x: StackInput) -> dict[str, int]:
        """Stack operations (pushes and pops; no-ops are padding) and runner steps."""
        check_stack_input(x, self.input_size)
        return {"operations": int((x.actions != NOOP).sum()), "steps": x.actions.shape[1]}


# cpu: example data drawn from a seeded CPU generator (the same draw on every device)
def random_operations(batch_size: int, steps: int, input_size: int, *, generator: torch.Generator | None = None,
                      device: torch.device | str | None = None, dtype: torch.dtype | None = None,
                      push_prob: float = 0.6, padding: bool = True) -> StackInput:
    """A random valid :class:`StackInput`: pushes with probability ``push_prob`` (always on an empty stack), pops
    otherwise, then (``padding``) NOOP after a length in [1, steps] (the first example full length)."""
    tokens = torch.randn(batch_size, steps, input_size, generator=generator)  # float32 draws: one input per seed
    draws = torch.rand(batch_size, steps, generator=generator)
    lengths = torch.randint(1, steps + 1, (batch_size,), generator=generator)
    lengths[0] = steps
    if not padding:
        lengths.fill_(steps)
    depth = torch.zeros(batch_size, dtype=torch.long)
    actions = torch.empty(batch_size, steps, dtype=torch.long)
    for t in range(steps):
        push = (depth == 0) | (draws[:, t] < push_prob)
        actions[:, t] = torch.where(push, PUSH, POP)
        depth = depth + torch.where(push, 1, -1)
    actions = actions.masked_fill(torch.arange(steps) >= lengths.unsqueeze(1), NOOP)
    return StackInput(tokens.to(device, dtype or tokens.dtype), actions.to(device))


register("stack_lstm", paper=Paper("Dyer, Ballesteros, Ling, Matthews & Smith", 2015,
                                   "Transition-based dependency parsing with stack long short-term memory",
                                   "1505.08075"),
         seed_equations="001 section 4.2 (a stack pointer selects the previous state); 001 eqs (16)-(20) the LSTM",
         description="LSTM over (token, push/pop) pairs: a push steps from the state at the stack pointer, a pop "
                     "moves the pointer to its parent (append-only store, per-example pointers)",
         kind=ModelKind.MODEL, input_kind=InputKind.TOKEN_ACTION, causal=True, chunkable=False,
         bidirectional_ok=False, unbatched=False, gated=True, fast_path=FastPath.NONE,
         test_options={"input_size": 3, "hidden_size": 4, "num_classes": 3, "capacity": 8})(StackLSTM)
