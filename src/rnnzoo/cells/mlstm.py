"""mLSTM: the matrix-memory cell of xLSTM, with a recurrent (streaming) step and a parallel (training) form."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.cells.slstm import XLSTM, check_forget_gate, check_heads, log_forget
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args, real
from rnnzoo.core.registry import FastPath, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.mlstm import mlstm_parallel


class MLSTMState(NamedTuple):
    """h: (B, H) the output; C: (B, NH, d, d) the matrix memory ``C[v_index, k_index]``; n: (B, NH, d)
    the normaliser; m: (B, NH) the stabiliser (``d = H / NH``)."""

    h: Tensor
    C: Tensor
    n: Tensor
    m: Tensor


class MLSTMCell(Cell):
    r"""mLSTM (Beck et al. 2024, "xLSTM: Extended Long Short-Term Memory", arXiv:2405.04517, section 2.3,
    eqs (19)-(27) of arXiv v2, stabilised as in its appendix and the ``xlstm`` package's backends), per head of size
    ``d = H / num_heads``, with every gate computed from ``x_t`` alone (``u_t = project(x_t)``)::

        q = W_q x + b_q;  k = (W_k x + b_k) / sqrt(d);  v = W_v x + b_v     # eqs (22)-(24)
        i_raw = w_i . x + b_i;  log_f = logsigmoid(w_f . x + b_f)          # eqs (25), (26): scalars per head
        o = sigmoid(W_o x + b_o)                                           # eq (27)
        m_t = max(log_f + m_{t-1}, i_raw)                                  # stabiliser
        i' = exp(i_raw - m_t);  f' = exp(log_f + m_{t-1} - m_t)
        C_t = f' C_{t-1} + i' v k^T                                        # eq (19)
        n_t = f' n_{t-1} + i' k                                            # eq (20)
        h~ = C_t q / (max(|n_t . q|, exp(-m_t)) + eps)                     # eq (21), stabilised
        h_t = o * h~                                                       # eq (21)

    ``exp(-m_t)`` is the paper's lower bound 1 in the stabilised scale (``C_t exp(m_t)`` and ``n_t exp(m_t)``
    are the unstabilised states). The step is the recurrent form; ``fused`` is the parallel form
    (:func:`rnnzoo.fused.mlstm.mlstm_parallel`), equal to it for any initial state and mask. The seeds predate
    xLSTM (no seed equation numbers).

    Args:
        num_heads: heads (must divide hidden_size); each has its own memory ``(d, d)`` and scalar gates.
        forget_gate: ``"sigmoid"`` (default, as the package) or ``"exp"`` (``log_f = f_raw``).
        eps: added to the denominator of eq (21) (the package's 1e-6).

    Shapes: x_t (B, I); u_t (B, 4H + 2 NH): ``[q | k | v | o | i_raw | f_raw]``, each head-major; state
    ``MLSTMState(h (B, H), C (B, NH, d, d), n (B, NH, d), m (B, NH))``; output h (B, H).

    Deviations: this is the recurrent cell with its q/k/v/gate projections from ``x_t`` (input_size ->
    hidden_size), not the xLSTM mLSTM block (its up-projection, causal convolution feeding q and k, learnable
    skip, group norm, swish output branch and down-projection are layers around the cell); q, k, v are dense
    projections of ``x_t`` as in eqs (22)-(24). ``num_heads=1`` by default (the package's block uses 4).
    ``h`` is a field of the state (the output; the recurrence reads only C, n, m). Initialisation: weights
    U(-1/sqrt(I), 1/sqrt(I)); biases zero except the forget gate's, linearly spaced from 3 to 6 over the heads
    (the package's ``bias_linspace_init_``); the zero state has ``m = 0``. ``weight_drop`` (DropConnect)
    masks ``weight_gates``, the gate weights that scale ``C_{t-1}`` (there is no recurrent matrix), as for
    minGRU and minLSTM. The key's bias is scaled with it, ``k = (W_k x + b_k) / sqrt(d)`` as the package
    computes it, where the paper's eq (23) writes ``k = W_k x / sqrt(d) + b_k`` (equally expressive: the bias
    is a free parameter either way).

    Example:
        >>> cell = MLSTMCell(3, 8, num_heads=2)
        >>> y, state = cell(torch.randn(5, 3))
        >>> y.shape, state.C.shape
        (torch.Size([5, 8]), torch.Size([5, 2, 4, 4]))
    """

    fused_kind = "autograd"
    """The runner's fast path: the parallel form (plain autograd operations)."""

    def __init__(self, input_size: int, hidden_size: int, *, num_heads: int = 1, forget_gate: str = "sigmoid",
                 eps: float = 1e-6, bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        self.input_size = input_size
        self.hidden_size = self.output_size = hidden_size
        self.num_heads = check_heads(hidden_size, num_heads)
        self.head_size = hidden_size // num_heads
        self.forget_gate = check_forget_gate(forget_gate)
        eps = real("eps", eps)
        if eps < 0:
            raise ValueError(f"eps: expected a number >= 0, got {eps!r}")
        self.eps = eps
        self.weight = nn.Parameter(torch.empty(4 * hidden_size, input_size))  # q, k, v, o
        self.bias = nn.Parameter(torch.empty(4 * hidden_size)) if bias else None
        # the input and forget gates (one scalar each per head): the weights that scale C_{t-1}, what weight
        # drop masks (there is no recurrent matrix), hence a parameter of their own
        self.weight_gates = nn.Parameter(torch.empty(2 * num_heads, input_size))
        self.bias_gates = nn.Parameter(torch.empty(2 * num_heads)) if bias else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.input_size)
        nn.init.uniform_(self.weight, -k, k)
        nn.init.uniform_(self.weight_gates, -k, k)
        if self.bias is not None and self.bias_gates is not None:
            with torch.no_grad():
                self.bias.zero_()
                self.bias_gates.zero_()
                self.bias_gates[-self.num_heads:] = torch.linspace(3.0, 6.0, self.num_heads)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> MLSTMState:
        NH, d = self.num_heads, self.head_size
        return MLSTMState(TensorSpec((batch_size, self.hidden_size)), TensorSpec((batch_size, NH, d, d)),
                          TensorSpec((batch_size, NH, d)), TensorSpec((batch_size, NH)))

    def project(self, x: Tensor) -> Tensor:
        """``[q | k | v | o_raw | i_raw | f_raw]`` for all steps: (..., I) -> (..., 4H + 2 NH)."""
        weight = torch.cat([self.weight, self.weight_gates])
        bias = None if self.bias is None or self.bias_gates is None else torch.cat([self.bias, self.bias_gates])
        return F.linear(x, weight, bias)

    def recurrent_weights(self) -> list[str]:
        """``weight_gates``: the input- and forget-gate weights, which scale ``C_{t-1}``: the only way one step
        reaches the next (no recurrent matrix). What ``weight_drop`` masks, as minGRU's (see Deviations)."""
        return ["weight_gates"]

    def _split(self, u: Tensor) -> tuple[Tensor, ...]:
        """q, k (scaled), v as (..., NH, d); o as (..., H); i_raw, log_f as (..., NH)."""
        H, NH, d = self.hidden_size, self.num_heads, self.head_size
        q, k, v, o_raw, i_raw, f_raw = u.split([H, H, H, H, NH, NH], -1)
        heads = u.shape[:-1] + (NH, d)
        return (q.reshape(heads), k.reshape(heads) / math.sqrt(d), v.reshape(heads), torch.sigmoid(o_raw),
                i_raw, log_forget(f_raw, self.forget_gate))

    def step(self, u_t: Tensor, state: MLSTMState) -> tuple[Tensor, MLSTMState]:
        q, k, v, o, i_raw, log_f = self._split(u_t)  # q, k, v (B, NH, d); i_raw, log_f (B, NH)
        m = torch.maximum(log_f + state.m, i_raw)
        i = torch.exp(i_raw - m)
        f = torch.exp(log_f + state.m - m)
        self.report("i", i, "exp")
        self.report("f", f, "exp")
        self.report("o", o, "sigmoid")
        C = f[..., None, None] * state.C + i[..., None, None] * (v.unsqueeze(-1) * k.unsqueeze(-2))
        n = f[..., None] * state.n + i[..., None] * k
        num = (C @ q.unsqueeze(-1)).squeeze(-1)  # (B, NH, d)
        den = torch.maximum((n * q).sum(-1).abs(), torch.exp(-m)) + self.eps  # (B, NH)
        h = o * (num / den.unsqueeze(-1)).flatten(-2)
        return h, MLSTMState(h, C, n, m)

    def fused(self, steps: Steps, state: MLSTMState) -> tuple[Tensor, MLSTMState]:
        """The parallel form over the whole sequence (:func:`rnnzoo.fused.mlstm.mlstm_parallel`)."""
        q, k, v, o, i_raw, log_f = self._split(steps.u)  # (T, B, NH, d) / (T, B, NH)
        q, k, v = (t.permute(1, 2, 0, 3) for t in (q, k, v))  # (T, B, NH, d) -> (B, NH, T, d)
        h_tilde, C, n, m = mlstm_parallel(q, k, v, i_raw.permute(1, 2, 0),
                                          log_f.permute(1, 2, 0), state.C, state.n, state.m,
                                          mask=steps.mask, eps=self.eps)
        out = o * h_tilde.permute(2, 0, 1, 3).flatten(-2)  # (T, B, H)
        if steps.mask is None:
            return out, MLSTMState(out[-1], C, n, m)
        mask = steps.mask
        out = out * mask.unsqueeze(-1).to(out.dtype)
        # h after each sequence's last valid step (the initial h where none is valid)
        T = mask.shape[0]
        last = (mask.long() * torch.arange(1, T + 1, device=mask.device).unsqueeze(1)).amax(0)  # (B,) in 0..T
        hs = torch.cat([state.h.unsqueeze(0), out], 0)  # (T + 1, B, H)
        h = hs.gather(0, last.view(1, -1, 1).expand(1, -1, self.hidden_size)).squeeze(0)
        return out, MLSTMState(h, C, n, m)

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, num_heads={self.num_heads}, "
                f"forget_gate={self.forget_gate!r}, eps={self.eps}, bias={self.bias is not None}")


register("mlstm", paper=XLSTM,
         seed_equations="none (after the seeds); xLSTM eqs (19)-(27)",
         description="Matrix memory C with exponential input gate, normaliser and stabiliser; parallel training form",
         gated=True, fast_path=FastPath.AUTOGRAD)(MLSTMCell)
