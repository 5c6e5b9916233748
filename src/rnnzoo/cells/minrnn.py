"""minGRU and minLSTM (Feng, Tung, Ahmed, Bengio & Hajimirsadeghi 2024, "Were RNNs all we needed?"):
gates that read only the input, so training runs as a parallel scan."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.core import probe
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.log_scan import log_space_scan
from rnnzoo.fused.minrnn import minrnn_recurrence

MODES = ("auto", "scan", "sequential")
SCAN_ON_CPU = False
"""``mode="auto"`` on the CPU: the sequential Function (:func:`rnnzoo.fused.minrnn.minrnn_recurrence`), not the
log-space scan. Measured on this project's CPUs (2 shared cores, load ~9, torch 2.13, one thread, train step =
forward + backward, medians of 3 interleaved), the scan took 3.6-5.2x the sequential path's time at every size
tried: (T, B, H) = (10, 64, 256), (100, 64, 256), (100, 8, 64), (1000, 8, 64), for both cells (minGRU at
(100, 64, 256): 1621 ms against 312 ms). The scan costs several full ``(T, B, H)`` transcendental passes
(``exp``, ``log``, ``logcumsumexp`` and their gradients) where the sequential path does one ``(B, H)``
multiply-add per step, and a CPU runs a T-step loop of small kernels without launch costs. On other devices
"auto" takes the scan (T kernel launches per direction are what it avoids there); that choice is not measured
here (no accelerator was available). ``mode="scan"`` / ``"sequential"`` force either."""

_NEG = {torch.float16: torch.finfo(torch.float16).min, torch.bfloat16: torch.finfo(torch.bfloat16).min,
        torch.float32: torch.finfo(torch.float32).min, torch.float64: torch.finfo(torch.float64).min}


def g(x: Tensor) -> Tensor:
    """The paper's positive candidate activation (appendix, log-space version): ``x + 0.5`` for x >= 0, else
    ``sigmoid(x)``; continuous at 0 and > 0 everywhere."""
    return torch.where(x >= 0, x + 0.5, torch.sigmoid(x))


def log_g(x: Tensor) -> Tensor:
    """``log g(x)`` computed stably: ``log(x + 0.5)`` for x >= 0, else ``-softplus(-x)``."""
    return torch.where(x >= 0, torch.log(F.relu(x) + 0.5), -F.softplus(-x))


class MinRNNState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class _MinRNN(Cell):
    """What minGRU and minLSTM share: ``project`` (one product for every gate), the state, the fast path."""

    gates: tuple[str, ...] = ()
    kind: str = ""

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, mode: str = "auto") -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        if mode not in MODES:
            raise ValueError(f"mode: expected one of {MODES}, got {mode!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.mode = mode
        n = len(self.gates)
        self.weight_gates = nn.Parameter(torch.empty((n - 1) * hidden_size, input_size))
        self.weight_h = nn.Parameter(torch.empty(hidden_size, input_size))
        self.bias = nn.Parameter(torch.empty(n * hidden_size)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """U(-1/sqrt(I), 1/sqrt(I)), ``torch.nn.Linear``'s default (the paper's code uses nn.Linear)."""
        k = 1.0 / math.sqrt(self.input_size)
        for p in self.parameters():
            nn.init.uniform_(p, -k, k)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> MinRNNState:
        return MinRNNState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """Every gate's and the candidate's pre-activation for all steps: (..., I) -> (..., G*H), in the order
        of ``gates``."""
        flat = x.reshape(-1, x.shape[-1])
        w = torch.cat([self.weight_gates, self.weight_h]).t()
        out = flat @ w if self.bias is None else torch.addmm(self.bias, flat, w)
        return out.view(*x.shape[:-1], out.shape[-1])

    def recurrent_weights(self) -> list[str]:
        """``weight_gates``: the weights that set ``a_t``, the coefficient of ``h_{t-1}``, the only way one step
        reaches the next (there is no recurrent matrix: ``recurrent_blocks()`` is empty). What ``weight_drop``
        masks (see Deviations)."""
        return ["weight_gates"]

    def coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """``(a, b)`` of ``h_t = a_t * h_{t-1} + b_t`` from ``u = project(x)``."""
        raise NotImplementedError

    def log_coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        """``(log a, log b)``, computed in log space (never ``log`` of a rounded gate)."""
        raise NotImplementedError

    def step(self, u_t: Tensor, state: MinRNNState) -> tuple[Tensor, MinRNNState]:
        a, b = self.coefficients(u_t)
        h = torch.addcmul(b, a, state.h)
        return h, MinRNNState(h)

    fused_kind = "rnnzoo"
    """The runner's fast path: the log-space scan or the sequential Function (``mode``)."""

    def uses_scan(self, device: torch.device) -> bool:
        """Whether a run on ``device`` takes the log-space scan (``mode``; "auto": see :data:`SCAN_ON_CPU`)."""
        if self.mode == "auto":
            return SCAN_ON_CPU if device.type == "cpu" else True
        return self.mode == "scan"

    def fused(self, steps: Steps, state: MinRNNState) -> tuple[Tensor, MinRNNState]:
        """The whole sequence: ``u`` in one product, then :func:`~rnnzoo.fused.log_scan.log_space_scan` or
        :func:`~rnnzoo.fused.minrnn.minrnn_recurrence` (gates and recurrence in one Function). Masked steps:
        ``a = 1, b = 0``."""
        u, mask = steps.u, steps.mask
        if self.uses_scan(u.device):
            la, lb = self.log_coefficients(u)
            if mask is not None:
                m = mask.unsqueeze(2)
                la = torch.where(m, la, 0.0)
                lb = torch.where(m, lb, _NEG[lb.dtype])
            out = log_space_scan(la, lb, state.h)
            h = out[-1]
            if mask is not None:
                out = out * mask.unsqueeze(2).to(out.dtype)
            return out, MinRNNState(h)
        out, h = minrnn_recurrence(u, state.h, kind=self.kind, mask=mask)
        return out, MinRNNState(h)

    def extra_repr(self) -> str:
        return f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}, mode={self.mode!r}"


