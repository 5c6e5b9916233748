"""Pointer network: Vinyals, Fortunato & Jaitly (2015), "Pointer networks", arXiv:1506.03134.

The output of each decoding step is an attention distribution over the *input positions* (seed 003, "the role of
attention mechanisms": ``a_i = softmax(s^T h_i)``, the item with the highest score is the output). With the code's
names (``W1 = attention.w_key``, ``W2 = attention.w_query``, ``v = attention.v``, :class:`rnnzoo.attention.Attention`
"additive"):

* encoder: ``e_j = encoder(P_1 .. P_n)_j``, any registered cell (default ``lstm``) run over the points ``(B, n, d)``
  with their lengths;
* decoder: ``d_i = cell(P_{C_{i-1}}, d_{i-1})`` with ``d_0`` the encoder's final state and ``P_{C_0} = start`` (a
  learned vector): the input of a step is the coordinates of the point chosen at the step before;
* eq (3): ``u^i_j = v^T tanh(W1 e_j + W2 d_i)`` and ``p(C_i | C_1 .. C_{i-1}, P) = softmax_j(u^i_j)`` over the
  *available* positions only: a padded position, or one already chosen (``chosen``, a field of the decoder's
  STATE), gets ``-inf`` before the log-softmax, so it has probability exactly 0 and is never pointed at again.

Position ``n`` (the last column) is END, the paper's end-of-output symbol, with a learned key ``end_key``.
``stop="all"`` (permutations: sorting, TSP) makes END available only once every valid point is chosen;
``stop="any"`` (subsets: the convex hull) once at least one point is chosen. When no point is left, END is the
only available position (so no row is ever all ``-inf``).

Shapes (B batch, n points, d coordinates, m output steps, H hidden):

* input :class:`PointerInput`: ``points (B, n, d)``, ``lengths (B,)`` int64 in ``[1, n]``, ``pointers (B, m)``
  int64 in ``[0, n]`` (the labels, teacher forcing), ``pointer_lengths (B,)`` int64 in ``[1, m]``;
* ``forward(x)`` -> :class:`PointerOutput`: ``scores (B, m, n + 1)`` (the finite ``u^i_j``) and ``available
  (B, m, n + 1)`` bool; ``output.log_probs()`` is the masked log-softmax (``-inf`` where not available);
* ``generate(x, width=W)`` -> :class:`rnnzoo.decode.Beams` (tokens ``(B, W, n + 1)``, END-padded).

>>> import torch, rnnzoo
>>> net = rnnzoo.create("pointer_net", input_size=2, hidden_size=8)
>>> x = net.example_input(3, generator=torch.Generator().manual_seed(0))
>>> net(x).log_probs().shape
torch.Size([3, 6, 7])
>>> beams = net.generate(x, width=2)
>>> beams.tokens.shape
torch.Size([3, 2, 7])

**Deviations**: END is an extra key appended after the points (the paper feeds a special input symbol at
position 0), so the pointer indices equal the input indices; ``forward`` returns finite scores and the availability
mask rather than log-probabilities with ``-inf`` in them (the model contract wants finite outputs), and
``log_probs()`` applies the mask before the log-softmax. The chosen-mask itself is the paper's later
refinement (Bello et al. 2016) that public reimplementations omit; the paper's decoder may only constrain the
output at beam-search time. The attention has no biases, as eq (3) has none. ``embedding_size=E`` adds a
learned linear embedding of the coordinates before both cells (Bello et al. 2016, arXiv:1611.09940; not in the
paper): on TSP n = 5 the plain model (the cells reading 2-D coordinates) stayed at the uniform-pointer loss for
2,000 Adam updates, with the embedding it reached 0.35% above the optimum in as many; the task defaults set it.
Defaults: ``hidden_size=128`` (the paper: 256-512), start vector and END key uniform in ``[-0.08, 0.08]`` as the
paper's weights.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.attention import Attention, masked_log_softmax, masked_softmax
from rnnzoo.core.cell import Cell
from rnnzoo.core.checks import positive_int
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.registry import InputKind, ModelKind, Paper, model_info, register
from rnnzoo.core.runner import run
from rnnzoo.core.spec import TensorSpec
from rnnzoo.decode import Beams, beam_search

__all__ = ["PointerDecoderCell", "PointerInput", "PointerNet", "PointerOutput", "PointerState",
           "pointer_log_probs"]

STOPS = ("all", "any")


class PointerInput(NamedTuple):
    """A batch of point sets with their label sequences (module docstring for the shapes)."""

    points: Tensor
    lengths: Tensor
    pointers: Tensor
    pointer_lengths: Tensor


class PointerOutput(NamedTuple):
    """Teacher-forced pointer scores ``(B, m, n + 1)`` and where they are available ``(B, m, n + 1)`` bool."""

    scores: Tensor
    available: Tensor

    def log_probs(self) -> Tensor:
        """``log p(C_i = j)`` ``(B, m, n + 1)``: ``-inf`` where not available (masked BEFORE the log-softmax)."""
        return pointer_log_probs(self.scores, self.available)


class DecoderInput(NamedTuple):
    """One decoder step's input: the previous point ``(B, d)`` and the previous choice one-hot ``(B, n + 1)``."""

    point: Tensor
    choice: Tensor


