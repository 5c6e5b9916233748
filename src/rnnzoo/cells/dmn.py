r"""Dynamic memory network (Kumar, Irsoy, Ondruska, Iyyer, Bradbury, Gulrajani, Zhong, Paulus & Socher 2016,
"Ask me anything: dynamic memory networks for natural language processing", ICML, arXiv:1506.07285, section 2).

Four modules, every recurrence a cell run by ``rnnzoo.run``:

* **input module** (section 2.1): one GRU over the story's words (``BabiInput.words``, all kept facts in order);
  the facts are its hidden states at the sentence ends, ``c_t = h_{end(t)}`` (``sentence_ends``, one batched gather);
* **question module** (2.2): the same embedding and GRU over the question, ``q = h_{T_Q}``;
* **episodic memory** (2.3), ``m^0 = q`` and ``passes`` passes (a run without input, ``steps=passes``, of
  :class:`MemoryCell` with the facts as context). In pass i, for every fact at once::

      z(c, m, q) = [c, m, q, c*q, c*m, |c - q|, |c - m|, c^T W_b q, c^T W_b m]    # eq (6)'s feature vector
      G(c, m, q) = sigmoid(W_2 tanh(W_1 z + b_1) + b_2)                            # eq (6), g^i_t = G(c_t, m^{i-1}, q)

  then the episode, :class:`EpisodeCell` run over the facts with ``(c_t, g^i_t)`` as its per-step input::

      h^i_t = g^i_t GRU(c_t, h^i_{t-1}) + (1 - g^i_t) h^i_{t-1},   h^i_0 = 0          # eq (7)
      e^i   = h^i_{T_C}                                                           # eq (8), the last valid fact
      m^i   = GRU(e^i, m^{i-1})                                                   # the memory update

* **answer module** (2.4), :class:`AnswerCell` run without input for ``answer_steps`` (1 for bAbI's one-word
  answers, as the paper does)::

      a_0 = m^{passes};  y_t = softmax(W_a a_t);  a_t = GRU([y_{t-1}; q], a_{t-1})          # eqs (9)-(10)

  The logits ``W_a a_t`` of each step are the output (``y_0 = softmax(W_a a_0)`` starts the recurrence).

**Supervision** (section 2.4): the answer's cross-entropy, and, on data with supporting facts (bAbI), the
cross-entropy of the gates: :func:`gate_loss` (``DMNOutput.gate_logits`` against ``BabiTarget.supports``: pass i
is trained to select the i-th supporting fact, later passes the last one; binary cross-entropy of each sigmoid
gate over the valid facts). ``gate_supervision=True`` records that a model is meant to be trained with it
(``DMNOutput.supervise``, read by :func:`dmn_loss`); the task ``babi_dmn`` (:mod:`rnnzoo.tasks.entailment`), the
``babi`` task with the supporting facts given to the loss, applies it.

Shapes: input :class:`rnnzoo.data.babi.BabiInput` (``words`` int64 ``(B, W)``, ``word_lengths`` ``(B,)``,
``sentence_ends`` ``(B, M)`` with -1 for an empty slot, ``story_lengths`` ``(B,)`` facts, ``question`` ``(B, L)``,
``question_lengths`` ``(B,)``; ``story`` is not read). Output :class:`DMNOutput`: ``logits`` ``(B, V)`` (the first
answer step; ``answer_logits`` ``(B, answer_steps, V)``), ``gate_logits`` ``(B, passes, M)``, ``fact_mask``
``(B, M)``. The gates are reported per pass as ``"gates"`` (``(B, M)``, kind ``"attention"``, 0 on empty slots).

**Deviations.** The GRUs are torch's form (:class:`~rnnzoo.cells.gru.GRUCell`, ``reset="after"``): the paper's
``tanh(W x + r * U h + b)`` with torch's extra bias ``b_hn`` inside the reset product. The number of passes is fixed
(``passes``, default 3); the paper's end-of-passes marker (a special fact whose selection stops the passes) is not
implemented. Embeddings are learned (the paper starts from GloVe). ``gate="softmax"`` is DMN+'s attention
(Xiong, Merity & Socher 2016, arXiv:1603.01417, section 3.3) kept as an option: ``g`` a softmax over the valid facts
(its supervision a cross-entropy over the facts); DMN+'s input fusion layer and attention-GRU are not implemented.
The paper says the gates are trained by a cross-entropy on the supporting facts; which pass targets which fact is
our reading (pass i the i-th listed supporting fact). Equation numbers (6)-(7) are the paper's as RESEARCH.md and
the issue quote them; (8)-(10) for the episode's end, the memory update and the answer module were not checked
against the paper's text.

>>> import torch, rnnzoo
>>> model = rnnzoo.create("dmn", vocab_size=20, hidden_size=8)
>>> x = model.example_input(2, generator=torch.Generator().manual_seed(0))
>>> out = model(x)
>>> out.logits.shape, out.gate_logits.shape
(torch.Size([2, 20]), torch.Size([2, 3, 4]))
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.attention import masked_softmax
from rnnzoo.cells.gru import GRUCell, GRUState
from rnnzoo.core.cell import Cell
from rnnzoo.core.checks import positive_int
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.registry import FastPath, InputKind, ModelKind, Paper, register
from rnnzoo.core.runner import lengths_to_mask, run
from rnnzoo.core.spec import TensorSpec
from rnnzoo.data.babi import BabiInput

__all__ = ["DMN", "AnswerCell", "DMNOutput", "EpisodeCell", "MemoryCell", "dmn_loss", "gate_features", "gate_loss",
           "supervision_loss"]

GATES = ("sigmoid", "softmax")


class DMNOutput(NamedTuple):
    """logits (B, V); answer_logits (B, steps, V); gate_logits (B, passes, M); fact_mask (B, M) bool;
    supervise (B,) float, the gate supervision the model was built for (read by :func:`dmn_loss`): 0 none
    (``gate_supervision=False``), 1 sigmoid gates (binary cross-entropy), 2 softmax gates (cross-entropy)."""

    logits: Tensor
    answer_logits: Tensor
    gate_logits: Tensor
    fact_mask: Tensor
    supervise: Tensor


def gate_features(c: Tensor, m: Tensor, q: Tensor, w_b: Tensor) -> Tensor:
    """Eq (6)'s ``z(c, m, q) = [c, m, q, c*q, c*m, |c-q|, |c-m|, c^T W_b q, c^T W_b m]``: c ``(B, M, H)``,
    m and q ``(B, H)``, w_b ``(H, H)`` -> ``(B, M, 7H + 2)``."""
    m_, q_ = m.unsqueeze(1).expand_as(c), q.unsqueeze(1).expand_as(c)
    cw = c @ w_b
    return torch.cat([c, m_, q_, c * q_, c * m_, (c - q_).abs(), (c - m_).abs(),
                      (cw * q_).sum(-1, keepdim=True), (cw * m_).sum(-1, keepdim=True)], -1)


class EpisodeCell(Cell):
    """Eq (7): ``h_t = g_t GRU(c_t, h_{t-1}) + (1 - g_t) h_{t-1}``; per-step input the pair ``(c_t (B, H),
    g_t (B, 1))``; state :class:`~rnnzoo.cells.gru.GRUState` ``h`` ``(B, H)``."""

    def __init__(self, hidden_size: int) -> None:
        super().__init__()
        self.input_size = self.hidden_size = self.output_size = positive_int("hidden_size", hidden_size)
        self.gru = GRUCell(hidden_size, hidden_size)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> GRUState:
        return GRUState(TensorSpec((batch_size, self.hidden_size)))

    def check_input(self, x: Any, name: str = "x", *, batched_rank: int | None = None) -> None:
        if not (isinstance(x, tuple) and len(x) == 2 and all(isinstance(t, Tensor) for t in x)
                and x[0].shape[-1] == self.hidden_size and x[1].shape[-1] == 1):
            raise TypeError(f"{name}: expected the pair (facts (..., {self.hidden_size}), gates (..., 1)), "
                            f"got {type(x).__name__}")

    def project(self, x: tuple[Tensor, Tensor]) -> tuple[Tensor, Tensor]:
        c, g = x
        return self.gru.project(c), g

    def step(self, u_t: tuple[Tensor, Tensor], state: GRUState) -> tuple[Tensor, GRUState]:
        u, g = u_t
        h_gru, _ = self.gru.step(u, state)
        h = g * h_gru + (1.0 - g) * state.h
        return h, GRUState(h)


class MemoryCell(Cell):
    """One pass of the episodic memory (eqs (6)-(8)), run without input over ``steps=passes``.

    Context ``(c (B, M, H), fact_lengths (B,) int64, q (B, H))``; state :class:`~rnnzoo.cells.gru.GRUState`
    ``h = m^i`` ``(B, H)`` (start it at ``m^0 = q``). Reports the pass's gates ``(B, M)`` as ``"gates"``."""

    def __init__(self, hidden_size: int, gate_hidden: int, gate: str = "sigmoid") -> None:
        super().__init__()
        H = self.hidden_size = self.input_size = self.output_size = positive_int("hidden_size", hidden_size)
        positive_int("gate_hidden", gate_hidden)
        if gate not in GATES:
            raise ValueError(f"gate: expected one of {GATES}, got {gate!r}")
        self.gate = gate
        self.w_b = nn.Parameter(torch.empty(H, H))
        nn.init.uniform_(self.w_b, -H ** -0.5, H ** -0.5)
        self.gate_1 = nn.Linear(7 * H + 2, gate_hidden)  # W_1, b_1
        self.gate_2 = nn.Linear(gate_hidden, 1)  # W_2, b_2
        self.episode = EpisodeCell(H)
        self.memory = GRUCell(H, H)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> GRUState:
        return GRUState(TensorSpec((batch_size, self.hidden_size)))

    def gate_logits(self, c: Tensor, m: Tensor, q: Tensor) -> Tensor:
        """``W_2 tanh(W_1 z(c, m, q) + b_1) + b_2`` for every fact: ``(B, M)``."""
        return self.gate_2(torch.tanh(self.gate_1(gate_features(c, m, q, self.w_b)))).squeeze(-1)

    def gates(self, logits: Tensor, mask: Tensor) -> Tensor:
        """The gates ``g`` ``(B, M)`` from their logits: sigmoid (the paper) or softmax over valid facts (DMN+);
        0 on empty slots."""
        if self.gate == "softmax":
            return masked_softmax(logits, mask)
        return torch.sigmoid(logits) * mask

    def prepare(self, context: Any, batch_size: int, **kwargs: Any) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        if not isinstance(context, tuple) or len(context) != 3:
            raise TypeError("context: MemoryCell expects (facts (B, M, H), fact_lengths (B,), question (B, H)), "
                            f"got {type(context).__name__}")
        c, lengths, q = context
        if c.dim() != 3 or c.shape[0] != batch_size or c.shape[2] != self.hidden_size:
            raise ValueError(f"context: expected facts of shape ({batch_size}, M, {self.hidden_size}), "
                             f"got {tuple(c.shape)}")
        return c, lengths, q, lengths_to_mask(lengths.to(c.device), c.shape[1])

    def step(self, u_t: None, state: GRUState, prepared: tuple[Tensor, Tensor, Tensor, Tensor]
             ) -> tuple[Tensor, GRUState]:
        c, lengths, q, mask = prepared
        g = self.gates(self.gate_logits(c, state.h, q), mask)  # eq (6), every fact at once
        self.report("gates", g, kind="attention")
        e = run(self.episode, (c, g.unsqueeze(-1)), lengths=lengths).state.h  # eqs (7)-(8)
        _, m = self.memory.step(self.memory.project(e), state)  # m^i = GRU(e^i, m^{i-1})
        return m.h, m