class MinGRUCell(_MinRNN):
    r"""minGRU (Feng et al. 2024, arXiv:2410.01201, sec. 3.1; log-space form in its appendix)::

        z_t  = sigmoid(k_z),  k_z = W_z x_t + b_z          # update gate, from the input only
        hc_t = g(k_h),        k_h = W_h x_t + b_h          # candidate; g(v) = v + 0.5 (v >= 0), sigmoid(v) (v < 0)
        h_t  = (1 - z_t) * h_{t-1} + z_t * hc_t            # a_t = 1 - z_t, b_t = z_t * hc_t

    In log space (the parallel scan): ``log a_t = -softplus(k_z)``, ``log b_t = -softplus(-k_z) + log g(k_h)``.
    ``weight_gates`` is ``W_z`` ``(H, I)``, ``weight_h`` is ``W_h``; ``bias`` stacks ``[b_z; b_h]``.

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias``.
        mode: ``"scan"`` (log-space parallel scan), ``"sequential"`` (a fused elementwise loop) or ``"auto"``
            (the faster of the two on this device: :data:`SCAN_ON_CPU`). Both equal the step
            loop for any initial state and mask; ``step`` is the streaming form.

    Shapes: x_t (B, I); state ``MinRNNState(h (B, H))``; output (B, H).

    Deviations: the candidate is ``g(W_h x + b_h)`` in every mode (the paper's log-space version; its plain
    version uses ``W_h x`` unbounded, which a log-space scan cannot take); the paper's models add an output
    projection, normalisation and residual connections around the cell (not part of it; none here).
    The initial state may be any real: h_0 is added linearly beside the scan (the appendix's algorithm
    puts ``log h_0`` inside it, which needs h_0 > 0). There is no recurrent weight matrix; ``weight_drop``
    (DropConnect, AWD-LSTM) masks ``weight_gates``, the weights of the gate that scales ``h_{t-1}``.
    """

    gates = ("z", "h")
    kind = "mingru"

    def coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        kz, kh = u.chunk(2, -1)
        z = torch.sigmoid(kz)
        self.report("z", z, "sigmoid")
        return 1 - z, z * g(kh)

    def log_coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        kz, kh = u.chunk(2, -1)
        return -F.softplus(kz), log_g(kh) - F.softplus(-kz)


class MinLSTMCell(_MinRNN):
    r"""minLSTM (Feng et al. 2024, arXiv:2410.01201, sec. 3.2; log-space form in its appendix)::

        f_t  = sigmoid(k_f),  i_t = sigmoid(k_i)            # forget and input gates, from the input only
        f'_t = f_t / (f_t + i_t),  i'_t = i_t / (f_t + i_t)  # normalised: the state's scale is time-independent
        hc_t = g(k_h)                                       # candidate, g as in minGRU
        h_t  = f'_t * h_{t-1} + i'_t * hc_t                 # a_t = f'_t, b_t = i'_t * hc_t

    Computed as ``f'_t = sigmoid(log f_t - log i_t)`` with ``log f_t = -softplus(-k_f)``: the same numbers
    without a division; in log space ``log f'_t = -softplus(log i_t - log f_t)``. ``weight_gates`` stacks
    ``[W_f; W_i]`` ``(2H, I)``, ``weight_h`` is ``W_h``; ``bias`` stacks ``[b_f; b_i; b_h]``.

    Args: as :class:`MinGRUCell`.

    Shapes: x_t (B, I); state ``MinRNNState(h (B, H))``; output (B, H).

    Deviations: as minGRU's (g in every mode; h_0 any real; no surrounding block; ``weight_drop`` masks
    ``weight_gates``, here both gates').
    """

    gates = ("f", "i", "h")
    kind = "minlstm"

    def _log_gates(self, u: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        kf, ki, kh = u.chunk(3, -1)
        return -F.softplus(-kf), -F.softplus(-ki), kh

    def coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        lf, li, kh = self._log_gates(u)
        if probe.recording():  # the gates themselves, for the saturation diagnostics
            self.report("f", lf.exp(), "sigmoid")
            self.report("i", li.exp(), "sigmoid")
        d = lf - li
        return torch.sigmoid(d), torch.sigmoid(-d) * g(kh)

    def log_coefficients(self, u: Tensor) -> tuple[Tensor, Tensor]:
        lf, li, kh = self._log_gates(u)
        d = lf - li
        return -F.softplus(-d), log_g(kh) - F.softplus(d)


_PAPER = Paper("Feng, Tung, Ahmed, Bengio & Hajimirsadeghi", 2024, "Were RNNs all we needed?", "2410.01201")
register("mingru", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="GRU with gates from the input only (no h_{t-1}): a linear recurrence trained by a log-space scan",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.ELEMENTWISE)(MinGRUCell)
register("minlstm", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="LSTM with input-only, normalised forget/input gates and no output gate: a log-space scan",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.ELEMENTWISE)(MinLSTMCell)
