r"""Match-LSTM for entailment (Wang & Jiang 2016, arXiv:1512.08849), and a sentence-encoding LSTM baseline.

**match_lstm** (Wang & Jiang 2016, "Learning natural language inference with LSTM", NAACL, arXiv:1512.08849,
section 2; 001 section 4.8). Two LSTMs read the premise and the hypothesis (``h_s`` ``(B, S, H)``, ``h_t``
``(B, N, H)``); a *match* LSTM then reads the hypothesis word by word, attending over the premise at every word with
a score that also sees its own previous state::

    e_kj     = w^T tanh(W^s h^s_j + W^t h^t_k + W^m h^m_{k-1})              # the attention score
    alpha_kj = exp(e_kj) / sum_j' exp(e_kj')   over VALID premise words j   # padding at -inf: weight exactly 0
    a_k      = sum_j alpha_kj h^s_j                                         # the attended premise
    m_k      = [a_k; h^t_k]                                                 # the match LSTM's input
    h^m_k    = LSTM(m_k, h^m_{k-1})                                         # LSTMCell, torch's gate order
    p(y)     = softmax(W_out h^m_N + b)                                     # h^m_N at each hypothesis's last word

(Wang & Jiang section 2, eqs (1)-(6); in the code ``Attention("additive")`` with ``w_key`` = W^s, ``w_query`` =
``[W^t | W^m]`` applied to ``[h^t_k; h^m_{k-1}]``, ``v`` = w.)
The match LSTM is :class:`MatchCell`, run by ``rnnzoo.run`` over the hypothesis with the premise as its context
(``prepare`` computes ``W^s h^s_j`` once per run); it reports ``alpha`` (``(B, S)`` per step, kind "attention").

**sentence_lstm** (the baseline the paper compares with: Bowman, Angeli, Potts & Manning 2015, arXiv:1508.05326,
section 3.1, with the matching features of Mou et al. 2016, arXiv:1512.08422): one LSTM encodes each sentence
separately to its last valid state, ``u`` (premise) and ``v`` (hypothesis), and
``p(y) = softmax(W_2 tanh(W_1 [u; v; |u - v|; u * v] + b_1) + b_2)``.

Shapes: :class:`SentencePair` ``premise`` int64 ``(B, S)``, ``premise_lengths`` int64 ``(B,)``, ``hypothesis``
``(B, N)``, ``hypothesis_lengths`` ``(B,)`` (ids past a length are ignored; 0 is the padding id by convention);
both models return :class:`PairOutput` with ``logits`` ``(B, C)``.

**Deviations.** The equations are written from section 2 of the paper as RESEARCH.md quotes it; the per-line
equation numbers of the paper were not at hand, so lines are named by what they compute.
The paper starts from pretrained GloVe word vectors; here the
embeddings are learned from scratch (the entailment task here is synthetic, ``babi_entailment``). RESEARCH.md's form
of the score has a bias ``b`` inside the tanh; the shared :class:`~rnnzoo.attention.Attention` additive form has
none (a difference in capacity only: one vector of A parameters). The premise and the hypothesis LSTMs are separate
(``shared_encoder=False``), as the paper's two LSTMs; ``shared_encoder=True`` ties them.
The baseline's features ``[u; v; |u-v|; u*v]`` are Mou et al.'s, stronger than Bowman et al.'s plain ``[u; v]``.

>>> import torch, rnnzoo
>>> model = rnnzoo.create("match_lstm", vocab_size=20, hidden_size=8)
>>> x = model.example_input(2, generator=torch.Generator().manual_seed(0))
>>> model(x).logits.shape
torch.Size([2, 3])
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.attention import Attention, check_key_mask
from rnnzoo.cells.lstm import LSTMCell, LSTMState
from rnnzoo.core.cell import Cell
from rnnzoo.core.checks import positive_int
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.registry import FastPath, InputKind, ModelKind, Paper, register
from rnnzoo.core.runner import lengths_to_mask, run
from rnnzoo.core.spec import TensorSpec

__all__ = ["MatchCell", "MatchLSTM", "PairOutput", "SentenceLSTM", "SentencePair", "check_pair"]


class SentencePair(NamedTuple):
    """premise: int64 (B, S); premise_lengths: int64 (B,); hypothesis: int64 (B, N); hypothesis_lengths: (B,)."""

    premise: Tensor
    premise_lengths: Tensor
    hypothesis: Tensor
    hypothesis_lengths: Tensor


class PairOutput(NamedTuple):
    """logits: (B, C), the unnormalised class scores (entailment, neutral, contradiction for babi_entailment)."""

    logits: Tensor


def check_pair(x: Any, vocab_size: int) -> SentencePair:
    """Raise unless ``x`` is a :class:`SentencePair` of consistent int64 tensors with ids in ``[0, vocab_size)``."""
    if not isinstance(x, SentencePair):
        raise TypeError(f"x: expected a SentencePair(premise, premise_lengths, hypothesis, hypothesis_lengths), "
                        f"got {type(x).__name__}")
    batch = None
    for side in ("premise", "hypothesis"):
        ids, lens = getattr(x, side), getattr(x, f"{side}_lengths")
        if not isinstance(ids, Tensor) or ids.dtype != torch.long or ids.dim() != 2:
            got = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, Tensor) else type(ids).__name__
            raise ValueError(f"x.{side}: expected int64 ids of shape (B, T), got {got}")
        batch = ids.shape[0] if batch is None else batch
        if ids.shape[0] != batch:
            raise ValueError(f"x.{side}: expected batch {batch} (the premise's), got {ids.shape[0]}")
        if not isinstance(lens, Tensor) or lens.dtype != torch.long or tuple(lens.shape) != (batch,):
            got = f"{lens.dtype} {tuple(lens.shape)}" if isinstance(lens, Tensor) else type(lens).__name__
            raise ValueError(f"x.{side}_lengths: expected int64 of shape ({batch},), got {got}")
        if bool((lens < 1).any()) or bool((lens > ids.shape[1]).any()):
            raise ValueError(f"x.{side}_lengths: expected lengths in [1, {ids.shape[1]}], got {lens.tolist()}")
        if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab_size):
            raise ValueError(f"x.{side}: expected ids in [0, {vocab_size}), got [{int(ids.min())}, {int(ids.max())}]")
    return x


# cpu: example data drawn from a seeded CPU generator (the same draw on every device)
def random_pair(batch_size: int, vocab_size: int, premise_len: int, hypothesis_len: int, device: torch.device,
                generator: torch.Generator | None) -> SentencePair:
    """A random :class:`SentencePair` with lengths in ``[1, max]`` and padding id 0 past each length."""
    parts = []
    for length in (premise_len, hypothesis_len):
        lens = torch.randint(1, length + 1, (batch_size,), generator=generator)
        lens[0] = length  # one full-length row, so the padded width is the maximum
        ids = torch.randint(1, vocab_size, (batch_size, length), generator=generator)
        ids = ids.masked_fill(~lengths_to_mask(lens, length), 0)
        parts += [ids.to(device), lens.to(device)]
    return SentencePair(*parts)


class MatchCell(Cell):
    r"""The match LSTM of Wang & Jiang 2016 (arXiv:1512.08849) section 2: one hypothesis word per step.

    Input ``h^t_k`` ``(B, H)``; context (``rnnzoo.run(..., context=(h_s, mask))``): the premise encodings ``h_s``
    ``(B, S, H)`` and their validity ``mask`` ``(B, S)`` bool. State :class:`~rnnzoo.cells.lstm.LSTMState`
    ``(h^m, c^m)``, each ``(B, H)``; output ``h^m_k``. Parameters: ``attention`` (``w_key`` = W^s, ``w_query`` =
    ``[W^t | W^m]`` ``(H, 2H)``, ``v`` = w) and ``lstm`` (an :class:`~rnnzoo.cells.lstm.LSTMCell` of input 2H).
    """

    def __init__(self, input_size: int, hidden_size: int) -> None:
        super().__init__()
        positive_int("input_size", input_size)
        positive_int("hidden_size", hidden_size)
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.attention = Attention("additive", query_size=input_size + hidden_size, key_size=input_size,
                                   hidden_size=hidden_size)
        self.lstm = LSTMCell(2 * input_size, hidden_size)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> LSTMState:
        spec = TensorSpec((batch_size, self.hidden_size))
        return LSTMState(spec, spec)

    def prepare(self, context: Any, batch_size: int, **kwargs: Any) -> tuple[Tensor, Tensor, Tensor]:
        if not isinstance(context, tuple) or len(context) != 2:
            raise TypeError(f"context: MatchCell expects (premise encodings (B, S, {self.input_size}), mask (B, S)), "
                            f"got {type(context).__name__}")
        h_s, mask = context
        if h_s.dim() != 3 or h_s.shape[0] != batch_size or h_s.shape[2] != self.input_size:
            raise ValueError(f"context: expected premise encodings of shape ({batch_size}, S, {self.input_size}), "
                             f"got {tuple(h_s.shape)}")
        check_key_mask(mask, batch_size, h_s.shape[1])
        return self.attention.precompute(h_s), h_s, mask  # W^s h^s_j once per run

    def step(self, u_t: Tensor, state: LSTMState, prepared: tuple[Tensor, Tensor, Tensor]
             ) -> tuple[Tensor, LSTMState]:
        projected, h_s, mask = prepared
        query = torch.cat([u_t, state.h], -1)  # [h^t_k; h^m_{k-1}]: W^t h^t_k + W^m h^m_{k-1} in one product
        a_k, alpha = self.attention.attend(query, projected, h_s, mask)  # e_kj, alpha_kj, a_k
        self.report("alpha", alpha, kind="attention")
        m_k = torch.cat([a_k, u_t], -1)  # m_k
        return self.lstm.step(self.lstm.project(m_k), state)  # h^m_k


class _PairModel(StructuredModel):
    """Shared parts: sizes, the embedding, input checks, random examples."""

    def __init__(self, vocab_size: int, hidden_size: int, embedding_size: int | None, num_classes: int,
                 dropout: float) -> None:
        super().__init__()
        positive_int("vocab_size", vocab_size)
        positive_int("hidden_size", hidden_size)
        positive_int("num_classes", num_classes)
        if vocab_size < 2:
            raise ValueError(f"vocab_size: expected at least 2 (id 0 is padding), got {vocab_size}")
        embedding_size = hidden_size if embedding_size is None else positive_int("embedding_size", embedding_size)
        if not 0.0 <= float(dropout) < 1.0:
            raise ValueError(f"dropout: expected a probability in [0, 1), got {dropout!r}")
        self.vocab_size, self.hidden_size, self.embedding_size = vocab_size, hidden_size, embedding_size
        self.num_classes = num_classes
        self.embedding = nn.Embedding(vocab_size, embedding_size)
        self.dropout = nn.Dropout(dropout)

    def encode(self, cell: LSTMCell, ids: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor]:
        """``(outputs (B, T, H), last valid hidden state (B, H))`` of ``cell`` over the embedded ``ids``."""
        out = run(cell, self.dropout(self.embedding(ids)), lengths=lengths.cpu())
        return out.output, out.state.h

    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> SentencePair:
        return random_pair(batch_size, self.vocab_size, 7, 5, self.device, generator)


class MatchLSTM(_PairModel):
    """Match-LSTM (Wang & Jiang 2016, arXiv:1512.08849); equations in the module docstring.

    Args (keyword-only): vocab_size: V, including the padding id 0. hidden_size: H of the three LSTMs (the paper:
    150 or 300). embedding_size: E (default H). num_classes: C (3). dropout: on the embeddings and on ``h^m_N``
    before the classifier. shared_encoder: one LSTM for premise and hypothesis (default False, the paper's two).
    """

    def __init__(self, *, vocab_size: int, hidden_size: int, embedding_size: int | None = None, num_classes: int = 3,
                 dropout: float = 0.0, shared_encoder: bool = False) -> None:
        super().__init__(vocab_size, hidden_size, embedding_size, num_classes, dropout)
        self.premise_lstm = LSTMCell(self.embedding_size, hidden_size)
        self.hypothesis_lstm = self.premise_lstm if shared_encoder else LSTMCell(self.embedding_size, hidden_size)
        self.match = MatchCell(hidden_size, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, x: SentencePair) -> PairOutput:
        check_pair(x, self.vocab_size)
        h_s, _ = self.encode(self.premise_lstm, x.premise, x.premise_lengths)
        h_t, _ = self.encode(self.hypothesis_lstm, x.hypothesis, x.hypothesis_lengths)
        mask = lengths_to_mask(x.premise_lengths.to(h_s.device), h_s.shape[1])
        final = run(self.match, h_t, lengths=x.hypothesis_lengths.cpu(), context=(h_s, mask)).state
        return PairOutput(self.classifier(self.dropout(final.h)))  # p(y): h^m_N at the last valid word


class SentenceLSTM(_PairModel):
    """Sentence-encoding LSTM baseline (Bowman et al. 2015, arXiv:1508.05326; features of Mou et al. 2016).

    Args (keyword-only): vocab_size, hidden_size (H of the LSTM and of the tanh layer), embedding_size (default H),
    num_classes (3), dropout (on the embeddings and the features).
    """

    def __init__(self, *, vocab_size: int, hidden_size: int, embedding_size: int | None = None, num_classes: int = 3,
                 dropout: float = 0.0) -> None:
        super().__init__(vocab_size, hidden_size, embedding_size, num_classes, dropout)
        self.encoder = LSTMCell(self.embedding_size, hidden_size)
        self.hidden = nn.Linear(4 * hidden_size, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_classes)

    def forward(self, x: SentencePair) -> PairOutput:
        check_pair(x, self.vocab_size)
        _, u = self.encode(self.encoder, x.premise, x.premise_lengths)
        _, v = self.encode(self.encoder, x.hypothesis, x.hypothesis_lengths)
        features = torch.cat([u, v, (u - v).abs(), u * v], -1)
        return PairOutput(self.classifier(torch.tanh(self.hidden(self.dropout(features)))))


_COMMON = dict(kind=ModelKind.MODEL, input_kind=InputKind.SENTENCE_PAIR, causal=False, chunkable=False,
               bidirectional_ok=False, unbatched=False, gated=True, fast_path=FastPath.NONE)
register("match_lstm", paper=Paper("Wang & Jiang", 2016, "Learning natural language inference with LSTM",
                                   "1512.08849"),
         seed_equations="001 section 4.8; Wang & Jiang eqs (1)-(6)",
         description="Word-by-word attention over the premise (scores see the previous match state) feeding an LSTM",
         test_options={"vocab_size": 11, "hidden_size": 5}, **_COMMON)(MatchLSTM)
register("sentence_lstm", paper=Paper("Bowman, Angeli, Potts & Manning", 2015,
                                      "A large annotated corpus for learning natural language inference", "1508.05326"),
         seed_equations="001 eqs (16)-(20) (the LSTM encoder)",
         description="Entailment baseline: each sentence encoded alone by one LSTM, classify [u; v; |u-v|; u*v]",
         test_options={"vocab_size": 11, "hidden_size": 5}, **_COMMON)(SentenceLSTM)