class AnswerState(NamedTuple):
    """logits: (B, V) ``W_a a_t``; a: (B, H)."""

    logits: Tensor
    a: Tensor


class AnswerCell(Cell):
    """Eqs (9)-(10): ``a_t = GRU([softmax(logits_{t-1}); q], a_{t-1})``, ``logits_t = W_a a_t``; run without input,
    context ``q`` ``(B, H)``; state :class:`AnswerState`, started at ``(W_a m, m)``."""

    def __init__(self, hidden_size: int, vocab_size: int) -> None:
        super().__init__()
        self.hidden_size = self.input_size = positive_int("hidden_size", hidden_size)
        self.output_size = self.vocab_size = positive_int("vocab_size", vocab_size)
        self.gru = GRUCell(vocab_size + hidden_size, hidden_size)
        self.w_a = nn.Linear(hidden_size, vocab_size)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> AnswerState:
        return AnswerState(TensorSpec((batch_size, self.vocab_size)), TensorSpec((batch_size, self.hidden_size)))

    def start(self, m: Tensor) -> AnswerState:
        return AnswerState(self.w_a(m), m)

    def step(self, u_t: None, state: AnswerState, q: Tensor) -> tuple[Tensor, AnswerState]:
        y = torch.softmax(state.logits, -1)
        a = self.gru.step(self.gru.project(torch.cat([y, q], -1)), GRUState(state.a))[0]
        logits = self.w_a(a)
        return logits, AnswerState(logits, a)


