"""CNN-BiLSTM tagger (Ma & Hovy 2016): a character CNN per word beside the word embedding, into a BiLSTM."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.core.checks import boolean, positive_int, probability
from rnnzoo.core.registry import FastPath, InputKind, ModelKind, Paper, register


class CNNBiLSTM(nn.Module):
    r"""The word encoder of Ma & Hovy 2016, "End-to-end Sequence Labeling via Bi-directional
    LSTM-CNNs-CRF" (arXiv:1603.01354): seed 003's "CNN BiLSTM" (the survey overview's section "How can RNNs
    be combined with other architectures like CNNs, as seen in CNN BiLSTM models", whose one equation is
    the merge ``h_t = concat(h_t^f, h_t^b)``). Per word ``t`` with ``n`` real characters ``c_1..c_n``::

        E_j  = dropout(char_embedding[c_j])                       j = 1..n      # sec. 2.1, Fig. 1 (dropout
             = 0                                                  otherwise     #   before the CNN)
        z_k  = tanh(sum_{d=0..K-1} conv.weight[:, :, d] @ E_{k-K+1+d} + conv.bias) k = 1..n+K-1  # sec. 2.1
        r_t  = max_k z_k              (elementwise, over the n + K - 1 windows touching a real character)
        x_t  = dropout([word_embedding[w_t]; r_t])                                # sec. 2.4, Fig. 3
        h_t^f, h_t^b = the forward and backward LSTMs over x_1..x_T               # sec. 2.2, 2.2.1
        features_t   = dropout([h_t^f; h_t^b])                                    # sec. 2.4, Fig. 3

    with ``K = char_kernel``, ``conv`` a ``Conv1d(char_dim, char_filters, K)`` and the LSTM of sec. 2.2.1
    (``i, f, c~, o`` gates, no peepholes), which is rnnzoo's ``create("lstm", word_dim + char_filters,
    hidden_size, bidirectional=True, num_layers=num_layers)`` (torch's gate order i, f, g, o in
    ``weight_ih``/``weight_hh``). The padding of Fig. 1 is zero vectors: every window holds at least one
    real character and padding columns never reach the max, so the output does not depend on ``W`` nor on
    the padding row of ``char_embedding``. A CRF on ``nn.Linear(output_size, num_tags)`` of the features
    (:class:`~rnnzoo.crf.CRF`, sec. 2.3) makes the paper's BLSTM-CNNs-CRF.

    Args (keyword only):
        hidden_size: H, units per direction (the paper's state size 200, sec. 3.3 Table 1).
        word_vocab, char_vocab: vocabulary sizes; char id 0 is padding.
        word_dim: word embedding size (100, the paper's GloVe). char_dim: character embedding size (30).
        char_filters: convolution filters (30). char_kernel: window size (3).
        dropout: rate on the CNN's input and the BiLSTM's input and output (0.5, sec. 3.3).
        char_cnn: False leaves the CNN out (a word-only BiLSTM baseline, ``x_t = dropout(word_embedding[w_t])``).
        num_layers: stacked BiLSTM layers (the paper: 1); ``dropout`` also between layers.

    ``rnnzoo.create("cnn_bilstm", ..., num_layers=N, dropout=p)`` passes ``num_layers`` and ``dropout`` to it
    (create forwards its stacking arguments of those names to a whole model that takes them).

    Inputs: ``x`` int64 ``(B, T, 1 + W)``: column 0 the word id in ``[0, word_vocab)``, columns 1..W the
    character ids in ``[0, char_vocab)``, left-aligned, 0 = padding (``InputKind.WORD_CHARS``);
    ``state`` the BiLSTM's initial state or None; ``lengths`` ``(B,)`` or ``mask`` ``(B, T)`` bool (True =
    valid word), as every rnnzoo layer takes them.
    Outputs: ``(features (B, T, 2H), state)``, features zero at padded steps; ``state`` the BiLSTM's final
    :class:`~rnnzoo.core.layers.StackedState`. A word without characters gets ``r_t = 0``.

    Initialisation (sec. 3.2): embeddings U(-sqrt(3 / dim), sqrt(3 / dim)); the convolution and each gate's
    ``weight_ih``/``weight_hh`` block Glorot-uniform; biases 0 except the forget gates' 1.0.

    Deviations: the paper's word embeddings are pretrained (GloVe 100-d, sec. 3.2); here they start random
    (copy vectors into ``word_embedding.weight`` to use pretrained ones). The tanh after the convolution
    follows the authors' code (NeuroNLP2); since tanh is monotone it commutes with the max. The CRF is a
    separate module (:class:`~rnnzoo.crf.CRF`); this model returns features, not tag scores.

    Example::

        >>> import rnnzoo
        >>> model = rnnzoo.create("cnn_bilstm", hidden_size=8, word_vocab=50, char_vocab=20, word_dim=6,
        ...                       char_dim=4, char_filters=5)
        >>> x = torch.zeros(2, 3, 1 + 4, dtype=torch.long)
        >>> x[..., 0] = 7; x[..., 1:3] = 5                        # word 7, spelt "5 5" (two characters)
        >>> features, state = model(x, lengths=torch.tensor([3, 2]))
        >>> features.shape, model.output_size
        (torch.Size([2, 3, 16]), 16)
    """

    def __init__(self, *, hidden_size: int = 200, word_vocab: int, char_vocab: int, word_dim: int = 100,
                 char_dim: int = 30, char_filters: int = 30, char_kernel: int = 3, dropout: float = 0.5,
                 char_cnn: bool = True, num_layers: int = 1) -> None:
        super().__init__()
        from rnnzoo.core.factory import create  # the factory imports the cells package: import it late

        for name, value in (("hidden_size", hidden_size), ("word_vocab", word_vocab), ("char_vocab", char_vocab),
                            ("word_dim", word_dim), ("char_dim", char_dim), ("char_filters", char_filters),
                            ("char_kernel", char_kernel), ("num_layers", num_layers)):
            positive_int(name, value)
        if char_vocab < 2:
            raise ValueError(f"char_vocab: expected >= 2 (id 0 is padding), got {char_vocab}")
        self.dropout_p = probability("dropout", dropout)
        self.char_cnn = boolean("char_cnn", char_cnn)
        self.hidden_size, self.num_layers = hidden_size, num_layers
        self.word_vocab, self.char_vocab = word_vocab, char_vocab
        self.char_kernel = char_kernel
        self.output_size = 2 * hidden_size
        self.word_embedding = nn.Embedding(word_vocab, word_dim)
        input_size = word_dim
        if char_cnn:
            self.char_embedding = nn.Embedding(char_vocab, char_dim, padding_idx=0)
            self.conv = nn.Conv1d(char_dim, char_filters, char_kernel, padding=char_kernel - 1)
            input_size += char_filters
        self.input_size = input_size
        self.dropout = nn.Dropout(self.dropout_p)
        self.lstm = create("lstm", input_size, hidden_size, bidirectional=True, num_layers=num_layers,
                           dropout=self.dropout_p if num_layers > 1 else 0.0)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """The paper's initialisation (sec. 3.2), see the class docstring."""
        embeddings = [self.word_embedding] + ([self.char_embedding] if self.char_cnn else [])
        with torch.no_grad():
            for emb in embeddings:
                bound = math.sqrt(3.0 / emb.embedding_dim)
                nn.init.uniform_(emb.weight, -bound, bound)
            if self.char_cnn:
                nn.init.xavier_uniform_(self.conv.weight)
                nn.init.zeros_(self.conv.bias)
            for name, p in self.lstm.named_parameters():
                if name.endswith(("weight_ih", "weight_hh")):
                    for block in p.chunk(4, 0):  # i, f, g, o: Glorot per gate matrix
                        nn.init.xavier_uniform_(block)
                elif name.endswith("bias_ih"):
                    p.zero_()
                    p[self.hidden_size:2 * self.hidden_size] = 1.0  # forget gate
                elif name.endswith("bias_hh"):
                    p.zero_()

    def _check(self, x: Any) -> None:
        if not isinstance(x, Tensor):
            raise TypeError(f"x: expected an int64 tensor (B, T, 1 + W), got {type(x).__name__}")
        if x.dtype != torch.int64:
            raise TypeError(f"x: expected dtype int64 (word id, then character ids), got {x.dtype}")
        min_cols = 2 if self.char_cnn else 1
        if x.dim() != 3 or x.shape[2] < min_cols:
            raise ValueError(f"x: expected shape (B, T, 1 + W) with W >= {min_cols - 1} (word id, then W character "
                             f"ids), got {tuple(x.shape)}")
        words = x[..., 0]
        if bool(((words < 0) | (words >= self.word_vocab)).any()):
            bad = words[(words < 0) | (words >= self.word_vocab)][0].item()
            raise ValueError(f"x: word ids (column 0) must be in [0, word_vocab={self.word_vocab}), got {bad}")
        if self.char_cnn:
            chars = x[..., 1:]
            out = (chars < 0) | (chars >= self.char_vocab)
            if bool(out.any()):
                raise ValueError(f"x: character ids (columns 1..W) must be in [0, char_vocab={self.char_vocab}), "
                                 f"got {chars[out][0].item()}")
            if chars.shape[-1] > 1 and bool(((chars[..., 1:] != 0) & (chars[..., :-1] == 0)).any()):
                raise ValueError("x: character ids must be left-aligned (a word's characters first, then the 0 "
                                 "padding); found a character after a padding 0")

    def char_features(self, chars: Tensor) -> Tensor:
        """``r_t``, the max-pooled character CNN of each word: int64 ``(..., W)`` -> ``(..., char_filters)``."""
        lead, W = chars.shape[:-1], chars.shape[-1]
        flat = chars.reshape(-1, W)
        real = flat != 0  # (N, W)
        emb = self.dropout(self.char_embedding(flat)) * real.unsqueeze(2).to(self.char_embedding.weight.dtype)
        z = torch.tanh(self.conv(emb.transpose(1, 2)))  # (N, F, W + K - 1): window k covers chars k-K+1..k
        n = real.sum(1, keepdim=True)  # left-aligned: windows 0..n+K-2 touch a real character
        windows = torch.arange(z.shape[2], device=z.device).unsqueeze(0) < n + self.char_kernel - 1
        pooled = z.masked_fill(~windows.unsqueeze(1), float("-inf")).amax(2)
        pooled = torch.where(n > 0, pooled, 0.0)  # a word without characters
        return pooled.view(*lead, -1)

    def forward(self, x: Tensor, state: Any = None, *, lengths: Any = None,
                mask: Tensor | None = None) -> tuple[Tensor, Any]:
        """``x`` int64 ``(B, T, 1 + W)`` -> ``(features (B, T, 2H), state)``; see the class docstring."""
        self._check(x)
        parts = [self.word_embedding(x[..., 0])]
        if self.char_cnn:
            parts.append(self.char_features(x[..., 1:]))
        inputs = self.dropout(torch.cat(parts, -1))
        features, state = self.lstm(inputs, state, lengths=lengths, mask=mask)
        return self.dropout(features), state

    def extra_repr(self) -> str:
        return (f"hidden_size={self.hidden_size}, word_vocab={self.word_vocab}, char_vocab={self.char_vocab}, "
                f"char_cnn={self.char_cnn}, dropout={self.dropout_p}, num_layers={self.num_layers}")


register("cnn_bilstm", paper=Paper("Ma & Hovy", 2016,
                                   "End-to-end sequence labeling via bi-directional LSTM-CNNs-CRF", "1603.01354"),
         seed_equations="003 'CNN BiLSTM' (h_t = concat(h_t^f, h_t^b)); 001 eqs (23)-(25)",
         description="Character CNN (max over real characters) beside word embeddings, into a BiLSTM; tagger features",
         kind=ModelKind.MODEL, input_kind=InputKind.WORD_CHARS, causal=False, chunkable=False,
         bidirectional_ok=False, unbatched=False, gated=True, fast_path=FastPath.COMPOSITE)(CNNBiLSTM)
