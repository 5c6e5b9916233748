"""Gated recurrent unit, in Cho et al.'s form and in the form torch and cuDNN compute."""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.cells._torch_fused import run_fused
from rnnzoo.cells._torch_layout import TorchLayoutCell
from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, register
from rnnzoo.core.torch_equiv import TorchEquivalent
from rnnzoo.fused._common import LN_EPS
from rnnzoo.fused.gru import gru_recurrence
from rnnzoo.fused.layer_norm_gru import layer_norm_gru_recurrence

_RESETS = ("after", "before")


KERNEL_BATCH_PER_THREAD = 64
"""On the CPU torch's GRU kernel is taken from this many sequences per intra-op thread up (the measured crossover,
:func:`torch_kernel_is_faster`)."""


def torch_kernel_is_faster(device: torch.device, batch: int, threads: int | None = None) -> bool:
    """Whether torch's GRU kernel beats the rnnzoo GRU Function (:func:`rnnzoo.fused.gru_recurrence`) for the
    form both compute (``reset="after"``) on ``device`` at batch size ``batch`` with ``threads`` intra-op threads
    (default ``torch.get_num_threads()``): the rule the fast path follows (issues 9 and 11).

    Off the CPU (CUDA: cuDNN's fused kernel): torch's kernel. On the CPU torch's GRU "kernel" is a C++ loop of
    ATen ops recording an autograd node per op (about 15 ops a step forward and 18 backward, against 8 and 8 for
    the Function, ``benchmarks/ops_per_step.py``): the Function's fewer ops win while a step's work per thread
    is small, and the two meet once every thread has about 64 sequences of each step; so the kernel from
    ``batch >= 64 * threads`` (:data:`KERNEL_BATCH_PER_THREAD`), the Function below. Hidden and input size did
    not move the crossover over 64-512 units. Measured train step (forward + backward), kernel time / Function
    time, interleaved paired medians of 7-11 rounds, ``benchmarks/gru_path.py``, 2-core x86 CPU, T = 100
    (``benchmarks/results/2026-12-01-gru-path.md``)::

        (B, I, H)          1 thread            2 threads
        (1, 64, 128)       2.07                -
        (8, 64, 128)       1.70                -
        (16, 64, 128)      1.50                -
        (8, 128, 128)      1.66                -
        (32, 64, 128)      1.24, 1.09          1.44, 1.45
        (48, 64, 128)      1.20                -
        (32, 256, 256)     1.17, 1.25          1.26
        (16, 512, 512)     1.27                1.32
        (48, 256, 256)     0.99                -
        (64, 64, 128)      1.11, 0.93          1.30
        (96, 64, 128)      0.92                -
        (128, 64, 128)     0.87, 0.93          1.06
        (256, 64, 128)     0.85                0.94
        (64, 256, 256)     0.94, 0.96          1.10
        (128, 256, 256)    0.88                1.02
        (64, 512, 512)     0.96, 0.99          1.01

    Above 1 the Function is faster. The rule picks the faster path at every size but (48, 256, 256) and
    (64, 64, 128) one thread and (128, *) two threads, where the two are within 10% (parity within the noise):
    at the issue's small size (32, 100, 64, 128) the Function, 1.1-1.5x faster than the kernel.
    """
    if device.type != "cpu":
        return True
    threads = torch.get_num_threads() if threads is None else threads
    return batch >= KERNEL_BATCH_PER_THREAD * max(1, threads)


class GRUState(NamedTuple):
    """h: (B, H)."""

    h: Tensor


