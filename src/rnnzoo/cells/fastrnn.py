"""FastRNN and FastGRNN (Kusupati, Singh, Bhatia, Kumar, Jain & Varma 2018, arXiv:1901.02358): a residual Elman
step with two learned scalars, and its gated form whose gate shares the candidate's weights."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args, real
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.fastrnn import fast_recurrence


class FastRNNState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class _Fast(PointwiseCell):
    """What FastRNN and FastGRNN share: ``W``, ``U``, a bias, two scalar logits."""

    scalars: tuple[str, str] = ("", "")
    n_bias = 1
    activation = "tanh"

    def __init__(self, input_size: int, hidden_size: int, *, init: tuple[float, float], bias: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias)
        if not isinstance(init, (tuple, list)) or len(init) != 2:
            raise ValueError(f"{self.scalars[0]}_init/{self.scalars[1]}_init: expected two numbers, got {init!r}")
        self.inits = (real(f"{self.scalars[0]}_init", init[0]), real(f"{self.scalars[1]}_init", init[1]))
        self.input_size, self.hidden_size, self.output_size = input_size, hidden_size, hidden_size
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))  # W
        self.weight_hh = nn.Parameter(torch.empty(hidden_size, hidden_size))  # U
        self.bias = nn.Parameter(torch.empty(self.n_bias * hidden_size)) if bias else None
        for name in self.scalars:
            self.register_parameter(f"{name}_logit", nn.Parameter(torch.empty(1)))
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """``W``, ``U``: U(-1/sqrt(H), 1/sqrt(H)); biases 0 (the authors' EdgeML cells start them at 1 and 1, a
        choice of theirs, not the paper's); the scalar logits at their ``*_init`` values."""
        k = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -k, k)
        nn.init.uniform_(self.weight_hh, -k, k)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        with torch.no_grad():
            for name, value in zip(self.scalars, self.inits, strict=True):
                getattr(self, f"{name}_logit").fill_(value)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> FastRNNState:
        return FastRNNState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``W x`` (+ ``b`` for FastRNN) for all steps: (..., I) -> (..., H)."""
        flat = x.reshape(-1, x.shape[-1])
        if self.bias is None or self.n_bias != 1:
            out = flat @ self.weight_ih.t()
        else:
            out = torch.addmm(self.bias, flat, self.weight_ih.t())
        return out.view(*x.shape[:-1], self.hidden_size)

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    fused_kind = "rnnzoo"  # its own Function (rnnzoo.fused.fastrnn), not PointwiseCell's default loop

    def fused(self, steps: Steps, state: FastRNNState) -> tuple[Tensor, FastRNNState] | None:
        """The whole sequence through :func:`rnnzoo.fused.fastrnn.fast_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor) or steps.u.is_meta:
            return None  # the Function reads the two scalars as numbers, once per run: the meta device has none
        a, b = (torch.sigmoid(getattr(self, f"{name}_logit")) for name in self.scalars)
        gated = self.n_bias == 2
        out, h = fast_recurrence(steps.u, self.weight_hh, self.bias if gated else None, a, b, state.h, steps.mask,
                                 gated=gated)
        return out, FastRNNState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        return [RecurrentBlock("weight_hh", self.weight_hh, self.activation, True, "weight_hh")]

    def extra_repr(self) -> str:
        inits = ", ".join(f"{n}_init={v}" for n, v in zip(self.scalars, self.inits, strict=True))
        return f"{self.input_size}, {self.hidden_size}, {inits}, bias={self.bias is not None}"


class FastRNNCell(_Fast):
    r"""FastRNN (Kusupati et al. 2018, arXiv:1901.02358, sec. 3.1)::

        h~_t = tanh(W x_t + U h_{t-1} + b)
        h_t  = alpha * h~_t + beta * h_{t-1},      alpha = sigmoid(alpha_logit), beta = sigmoid(beta_logit)

    ``weight_ih`` is ``W``, ``weight_hh`` is ``U``; ``alpha``, ``beta`` are learned scalars in (0, 1) (the paper's
    "trainable parameters ... parametrised with the sigmoid function"). Not in the seeds.

    Args:
        input_size: I. hidden_size: H.
        alpha_init, beta_init: the logits' initial values. Defaults -3 and 3 (alpha ~ 0.047, beta ~ 0.95): the
            authors' EdgeML code, the paper's regime of a small alpha and beta ~ 1 - alpha (sec. 3.1, Theorem 3.1).
        bias: learn ``b``.

    Shapes: x_t (B, I); state ``FastRNNState(h (B, H))``; output (B, H).

    Fast path: :func:`rnnzoo.fused.fastrnn.fast_recurrence` (``FastPath.RNNZOO``: forward without a graph per step,
    a hand-written backward); ``pointwise`` stays the reference.

    Deviations: the paper's low-rank (``W = W1 W2``) and sparse variants and its 8-bit quantisation are
    compression steps outside the cell (not here). torchrecurrent starts the logits the other way round
    (alpha_init = 3, beta_init = -3: alpha ~ 0.95, beta ~ 0.05), an almost plain Elman step at initialisation.

    >>> import torch, rnnzoo
    >>> cell = FastRNNCell(3, 8)
    >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
    torch.Size([2, 5, 8])
    """

    scalars = ("alpha", "beta")

    def __init__(self, input_size: int, hidden_size: int, *, alpha_init: float = -3.0, beta_init: float = 3.0,
                 bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, init=(alpha_init, beta_init), bias=bias)

    def pointwise(self, u_t: Tensor, r_t: Tensor, state: FastRNNState) -> FastRNNState:
        alpha, beta = torch.sigmoid(self.alpha_logit), torch.sigmoid(self.beta_logit)
        return FastRNNState(alpha * torch.tanh(u_t + r_t) + beta * state.h)


class FastGRNNCell(_Fast):
    r"""FastGRNN (Kusupati et al. 2018, arXiv:1901.02358, sec. 3.2)::

        z_t  = sigmoid(W x_t + U h_{t-1} + b_z)                    # the gate shares W and U with the candidate
        h~_t = tanh(W x_t + U h_{t-1} + b_h)
        h_t  = (zeta * (1 - z_t) + nu) * h~_t + z_t * h_{t-1},     zeta = sigmoid(zeta_logit), nu = sigmoid(nu_logit)

    ``weight_ih`` is ``W``, ``weight_hh`` is ``U`` (one product per step serves gate and candidate), ``bias``
    stacks ``[b_z; b_h]``. Not in the seeds.

    Args:
        input_size: I. hidden_size: H.
        zeta_init, nu_init: the logits' initial values. Defaults 1 and -4 (zeta ~ 0.73, nu ~ 0.018): the authors'
            EdgeML code (the paper: zeta ~ 1, nu ~ 0 at the start).
        bias: learn ``b_z`` and ``b_h``.

    Shapes: x_t (B, I); state ``FastRNNState(h (B, H))``; output (B, H).

    Fast path: :func:`rnnzoo.fused.fastrnn.fast_recurrence` (``FastPath.RNNZOO``: forward without a graph per step,
    a hand-written backward); ``pointwise`` stays the reference.

    Deviations: as :class:`FastRNNCell` (no low-rank, sparse or quantised variants). torchrecurrent keeps two
    biases per block (input and recurrent: the same function, redundant parameters) and starts the logits at
    zeta_init = 3, nu_init = -3.
    """

    scalars = ("zeta", "nu")
    n_bias = 2

    def __init__(self, input_size: int, hidden_size: int, *, zeta_init: float = 1.0, nu_init: float = -4.0,
                 bias: bool = True) -> None:
        super().__init__(input_size, hidden_size, init=(zeta_init, nu_init), bias=bias)

    def pointwise(self, u_t: Tensor, r_t: Tensor, state: FastRNNState) -> FastRNNState:
        pre = u_t + r_t
        if self.bias is not None:
            bz, bh = self.bias.chunk(2)
            z, cand = torch.sigmoid(pre + bz), torch.tanh(pre + bh)
        else:
            z, cand = torch.sigmoid(pre), torch.tanh(pre)
        self.report("z", z, "sigmoid")
        zeta, nu = torch.sigmoid(self.zeta_logit), torch.sigmoid(self.nu_logit)
        return FastRNNState((zeta * (1 - z) + nu) * cand + z * state.h)


_PAPER = Paper("Kusupati, Singh, Bhatia, Kumar, Jain & Varma", 2018, "FastGRNN: a fast, accurate, stable and tiny "
               "kilobyte sized gated recurrent neural network", "1901.02358")
register("fastrnn", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="Elman candidate mixed residually with the old state by two learned scalars (alpha, beta)",
         fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.FastRNN",))(FastRNNCell)
register("fastgrnn", paper=_PAPER, seed_equations="none (not in the seeds)",
         description="FastRNN with a gate sharing the candidate's weights, scaled by two learned scalars (zeta, nu)",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX,
         peers=("torchrecurrent.FastGRNN",))(FastGRNNCell)
