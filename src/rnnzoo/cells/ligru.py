r"""The light GRU (Li-GRU) of Ravanelli, Brakel, Omologo & Bengio 2018, "Light gated recurrent units for speech
recognition" (arXiv:1803.10225, IEEE TETCI): a GRU without its reset gate, with a ReLU candidate and batch
normalisation of the feed-forward products."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock, gate_blocks
from rnnzoo.core.cell import Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.pointwise import PointwiseCell
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.ligru import ligru_recurrence

ACTIVATIONS = ("relu", "tanh")


class LiGRUState(NamedTuple):
    """h: (B, H) the hidden state (also the output)."""

    h: Tensor


class LiGRUCell(PointwiseCell):
    r"""Li-GRU (Ravanelli et al. 2018, arXiv:1803.10225, sec. III, the Li-GRU equations)::

        z_t  = sigmoid(BN(W_z x_t) + U_z h_{t-1})              # update gate (no reset gate)
        hc_t = ReLU(BN(W_h x_t) + U_h h_{t-1})                 # candidate: ReLU, batch-normalised input part
        h_t  = z_t * h_{t-1} + (1 - z_t) * hc_t

    ``weight_ih`` stacks ``[W_z; W_h]`` ``(2H, I)``; ``weight_hh`` stacks ``[U_z; U_h]`` ``(2H, H)``. With
    ``batch_norm=True`` ``BN`` is a ``BatchNorm1d`` over the ``2H`` features of every (step, example) of the
    sequence (the authors' pytorch-kaldi code normalises the whole sequence's ``W x`` at once); its shift
    replaces the bias. With ``batch_norm=False`` (default) ``BN(v)`` is ``v + bias``. One recurrent product per
    step, unit-local update.

    Fast path: :func:`rnnzoo.fused.ligru.ligru_recurrence` (``FastPath.RNNZOO``: forward without a graph per step,
    a hand-written backward; ``project``, batch normalisation included, stays in autograd).

    Args:
        input_size: I. hidden_size: H. bias: learn ``bias`` ``(2H,)`` (ignored with ``batch_norm``, whose affine
            shift is the bias).
        activation: the candidate's, ``"relu"`` (the paper's) or ``"tanh"`` (its ablation).
        batch_norm: normalise ``W x`` with batch statistics (the paper's cell).

    Shapes: x_t (B, I); state ``LiGRUState(h (B, H))``; output (B, H).

    Initialisation (the authors' code): ``weight_ih`` U(-1/sqrt(I), 1/sqrt(I)) (``nn.Linear``'s), orthogonal
    ``U_z`` and ``U_h``, zero bias.

    Deviations: batch normalisation is off by default, because with batch statistics an example's output depends
    on the other examples and padded steps of the batch (which breaks rnnzoo's masking and batched-equals-single
    guarantees); ``batch_norm=True`` is the paper's cell (in training mode the statistics are over every step
    ``project`` sees: the whole sequence in ``rnnzoo.run``, one step when stepping by hand; eval mode uses the
    running statistics and has neither caveat).

    Example:
        >>> import torch, rnnzoo
        >>> cell = rnnzoo.create("ligru", input_size=3, hidden_size=4).cell
        >>> rnnzoo.run(cell, torch.randn(2, 5, 3)).output.shape
        torch.Size([2, 5, 4])
    """

    def __init__(self, input_size: int, hidden_size: int, *, bias: bool = True, activation: str = "relu",
                 batch_norm: bool = False) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias, batch_norm=batch_norm)
        if activation not in ACTIVATIONS:
            raise ValueError(f"activation: expected one of {ACTIVATIONS}, got {activation!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.activation = activation
        self.batch_norm = batch_norm
        self.weight_ih = nn.Parameter(torch.empty(2 * hidden_size, input_size))  # [W_z; W_h]
        self.weight_hh = nn.Parameter(torch.empty(2 * hidden_size, hidden_size))  # [U_z; U_h]
        self.bias = nn.Parameter(torch.empty(2 * hidden_size)) if bias and not batch_norm else None
        self.norm = nn.BatchNorm1d(2 * hidden_size, momentum=0.05) if batch_norm else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.input_size)
        nn.init.uniform_(self.weight_ih, -k, k)
        for w in self.weight_hh.data.chunk(2):
            nn.init.orthogonal_(w)
        if self.bias is not None:
            nn.init.zeros_(self.bias)
        if self.norm is not None:
            self.norm.reset_parameters()

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> LiGRUState:
        return LiGRUState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[BN(W_z x), BN(W_h x)]``: (..., I) -> (..., 2H)."""
        flat = x.reshape(-1, x.shape[-1])
        if self.norm is not None:
            u = self.norm(flat @ self.weight_ih.t())
        elif self.bias is None:
            u = flat @ self.weight_ih.t()
        else:
            u = torch.addmm(self.bias, flat, self.weight_ih.t())  # one product, the bias added inside it
        return u.view(*x.shape[:-1], u.shape[-1])

    def recurrent_weight(self) -> Tensor:
        return self.weight_hh

    def pointwise(self, u_t: Tensor, r_t: Tensor | None, state: LiGRUState) -> LiGRUState:
        assert r_t is not None
        uz, uh = u_t.chunk(2, -1)
        rz, rh = r_t.chunk(2, -1)
        z = torch.sigmoid(uz + rz)
        self.report("z", z, "sigmoid")
        v = uh + rh
        hc = torch.relu(v) if self.activation == "relu" else torch.tanh(v)
        return LiGRUState(z * state.h + (1.0 - z) * hc)

    fused_kind = "rnnzoo"

    def fused(self, steps: Steps, state: LiGRUState) -> tuple[Tensor, LiGRUState] | None:
        """The whole sequence through :func:`rnnzoo.fused.ligru.ligru_recurrence` (raw-tensor forward, hand-written
        backward; the step loop is its reference twin)."""
        if not isinstance(steps.u, Tensor) or steps.steps == 0:
            return None
        out, h = ligru_recurrence(steps.u, self.weight_hh, state.h, steps.mask, activation=self.activation)
        return out, LiGRUState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``U_z`` (sigmoid) and ``U_h`` (the candidate's activation)."""
        return gate_blocks(self.weight_hh, ("z", "h"), ("sigmoid", self.activation))

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, bias={self.bias is not None}, "
                f"activation={self.activation!r}, batch_norm={self.batch_norm}")


register("ligru", paper=Paper("Ravanelli, Brakel, Omologo & Bengio", 2018,
                              "Light gated recurrent units for speech recognition", "1803.10225"),
         seed_equations="none (not in the seeds)",
         description="Light GRU: no reset gate, ReLU candidate, batch-normalised input products (option)",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.MATRIX, peers=("torchrecurrent.LiGRU",)
         )(LiGRUCell)
