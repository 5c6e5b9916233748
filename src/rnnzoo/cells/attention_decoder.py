r"""An attention decoder: any registered cell reading a source through attention, in Bahdanau's or Luong's convention.

The context of a run (``rnnzoo.run(cell, y_emb, state, context=(keys, mask))``) is the encoder's outputs ``h_j``
``(B, S, K)`` and the source mask ``(B, S)`` (True = a real token). :meth:`AttentionDecoderCell.prepare` computes
the key side of the scores once per run (:meth:`rnnzoo.attention.Attention.precompute`); every step only adds its
query. Seed 001 section 7 and seed 003 describe the soft selection; the two conventions differ in WHICH decoder
state asks and WHERE the context enters:

``convention="bahdanau"`` (Bahdanau, Cho & Bengio 2015, arXiv:1409.0473, eqs (4)-(6), appendix A.2)::

    e_ij = v^T tanh(W s_{i-1} + U h_j)             # eq (6), A.1.2: the PREVIOUS s_{i-1} = inner.output(state.cell)
    a_ij = softmax_j(e_ij)  (padded j: -inf)       # eq (6)
    c_i  = sum_j a_ij h_j                          # eq (5)
    s_i  = f([E y_{i-1}; c_i], s_{i-1})            # eq (4), A.2.2: the context is INPUT to the cell f (any cell)
    t~_i = U_o s_i + V_o E y_{i-1} + C_o c_i       # A.2.2 readout (maxout_size=l; code: u_o, v_o, c_o)
    t_i  = [max(t~_{i,2j-1}, t~_{i,2j})]_{j=1..l}  # maxout; output t_i (B, l), or s_i when maxout_size is None

``convention="luong"`` (Luong, Pham & Manning 2015, arXiv:1508.04025, eqs (5)-(8), section 3.3)::

    h_t  = f([E y_{t-1}; h~_{t-1}], h_{t-1})       # the cell runs FIRST; input feeding of h~_{t-1} (sec. 3.3)
    a_t  = softmax_s(score(h_t, h_s))              # eqs (7)-(8): the CURRENT state h_t asks (dot/general/concat)
    c_t  = sum_s a_ts h_s
    h~_t = tanh(W_c [c_t; h_t])                    # eq (5) (code: w_c, no bias as written); the output, and in the
                                                   # state (field ``output``) for the next step's input feeding

Any kind of :class:`~rnnzoo.attention.Attention` works in either convention (the papers pair additive with
Bahdanau and dot/general/concat with Luong). The weights ``a`` ``(B, S)`` are reported from every step as
``self.report("attention", a, kind="attention")``.

>>> import torch, rnnzoo
>>> cell = AttentionDecoderCell(3, 4, 6, cell="lstm", attention="general", convention="luong")
>>> keys, mask = torch.randn(2, 5, 6), torch.tensor([[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]).bool()
>>> rnnzoo.run(cell, torch.randn(2, 7, 3), context=(keys, mask)).output.shape
torch.Size([2, 7, 4])

Shapes: step input ``u_t`` = ``E y_{t-1}`` ``(B, I)``; state :class:`AttentionDecoderState` ``(output (B, O),
cell)``; output ``(B, O)`` with ``O = maxout_size`` (Bahdanau with maxout) or ``hidden_size``.

**Deviations.** Appendix A.2.2 writes the readout with ``s_{i-1}``; eq (4) (``p(y_i | y_{i-1}, s_i, c_i)``) and
the authors' later code (dl4mt, Nematus) read the new state ``s_i``, as here. Bahdanau's GRU puts ``c_i`` into every
gate through separate matrices ``C, C_z, C_r``; here ``[E y_{i-1}; c_i]`` is the inner cell's input, which is the
same function for a GRU (its input matrices split into ``[W, C]``) and lets any cell be the decoder. The initial
state is the caller's (the seq2seq model sets ``s_0 = tanh(W_s h<-_1)``, A.2.2). Luong's local attention (local-p,
a Gaussian window) is not implemented; global attention only.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.attention import ATTENTION_KINDS, Attention, check_key_mask
from rnnzoo.core.cell import Cell, bind
from rnnzoo.core.registry import model_info

__all__ = ["CONVENTIONS", "AttentionDecoderCell", "AttentionDecoderState", "AttentionPrepared"]

CONVENTIONS = ("bahdanau", "luong")


class AttentionDecoderState(NamedTuple):
    """output: ``(B, O)`` the last step's output (Luong: ``h~_{t-1}``, fed back as input); cell: the inner cell's
    state."""

    output: Tensor
    cell: Any


class AttentionPrepared(NamedTuple):
    """What :meth:`AttentionDecoderCell.prepare` makes of the context, rows first (a beam search reorders them).

    projected: the key side of the scores ``(B, S, A)``; keys: ``(B, S, K)``; mask: ``(B, S)`` bool or None;
    inner: the inner cell's own prepared value (None for most cells)."""

    projected: Tensor
    keys: Tensor
    mask: Tensor | None
    inner: Any


