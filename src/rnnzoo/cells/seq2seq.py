r"""``seq2seq``: an encoder-decoder over token sequences, with or without attention (any registered cells).

Without attention (Sutskever, Vinyals & Le 2014, arXiv:1409.3215; Cho et al. 2014, arXiv:1406.1078): the encoder
reads the source and its final state alone initialises the decoder (001 section 7: the fixed-length bottleneck).
With attention (Bahdanau, Cho & Bengio 2015, arXiv:1409.0473; Luong, Pham & Manning 2015, arXiv:1508.04025): the
decoder is an :class:`~rnnzoo.cells.attention_decoder.AttentionDecoderCell` whose context is every encoder output
``h_j`` and the source mask. In the code's names::

    h_j   = encoder(E_src x)_j                      # any registered cell; bidirectional: h_j = [h->_j; h<-_j]
    s_0   = tanh(W_s [h->_{S_b}; h<-_1])            # Bahdanau A.2.2: s_0 = tanh(W_s h<-_1); Cho: h' = tanh(V' c)
    o_t   = decoder(E_tgt y_{t-1}, s_{t-1} | h, mask)   # the decoder cell (attention or not) over the target-in ids
    p(y_t | y_<t, x) = softmax(W_out o_t)           # logits (B, T, V): teacher forcing (forward)

``s_0`` replaces the first field of the decoder cell's state (``h``; an LSTM's ``c`` starts at 0). ``w_s`` is
``bridge``; ``h->_{S_b}`` is the forward output at the last real source token of example b, ``h<-_1`` the backward
output at the first.

Input: :class:`Seq2SeqInput` ``(source (B, S) int64, source_lengths (B,), target (B, T) int64, target_lengths
(B,))``, where ``target`` is the decoder's input: the start token, then the reference shifted right (the task builds
it). Padding is ``pad`` on both sides; lengths count real tokens (the target's the start token included). Output:
logits ``(B, T, V)`` (rows past a target length are not meaningful: the loss masks them).
:meth:`Seq2Seq.generate` decodes greedily (``width=1``) or with beam search (:func:`rnnzoo.decode.beam_search`)
until the ``end`` token.

>>> import torch, rnnzoo
>>> _ = torch.manual_seed(0)
>>> model = rnnzoo.create("seq2seq", vocab_size=8, hidden_size=16, attention="additive")
>>> x = model.example_input(2, generator=torch.Generator().manual_seed(0))
>>> model(x).shape                                    # (B, T, V) teacher-forced logits
torch.Size([2, 5, 8])
>>> model.generate(x, width=3, max_steps=4).tokens.shape  # (B, W, <= max_steps)
torch.Size([2, 3, 4])

**Deviations.** ``s_0`` reads both directions' summaries where Bahdanau reads the backward one only (the same when
the encoder is one-directional up to which end: here the forward run's last output, Sutskever's and Cho's
choice). Sutskever et al. reverse the source and use 4-layer LSTMs; Cho et al. feed the summary ``c`` to every
decoder step too; neither is done here (options ``num_layers``, ``encoder``/``decoder`` cover the sizes). The
decoder is one cell (one layer). Bahdanau's maxout readout (A.2.2) is the option ``maxout_size``; by default
(None) the output layer reads the decoder's output directly (``W_out s_i``), the readout of Sutskever and Luong.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.attention import ATTENTION_KINDS
from rnnzoo.cells.attention_decoder import AttentionDecoderCell
from rnnzoo.core.cell import bind
from rnnzoo.core.factory import create
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.registry import InputKind, ModelKind, Paper, model_info, register
from rnnzoo.core.runner import run
from rnnzoo.decode import Beams, beam_search

__all__ = ["PAD", "START", "END", "Seq2Seq", "Seq2SeqInput"]

PAD, START, END = 0, 1, 2
"""The special token ids every seq2seq task of rnnzoo uses (symbols start at 3)."""


class Seq2SeqInput(NamedTuple):
    """source: int64 ``(B, S)``; source_lengths: int64 ``(B,)``; target: int64 ``(B, T)`` (the decoder's input,
    starting with the start token); target_lengths: int64 ``(B,)``."""

    source: Tensor
    source_lengths: Tensor
    target: Tensor
    target_lengths: Tensor


def _check_ids(name: str, ids: Tensor, lengths: Tensor, vocab: int, batch: int | None) -> None:
    if not isinstance(ids, Tensor) or ids.dtype != torch.long or ids.dim() != 2:
        got = f"{ids.dtype} {tuple(ids.shape)}" if isinstance(ids, Tensor) else type(ids).__name__
        raise ValueError(f"x.{name}: expected int64 ids of shape (B, L), got {got}")
    if batch is not None and ids.shape[0] != batch:
        raise ValueError(f"x.{name}: expected {batch} rows (the source's batch), got {ids.shape[0]}")
    if ids.numel() and (int(ids.min()) < 0 or int(ids.max()) >= vocab):
        raise ValueError(f"x.{name}: ids must lie in [0, {vocab}), got [{int(ids.min())}, {int(ids.max())}]")
    lname = f"{name}_lengths"
    if not isinstance(lengths, Tensor) or lengths.dtype != torch.long or tuple(lengths.shape) != (ids.shape[0],):
        got = f"{lengths.dtype} {tuple(lengths.shape)}" if isinstance(lengths, Tensor) else type(lengths).__name__
        raise ValueError(f"x.{lname}: expected int64 of shape ({ids.shape[0]},), got {got}")
    if lengths.numel() and (int(lengths.min()) < 1 or int(lengths.max()) > ids.shape[1]):
        raise ValueError(f"x.{lname}: expected lengths in [1, {ids.shape[1]}], got [{int(lengths.min())}, "
                         f"{int(lengths.max())}]")


class Seq2Seq(StructuredModel):
    """Encoder-decoder with optional attention (see the module docstring).

    Args (keyword only):
        vocab_size: V, the target vocabulary (special tokens included); source_vocab: the source's (default V).
        hidden_size: H per encoder direction and for the decoder. embedding_size: E (default H).
        encoder, decoder: registry names of the cells. bidirectional, num_layers: the encoder's.
        attention: None or ``"additive"``, ``"dot"``, ``"general"``, ``"concat"``. convention: ``"bahdanau"``
        or ``"luong"``. attention_size: additive/concat width (default H). maxout_size: Bahdanau's readout.
        encoder_options, decoder_options: the cells' own options. pad, start, end: the special ids.
    """

    def __init__(self, *, vocab_size: int, hidden_size: int, source_vocab: int | None = None,
                 embedding_size: int | None = None, encoder: str = "gru", decoder: str = "gru",
                 bidirectional: bool = False, num_layers: int = 1, attention: str | None = None,
                 convention: str = "bahdanau", attention_size: int | None = None, maxout_size: int | None = None,
                 encoder_options: dict[str, Any] | None = None, decoder_options: dict[str, Any] | None = None,
                 pad: int = PAD, start: int = START, end: int = END) -> None:
        super().__init__()
        for name, value in (("vocab_size", vocab_size), ("hidden_size", hidden_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if attention is not None and attention not in ATTENTION_KINDS:
            raise ValueError(f"attention: expected None or one of {ATTENTION_KINDS}, got {attention!r}")
        if attention is None and (maxout_size is not None or attention_size is not None):
            raise ValueError("maxout_size/attention_size: only with attention (got attention=None)")
        for name, value in (("pad", pad), ("start", start), ("end", end)):
            if not 0 <= value < vocab_size:
                raise ValueError(f"{name}: expected a token id in [0, {vocab_size}), got {value}")
        self.vocab_size, self.source_vocab = vocab_size, source_vocab or vocab_size
        self.hidden_size, self.attention_kind = hidden_size, attention
        self.pad, self.start, self.end = pad, start, end
        e = embedding_size or hidden_size
        self.embed_source = nn.Embedding(self.source_vocab, e)
        self.embed_target = nn.Embedding(vocab_size, e)
        self.encoder = create(encoder, e, hidden_size, num_layers=num_layers, bidirectional=bidirectional,
                                     **(encoder_options or {}))
        self.bidirectional = bidirectional
        k = self.encoder.output_size
        self.bridge = nn.Linear(k, hidden_size)  # W_s
        if attention is None:
            self.decoder = model_info(decoder).build(e, hidden_size, **(decoder_options or {}))
            if self.decoder.lookahead or not self.decoder.causal:
                raise ValueError(f"decoder: a decoder must be causal (it emits a token per step); {decoder!r} reads "
                                 f"{self.decoder.lookahead} future steps")
        else:
            self.decoder = AttentionDecoderCell(e, hidden_size, k, cell=decoder, attention=attention,
                                                convention=convention, attention_size=attention_size,
                                                maxout_size=maxout_size, cell_options=decoder_options)
        self.out = nn.Linear(self.decoder.output_size, vocab_size)

    # ------------------------------------------------------------------ encoder and decoder state

    def encode(self, source: Tensor, lengths: Tensor) -> tuple[Tensor, Tensor, Any]:
        """``(h (B, S, K), mask (B, S), the decoder's initial state)``."""
        h, _ = self.encoder(self.embed_source(source), lengths=lengths)
        steps = torch.arange(source.shape[1], device=source.device)
        mask = steps.unsqueeze(0) < lengths.to(source.device).unsqueeze(1)
        last = h.gather(1, (lengths.to(h.device) - 1).view(-1, 1, 1).expand(-1, 1, h.shape[2])).squeeze(1)
        if self.bidirectional:  # [h->_{S_b}; h<-_1]
            half = h.shape[2] // 2
            summary = torch.cat([last[:, :half], h[:, 0, half:]], -1)
        else:
            summary = last
        s0 = torch.tanh(self.bridge(summary))
        state = self.decoder.initial_state(source.shape[0], device=h.device, dtype=h.dtype)
        inner = state.cell if self.attention_kind is not None else state
        if not isinstance(inner, tuple) or not hasattr(inner, "_fields") or tuple(inner[0].shape) != tuple(s0.shape):
            raise ValueError(f"decoder: its state's first field must be (B, {self.hidden_size}) to take s_0, got "
                             f"{type(inner).__name__}")
        inner = inner._replace(**{inner._fields[0]: s0})
        state = state._replace(cell=inner) if self.attention_kind is not None else inner
        return h, mask, state

    def _check(self, x: Any) -> None:
        if not isinstance(x, Seq2SeqInput):
            raise TypeError(f"x: expected a Seq2SeqInput, got {type(x).__name__}")
        _check_ids("source", x.source, x.source_lengths, self.source_vocab, None)
        _check_ids("target", x.target, x.target_lengths, self.vocab_size, x.source.shape[0])

    def forward(self, x: Seq2SeqInput) -> Tensor:
        """Teacher forcing: logits ``(B, T, V)`` of ``p(y_t | y_<t, x)`` for the target-in ids."""
        self._check(x)
        h, mask, state = self.encode(x.source, x.source_lengths)
        context = (h, mask) if self.attention_kind is not None else None
        out = run(self.decoder, self.embed_target(x.target), state, lengths=x.target_lengths, context=context)
        return self.out(out.output)

    @torch.no_grad()
    def generate(self, x: Seq2SeqInput, *, width: int = 1, max_steps: int | None = None,
                 length_penalty: float = 0.0) -> Beams:
        """Greedy (``width=1``) or beam-search decoding until ``end`` (the target fields of ``x`` are not read).

        ``max_steps`` defaults to twice the longest source plus 2. Returns :class:`~rnnzoo.decode.Beams`."""
        if not isinstance(x, Seq2SeqInput):
            raise TypeError(f"x: expected a Seq2SeqInput, got {type(x).__name__}")
        _check_ids("source", x.source, x.source_lengths, self.source_vocab, None)
        b = x.source.shape[0]
        h, mask, state = self.encode(x.source, x.source_lengths)
        prepared = self.decoder.prepare((h, mask) if self.attention_kind is not None else None, b,
                                        device=h.device, dtype=h.dtype, input_shape=(self.decoder.input_size,))
        decoder = self.decoder

        def step(tokens: Tensor, carry: tuple[Any, Any]) -> tuple[Tensor, tuple[Any, Any]]:
            st, prep = carry
            u = bind(decoder.project, 1, prep)(self.embed_target(tokens))
            y, st = bind(decoder.step, 2, prep)(u, st)
            return torch.log_softmax(self.out(y), -1), (st, prep)

        steps = 2 * x.source.shape[1] + 2 if max_steps is None else max_steps
        return beam_search(step, (state, prepared), batch_size=b, width=width, max_steps=steps, start=self.start,
                           end=self.end, pad=self.pad, length_penalty=length_penalty)

    # cpu: example data drawn from a seeded CPU generator (the same draw on every device)
    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> Seq2SeqInput:
        g = generator
        s, t = 6, 5
        low = max(self.pad, self.start, self.end) + 1
        source = torch.randint(low, self.source_vocab, (batch_size, s), generator=g)
        target = torch.randint(low, self.vocab_size, (batch_size, t), generator=g)
        target[:, 0] = self.start
        sl = torch.randint(1, s + 1, (batch_size,), generator=g)
        tl = torch.randint(1, t + 1, (batch_size,), generator=g)
        source = source.masked_fill(torch.arange(s) >= sl.unsqueeze(1), self.pad)
        target = target.masked_fill(torch.arange(t) >= tl.unsqueeze(1), self.pad)
        return Seq2SeqInput(source.to(self.device), sl.to(self.device), target.to(self.device), tl.to(self.device))


register("seq2seq", paper=Paper("Bahdanau, Cho & Bengio", 2015,
                                "Neural Machine Translation by Jointly Learning to Align and Translate", "1409.0473"),
         seed_equations="001 section 7; 003 (attention)",
         description="encoder-decoder over token sequences, any encoder/decoder cell, optional additive/dot/"
                     "general/concat attention (Bahdanau or Luong convention), greedy and beam decoding",
         kind=ModelKind.MODEL, input_kind=InputKind.SEQUENCE_TO_SEQUENCE, chunkable=False, bidirectional_ok=False,
         unbatched=False, gated=True,
         test_options={"vocab_size": 9, "hidden_size": 5, "embedding_size": 4, "encoder": "lstm",
                       "num_layers": 2, "attention": "additive", "maxout_size": 3})(Seq2Seq)