class DMN(StructuredModel):
    """Dynamic memory network (Kumar et al. 2016, arXiv:1506.07285); equations in the module docstring.

    Args (keyword-only): vocab_size: V (answers share the story vocabulary; id 0 is padding). hidden_size: H of
    every GRU (the paper: 80 for bAbI). embedding_size: E (default H). passes: episodic memory passes (3).
    gate_hidden: width of eq (6)'s hidden layer (default H). gate: ``"sigmoid"`` (the paper) or ``"softmax"``
    (DMN+). answer_steps: answer GRU steps (1: one-word answers). dropout: on the embeddings.
    gate_supervision: train the gates on the supporting facts too (:func:`dmn_loss`; the task ``babi_dmn``
    applies it). memory_size, sentence_len: the sizes of :meth:`example_input` (facts and words per fact; the
    ``babi`` task passes its own; the model reads stories of any size).
    """

    def __init__(self, *, vocab_size: int, hidden_size: int, embedding_size: int | None = None, passes: int = 3,
                 gate_hidden: int | None = None, gate: str = "sigmoid", answer_steps: int = 1, dropout: float = 0.0,
                 gate_supervision: bool = False, memory_size: int | None = None,
                 sentence_len: int | None = None) -> None:
        super().__init__()
        self.memory_size = 4 if memory_size is None else positive_int("memory_size", memory_size)
        self.sentence_len = 3 if sentence_len is None else positive_int("sentence_len", sentence_len)
        positive_int("vocab_size", vocab_size)
        H = positive_int("hidden_size", hidden_size)
        self.passes = positive_int("passes", passes)
        self.answer_steps = positive_int("answer_steps", answer_steps)
        E = H if embedding_size is None else positive_int("embedding_size", embedding_size)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        if not isinstance(gate_supervision, bool):
            raise TypeError(f"gate_supervision: expected a bool, got {gate_supervision!r}")
        self.vocab_size, self.hidden_size, self.gate_supervision = vocab_size, H, gate_supervision
        self.embedding = nn.Embedding(vocab_size, E)
        self.dropout = nn.Dropout(dropout)
        self.input_gru = GRUCell(E, H)  # the input and question modules' shared GRU
        self.memory = MemoryCell(H, H if gate_hidden is None else gate_hidden, gate)
        self.answer = AnswerCell(H, vocab_size)

    def check(self, x: Any) -> BabiInput:
        if not isinstance(x, BabiInput):
            raise TypeError(f"x: expected a rnnzoo.data.babi.BabiInput, got {type(x).__name__}")
        B = x.words.shape[0]
        for name in ("words", "question", "sentence_ends"):
            t = getattr(x, name)
            if t.dtype != torch.long or t.dim() != 2 or t.shape[0] != B:
                raise ValueError(f"x.{name}: expected int64 of shape ({B}, N), got {t.dtype} {tuple(t.shape)}")
        for name, top in (("word_lengths", x.words.shape[1]), ("question_lengths", x.question.shape[1]),
                          ("story_lengths", x.sentence_ends.shape[1])):
            t = getattr(x, name)
            if t.dtype != torch.long or tuple(t.shape) != (B,) or bool((t < 1).any()) or bool((t > top).any()):
                raise ValueError(f"x.{name}: expected int64 ({B},) in [1, {top}], got {t.dtype} {t.tolist()}")
        for name in ("words", "question"):
            t = getattr(x, name)
            if t.numel() and (int(t.min()) < 0 or int(t.max()) >= self.vocab_size):
                raise ValueError(f"x.{name}: expected ids in [0, {self.vocab_size}), got [{int(t.min())}, "
                                 f"{int(t.max())}]")
        valid = lengths_to_mask(x.story_lengths, x.sentence_ends.shape[1])
        ends = x.sentence_ends
        if bool(((ends < 0) & valid).any()) or bool(((ends >= x.word_lengths.unsqueeze(1)) & valid).any()):
            raise ValueError("x.sentence_ends: expected a position in [0, word_lengths) for each of the "
                             "story_lengths facts, got -1 or a position past the story's words")
        return x

    def forward(self, x: BabiInput) -> DMNOutput:
        self.check(x)
        words = run(self.input_gru, self.dropout(self.embedding(x.words)), lengths=x.word_lengths).output
        fact_mask = lengths_to_mask(x.story_lengths.to(words.device), x.sentence_ends.shape[1])
        index = x.sentence_ends.clamp(min=0).unsqueeze(-1).expand(-1, -1, self.hidden_size)
        c = words.gather(1, index) * fact_mask.unsqueeze(-1)  # c_t = h at each sentence end (0 on empty slots)
        q = run(self.input_gru, self.dropout(self.embedding(x.question)), lengths=x.question_lengths).state.h
        passes = run(self.memory, None, GRUState(q), steps=self.passes, context=(c, x.story_lengths, q),
                     return_states=True)
        # the gate logits of every pass for the output (the supervision's input): recomputed from the memories the
        # run returns, since a state cannot hold (B, M) tensors whose M only the context knows; one batched product
        m_before = torch.cat([q.unsqueeze(1), passes.states.h[:, :-1]], 1)  # m^0 .. m^{passes-1}
        gate_logits = torch.stack([self.memory.gate_logits(c, m_before[:, i], q) for i in range(self.passes)], 1)
        answer = run(self.answer, None, self.answer.start(passes.state.h), steps=self.answer_steps, context=q)
        code = (1.0 if self.memory.gate == "sigmoid" else 2.0) if self.gate_supervision else 0.0
        supervise = torch.full((c.shape[0],), code, dtype=c.dtype, device=c.device)
        return DMNOutput(answer.output[:, 0], answer.output, gate_logits, fact_mask, supervise)

    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> BabiInput:
        return random_babi_input(batch_size, self.vocab_size, facts=self.memory_size, words=self.sentence_len,
                                 generator=generator, device=self.device)