class AttentionDecoderCell(Cell):
    """A decoder cell attending over a source (see the module docstring).

    Args:
        input_size: I, the target embedding size. hidden_size: H, the inner cell's size.
        context_size: K, the size of an encoder output ``h_j``.
        cell: the registry name of the inner cell (any registered cell with one feature axis), or a built
            :class:`Cell` whose input size is ``I + K`` (Bahdanau) or ``I + H`` (Luong).
        attention: ``"additive"``, ``"dot"``, ``"general"`` or ``"concat"``.
        convention: ``"bahdanau"`` or ``"luong"``.
        attention_size: A, the hidden width of additive/concat scores (default H).
        maxout_size: Bahdanau only: l, the maxout readout's size (None: the output is ``s_i``).
        cell_options: options of the inner cell's registry entry.
    """

    def __init__(self, input_size: int, hidden_size: int, context_size: int, *, cell: str | Cell = "gru",
                 attention: str = "additive", convention: str = "bahdanau", attention_size: int | None = None,
                 maxout_size: int | None = None, cell_options: dict[str, Any] | None = None) -> None:
        super().__init__()
        for name, value in (("input_size", input_size), ("hidden_size", hidden_size), ("context_size", context_size)):
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"{name}: expected a positive int, got {value!r}")
        if convention not in CONVENTIONS:
            raise ValueError(f"convention: expected one of {CONVENTIONS}, got {convention!r}")
        if attention not in ATTENTION_KINDS:
            raise ValueError(f"attention: expected one of {ATTENTION_KINDS}, got {attention!r}")
        if maxout_size is not None and (convention != "bahdanau" or isinstance(maxout_size, bool)
                                        or not isinstance(maxout_size, int) or maxout_size < 1):
            raise ValueError(f"maxout_size: expected None or a positive int with convention='bahdanau', got "
                             f"{maxout_size!r} with convention={convention!r}")
        self.convention, self.hidden_size, self.context_size = convention, hidden_size, context_size
        self.input_size = input_size
        feed = context_size if convention == "bahdanau" else hidden_size
        if isinstance(cell, str):
            inner = model_info(cell).build(input_size + feed, hidden_size, **(cell_options or {}))
        elif isinstance(cell, Cell):
            if cell_options:
                raise ValueError("cell_options: only with a cell given by its registry name")
            inner = cell
        else:
            raise TypeError(f"cell: expected a registry name or an rnnzoo Cell, got {type(cell).__name__}")
        if inner.feature_dims != 1 or inner.input_size != input_size + feed or inner.output_size != hidden_size:
            raise ValueError(f"cell: expected a vector cell with input size {input_size + feed} (= input_size + "
                             f"{'context_size' if convention == 'bahdanau' else 'hidden_size'}) and output size "
                             f"{hidden_size}, got {type(inner).__name__} {inner.input_size} -> {inner.output_size}")
        if inner.lookahead or not inner.causal:
            raise ValueError(f"cell: a decoder must be causal (it emits a token per step); {type(inner).__name__} "
                             f"reads {inner.lookahead} future steps")
        self.inner = inner
        self.attention = Attention(attention, hidden_size, context_size, attention_size or hidden_size)
        self.maxout_size = maxout_size
        if convention == "luong":
            self.w_c = nn.Linear(context_size + hidden_size, hidden_size, bias=False)  # eq (5)
        elif maxout_size is not None:  # A.2.2: t~ = U_o s_i + V_o E y_{i-1} + C_o c_i, 2l units
            self.u_o = nn.Linear(hidden_size, 2 * maxout_size)
            self.v_o = nn.Linear(input_size, 2 * maxout_size, bias=False)
            self.c_o = nn.Linear(context_size, 2 * maxout_size, bias=False)
        self.output_size = maxout_size if maxout_size is not None else hidden_size

    # ------------------------------------------------------------------ state and context

    def initial_state(self, batch_size: int, *, device: torch.device | str | None = None,
                      dtype: torch.dtype | None = None, input_shape: Any = None) -> AttentionDecoderState:
        dtype = dtype or self.default_dtype()
        inner_shape = None if input_shape is None else (self.inner.input_size,)
        return AttentionDecoderState(torch.zeros(batch_size, self.output_size, device=device, dtype=dtype),
                                     self.inner.initial_state(batch_size, device=device, dtype=dtype,
                                                              input_shape=inner_shape))

    def prepare(self, context: Any, batch_size: int, *, device: torch.device | str | None = None,
                dtype: torch.dtype | None = None, input_shape: Any = None) -> AttentionPrepared:
        """``context = (keys (B, S, K), mask (B, S) bool or None)`` -> :class:`AttentionPrepared`."""
        if not isinstance(context, tuple) or len(context) != 2:
            raise TypeError("context: expected (encoder outputs (B, S, K), source mask (B, S) or None), got "
                            f"{type(context).__name__}")
        keys, mask = context
        if not isinstance(keys, Tensor) or keys.dim() != 3 or keys.shape[0] != batch_size \
                or keys.shape[2] != self.context_size:
            got = tuple(keys.shape) if isinstance(keys, Tensor) else type(keys).__name__
            raise ValueError(f"context: expected encoder outputs of shape ({batch_size}, S, {self.context_size}), "
                             f"got {got}")
        check_key_mask(mask, batch_size, keys.shape[1])
        inner = self.inner.prepare(None, batch_size, device=device, dtype=dtype, input_shape=(self.inner.input_size,))
        return AttentionPrepared(self.attention.precompute(keys), keys, mask, inner)

    # ------------------------------------------------------------------ one step

    def _inner_step(self, v: Tensor, state: Any, prepared: AttentionPrepared) -> tuple[Tensor, Any]:
        u = bind(self.inner.project, 1, prepared.inner)(v)
        return bind(self.inner.step, 2, prepared.inner)(u, state)

    def step(self, u_t: Tensor, state: AttentionDecoderState, prepared: AttentionPrepared
             ) -> tuple[Tensor, AttentionDecoderState]:
        p = prepared
        if self.convention == "bahdanau":
            s_prev = self.inner.output(state.cell)  # s_{i-1}: scores BEFORE the cell runs
            c, a = self.attention.attend(s_prev, p.projected, p.keys, p.mask)
            s, cell_state = self._inner_step(torch.cat([u_t, c], -1), state.cell, p)  # c_i is input (eq 4)
            if self.maxout_size is None:
                out = s
            else:
                t = self.u_o(s) + self.v_o(u_t) + self.c_o(c)
                out = t.view(*t.shape[:-1], self.maxout_size, 2).amax(-1)
        else:
            h, cell_state = self._inner_step(torch.cat([u_t, state.output], -1), state.cell, p)  # input feeding
            c, a = self.attention.attend(h, p.projected, p.keys, p.mask)  # the CURRENT h_t asks
            out = torch.tanh(self.w_c(torch.cat([c, h], -1)))  # h~_t, eq (5)
        self.report("attention", a, kind="attention")
        return out, AttentionDecoderState(out, cell_state)

    def extra_repr(self) -> str:
        return (f"input_size={self.input_size}, hidden_size={self.hidden_size}, context_size={self.context_size}, "
                f"convention={self.convention!r}, maxout_size={self.maxout_size}")
