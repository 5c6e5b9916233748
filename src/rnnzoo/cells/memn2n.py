"""End-to-end memory network (MemN2N): Sukhbaatar, Szlam, Weston & Fergus 2015, arXiv:1503.08895 (seed 003).

The story's facts x_1..x_n are embedded twice per hop k = 1..K, as input memories m_i^k and output memories
c_i^k; the question is embedded as u^1. Each hop attends over the memories with the controller u^k (section 2):

    m_i^k = sum_j l_j * A^k x_ij + T_A^k(i)        c_i^k = sum_j l_j * C^k x_ij + T_C^k(i)    (4.1 PE, TE)
    p_i^k = softmax_i(u^k . m_i^k)                                                           eq (1)
    o^k = sum_i p_i^k c_i^k                                                                  eq (2)
    u^{k+1} = u^k + o^k   (adjacent)   or   H u^k + o^k   (layer-wise)                       section 2.2
    a_hat = softmax(W u^{K+1}) = softmax(W (o^K + u^K))                                      eq (3)
    u^1 = sum_j l_j * B q_j

Position encoding (section 4.1): ``l_kj = (1 - j/J) - (k/d) (1 - 2j/J)`` for word j = 1..J of a sentence of J words
(its own length, not the padded width) and embedding dimension k = 1..d; without it ``l_j = 1`` (bag of words).
Temporal encoding: ``T_A(i)`` is row i of a learnt matrix, with the facts **indexed in reverse order**, i = 1
the most recent fact before the question (in the code, 0-based: ``time = n - 1 - slot``).
Weight tying (section 2.2): **adjacent**: ``A^{k+1} = C^k``, ``B = A^1``, ``W^T = C^K`` (K + 1 embedding matrices
``E_0..E_K``: ``A^k = E_{k-1}``, ``C^k = E_k``; the temporal matrices tied the same way); **layer-wise**:
``A^1 = ... = A^K``, ``C^1 = ... = C^K``, a learnt ``H``, and separate ``B`` and ``W``.
Training tricks (section 4.2): **linear start** (LS): the softmax of eq (1) removed (``p_i = u . m_i``) at first;
**random noise** (RN): "we randomly add 10% of empty memories to the stories", regularising T_A.

The K hops are a run without input of :class:`MemoryHops` (``rnnzoo.run(hops, None, state=u^1, context=story,
steps=K)``): its ``prepare`` embeds the memories of every hop once per run; its state is ``(u^k, k)``; each step
reports its attention p^k (kind ``"attention"``, ``(B, M)``).

Shapes: B batch, M memory slots (facts kept, the oldest first), L words per sentence, V vocabulary, d = hidden_size.
Input :class:`~rnnzoo.data.babi.BabiInput` (``story`` int64 ``(B, M, L)``, ``story_lengths`` ``(B,)``, ``question``
int64 ``(B, L)``; word id 0 is padding); output: answer logits ``(B, V)``.

**Deviations.** RN is implemented as the time-index shift the inserted empty memories cause (each fact's
temporal index grows by the number of empty memories drawn, with probability ``random_noise`` per fact, between it
and the question); the empty slots themselves are not added to the softmax. Linear start is switched off after
``linear_start`` training batches (forward calls in training mode, counted in a buffer), not when the validation
loss stops falling as in the paper: rnnzoo's trainer cannot change a model mid-run. Defaults follow the paper's
bAbI setting: d = 20, K = 3, adjacent tying, PE and TE on, RN 0.1, N(0, 0.1) initialisation; LS is off by default
(``linear_start=0``). The memory size is the task's (at most 50, the paper's).

>>> import torch, rnnzoo
>>> model = rnnzoo.create("memn2n", vocab_size=12, memory_size=5, sentence_len=4, hidden_size=8)
>>> logits = model(model.example_input(2, generator=torch.Generator().manual_seed(0)))
>>> tuple(logits.shape)
(2, 12)
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.attention import check_key_mask, masked_softmax
from rnnzoo.core.cell import Cell
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.registry import InputKind, ModelKind, Paper, register
from rnnzoo.core.runner import run
from rnnzoo.core.spec import TensorSpec
from rnnzoo.data.babi import BabiInput, flatten_story

__all__ = ["MemN2N", "MemoryContext", "MemoryHops", "Memories", "HopState", "position_encoding"]

TYING = ("adjacent", "layerwise")


def position_encoding(words: Tensor, hidden_size: int, dtype: torch.dtype | None = None) -> Tensor:
    """The weights ``l_kj`` of section 4.1 for padded sentences ``words`` int64 ``(..., L)`` (0 = padding):
    ``(..., L, d)``, zero at padding; J is each sentence's own number of words."""
    valid = words != 0
    J = valid.sum(-1, keepdim=True).clamp(min=1).to(dtype or torch.get_default_dtype())  # (..., 1)
    j = torch.arange(1, words.shape[-1] + 1, device=words.device, dtype=J.dtype)  # (L,)
    k = torch.arange(1, hidden_size + 1, device=words.device, dtype=J.dtype) / hidden_size  # (d,)
    l = (1 - j / J)[..., None] - k * (1 - 2 * j / J)[..., None]
    return l * valid[..., None].to(J.dtype)


