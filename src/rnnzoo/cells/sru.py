"""Simple recurrent unit (SRU): every matrix product over all steps at once, an elementwise recurrence."""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.core.cell import Cell, Steps
from rnnzoo.core.checks import check_cell_args, real
from rnnzoo.core.registry import FastPath, Paper, Recurrence, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.fused.sru import sru_recurrence


def highway_scale(highway_bias: float) -> float:
    """``sqrt(1 + 2 exp(highway_bias))``: the factor of ``x_t`` in SRU's highway term with ``rescale`` (the ``sru``
    package's ``scale_x``, which keeps the output's variance near the input's at initialisation)."""
    return math.sqrt(1 + 2 * math.exp(highway_bias))

class SRUState(NamedTuple):
    """h: (B, H) the output of the last step; c: (B, H) the internal (cell) state, the only recurrent one."""

    h: Tensor
    c: Tensor


class SRUCell(Cell):
    r"""SRU (Lei, Zhang, Wang, Dai & Artzi 2018, arXiv:1709.02755, final version, Section 2 eqs (1)-(4);
    seed 003 names SRU/SRU++ among the recent innovations, without equations), as the ``sru`` 2.6.0 package
    computes it::

        f_t = sigmoid(W_f @ x_t + v_f * c_{t-1} + b_f)     # eq (1); W_f = weight_ih block 1, v_f = weight_c[0]
        c_t = f_t * c_{t-1} + (1 - f_t) * (W @ x_t)        # eq (2); W = block 0
        r_t = sigmoid(W_r @ x_t + v_r * c_{t-1} + b_r)     # eq (3); W_r = block 2, v_r = weight_c[1]
        h_t = r_t * c_t + (1 - r_t) * xp_t                 # eq (4), the highway output
        xp_t = scale_x * x_t   if input_size == hidden_size (scale_x = sqrt(1 + 2 exp(highway_bias)),
                                                             sqrt(3) by default; 1 with rescale=False)
        xp_t = W' @ x_t        otherwise (W' = block 3, initialised times that scale)

    ``bias = [b_f; b_r]`` (2, H); ``weight_c = [v_f; v_r]`` (2, H); ``weight_ih`` (3H or 4H, I) stacks
    the blocks ``[W; W_f; W_r (; W')]``. No step multiplies a matrix by the state: ``project`` computes
    every product for all steps, the recurrence is elementwise (:func:`rnnzoo.fused.sru.sru_recurrence`).

    Args:
        highway_bias: the initial value of ``b_r`` (the package's ``highway_bias``; the paper suggests
            negative values for deep models, e.g. -3 in its LM experiments).
        rescale: scale the highway term (the package's ``SRUCell`` default True; its ``SRU`` defaults to False).
        skip: the highway term (the package's ``has_skip_term``); without it ``h_t = r_t * c_t``.

    Shapes: x_t (B, I); state ``SRUState(h (B, H), c (B, H))``; output (B, H).

    Initialisation (the package's): ``weight_ih`` uniform with variance 1/I, the gate blocks W_f, W_r times
    sqrt(1/2); ``weight_c`` uniform with variance 1/2; ``b_f = 0``, ``b_r = highway_bias``.

    Deviations: none in the computation for the options above (``tests/crosscheck/test_sru_package.py``
    holds it equal to the package). Not offered: the package's ``use_tanh`` and ``v1`` (deprecated there),
    ``n_proj`` (a factorised weight), ``layer_norm`` / ``normalize_after`` and ``dropout`` (rnnzoo's
    wrappers compose these for every cell), ``custom_m`` (that hook is SRU++: :mod:`rnnzoo.cells.sru_pp`).
    A package layer with ``bidirectional=True`` is two of these cells (``from_sru_package(m, direction=1)``
    for the backward one). The state also carries ``h`` because a step's output is a function of its state.

    Example:
        >>> import torch, rnnzoo
        >>> from rnnzoo.cells import SRUCell
        >>> cell = SRUCell(8, 8)
        >>> rnnzoo.run(cell, torch.randn(2, 5, 8)).output.shape
        torch.Size([2, 5, 8])
    """

    def __init__(self, input_size: int, hidden_size: int, *, highway_bias: float = 0.0, rescale: bool = True,
                 skip: bool = True) -> None:
        super().__init__()
        check_cell_args(input_size, hidden_size, rescale=rescale, skip=skip)
        self.highway_bias = real("highway_bias", highway_bias)
        self.input_size = input_size
        self.hidden_size = hidden_size
        self.output_size = hidden_size
        self.rescale = rescale
        self.skip = skip
        self._scale_x: float | None = None  # set by from_sru_package: the package's float32 value of the scale
        self.blocks = 4 if skip and input_size != hidden_size else 3
        self.weight_ih = nn.Parameter(torch.empty(self.blocks * hidden_size, input_size))
        self.weight_c = nn.Parameter(torch.empty(2, hidden_size))
        self.bias = nn.Parameter(torch.empty(2, hidden_size))
        self.reset_parameters()

    @property
    def highway_scale(self) -> float:
        """``sqrt(1 + 2 exp(highway_bias))`` with ``rescale`` and a highway term, else 1 (the package's ``scale_x``)."""
        return highway_scale(self.highway_bias) if self.rescale and self.skip else 1.0

    @property
    def scale_x(self) -> float:
        """The factor of ``x_t`` in the highway term (1 when it is a projection ``W' x_t``, whose weights hold it)."""
        if self.blocks == 4:
            return 1.0
        return self.highway_scale if self._scale_x is None else self._scale_x

    def reset_parameters(self) -> None:
        H = self.hidden_size
        with torch.no_grad():
            k = math.sqrt(3.0 / self.input_size)
            self.weight_ih.uniform_(-k, k)
            self.weight_ih[H:3 * H].mul_(math.sqrt(0.5))
            if self.blocks == 4:
                self.weight_ih[3 * H:].mul_(self.highway_scale)
            self.weight_c.uniform_(-math.sqrt(3.0), math.sqrt(3.0)).mul_(math.sqrt(0.5))
            self.bias[0].zero_()
            self.bias[1].fill_(self.highway_bias)

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> SRUState:
        return SRUState(TensorSpec((batch_size, self.hidden_size)), TensorSpec((batch_size, self.hidden_size)))

    def project(self, x: Tensor) -> Tensor:
        """``[W x; W_f x; W_r x; xp]`` for all steps: (..., I) -> (..., 4H) (3H without the highway term)."""
        u = x @ self.weight_ih.t()
        if self.blocks == 3 and self.skip:
            u = torch.cat([u, x * self.scale_x], -1)
        return u

    def step(self, u_t: Tensor, state: SRUState) -> tuple[Tensor, SRUState]:
        H = self.hidden_size
        z, uf, ur, *xp = u_t.split(H, 1)  # split, not slices: their backward would save the (symbolic) batch size
        c_prev = state.c
        f = torch.sigmoid(uf + self.weight_c[0] * c_prev + self.bias[0])
        r = torch.sigmoid(ur + self.weight_c[1] * c_prev + self.bias[1])
        self.report("f", f, "sigmoid")
        self.report("r", r, "sigmoid")
        c = f * c_prev + (1 - f) * z
        h = r * c + (1 - r) * xp[0] if self.skip else r * c
        return h, SRUState(h, c)

    fused_kind = "rnnzoo"
    """The runner's fast path: :func:`rnnzoo.fused.sru.sru_recurrence` (no torch kernel computes SRU)."""

    def fused(self, steps: Steps, state: SRUState) -> tuple[Tensor, SRUState]:
        """One product for all steps, then the elementwise recurrence. When the runner has not projected
        the input yet, the highway term ``scale_x * x`` is handed to the Function as it is instead of
        being copied into the projection."""
        skip = None
        if steps.projected or self.blocks == 4 or not self.skip:
            u = steps.u
        else:
            u = steps.x @ self.weight_ih.t()
            skip = steps.x
        h, c = sru_recurrence(u, state.c, self.weight_c, self.bias, mask=steps.mask, skip=skip, scale=self.scale_x)
        last = h[-1] if steps.mask is None else _last_valid(h, steps.mask, state.h)
        return h, SRUState(last, c)

    @classmethod
    def from_sru_package(cls, module: nn.Module, *, direction: int = 0) -> SRUCell:
        """The cell computing what an ``sru.SRUCell`` (sru 2.6.0) computes, with its weights copied.

        Mapping: the package's ``weight`` ``(I, H_out * k)`` is laid out ``(I, directions, H, k)`` (k = 3 or 4
        blocks interleaved per unit: candidate, forget, reset, highway projection); ``weight_ih``'s block m
        is ``weight.view(I, D, H, k)[:, direction, :, m].T``. Its ``weight_c`` and ``bias`` ``(2 * H_out,)``
        are ``(2, D, H)``: ``[forget; reset]``. ``highway_bias``, ``rescale`` and ``has_skip_term`` carry over.
        A bidirectional layer's ``direction=1`` is the cell to run in reversed time.

        Raises ``ValueError`` for the options this cell does not compute (listed in its Deviations).
        """
        unsupported = {"projection_size": module.projection_size > 0, "layer_norm": module.layer_norm is not None,
                       "use_tanh": module.activation_type != 0, "custom_m": module.custom_m is not None,
                       "v1": module.v1, "rnn_dropout": module.rnn_dropout > 0}
        bad = [k for k, v in unsupported.items() if v]
        if bad:
            raise ValueError(f"module: SRUCell.from_sru_package computes no {', '.join(bad)}; got {module!r}")
        D = 2 if module.bidirectional else 1
        if direction not in range(D):
            raise ValueError(f"direction: expected 0{' or 1' if D == 2 else ''} for this module, got {direction!r}")
        H, inp = module.hidden_size, module.input_size
        cell = cls(inp, H, highway_bias=float(module.highway_bias), rescale=bool(module.rescale),
                   skip=bool(module.has_skip_term)).to(module.weight.dtype)
        k = module.num_matrices
        if k != cell.blocks:  # a bidirectional layer with I == H has the projection (I != 2H)
            raise ValueError(f"module: its {k} blocks per unit differ from this cell's {cell.blocks} (input_size "
                             f"{inp}, hidden_size {H}, bidirectional {module.bidirectional}): not representable")
        if k == 3 and cell.skip and cell.rescale:
            # the package keeps scale_x as a float32 buffer (sqrt(3) to 8 digits), also in a float64 layer
            if not math.isclose(float(module.scale_x), cell.scale_x, rel_tol=1e-6):
                raise ValueError(f"module: scale_x {float(module.scale_x)} differs from sqrt(1 + 2 exp(highway_bias))"
                                 f" = {cell.scale_x}")
            cell._scale_x = float(module.scale_x)
        with torch.no_grad():
            w = module.weight.detach().view(inp, D, H, k)[:, direction]  # (I, H, k)
            cell.weight_ih.copy_(w.permute(2, 1, 0).reshape(k * H, inp))
            cell.weight_c.copy_(module.weight_c.detach().view(2, D, H)[:, direction])
            cell.bias.copy_(module.bias.detach().view(2, D, H)[:, direction])
        return cell

    def recurrent_weights(self) -> list[str]:
        """``weight_c`` (v_f, v_r): the only weights multiplying the previous state (what weight drop masks)."""
        return ["weight_c"]

    def extra_repr(self) -> str:
        return (f"{self.input_size}, {self.hidden_size}, highway_bias={self.highway_bias}, rescale={self.rescale}, "
                f"skip={self.skip}")


def _last_valid(h: Tensor, mask: Tensor, h0: Tensor) -> Tensor:
    """Each sequence's output at its last valid step (``h0`` where none is): ``(T, B, H) -> (B, H)``."""
    T = h.shape[0]
    steps = torch.arange(1, T + 1, device=mask.device).unsqueeze(1) * mask  # (T, B): t + 1 where valid
    last = steps.max(0).values  # (B,), 0 when no valid step
    picked = h.gather(0, (last - 1).clamp(min=0).view(1, -1, 1).expand(1, *h.shape[1:])).squeeze(0)
    return torch.where((last > 0).unsqueeze(1), picked, h0)


register("sru", paper=Paper("Lei, Zhang, Wang, Dai & Artzi", 2018, "Simple recurrent units for highly "
                            "parallelizable recurrence", "1709.02755"),
         seed_equations="003 names it (recent innovations), no equations",
         description="Gates from x_t and v * c_(t-1) only: one product for all steps, an elementwise recurrence, "
                     "a scaled highway output",
         gated=True, fast_path=FastPath.RNNZOO, recurrence=Recurrence.ELEMENTWISE, peers=("sru.SRU",))(SRUCell)