class PointerContext(NamedTuple):
    """The decoder's per-run context: encoder outputs ``e_j`` ``(B, n, H)`` and the valid points ``(B, n)``."""

    keys: Tensor
    valid: Tensor


class PointerPrepared(NamedTuple):
    """``W1 e_j`` for the points and END ``(B, n + 1, A)``; valid positions ``(B, n + 1)`` (END always)."""

    projected: Tensor
    valid: Tensor


class PointerState(NamedTuple):
    """The decoder cell's state and the positions chosen so far ``(B, n + 1)`` bool (END last)."""

    cell: Any
    chosen: Tensor


def pointer_log_probs(scores: Tensor, available: Tensor) -> Tensor:
    """Masked log-softmax over the last axis; a row with nothing available (a padded step) is all ``-inf``."""
    nothing = ~available.any(-1, keepdim=True)
    return masked_log_softmax(scores, available | nothing).masked_fill(~available, float("-inf"))


class PointerDecoderCell(Cell):
    """The pointer decoder as a cell: wraps a registered cell; its ``prepare`` receives the encoder outputs.

    Step input :class:`DecoderInput`, state :class:`PointerState`, step output :class:`PointerOutput` of one step
    (``scores (B, n + 1)``, ``available (B, n + 1)``). ``output_size`` is the wrapped cell's (the query's) size.
    """

    def __init__(self, cell: Cell, attention_size: int, stop: str = "all") -> None:
        super().__init__()
        if stop not in STOPS:
            raise ValueError(f"stop: expected one of {STOPS}, got {stop!r}")
        self.cell, self.stop = cell, stop
        self.input_size, self.output_size = cell.input_size, cell.output_size
        self.attention = Attention("additive", cell.output_size, cell.output_size, attention_size)
        self.end_key = nn.Parameter(torch.empty(cell.output_size).uniform_(-0.08, 0.08))

    def check_input(self, x: Any, name: str = "x", *, batched_rank: int | None = None) -> None:
        if not isinstance(x, DecoderInput):
            raise TypeError(f"{name}: expected a DecoderInput(point, choice), got {type(x).__name__}")
        if not x.point.is_floating_point() or x.point.shape[-1] != self.input_size:
            raise ValueError(f"{name}.point: expected a float tensor (..., {self.input_size}), "
                             f"got {x.point.dtype} {tuple(x.point.shape)}")

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> PointerState:
        if not isinstance(input_shape, DecoderInput):
            raise ValueError("input_shape: the pointer decoder sizes its chosen-mask from the step input's "
                             f"DecoderInput((d,), (n + 1,)), got {input_shape!r}")
        return PointerState(self.cell.state_spec(batch_size, input_shape=tuple(input_shape.point)),
                            TensorSpec((batch_size, *input_shape.choice), torch.bool))

    def prepare(self, context: Any, batch_size: int, *, device: Any = None, dtype: Any = None,
                input_shape: Any = None) -> PointerPrepared:
        if not isinstance(context, PointerContext):
            raise TypeError(f"context: expected a PointerContext(keys, valid), got {type(context).__name__}")
        keys = context.keys
        end = self.end_key.to(keys.dtype).expand(keys.shape[0], 1, keys.shape[2])
        projected = self.attention.precompute(torch.cat([keys, end], 1))
        valid = torch.cat([context.valid, context.valid.new_ones(keys.shape[0], 1)], 1)
        return PointerPrepared(projected, valid)

    def project(self, x: DecoderInput) -> DecoderInput:
        return DecoderInput(self.cell.project(x.point), x.choice)

    def available(self, chosen: Tensor, valid: Tensor) -> Tensor:
        """Positions that may be pointed at ``(B, n + 1)``: valid, not chosen; END by the ``stop`` rule."""
        points = valid[:, :-1] & ~chosen[:, :-1]
        left = points.any(-1, keepdim=True)
        end = ~left if self.stop == "all" else ~left | chosen[:, :-1].any(-1, keepdim=True)
        return torch.cat([points, end], -1)

    def step(self, u_t: DecoderInput, state: PointerState, prepared: PointerPrepared
             ) -> tuple[PointerOutput, PointerState]:
        chosen = state.chosen | (u_t.choice > 0.5)  # the previous choice joins the chosen-mask
        _, inner = self.cell.step(u_t.point, state.cell)  # d_i from P_{C_{i-1}} and d_{i-1}
        scores = self.attention.scores(self.cell.output(inner), prepared.projected)  # eq (3): u^i_j
        available = self.available(chosen, prepared.valid)
        self.report("attention", masked_softmax(scores, available), kind="attention")
        return PointerOutput(scores, available), PointerState(inner, chosen)

    def output(self, state: PointerState, prepared: PointerPrepared) -> PointerOutput:
        raise NotImplementedError("PointerDecoderCell: the scores are not part of the state; run it without a "
                                  "step hook")