# cpu: example data drawn from a seeded CPU generator (the same draw on every device)
def random_babi_input(batch_size: int, vocab_size: int, *, facts: int, words: int,
                      generator: torch.Generator | None = None, device: torch.device | None = None) -> BabiInput:
    """A random :class:`~rnnzoo.data.babi.BabiInput`: 1..``facts`` facts of 1..``words`` words each."""
    n_facts = torch.randint(1, facts + 1, (batch_size,), generator=generator)
    n_facts[0] = facts
    fact_len = torch.randint(1, words + 1, (batch_size, facts), generator=generator)
    fact_len = fact_len * lengths_to_mask(n_facts, facts)
    word_lengths = fact_len.sum(1)
    W = int(word_lengths.max())
    flat = torch.randint(1, vocab_size, (batch_size, W), generator=generator)
    flat = flat * lengths_to_mask(word_lengths, W)
    ends = torch.where(fact_len > 0, fact_len.cumsum(1) - 1, torch.full_like(fact_len, -1))
    story = torch.zeros(batch_size, facts, words, dtype=torch.long)  # not read by the DMN
    q_len = torch.randint(1, words + 1, (batch_size,), generator=generator)
    q_len[0] = words
    question = torch.randint(1, vocab_size, (batch_size, words), generator=generator) * lengths_to_mask(q_len, words)
    parts = BabiInput(story, n_facts, question, q_len, flat, word_lengths, ends)
    return BabiInput(*[t.to(device) for t in parts]) if device is not None else parts