class HopState(NamedTuple):
    """``u``: the controller u^k ``(B, d)``; ``hop``: k - 1 ``(B,)`` int64 (which hop's memories to read)."""

    u: Tensor
    hop: Tensor


class MemoryContext(NamedTuple):
    """The run's context: ``story`` int64 ``(B, M, L)``, ``mask`` bool ``(B, M)`` (True = a fact), ``time`` int64
    ``(B, M)`` temporal indices (0 = the most recent fact); ``linear``: bool scalar tensor, LS in force."""

    story: Tensor
    mask: Tensor
    time: Tensor
    linear: Tensor


class Memories(NamedTuple):
    """What :meth:`MemoryHops.prepare` makes: ``m``/``c`` ``(K, B, M, d)`` per hop, ``mask`` ``(B, M)``, ``linear``."""

    m: Tensor
    c: Tensor
    mask: Tensor
    linear: Tensor


class MemoryHops(Cell):
    """The K hops of eqs (1)-(2) as a cell run without input (module docstring); owns A^k, C^k, T_A^k, T_C^k, H."""

    def __init__(self, vocab_size: int, hidden_size: int, hops: int, time_rows: int, *, tying: str = "adjacent",
                 position_encoding: bool = True, temporal_encoding: bool = True, init_std: float = 0.1) -> None:
        super().__init__()
        if tying not in TYING:
            raise ValueError(f"tying: expected one of {TYING}, got {tying!r}")
        self.input_size = self.output_size = hidden_size
        self.hops, self.tying = hops, tying
        self.use_pe, self.use_te = position_encoding, temporal_encoding
        n = hops + 1 if tying == "adjacent" else 2  # E_0..E_K, or (A, C)
        self.embed = nn.Parameter(torch.randn(n, vocab_size, hidden_size) * init_std)
        self.time = nn.Parameter(torch.randn(n, time_rows, hidden_size) * init_std) if temporal_encoding else None
        self.H = nn.Linear(hidden_size, hidden_size, bias=False) if tying == "layerwise" else None
        if self.H is not None:
            nn.init.normal_(self.H.weight, std=init_std)
        k = torch.arange(hops)
        a, c = (k, k + 1) if tying == "adjacent" else (torch.zeros_like(k), torch.ones_like(k))
        self.register_buffer("a_index", a, persistent=False)
        self.register_buffer("c_index", c, persistent=False)

    def sentence(self, table: Tensor, words: Tensor) -> Tensor:
        """``sum_j l_j * E x_j`` for the embedding tables ``table`` ``(n, V, d)`` and ``words`` ``(..., L)``:
        ``(n, ..., d)`` (bag of words without PE; padding contributes nothing)."""
        d = table.shape[-1]
        weight = (position_encoding(words, d, table.dtype) if self.use_pe
                  else (words != 0)[..., None].to(table.dtype).expand(*words.shape, d))
        return (table[:, words] * weight).sum(-2)

    def state_spec(self, batch_size: int, *, input_shape: object = None) -> HopState:
        return HopState(TensorSpec((batch_size, self.output_size)), TensorSpec((batch_size,), torch.long))

    def prepare(self, context: MemoryContext, batch_size: int, *, device: object = None, dtype: object = None,
                input_shape: object = None) -> Memories:
        if not isinstance(context, MemoryContext):
            raise TypeError(f"context: expected a MemoryContext, got {type(context).__name__}")
        check_key_mask(context.mask, batch_size, context.story.shape[1])
        enc = self.sentence(self.embed, context.story)  # (n, B, M, d)
        if self.time is not None:
            if int(context.time.max()) >= self.time.shape[1]:
                raise ValueError(f"context: temporal index {int(context.time.max())} beyond the "
                                 f"{self.time.shape[1]} rows of T_A/T_C")
            enc = enc + self.time[:, context.time]
        return Memories(enc[self.a_index], enc[self.c_index], context.mask, context.linear)

    def step(self, u_t: None, state: HopState, prepared: Memories) -> tuple[Tensor, HopState]:
        u, hop = state
        rows = torch.arange(u.shape[0], device=u.device)
        m, c = prepared.m[hop, rows], prepared.c[hop, rows]  # (B, M, d): hop k's memories
        scores = torch.einsum("bmd,bd->bm", m, u)  # u^T m_i, eq (1)
        p = torch.where(prepared.linear, scores.masked_fill(~prepared.mask, 0.0), masked_softmax(scores, prepared.mask))
        self.report("attention", p, kind="attention")
        o = torch.einsum("bm,bmd->bd", p, c)  # eq (2)
        u_next = (self.H(u) if self.H is not None else u) + o
        return u_next, HopState(u_next, hop + 1)


