"""Independently recurrent neural network (IndRNN): every unit has one recurrent weight, its own."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused._common import LN_EPS
from rnnzoo.fused.indrnn import INDRNN_ACTIVATIONS, indrnn_recurrence


class IndRNNState(NamedTuple):
    """h: (B, H) the hidden state."""

    h: Tensor


class IndRNNCell(Cell):
    r"""IndRNN (Li, Li, Cook, Zhu & Gao 2018, arXiv:1803.04831), the paper's eq (2)::

        h_t = act(weight_ih @ x_t + w * h_{t-1} + bias)       # w = clamp(weight_hh, -recurrent_max, recurrent_max)

    ``weight_hh`` is a vector ``(H,)``: unit n sees only its own past (``u_n h_{n,t-1}``, "*" the
    Hadamard product), so the step has no matrix product and the neurons are independent; layers
    (``num_layers`` of ``rnnzoo.create``) mix them. ``act``: ``relu`` (the paper's choice) or ``tanh``.

    The constraint (the paper's analysis of backpropagation through time): the gradient through T - t steps
    of an active relu unit is ``u_n^(T-t)``, so it neither explodes nor vanishes when ``|u_n|`` lies in a range
    around 1, e.g. ``|u_n| <= 2^(1/T)``
    (the authors' code: ``U_bound = MAG^(1/T)`` with MAG 2 or 10, or simply ``[-1, 1]``). Here:
    ``recurrent_max`` (default 1.0, the authors' simple choice; ``2 ** (1 / T)`` the paper's for length T;
    None for none). It is kept two ways: every computation reads ``w = clamp(weight_hh, ...)``, so the
    constraint holds for whatever trainer runs the cell; and :meth:`constrain_` projects the parameter
    itself back into the range, which is the paper's clipping after each optimiser step for a trainer that
    calls it. (A parametrisation would also hold without the trainer, but a smooth one such as
    ``max * tanh(v)`` changes the optimisation geometry the paper used; the clamp does not, inside the range.)

    Initialisation (the authors' code, for relu): ``weight_hh ~ U(0, 1)`` ("different neurons keep different
    kinds of memory"; ``recurrent_init=(lo, hi)`` picks another range, e.g. ``(1, 1)`` for the last layer
    of a network read only at its last step); ``weight_ih`` and ``bias`` U(-1/sqrt(H), 1/sqrt(H)).

    With ``layer_norm=True`` the input part is normalised before it meets the recurrence,
    ``u_t = ln_gain * LN(weight_ih @ x_t) + bias`` (Ba et al. 2016, arXiv:1607.06450): where the IndRNN papers
    put their batch normalisation ("between the processing of the input and the activation"), and what keeps a
    relu layer's input alive (a wrapper normalising ``h_t`` after the relu would carry a state in which
    inactive units are pushed further below zero).

    Args:
        input_size: I. hidden_size: H. activation: ``"relu"`` or ``"tanh"``. bias: learn ``bias``.
        layer_norm: normalise ``weight_ih @ x_t`` over the units (above).
        recurrent_max: the bound on ``|weight_hh|``, or None. recurrent_init: ``(lo, hi)`` of the
            uniform initialisation of ``weight_hh``.

    Shapes: x_t (B, I); state ``IndRNNState(h (B, H))``; output (B, H).

    Deviations: the paper clips ``u`` after each update; here the forward pass also reads the clamped
    value, so an update that steps a weight past the bound computes as if clipped (with zero gradient for
    that weight until :meth:`constrain_` or a later update brings it back). The paper's networks add batch
    normalisation between layers for depth > 3 (not part of the cell; none here).
    """

    def __init__(self, input_size: int, hidden_size: int, *, activation: str = "relu", bias: bool = True,
                 recurrent_max: float | None = 1.0, recurrent_init: tuple[float, float] = (0.0, 1.0),
                 layer_norm: bool = False) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, bias=bias, layer_norm=layer_norm)
        if activation not in INDRNN_ACTIVATIONS:
            raise ValueError(f"activation: expected one of {INDRNN_ACTIVATIONS}, got {activation!r}")
        if recurrent_max is not None and (isinstance(recurrent_max, bool) or not isinstance(recurrent_max, (int, float))
                                          or not 0.0 < float(recurrent_max) < math.inf):
            raise ValueError(f"recurrent_max: expected a positive finite number or None, got {recurrent_max!r}")
        if (not isinstance(recurrent_init, (tuple, list)) or len(recurrent_init) != 2
                or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in recurrent_init)
                or recurrent_init[0] > recurrent_init[1]):
            raise ValueError(f"recurrent_init: expected a pair (lo, hi) of numbers with lo <= hi, "
                             f"got {recurrent_init!r}")
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.activation = activation
        self.recurrent_max = None if recurrent_max is None else float(recurrent_max)
        self.recurrent_init = (float(recurrent_init[0]), float(recurrent_init[1]))
        self.weight_ih = nn.Parameter(torch.empty(hidden_size, input_size))
        self.weight_hh = nn.Parameter(torch.empty(hidden_size))
        self.bias = nn.Parameter(torch.empty(hidden_size)) if bias else None
        self.layer_norm = layer_norm
        self.ln_gain = nn.Parameter(torch.ones(hidden_size)) if layer_norm else None
        self.reset_parameters()

    def reset_parameters(self) -> None:
        k = 1.0 / math.sqrt(self.hidden_size)
        nn.init.uniform_(self.weight_ih, -k, k)
        if self.bias is not None:
            nn.init.uniform_(self.bias, -k, k)
        lo, hi = self.recurrent_init
        nn.init.uniform_(self.weight_hh, lo, hi)
        if self.ln_gain is not None:
            nn.init.ones_(self.ln_gain)

    @property
    def w(self) -> Tensor:
        """The recurrent weights as computed with: ``weight_hh`` clamped to ``[-recurrent_max, recurrent_max]``."""
        if self.recurrent_max is None:
            return self.weight_hh
        return self.weight_hh.clamp(-self.recurrent_max, self.recurrent_max)

    @torch.no_grad()
    def constrain_(self) -> IndRNNCell:
        """Clip ``weight_hh`` into ``[-recurrent_max, recurrent_max]`` in place (the paper's constraint, applied
        after an optimiser step); returns the cell."""
        if self.recurrent_max is not None:
            self.weight_hh.clamp_(-self.recurrent_max, self.recurrent_max)
        return self

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> IndRNNState:
        return IndRNNState(TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``weight_ih @ x + bias`` for all steps, or ``ln_gain * LN(weight_ih @ x) + bias`` with ``layer_norm``:
        (..., I) -> (..., H)."""
        flat = x.reshape(-1, x.shape[-1])
        if self.layer_norm:
            out = F.layer_norm(flat @ self.weight_ih.t(), (self.hidden_size,), self.ln_gain, self.bias, eps=LN_EPS)
        elif self.bias is None:
            out = flat @ self.weight_ih.t()
        else:
            out = torch.addmm(self.bias, flat, self.weight_ih.t())
        return out.view(*x.shape[:-1], self.hidden_size)

    def step(self, u_t: Tensor, state: IndRNNState) -> tuple[Tensor, IndRNNState]:
        pre = torch.addcmul(u_t, self.w, state.h)
        h = torch.relu(pre) if self.activation == "relu" else torch.tanh(pre)
        self.report("h", h, self.activation)
        return h, IndRNNState(h)

    fused_kind = "rnnzoo"
    """The runner's fast path: :func:`rnnzoo.fused.indrnn.indrnn_recurrence` (no torch kernel computes this cell)."""

    def fused(self, steps: Steps, state: IndRNNState) -> tuple[Tensor, IndRNNState]:
        """The whole sequence: input projections in one product (``steps.u``), then the elementwise
        recurrence with its hand-written backward."""
        out, h = indrnn_recurrence(steps.u, state.h, self.w, activation=self.activation, mask=steps.mask)
        return out, IndRNNState(h)

    def recurrent_blocks(self) -> list[RecurrentBlock]:
        """``diag(w)``, the recurrent matrix of eq (2) (read-only: a dense scheme would not keep it diagonal);
        its parameter ``weight_hh`` is what weight drop masks."""
        return [RecurrentBlock("weight_hh (diag)", torch.diag(self.w.detach()), self.activation, writable=False,
                               parameter="weight_hh")]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, activation={self.activation!r}, "
                f"bias={self.bias is not None}, recurrent_max={self.recurrent_max}, "
                f"recurrent_init={self.recurrent_init}, layer_norm={self.layer_norm}")


register("indrnn", paper=Paper("Li, Li, Cook, Zhu & Gao", 2018,
                                "Independently recurrent neural network (IndRNN): building a longer and deeper RNN",
                                "1803.04831"),
         seed_equations="none (not in the seeds)",
         description="ReLU units each with one recurrent weight (Hadamard recurrence), |u| constrained",
         fast_path=FastPath.RNNZOO, recurrence=Recurrence.ELEMENTWISE)(IndRNNCell)
