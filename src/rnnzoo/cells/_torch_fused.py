"""torch's fused RNN/LSTM/GRU kernels, called on a cell's own parameters.

Where a cell's configuration computes exactly what ``torch.nn.RNN``/``LSTM``/``GRU`` compute, its
``fused`` fast path calls the same ATen kernel (``torch._VF``: the functions torch.nn's modules call;
there is no public functional form). Variable lengths go through a PackedSequence, which gives the
runner's semantics: zero outputs past each length, final state at each sequence's last valid step.
The runner's step loop remains the reference; tests hold the two equal.
"""

from __future__ import annotations

import torch
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

_KERNELS = {"rnn_tanh": torch._VF.rnn_tanh, "rnn_relu": torch._VF.rnn_relu, "gru": torch._VF.gru,
            "lstm": torch._VF.lstm}


def run_fused(kind: str, x: Tensor, hx: tuple[Tensor, ...], weights: list[Tensor], has_bias: bool,
              lengths: Tensor | None) -> tuple[Tensor, tuple[Tensor, ...]]:
    """Run one unidirectional layer of a torch kernel.

    Args:
        kind: ``"rnn_tanh"``, ``"rnn_relu"``, ``"gru"`` or ``"lstm"``.
        x: ``(T, B, I)`` time-major input (what the runner hands a fast path).
        hx: initial states, each ``(B, H)`` (``(h, c)`` for the LSTM).
        weights: ``[w_ih, w_hh, (b_ih, b_hh), (w_hr)]`` in torch's order.
        has_bias: whether the biases are in ``weights``.
        lengths: ``(B,)`` int64 CPU lengths, or None for full-length sequences.

    Returns:
        output ``(T, B, H)`` and the final states, each ``(B, H)``.
    """
    fn = _KERNELS[kind]
    hx0 = tuple(h.unsqueeze(0) for h in hx)
    h_arg = hx0 if kind == "lstm" else hx0[0]
    if lengths is None:
        res = fn(x, h_arg, weights, has_bias, 1, 0.0, False, False, False)
        out, finals = res[0], res[1:]
    else:
        packed = pack_padded_sequence(x, lengths, batch_first=False, enforce_sorted=False)
        order = packed.sorted_indices
        h_sorted = tuple(h.index_select(1, order) for h in hx0)
        h_arg = h_sorted if kind == "lstm" else h_sorted[0]
        res = fn(packed.data, packed.batch_sizes, h_arg, weights, has_bias, 1, 0.0, False, False)
        out_packed = packed._replace(data=res[0])
        out, _ = pad_packed_sequence(out_packed, batch_first=False, total_length=x.shape[0])
        finals = tuple(h.index_select(1, packed.unsorted_indices) for h in res[1:])
    return out, tuple(h.squeeze(0) for h in finals)