class GRUCell(TorchLayoutCell):
    r"""Gated recurrent unit (Cho et al. 2014, arXiv:1406.1078), 001 eqs (36)-(39)::

        r = sigmoid(W_r x_t + b_ir + U_r h_{t-1} + b_hr)                 # reset gate,  001 eq (39)
        z = sigmoid(W_z x_t + b_iz + U_z h_{t-1} + b_hz)                 # update gate, 001 eq (37)
        reset="before":  n = tanh(W_n x_t + b_in + U_n (r * h_{t-1}) + b_hn)   # 001 eq (38), Cho et al.
        reset="after":   n = tanh(W_n x_t + b_in + r * (U_n h_{t-1} + b_hn))   # torch.nn.GRU / cuDNN
        h_t = (1 - z) * n + z * h_{t-1}                                  # 001 eq (36) with z <-> 1 - z

    ``W = weight_ih`` (3H, I), ``U = weight_hh`` (3H, H), ``b_i* = bias_ih``, ``b_h* = bias_hh``,
    gates stacked in torch's order (r, z, n).

    Args:
        reset: ``"after"`` (default) applies the reset gate after the recurrent product, as torch
            and cuDNN do (Keras' ``reset_after=True``); ``"before"`` applies it to h_{t-1} before
            the product, as Cho et al. and 001 eq (38). The default is ``"after"`` because it is what
            every torch user's ``nn.GRU`` computes, so weights convert both ways exactly and the fused
            kernel runs; the two forms train to similar results (Chung et al. 2014 used "before").
        layer_norm: the layer-normalised GRU of Ba, Kiros & Hinton 2016 ("Layer Normalization",
            arXiv:1607.06450) as the authors' code writes it (``lngru_layer``,
            github.com/ryankiros/layer-norm; the paper gives no GRU equations): the input and the
            recurrent products normalised separately, as the paper's LN-LSTM (supplement eq (20))
            does, and each per block, the gates (r, z) and the candidate n::

                [x_rz, x_n] = [LN(W_rz x_t; ln_ih_weight_rz), LN(W_n x_t; ln_ih_weight_n)] + b_i
                r, z = sigmoid(x_rz + LN(U_rz h_{t-1}; ln_hh_weight_rz) + b_hrz)
                reset="after":   n = tanh(x_n + r * (LN(U_n h_{t-1}; ln_hh_weight_n) + b_hn))
                reset="before":  n = tanh(x_n + LN(U_n (r * h_{t-1}); ln_hh_weight_n) + b_hn)
                h_t = (1 - z) * n + z * h_{t-1}

            ``LN(a; w) = w * (a - mean(a)) / sqrt(var(a) + 1e-5)`` over the block's units of one
            example and step; the gains ``ln_ih_weight``, ``ln_hh_weight`` (3H,), blocks (r, z | n),
            start at 1; the biases ``bias_ih``, ``bias_hh`` act as the LNs' biases.

    Shapes: x_t (B, I); state ``GRUState(h)`` with h (B, H); output h_t (B, H).
    Initialisation: U(-1/sqrt(H), 1/sqrt(H)) as torch.nn.GRU.

    Deviations: 001 eq (36) writes ``h_t = (1 - z) h_{t-1} + z h~_t``; Cho et al. 2014 (their eq 7)
    and torch write ``h_t = z h_{t-1} + (1 - z) h~_t``. We follow Cho and torch: z here is 1 - z of
    the seed's eq (36) (the same family of functions, gate relabelled). The seed's eq (37) reads
    ``U_z g_{t-1}``, a typo for ``U_z h_{t-1}``. Two bias vectors, in torch's layout.
    With ``layer_norm``: the authors' ``lngru_layer`` also adds a bias to ``W x`` before its LN; here
    the biases come only after the LNs, as in the paper (sec. 3.1 and the ``+ b`` of supplement eq
    (20)), ``bias_ih`` / ``bias_hh`` taking the place of the LNs' own biases; otherwise this "after"
    form is theirs, ``b_hn`` inside the reset product as their recurrent LN's bias is. Section 3.1
    normalises the whole summed input ``W_hh h + W_xh x`` of a plain RNN as one vector; the gated
    networks of the supplement and the code normalise the two products separately. haste's
    ``LayerNormGRU`` (github.com/lmnt-com/haste) normalises each product's whole 3H vector at once
    and has no "before" form; per block gives one, since its n block multiplies ``r * h_{t-1}``, a
    product of its own.
    """

    def __init__(self, input_size: int, hidden_size: int, *, reset: str = "after", bias: bool = True,
                 layer_norm: bool = False) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias, layer_norm=layer_norm)
        if reset not in _RESETS:
            raise ValueError(f"reset: expected one of {_RESETS}, got {reset!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.reset = reset
        self._make_weights(3, input_size, hidden_size, hidden_size, bias)
        self.layer_norm = layer_norm
        if layer_norm:  # registered last: W, U, b draw the same numbers as without layer_norm
            self.ln_ih_weight = nn.Parameter(torch.empty(3 * hidden_size))
            self.ln_hh_weight = nn.Parameter(torch.empty(3 * hidden_size))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.layer_norm:
            with torch.no_grad():
                self.ln_ih_weight.fill_(1.0)
                self.ln_hh_weight.fill_(1.0)

    def _norm(self, a: Tensor, gain: Tensor, bias: Tensor | None = None) -> Tensor:
        """LN over the last axis (one gate block): ``(..., K) -> (..., K)``."""
        return F.layer_norm(a, a.shape[-1:], gain, bias, LN_EPS)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> GRUState:
        return GRUState(self._hidden_spec(batch_size))

    def project(self, x: Tensor) -> Tensor:
        """Input projections of all steps at once: (..., I) -> (..., 3H).

        ``weight_ih @ x + bias_ih``, plus ``bias_hh`` in the "before" form, where no bias is
        multiplied by r and all of them fold into one vector. With ``layer_norm`` the product's
        blocks (r, z) and n are normalised first (the biases after).
        """
        b = (self.bias_ih + self.bias_hh if self.reset == "before" else self.bias_ih) if self.bias else None
        if not self.layer_norm:
            return self._input_product(x, b)
        H = self.hidden_size
        wx = self._input_product(x, None)
        g = self.ln_ih_weight
        u = torch.cat([self._norm(wx[..., :2 * H], g[:2 * H]), self._norm(wx[..., 2 * H:], g[2 * H:])], -1)
        return u if b is None else u + b

    def _step_layer_norm(self, u_t: Tensor, h: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """r, z, n of the layer-normalised GRU (see the class docstring): each (B, H)."""
        H = self.hidden_size
        xr, xz, xn = u_t.chunk(3, 1)
        g, w = self.ln_hh_weight, self.weight_hh
        after = self.reset == "after"
        b_rz, b_n = (self.bias_hh[:2 * H], self.bias_hh[2 * H:]) if self.bias and after else (None, None)
        hr, hz = self._norm(h @ w[:2 * H].t(), g[:2 * H], b_rz).chunk(2, 1)
        r = torch.sigmoid(xr + hr)
        z = torch.sigmoid(xz + hz)
        if after:
            n = torch.tanh(xn + r * self._norm(h @ w[2 * H:].t(), g[2 * H:], b_n))
        else:  # b_hh is in u_t
            n = torch.tanh(xn + self._norm((r * h) @ w[2 * H:].t(), g[2 * H:]))
        return r, z, n

    def step(self, u_t: Tensor, state: GRUState) -> tuple[Tensor, GRUState]:
        H = self.hidden_size
        h = state.h
        xr, xz, xn = u_t.chunk(3, 1)
        if self.layer_norm:
            r, z, n = self._step_layer_norm(u_t, h)
        elif self.reset == "after":
            hh = h @ self.weight_hh.t() if self.bias_hh is None else torch.addmm(self.bias_hh, h, self.weight_hh.t())
            hr, hz, hn = hh.chunk(3, 1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + r * hn)
        else:
            hr, hz = (h @ self.weight_hh[:2 * H].t()).chunk(2, 1)
            r = torch.sigmoid(xr + hr)
            z = torch.sigmoid(xz + hz)
            n = torch.tanh(xn + (r * h) @ self.weight_hh[2 * H:].t())
        self.report("r", r, "sigmoid")
        self.report("z", z, "sigmoid")
        self.report("n", n, "tanh")
        h_new = n + z * (h - n)  # = (1 - z) * n + z * h
        return h_new, GRUState(h_new)

    @property
    def fused_kind(self) -> str:
        """The runner's fast path: ``"torch"`` (torch computes this cell: its fused GRU kernel, which runs off
        the CPU and under compilation, export or tracing; in eager mode on the CPU below 64 sequences per thread
        the faster rnnzoo Function, see :func:`torch_kernel_is_faster`) for reset="after", else ``"rnnzoo"``
        (:func:`rnnzoo.fused.gru_recurrence`; :func:`rnnzoo.fused.layer_norm_gru_recurrence` with ``layer_norm``)."""
        return "torch" if self.reset == "after" and not self.layer_norm else "rnnzoo"

    @property
    def fused_traceable(self) -> bool:  # type: ignore[override]
        """torch's GRU kernel runs under torch.compile; the rnnzoo Function does not (buffers)."""
        return self.fused_kind == "torch"

    def fused(self, steps: Steps, state: GRUState) -> tuple[Tensor, GRUState] | None:
        """Whole sequence: torch's kernel on the raw input (prefix masks only), or the fused
        recurrence of :mod:`rnnzoo.fused.gru` on the projection ``steps.u``, per ``fused_kind``.

        Where torch's kernel computes the cell (``fused_kind == "torch"``), the rnnzoo Function runs
        instead where it is faster (:func:`torch_kernel_is_faster`: on the CPU below 64 sequences per
        thread) or where the kernel cannot (a mask with holes), except while compiling, exporting or
        tracing (torch's kernel is traceable, the Function is not: holes then take the step loop)."""
        if self.fused_kind == "torch" and not self._function_instead(state.h, steps.prefix):
            if not steps.prefix:
                return None
            out, (h,) = run_fused("gru", steps.x, (state.h,), self.torch_weights(), self.bias, steps.lengths)
            return out, GRUState(h)
        b_hh = self.bias_hh if self.reset == "after" else None  # "before" folds it into u
        if self.layer_norm:
            out, h = layer_norm_gru_recurrence(steps.u, state.h, self.weight_hh, self.ln_hh_weight, b_hh,
                                               reset=self.reset, mask=steps.mask)
            return out, GRUState(h)
        out, h = gru_recurrence(steps.u, state.h, self.weight_hh, b_hh, reset=self.reset, mask=steps.mask)
        return out, GRUState(h)

    @staticmethod
    def _function_instead(h: Tensor, prefix: bool = True) -> bool:
        """Run the rnnzoo Function where torch's kernel computes the cell, in eager mode: where it is faster for
        this device and batch (``h``: (B, H)), or where the mask has holes (``prefix`` False)."""
        if torch.compiler.is_compiling() or torch.jit.is_tracing() or torch.jit.is_scripting():
            return False
        return not prefix or not torch_kernel_is_faster(h.device, h.shape[0])

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``weight_hh`` by gate (r, z, n)."""
        return gate_blocks(self.weight_hh, ("r", "z", "n"), ("sigmoid", "sigmoid", "tanh"))

    def torch_equivalent(self) -> TorchEquivalent | None:
        return self._equivalent("GRU") if self.fused_kind == "torch" else None

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, reset={self.reset!r}, bias={self.bias}"
                + (", layer_norm=True" if self.layer_norm else ""))



register("gru", paper=Paper("Cho, van Merrienboer, Gulcehre, Bahdanau, Bougares, Schwenk & Bengio", 2014,
                             "Learning phrase representations using RNN encoder-decoder for statistical "
                             "machine translation", "1406.1078"),
         seed_equations="001 eqs (36)-(39)",
         description="Gated recurrent unit; reset gate after (torch/cuDNN, default) or before the product (Cho)",
         gated=True, family="gru", fast_path=FastPath.TORCH, torch_module="GRU")(GRUCell)