def gate_loss(output: DMNOutput, supports: Tensor, gate: str = "sigmoid") -> Tensor:
    """The supporting-fact cross-entropy of the gates (Kumar et al. section 2.4), a mean over the examples with a
    supporting fact in memory: pass i's target is ``supports[:, i]`` (the last valid one for later passes).
    ``supports`` int64 ``(B, S)``: memory slots, -1 padding. Sigmoid gates: binary cross-entropy over the valid
    facts; softmax gates: cross-entropy over them."""
    logits, mask = output.gate_logits, output.fact_mask
    B, K, M = logits.shape
    if supports.dtype != torch.long or supports.dim() != 2 or supports.shape[0] != B:
        raise ValueError(f"supports: expected int64 of shape ({B}, S), got {supports.dtype} {tuple(supports.shape)}")
    n = (supports >= 0).sum(1)  # supports are left-aligned
    has = n > 0
    col = torch.minimum(torch.arange(K, device=supports.device).unsqueeze(0), (n - 1).clamp(min=0).unsqueeze(1))
    target = supports.gather(1, col.clamp(max=supports.shape[1] - 1)).clamp(min=0)  # (B, K)
    if gate == "softmax":
        logp = logits.masked_fill(~mask.unsqueeze(1), float("-inf")).log_softmax(-1)
        per = -logp.gather(2, target.unsqueeze(-1)).squeeze(-1).mean(1)
    else:
        onehot = F.one_hot(target, M).to(logits.dtype)
        bce = F.binary_cross_entropy_with_logits(logits, onehot, reduction="none") * mask.unsqueeze(1)
        per = (bce.sum(-1) / mask.sum(-1, keepdim=True).clamp(min=1)).mean(1)
    return (per * has).sum() / has.sum().clamp(min=1)


