r"""Frequency-time LSTM (F-T-LSTM): an F-LSTM over the frequency bands of each frame, feeding a T-LSTM over time.

Li, Mohamed, Zweig & Gong 2015, "LSTM time and frequency recurrence for automatic speech recognition", IEEE ASRU
2015, DOI 10.1109/ASRU.2015.7404793 (no arXiv version); seed 001 section 4.8 ("F-T-LSTM ... generates a summary
of the spectral information by scanning the frequency bands using a frequency LSTM. Then, it feeds the output
layers activations as inputs to a LSTM. The formulation of frequency LSTM is similar to the time LSTM").

Why a cell (registry kind CELL) and not a whole model: the F-LSTM reads one frame and nothing else (no state
crosses frames), so it is the *input-only part* of a T-LSTM step, which is exactly what a cell's ``project`` is
(applied by the runner to all frames at once before the time loop). :class:`FTLSTMCell` is therefore an
:class:`~rnnzoo.cells.lstm.LSTMCell` (the T-LSTM) whose ``project`` first runs the F-LSTM: ``rnnzoo.create``
stacks it like any cell (layers, directions, regularisers), and every vector-sequence task trains it with no
special case: ``rnnzoo train --task japanese_vowels --model ft_lstm``.
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnzoo.cells._torch_fused import run_fused
from rnnzoo.cells.lstm import LSTMCell, LSTMState
from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Steps
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.runner import run
from rnnzoo.core.torch_equiv import TorchEquivalent

__all__ = ["FTLSTMCell", "band_count"]


def _positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name}: expected a positive int, got {value!r}")
    return value


def band_count(input_size: int, band_size: int, band_stride: int) -> int:
    """M, the number of band windows over ``input_size`` coefficients: ``1 + ceil(max(F - B, 0) / S)`` (the last
    window is completed with zeros when ``F - B`` is not a multiple of ``S``, so every coefficient is read)."""
    return 1 + math.ceil(max(input_size - band_size, 0) / band_stride)


class FTLSTMCell(LSTMCell):
    r"""The F-T-LSTM: per frame, an F-LSTM scans M overlapping frequency bands; the concatenation of its M
    outputs is the input of a T-LSTM step.

    For frame ``x_t`` (F coefficients, low to high frequency) and band ``k = 0 .. M-1``::

        z_{t,k} = x_t[k*S : k*S + B]                       # band k (zeros past F), B = band_size, S = band_stride
        i = sigmoid(Wf_i z_{t,k} + bf_i + Uf_i q_{t,k-1})  # the F-LSTM: 001 eqs (16)-(20) along frequency,
        f = sigmoid(Wf_f z_{t,k} + bf_f + Uf_f q_{t,k-1})  #   its state (q, d) zero at k = 0 of EVERY frame
        g = tanh(Wf_g z_{t,k} + bf_g + Uf_g q_{t,k-1})
        d_{t,k} = f * d_{t,k-1} + i * g
        o = sigmoid(Wf_o z_{t,k} + bf_o + Uf_o q_{t,k-1})
        q_{t,k} = o * tanh(d_{t,k})                        # band_hidden units
        v_t = [q_{t,0}; q_{t,1}; ...; q_{t,M-1}]            # M * band_hidden features of frame t
        h_t, c_t = LSTM(v_t, (h_{t-1}, c_{t-1}))           # the T-LSTM, 001 eqs (16)-(20) along time

    ``Wf, Uf, bf`` (the submodule ``f_lstm``, an :class:`LSTMCell`) are shared by every band and every frame;
    the T-LSTM's ``weight_ih`` (4H, M*band_hidden), ``weight_hh``, ``bias_ih``, ``bias_hh`` are this cell's own.
    ``M = 1 + ceil(max(F - B, 0) / S)`` (:func:`band_count`). The paper's notation: N filterbanks cut into M chunks
    of B filterbanks with C shared by adjacent chunks, so ``band_stride = B - C``.

    How it runs: ``project(x)`` (``(..., F) -> (..., 4H)``) stacks every frame of the batch as the batch axis and
    the bands as the time axis of ONE runner call of the F-LSTM (``rnnzoo.run``: frames ``(N, M, B)`` with
    ``N = B_batch * T``), then applies the T-LSTM's input product; ``step`` is the T-LSTM step; the time loop is
    the runner's second call. The fast path (``fused_kind = "composite"``): the F-LSTM through its own fast path
    (torch's LSTM kernel), then the T-LSTM's (torch's kernel for prefix masks, else rnnzoo's LSTM Function).

    Args:
        input_size: F, coefficients per frame. hidden_size: H, the T-LSTM's units.
        band_size: B, coefficients per band (the F-LSTM's input size). band_stride: S, 1 <= S <= B (every
            coefficient lies in a band). band_hidden: the F-LSTM's units. forget_bias: initial forget-gate bias
            of both LSTMs (None: torch's uniform initialisation).

    Shapes: x_t ``(B_batch, F)``; state ``LSTMState(h (B_batch, H), c (B_batch, H))`` (the T-LSTM's; the F-LSTM's
    state lives within one frame's projection and is never carried); output h_t ``(B_batch, H)``.

    Deviations: the paper's LSTMs are LSTMP (Sak et al. 2014: peepholes and a recurrent projection layer); both
    LSTMs here are the forget-gate LSTM without peepholes or projection (torch.nn.LSTM's equations), the
    "formulation similar to the time LSTM" of 001 section 4.8. The paper's input stacks 11 frames of context per
    step; here a step reads one frame (context is a data choice). Window and stride values of the paper are not
    reproduced (not verified, RESEARCH.md marks them [m]); the defaults B = 4, S = 2 suit 12 coefficients. The
    last window is zero-padded past F (the paper cuts N exactly into M chunks). The paper's equation numbers are
    not cited: the text was not available to check them; the seed's are.

    >>> import torch, rnnzoo
    >>> model = rnnzoo.create("ft_lstm", 12, 16, band_size=4, band_stride=2, band_hidden=6)
    >>> model.layers[0].cell.n_bands, model.layers[0].cell.f_lstm.input_size
    (5, 4)
    >>> model(torch.randn(2, 7, 12), lengths=[7, 3])[0].shape
    torch.Size([2, 7, 16])
    """

    def __init__(self, input_size: int, hidden_size: int, *, band_size: int = 4, band_stride: int = 2,
                 band_hidden: int = 8, forget_bias: float | None = None) -> None:
        _positive("input_size", input_size)
        _positive("band_size", band_size)
        _positive("band_stride", band_stride)
        _positive("band_hidden", band_hidden)
        if band_stride > band_size:
            raise ValueError(f"band_stride: expected at most band_size={band_size} (bands that overlap or touch, so "
                             f"every coefficient is read), got {band_stride}")
        n_bands = band_count(input_size, band_size, band_stride)
        super().__init__(n_bands * band_hidden, hidden_size, forget_bias=forget_bias)
        self.input_size = input_size  # the T-LSTM's weight_ih reads the F-LSTM's M * band_hidden outputs
        self.band_size, self.band_stride, self.band_hidden, self.n_bands = band_size, band_stride, band_hidden, n_bands
        self.f_lstm = LSTMCell(band_size, band_hidden, forget_bias=forget_bias)

    def reset_parameters(self) -> None:
        super().reset_parameters()  # every parameter U(-1/sqrt(H), 1/sqrt(H)), then the F-LSTM's own scale
        if "f_lstm" in self._modules:
            self.f_lstm.reset_parameters()

    # ------------------------------------------------------------------ the F-LSTM

    def bands(self, x: Tensor) -> Tensor:
        """The band windows of every frame: ``(..., F) -> (..., M, B)`` (zeros past F in the last window)."""
        pad = (self.n_bands - 1) * self.band_stride + self.band_size - x.shape[-1]
        return F.pad(x, (0, pad)).unfold(-1, self.band_size, self.band_stride)

    def spectral(self, x: Tensor) -> Tensor:
        """The F-LSTM's summary of every frame, ``v_t``: ``(..., F) -> (..., M * band_hidden)``, in one runner call
        over the bands with all frames as its batch (no state crosses frames)."""
        lead = x.shape[:-1]
        frames = self.bands(x).reshape(-1, self.n_bands, self.band_size)
        out = run(self.f_lstm, frames).output  # (N, M, band_hidden)
        return out.reshape(*lead, self.n_bands * self.band_hidden)

    def project(self, x: Tensor) -> Tensor:
        """``weight_ih @ v_t + bias_ih + bias_hh`` with ``v_t`` the F-LSTM's outputs: ``(..., F) -> (..., 4H)``."""
        return super().project(self.spectral(x))

    # ------------------------------------------------------------------ fast path and what the others ask

    fused_kind = "composite"  # type: ignore[assignment]

    def fused(self, steps: Steps, state: LSTMState) -> tuple[Tensor, LSTMState] | None:
        """The F-LSTM over all frames (its own fast path), then the T-LSTM's: torch's kernel on ``v`` for prefix
        masks without a recurrent dropout mask, else :func:`rnnzoo.fused.lstm_recurrence` on its projection."""
        v = self.spectral(steps.x)  # (T, B, M * band_hidden)
        h_mask = (steps.state_masks or {}).get("h")  # variational dropout of h: only the Function applies it
        if h_mask is None and steps.prefix and not self._function_instead(state.c):
            out, (h, c) = run_fused("lstm", v, (state.h, state.c), self.torch_weights(), self.bias, steps.lengths)
            return out, LSTMState(h, c)
        inner = Steps(self, v, steps.mask, steps.lengths, steps.prepared, steps.steps, steps.batch,
                      u=super().project(v), state_masks=steps.state_masks)
        return super().fused(inner, state)  # fused_kind is not "torch": the rnnzoo Function on inner.u

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """The T-LSTM's ``weight_hh`` by gate, then the F-LSTM's (recurrent along frequency), ``f_lstm.weight_hh``."""
        inner = [RecurrentBlock(f"f_lstm.{b.name}", b.matrix, b.activation, b.writable, f"f_lstm.{b.parameter}")
                 for b in self.f_lstm.recurrent_blocks()]
        return super().recurrent_blocks() + inner

    def initialize(self, scheme: str, value: float | None = None, *, generator: torch.Generator | None = None) -> bool:
        """``forget_bias`` sets both LSTMs' forget-gate bias; the block schemes act on both recurrent matrices."""
        if scheme == "forget_bias":
            done = super().initialize(scheme, value, generator=generator)
            return self.f_lstm.initialize(scheme, value, generator=generator) or done
        return super().initialize(scheme, value, generator=generator)

    def torch_equivalent(self) -> TorchEquivalent | None:
        return None  # no torch.nn module scans frequency bands

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, band_size={self.band_size}, band_stride={self.band_stride}, "
                f"band_hidden={self.band_hidden}, n_bands={self.n_bands}")


register("ft_lstm", paper=Paper("Li, Mohamed, Zweig & Gong", 2015,
                                "LSTM time and frequency recurrence for automatic speech recognition (IEEE ASRU, "
                                "DOI 10.1109/ASRU.2015.7404793)"),
         seed_equations="001 section 4.8; 001 eqs (16)-(20) along frequency (F-LSTM) and time (T-LSTM)",
         description="F-LSTM over overlapping frequency bands of each frame (weights shared over bands and frames), "
                     "its outputs concatenated into a T-LSTM",
         gated=True, fast_path=FastPath.COMPOSITE)(FTLSTMCell)