@register("memn2n", paper=Paper("Sukhbaatar, Szlam, Weston & Fergus", 2015, "End-To-End Memory Networks",
                                "1503.08895"),
          seed_equations="003 (memory networks); paper eqs (1)-(3), sections 2.2, 4.1, 4.2",
          description="end-to-end memory network: K attention hops over a story (PE, TE, adjacent/layer-wise tying, "
                      "linear start, random noise)",
          kind=ModelKind.MODEL, input_kind=InputKind.STORY_QUESTION, causal=False, chunkable=False,
          bidirectional_ok=False, unbatched=False,
          test_options={"vocab_size": 11, "memory_size": 6, "sentence_len": 4, "hidden_size": 5, "hops": 2})
class MemN2N(StructuredModel):
    """End-to-end memory network (module docstring; arXiv:1503.08895 eqs (1)-(3)).

    Args (keyword only): vocab_size V (answers are words of it); memory_size: the memory slots M the task gives
    (also the temporal rows); sentence_len L; hidden_size d (paper: 20); hops K (3); tying ``"adjacent"`` or
    ``"layerwise"``; position_encoding, temporal_encoding (True); linear_start: training batches with the softmax
    of eq (1) removed (0: never); random_noise: probability of an empty memory after each fact in training (0.1).
    """

    def __init__(self, *, vocab_size: int, memory_size: int = 50, sentence_len: int = 8, hidden_size: int = 20,
                 hops: int = 3, tying: str = "adjacent", position_encoding: bool = True,
                 temporal_encoding: bool = True, linear_start: int = 0, random_noise: float = 0.1,
                 init_std: float = 0.1) -> None:
        super().__init__()
        for name, value, low in (("vocab_size", vocab_size, 2), ("memory_size", memory_size, 1),
                                 ("sentence_len", sentence_len, 1), ("hidden_size", hidden_size, 1),
                                 ("hops", hops, 1), ("linear_start", linear_start, 0)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise ValueError(f"{name}: expected an int >= {low}, got {value!r}")
        if not 0.0 <= random_noise < 1.0:
            raise ValueError(f"random_noise: expected a probability in [0, 1), got {random_noise!r}")
        self.vocab_size, self.memory_size, self.sentence_len = vocab_size, memory_size, sentence_len
        self.hidden_size, self.linear_start, self.random_noise = hidden_size, linear_start, random_noise
        # RN shifts temporal indices beyond M: room for twice the expected shift, the rest clamped
        self.time_rows = memory_size + max(1, int(2 * random_noise * memory_size) + 1)
        self.hops = MemoryHops(vocab_size, hidden_size, hops, self.time_rows, tying=tying,
                               position_encoding=position_encoding, temporal_encoding=temporal_encoding,
                               init_std=init_std)
        if tying == "layerwise":
            self.B = nn.Parameter(torch.randn(1, vocab_size, hidden_size) * init_std)
            self.W = nn.Linear(hidden_size, vocab_size, bias=False)
            nn.init.normal_(self.W.weight, std=init_std)
        self.register_buffer("trained_batches", torch.zeros((), dtype=torch.long))

    @property
    def linear(self) -> bool:
        """Whether linear start is in force (fewer than ``linear_start`` training batches seen)."""
        return int(self.trained_batches) < self.linear_start

    def temporal_index(self, lengths: Tensor, slots: int) -> Tensor:
        """``(B, M)`` int64: ``n - 1 - slot`` for the facts (0 = the most recent), 0 for empty slots; in training
        with RN, plus the number of empty memories drawn between each fact and the question."""
        slot = torch.arange(slots, device=lengths.device)
        valid = slot < lengths[:, None]
        time = torch.where(valid, lengths[:, None] - 1 - slot, torch.zeros_like(slot))
        if self.training and self.random_noise > 0:
            empty = (torch.rand(valid.shape, device=lengths.device) < self.random_noise) & valid
            time = time + empty.flip(1).long().cumsum(1).flip(1)  # empties after (more recent than) each fact
        return torch.where(valid, time.clamp(max=self.time_rows - 1), torch.zeros_like(time))

    def forward(self, x: BabiInput) -> Tensor:
        """Answer logits ``(B, V)`` (eq (3) before its softmax)."""
        story, lengths, question = x.story, x.story_lengths, x.question
        if story.dim() != 3 or story.dtype != torch.long or question.shape != (story.shape[0], story.shape[2]):
            raise ValueError(f"x: expected story int64 (B, M, L) and question (B, L), got {tuple(story.shape)} "
                             f"{story.dtype} and {tuple(question.shape)}")
        if story.shape[1] > self.memory_size:
            raise ValueError(f"x.story: {story.shape[1]} memory slots, more than memory_size={self.memory_size}")
        if lengths.shape != (story.shape[0],) or lengths.dtype != torch.long:
            raise ValueError(f"x.story_lengths: expected int64 of shape ({story.shape[0]},), got {lengths.dtype} "
                             f"{tuple(lengths.shape)}")
        if bool(((lengths < 0) | (lengths > story.shape[1])).any()):
            raise ValueError(f"x.story_lengths: expected values in [0, {story.shape[1]}] (the story's memory slots), "
                             f"got {lengths.tolist()}")
        vocab = self.hops.embed.shape[1]  # every embedding (A, C, B) has the same vocabulary
        for field, ids in (("story", story), ("question", question)):
            if ids.numel() and bool(((ids < 0) | (ids >= vocab)).any()):
                raise ValueError(f"x.{field}: expected word ids in [0, {vocab}), got values in "
                                 f"[{int(ids.min())}, {int(ids.max())}]")
        linear = self.linear
        if self.training and torch.is_grad_enabled():  # a training forward (not a plot or a no-grad check)
            self.trained_batches += 1
        B = story.shape[0]
        mask = torch.arange(story.shape[1], device=story.device) < lengths[:, None]
        context = MemoryContext(story, mask, self.temporal_index(lengths, story.shape[1]),
                                torch.tensor(linear, device=story.device))
        if self.hops.tying == "adjacent":
            u1 = self.hops.sentence(self.hops.embed[:1], question)[0]  # B = A^1 = E_0
        else:
            u1 = self.hops.sentence(self.B, question)[0]
        state = HopState(u1, torch.zeros(B, dtype=torch.long, device=story.device))
        final = run(self.hops, None, state=state, context=context, steps=self.hops.hops).state
        if self.hops.tying == "adjacent":
            return final.u @ self.hops.embed[-1].T  # W^T = C^K = E_K
        return self.W(final.u)

    # cpu: example data drawn from a seeded CPU generator (the same draw on every device)
    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> BabiInput:
        """Random stories of 1..M facts of 1..L words (ids 1..V-1) and questions, on the model's device."""
        g = generator
        M, L, V = self.memory_size, self.sentence_len, self.vocab_size
        lengths = torch.randint(1, M + 1, (batch_size,), generator=g)
        n_words = torch.randint(1, L + 1, (batch_size, M), generator=g)
        ids = torch.randint(1, V, (batch_size, M, L), generator=g)
        keep = (torch.arange(L) < n_words[..., None]) & (torch.arange(M) < lengths[:, None])[..., None]
        story = ids * keep
        q_len = torch.randint(1, L + 1, (batch_size,), generator=g)
        question = torch.randint(1, V, (batch_size, L), generator=g) * (torch.arange(L) < q_len[:, None])
        words, word_lengths, ends = flatten_story(story, lengths)
        dev = self.device
        return BabiInput(*(t.to(dev) for t in (story, lengths, question, q_len, words, word_lengths, ends)))