def supervision_loss(output: Any, supports: Tensor) -> Tensor | None:
    """:func:`gate_loss` of a :class:`DMNOutput` whose model asked for it (``output.supervise``), else None."""
    code = getattr(output, "supervise", None)
    if not isinstance(output, DMNOutput) or code is None or not bool((code > 0).any()):
        return None
    return gate_loss(output, supports, "softmax" if bool((code == 2).any()) else "sigmoid")


def dmn_loss(output: DMNOutput, answer: Tensor, supports: Tensor | None = None) -> Tensor:
    """The answer's cross-entropy, plus :func:`gate_loss` where ``output.supervise`` asks for it and ``supports``
    are given (Kumar et al. section 2.4)."""
    loss = F.cross_entropy(output.logits, answer)
    extra = None if supports is None else supervision_loss(output, supports)
    return loss if extra is None else loss + extra


register("dmn", paper=Paper("Kumar, Irsoy, Ondruska, Iyyer, Bradbury, Gulrajani, Zhong, Paulus & Socher", 2016,
                            "Ask me anything: dynamic memory networks for natural language processing", "1506.07285"),
         seed_equations="003 (memory networks); Kumar et al. eqs (6)-(10)",
         description="Input GRU facts at sentence ends, episodic memory with eq (6)'s feature gate over passes, "
                     "answer GRU",
         kind=ModelKind.MODEL, input_kind=InputKind.STORY_QUESTION, causal=False, chunkable=False,
         bidirectional_ok=False, unbatched=False, gated=True, fast_path=FastPath.NONE,
         test_options={"vocab_size": 11, "hidden_size": 5})(DMN)