class PointerNet(StructuredModel):
    """Pointer network (module docstring: equations, shapes, deviations).

    Args (keyword only):
        input_size: d, coordinates per point (1 for sorting numbers, 2 for planar points).
        hidden_size: H of the encoder and decoder cells.
        cell: the registered cell of the encoder and of the decoder (default ``"lstm"``, as the paper).
        attention_size: A of the additive attention (default H).
        stop: ``"all"`` (output a permutation of the valid points) or ``"any"`` (a subset; END once one is chosen).
        embedding_size: E, a learned linear embedding of the coordinates before both cells (Bello et al. 2016's
            "embedding"; None: the cells read the coordinates, as the paper).
    """

    EXAMPLE_POINTS = 6

    def __init__(self, *, input_size: int = 2, hidden_size: int = 128, cell: str = "lstm",
                 attention_size: int | None = None, stop: str = "all", embedding_size: int | None = None) -> None:
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        if stop not in STOPS:
            raise ValueError(f"stop: expected one of {STOPS}, got {stop!r}")
        info = model_info(cell)
        if info.kind is not ModelKind.CELL:
            raise ValueError(f"cell: expected a registered cell (kind CELL), got {cell!r} of kind {info.kind}")
        self.input_size, self.hidden_size, self.cell_name, self.stop = input_size, hidden_size, cell, stop
        self.embedding_size = embedding_size
        self.embed = nn.Linear(input_size, positive_int("embedding_size", embedding_size)) if embedding_size else None
        size = embedding_size or input_size
        self.encoder = info.build(size, hidden_size)
        decoder = info.build(size, hidden_size)
        self.decoder = PointerDecoderCell(decoder, positive_int("attention_size", attention_size or hidden_size), stop)
        self.start = nn.Parameter(torch.empty(input_size).uniform_(-0.08, 0.08))

    # ------------------------------------------------------------------ checks

    def check(self, x: Any) -> PointerInput:
        if not isinstance(x, PointerInput):
            raise TypeError(f"x: expected a PointerInput(points, lengths, pointers, pointer_lengths), "
                            f"got {type(x).__name__}")
        self._check_points(x.points, x.lengths)
        b, n = x.points.shape[:2]
        p, pl = x.pointers, x.pointer_lengths
        if not isinstance(p, Tensor) or p.dtype != torch.long or p.dim() != 2 or p.shape[0] != b:
            raise ValueError(f"x.pointers: expected int64 ({b}, m), got "
                             f"{getattr(p, 'dtype', type(p).__name__)} {tuple(getattr(p, 'shape', ()))}")
        if p.numel() and (int(p.min()) < 0 or int(p.max()) > n):
            raise ValueError(f"x.pointers: expected positions in [0, {n}] ({n} = END), got [{int(p.min())}, "
                             f"{int(p.max())}]")
        _check_lengths("x.pointer_lengths", pl, b, p.shape[1])
        return x

    def _check_points(self, points: Any, lengths: Any) -> None:
        if not isinstance(points, Tensor) or not points.is_floating_point() or points.dim() != 3 \
                or points.shape[2] != self.input_size:
            raise ValueError(f"x.points: expected a float tensor (B, n, {self.input_size}), got "
                             f"{getattr(points, 'dtype', type(points).__name__)} {tuple(getattr(points, 'shape', ()))}")
        _check_lengths("x.lengths", lengths, points.shape[0], points.shape[1])

    # ------------------------------------------------------------------ encoder

    def embedded(self, points: Tensor) -> tuple[Tensor, Tensor]:
        """What the cells read: ``(points (B, n, E or d), start (E or d,))`` (embedded when ``embedding_size``)."""
        start = self.start.to(points.dtype)
        if self.embed is None:
            return points, start
        return self.embed(points), self.embed(start)

    def encode(self, points: Tensor, lengths: Tensor) -> tuple[PointerContext, Any]:
        """``(PointerContext(e (B, n, H), valid (B, n)), the encoder's final state)`` of the points the cells read."""
        enc = run(self.encoder, points, lengths=lengths.cpu())
        valid = torch.arange(points.shape[1], device=points.device) < lengths.to(points.device).unsqueeze(1)
        return PointerContext(enc.output, valid), enc.state

    def forward(self, x: PointerInput) -> PointerOutput:
        """Teacher-forced pointer scores (see :class:`PointerOutput`)."""
        x = self.check(x)
        points, start = self.embedded(x.points)
        b, n, d = points.shape
        context, final = self.encode(points, x.lengths)
        prev = x.pointers[:, :-1]
        table = torch.cat([points, points.new_zeros(b, 1, d)], 1)  # END's "coordinates" (never fed forward)
        fed = torch.gather(table, 1, prev.unsqueeze(2).expand(-1, -1, d))
        point_in = torch.cat([start.expand(b, 1, d), fed], 1)
        choice = torch.cat([points.new_zeros(b, 1, n + 1),
                            nn.functional.one_hot(prev, n + 1).to(points.dtype)], 1)
        state = PointerState(final, torch.zeros(b, n + 1, dtype=torch.bool, device=points.device))
        out = run(self.decoder, DecoderInput(point_in, choice), state, lengths=x.pointer_lengths.cpu(),
                  context=context)
        return PointerOutput(out.output.scores, out.output.available)

    @torch.no_grad()
    def generate(self, x: PointerInput | tuple[Tensor, Tensor], *, width: int = 1, max_steps: int | None = None
                 ) -> Beams:
        """Greedy (``width=1``) or beam decoding; chosen positions are masked in every beam.

        ``x``: a :class:`PointerInput` (its pointers are ignored) or ``(points, lengths)``. Returns
        :class:`~rnnzoo.decode.Beams` with tokens ``(B, W, L)`` (``L = max_steps``, default ``n + 1``), END (``n``)
        after each hypothesis, lengths counting the END. A hypothesis scored ``-inf`` is impossible (fewer than
        W valid outputs exist) and should be ignored.
        """
        points, lengths = (x.points, x.lengths) if isinstance(x, PointerInput) else x
        self._check_points(points, lengths)
        points, start = self.embedded(points)
        b, n, d = points.shape
        context, final = self.encode(points, lengths)
        prepared = self.decoder.prepare(context, b)
        table = torch.cat([points, points.new_zeros(b, 1, d), start.expand(b, 1, d)], 1)
        state = (PointerState(final, torch.zeros(b, n + 1, dtype=torch.bool, device=points.device)), prepared,
                 table)

        def step(tokens: Tensor, st: Any) -> tuple[Tensor, Any]:
            dstate, prep, tab = st
            point = tab[torch.arange(tokens.shape[0], device=tab.device), tokens]
            choice = nn.functional.one_hot(tokens, n + 2)[:, :n + 1].to(tab.dtype)  # the start token: no choice
            y, new = self.decoder.step(self.decoder.project(DecoderInput(point, choice)), dstate, prep)
            return pointer_log_probs(y.scores, y.available), (new, prep, tab)

        return beam_search(step, state, batch_size=b, width=positive_int("width", width),
                           max_steps=max_steps or n + 1, start=n + 1, end=n, pad=n)

    # ------------------------------------------------------------------ protocol

    # cpu: example data drawn from a seeded CPU generator (the same draw on every device)
    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> PointerInput:
        n, b = self.EXAMPLE_POINTS, positive_int("batch_size", batch_size)
        g = generator
        points = torch.rand(b, n, self.input_size, generator=g).to(self.device, self.dtype)
        lengths = torch.randint(2, n + 1, (b,), generator=g)
        lengths[0] = n
        valid = torch.arange(n) < lengths.unsqueeze(1)
        order = (torch.rand(b, n, generator=g) + (~valid).double()).argsort(1)  # valid points first, shuffled
        if self.stop == "all":
            pointers = torch.where(valid, order, n)
            plen = lengths.clone()
        else:
            k = (torch.rand(b, generator=g) * lengths).long().clamp(min=1)
            pointers = torch.cat([torch.where(torch.arange(n) < k.unsqueeze(1), order, n),
                                  torch.full((b, 1), n)], 1)
            plen = k + 1
        return PointerInput(points, lengths.to(self.device), pointers.to(self.device), plen.to(self.device))

    def extra_repr(self) -> str:
        return (f"input_size={self.input_size}, hidden_size={self.hidden_size}, cell={self.cell_name!r}, "
                f"stop={self.stop!r}, embedding_size={self.embedding_size}")


def _check_lengths(name: str, lengths: Any, batch: int, most: int) -> None:
    if not isinstance(lengths, Tensor) or lengths.dtype != torch.long or tuple(lengths.shape) != (batch,):
        raise ValueError(f"{name}: expected int64 ({batch},), got "
                         f"{getattr(lengths, 'dtype', type(lengths).__name__)} {tuple(getattr(lengths, 'shape', ()))}")
    if batch and (int(lengths.min()) < 1 or int(lengths.max()) > most):
        raise ValueError(f"{name}: expected lengths in [1, {most}], got [{int(lengths.min())}, {int(lengths.max())}]")


register("pointer_net", paper=Paper("Vinyals, Fortunato & Jaitly", 2015, "Pointer networks", "1506.03134"),
         seed_equations="003 'role of attention mechanisms' (a_i = softmax(s^T h_i)); paper eq (3)",
         description="Encoder-decoder whose output is the attention over input positions, chosen ones masked",
         kind=ModelKind.MODEL, input_kind=InputKind.SET_TO_SEQUENCE, causal=False, chunkable=False,
         bidirectional_ok=False, unbatched=False, gated=True,
         test_options={"input_size": 2, "hidden_size": 8})(PointerNet)
