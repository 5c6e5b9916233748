"""SRU++: the SRU recurrence fed by a small causal attention sub-layer instead of a linear projection."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.cells.sru import highway_scale
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import boolean, check_cell_args, positive_int, real
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused._common import LN_EPS
from rnnzoo.fused.sru import sru_recurrence

_QUERY_BLOCK = 128
"""Queries per block in the fast path: scores are ``(B, block, block + window - 1)``, not ``(B, T, T)``."""


class SRUppState(NamedTuple):
    """h: (B, H) the last output; c: (B, H) the SRU cell state; keys, values: (B, window, d') the last
    ``window`` steps' keys and values, oldest first; filled: (B, window) positive (1.0) where a slot holds a
    step, else 0."""

    h: Tensor
    c: Tensor
    keys: Tensor
    values: Tensor
    filled: Tensor


class SRUppCell(Cell):
    r"""SRU++ (Lei 2021, "When attention meets fast recurrence", arXiv:2102.12459, Section 3 and Fig. 2; seed 003
    names SRU++ among the recent innovations, without equations), causal with a sliding window::

        q_t = W_q @ x_t                      # weight_q (d', I), d' = proj_size
        k_t = W_k @ q_t, v_t = W_v @ q_t     # weight_kv = [W_k; W_v] (2d', d')
        a_t = sum_j softmax_j(q_t . k_j / sqrt(d')) v_j   over j = t - window + 1 .. t (steps of this sequence)
        u_t = W_o @ LayerNorm(q_t + alpha * a_t)          # weight_o (3H or 4H, d'), alpha a learned scalar
        [z_t, uf_t, ur_t (, xp_t)] = u_t
        f_t = sigmoid(uf_t + v_f * c_{t-1} + b_f); r_t = sigmoid(ur_t + v_r * c_{t-1} + b_r)
        c_t = f_t * c_{t-1} + (1 - f_t) * z_t;     h_t = r_t * c_t + (1 - r_t) * xp_t

    The recurrence is :class:`~rnnzoo.cells.sru.SRUCell`'s (paper Section 2); ``xp_t = scale_x * x_t`` when
    input_size == hidden_size, else the fourth block of ``u_t`` (as the sru package's SRU++ cell computes it).

    Args:
        proj_size: d', the attention dimension (default ``max(4, hidden_size // 4)``; the paper's d' is d/4
            in most settings).
        window: how many steps (this one included) each step attends to (default 64).
        alpha: alpha's initial value (the paper initialises it to 0: the layer starts as a factorised SRU).
        layer_norm: the post-attention layer normalisation (the paper's default; False drops it).
        highway_bias: initial ``b_r`` (the package's SRU++ default -2). rescale: scale the highway term
            by ``sqrt(1 + 2 exp(highway_bias))`` (the package's SRU++ default False).

    Shapes: x_t (B, I); state ``SRUppState(h (B, H), c (B, H), keys (B, window, d'), values (B, window, d'),
    filled (B, window))``; output (B, H).

    Streaming: the state carries the keys and values of the last ``window`` steps, so a sequence fed in
    chunks, streamed step by step or trained with truncated BPTT computes exactly what one run computes.
    A masked (padded) step keeps the state, so padding never becomes a key.

    Export: ``torch.export`` works for every configuration; ``torch.onnx.export`` of a model run with lengths or
    zoneout must run under ``torch.no_grad()`` (with gradients on, torch 2.13's scan autograd saves a symbolic
    size of this step's graph and fails; tests/export's full case hits it).

    Deviations: the paper's language models attend to the whole segment plus the previous segment's
    states (a Transformer-XL memory); here each step attends to the last ``window`` steps, which bounds
    the state and makes the cell causal and chunkable for any length (a window as long as the sequence is
    the paper's attention within one segment). One head (the paper's default; the package has
    ``num_heads``); no attention or sub-layer dropout (rnnzoo's wrappers add dropout); alpha is the paper's
    learned scalar (the package instead zero-initialises W_v). Initialisation: Xavier-uniform W_q, W_kv, W_o
    (the package's), ``weight_c`` uniform in (-1, 1) (the package's SRU++ ``weight_c_init=1``).

    Example:
        >>> import torch, rnnzoo
        >>> from rnnzoo.cells.sru_pp import SRUppCell
        >>> cell = SRUppCell(8, 8, window=4)
        >>> rnnzoo.run(cell, torch.randn(2, 5, 8)).output.shape
        torch.Size([2, 5, 8])
    """

    def __init__(self, input_size: int, hidden_size: int, *, proj_size: int | None = None, window: int = 64,
                 alpha: float = 0.0, layer_norm: bool = True, highway_bias: float = -2.0,
                 rescale: bool = False) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, layer_norm=layer_norm, rescale=rescale)
        self.proj_size = max(4, hidden_size // 4) if proj_size is None else positive_int("proj_size", proj_size)
        if layer_norm and self.proj_size < 2:
            raise ValueError(f"proj_size: expected at least 2 with layer_norm=True (the layer norm of one feature is "
                             f"its bias, whatever the input), got {self.proj_size}")
        self.window = positive_int("window", window)
        self.alpha_init = real("alpha", alpha)
        self.highway_bias = real("highway_bias", highway_bias)
        boolean("layer_norm", layer_norm)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.rescale = rescale
        self.blocks = 4 if input_size != hidden_size else 3
        d = self.proj_size
        self.weight_q = nn.Parameter(torch.empty(d, input_size))
        self.weight_kv = nn.Parameter(torch.empty(2 * d, d))
        self.alpha = nn.Parameter(torch.empty(()))
        self.ln_weight = nn.Parameter(torch.empty(d)) if layer_norm else None
        self.ln_bias = nn.Parameter(torch.empty(d)) if layer_norm else None
        self.weight_o = nn.Parameter(torch.empty(self.blocks * hidden_size, d))
        self.weight_c = nn.Parameter(torch.empty(2, hidden_size))
        self.bias = nn.Parameter(torch.empty(2, hidden_size))
        self.reset_parameters()

    @property
    def scale_x(self) -> float:
        """The factor of ``x_t`` in the highway term (I == H; 1 when the highway term is a block of ``u``)."""
        return highway_scale(self.highway_bias) if self.rescale and self.blocks == 3 else 1.0

    def reset_parameters(self) -> None:
        with torch.no_grad():
            for w in (self.weight_q, self.weight_kv, self.weight_o):
                nn.init.xavier_uniform_(w)
            self.alpha.fill_(self.alpha_init)
            if self.ln_weight is not None:
                self.ln_weight.fill_(1.0)
                self.ln_bias.zero_()
            self.weight_c.uniform_(-1.0, 1.0)
            self.bias[0].zero_()
            self.bias[1].fill_(self.highway_bias)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> SRUppState:
        H, W, d = self.hidden_size, self.window, self.proj_size
        return SRUppState(TensorSpec((batch_size, H)), TensorSpec((batch_size, H)), TensorSpec((batch_size, W, d)),
                          TensorSpec((batch_size, W, d)), TensorSpec((batch_size, W)))

    def project(self, x: Tensor) -> Tensor:
        """``[q, k, v (, x)]`` for all steps (every input-only product): (..., I) -> (..., 3d' (+ I))."""
        q = x @ self.weight_q.t()
        parts = [q, q @ self.weight_kv.t()]
        if self.blocks == 3:
            parts.append(x)
        return torch.cat(parts, -1)

    def _attention_out(self, q: Tensor, a: Tensor) -> Tensor:
        """``W_o LayerNorm(q + alpha a)``: (..., d') -> (..., 3H or 4H)."""
        y = q + self.alpha * a
        if self.ln_weight is not None:
            y = F.layer_norm(y, y.shape[-1:], self.ln_weight, self.ln_bias, LN_EPS)
        return y @ self.weight_o.t()

    def step(self, u_t: Tensor, state: SRUppState) -> tuple[Tensor, SRUppState]:
        d, H = self.proj_size, self.hidden_size
        q, k, v, *x = u_t.split([d, d, d] + ([self.input_size] if self.blocks == 3 else []), 1)
        # drop the oldest slot, append this step's (split, not slices: a slice's backward would save the
        # symbolic batch size, which the export's scan cannot stack)
        W = self.window
        keys = torch.cat([state.keys.split([1, W - 1], 1)[1], k.unsqueeze(1)], 1)  # (B, W, d'), newest last
        values = torch.cat([state.values.split([1, W - 1], 1)[1], v.unsqueeze(1)], 1)
        oldest, rest = state.filled.split([1, W - 1], 1)
        filled = torch.cat([rest, torch.ones_like(oldest)], 1)
        # products as multiply-and-sum: a batched matmul's backward saves the symbolic batch size too
        scores = (keys * q.unsqueeze(1)).sum(2) / math.sqrt(d)  # (B, W)
        p = torch.softmax(scores.masked_fill(filled <= 0, float("-inf")), 1)
        a = (p.unsqueeze(2) * values).sum(1)  # (B, d')
        z, uf, ur, *xp = self._attention_out(q, a).split(H, 1)
        c_prev = state.c
        f = torch.sigmoid(uf + self.weight_c[0] * c_prev + self.bias[0])
        r = torch.sigmoid(ur + self.weight_c[1] * c_prev + self.bias[1])
        self.report("f", f, "sigmoid")
        self.report("r", r, "sigmoid")
        c = f * c_prev + (1 - f) * z
        highway = xp[0] if self.blocks == 4 else x[0] * self.scale_x
        h = r * c + (1 - r) * highway
        return h, SRUppState(h, c, keys, values, filled)

    fused_kind = "rnnzoo"
    """The runner's fast path: the attention of all steps at once (banded, in blocks of queries), then the
    fused SRU recurrence (:func:`rnnzoo.fused.sru.sru_recurrence`)."""

    def fused(self, steps: Steps, state: SRUppState) -> tuple[Tensor, SRUppState] | None:
        """All steps' attention in blocks of queries against the keys of the state's buffer and of the
        sequence (a banded causal mask), then the elementwise recurrence. Masks whose valid steps are a
        prefix of each row (lengths) are exact: the padding comes after every valid query. A mask with
        holes returns None (the step loop runs)."""
        if not steps.prefix:
            return None
        d, W = self.proj_size, self.window
        u = steps.u  # (T, B, 3d' (+ I))
        T, B = u.shape[0], u.shape[1]
        q, k, v, *x = u.split([d, d, d] + ([self.input_size] if self.blocks == 3 else []), 2)
        keys = torch.cat([state.keys.transpose(0, 1), k], 0)  # (W + T, B, d'), global index W + t is step t
        values = torch.cat([state.values.transpose(0, 1), v], 0)
        filled = torch.cat([state.filled.t(), state.filled.new_ones(T, B)], 0)  # (W + T, B)
        a = torch.cat([self._band(q, keys, values, filled, s, min(s + _QUERY_BLOCK, T))
                       for s in range(0, T, _QUERY_BLOCK)], 0)  # (T, B, d')
        ug = self._attention_out(q, a)  # (T, B, 3H or 4H)
        skip = x[0] if self.blocks == 3 else None
        h, c = sru_recurrence(ug, state.c, self.weight_c, self.bias, mask=steps.mask, skip=skip, scale=self.scale_x)
        if steps.mask is None:
            last = torch.full((B,), T, dtype=torch.long, device=u.device)
            h_last = h[-1]
        else:
            last = steps.mask.sum(0).to(u.device)  # (B,) valid steps (a prefix)
            h_last = h.gather(0, (last - 1).clamp(min=0).view(1, B, 1).expand(1, B, h.shape[2])).squeeze(0)
            h_last = torch.where((last > 0).unsqueeze(1), h_last, state.h)
        # the buffer after each row's last valid step: global slots last .. last + W - 1
        idx = (last.view(1, B) + torch.arange(W, device=u.device).view(W, 1))  # (W, B)
        new_keys = keys.gather(0, idx.unsqueeze(2).expand(W, B, d)).transpose(0, 1)
        new_values = values.gather(0, idx.unsqueeze(2).expand(W, B, d)).transpose(0, 1)
        new_filled = filled.gather(0, idx).t()
        return h, SRUppState(h_last, c, new_keys, new_values, new_filled)

    def _band(self, q: Tensor, keys: Tensor, values: Tensor, filled: Tensor, s: int, e: int) -> Tensor:
        """Attention of queries s..e-1 (``(T, B, d')`` time-major) over their windows: keys at global slots
        ``s + 1 .. e + W - 1`` (query t sees slots t + 1 .. t + W). Returns ``(e - s, B, d')``."""
        W, n = self.window, e - s
        kb = keys[s + 1:e + W].transpose(0, 1)  # (B, L, d'), L = n + W - 1
        vb = values[s + 1:e + W].transpose(0, 1)
        scores = q[s:e].transpose(0, 1) @ kb.transpose(1, 2) / math.sqrt(self.proj_size)  # (B, n, L)
        i = torch.arange(n, device=q.device).view(n, 1)
        slot = torch.arange(n + W - 1, device=q.device).view(1, -1)
        allowed = (slot >= i) & (slot <= i + W - 1)  # (n, L): the band
        allowed = allowed.unsqueeze(0) & (filled[s + 1:e + W].t() > 0).unsqueeze(1)  # (B, n, L)
        p = torch.softmax(scores.masked_fill(~allowed, float("-inf")), 2)
        return (p @ vb).transpose(0, 1)

    def recurrent_weights(self) -> list[str]:
        """``weight_c`` (v_f, v_r): the only weights multiplying the previous cell state (what weight drop masks)."""
        return ["weight_c"]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, proj_size={self.proj_size}, window={self.window}, "
                f"alpha={self.alpha_init}, layer_norm={self.ln_weight is not None}, "
                f"highway_bias={self.highway_bias}, rescale={self.rescale}")


register("sru_pp", paper=Paper("Lei", 2021, "When attention meets fast recurrence: training language models "
                               "with reduced compute", "2102.12459"),
         seed_equations="003 names it (recent innovations), no equations",
         description="SRU whose input projection is a small causal attention sub-layer over the last `window` "
                     "steps (keys and values carried in the state)",
         gated=True, fast_path=FastPath.RNNZOO)(SRUppCell)
