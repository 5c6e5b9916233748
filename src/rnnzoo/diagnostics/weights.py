"""The recurrent weights against 001 eq (14): ``lambda_1`` of ``W_HH`` compared with ``1/gamma``.

001 sec. 2.5: with ``||diag(f'(h))|| <= gamma`` (eq (13)), every factor of eq (12) has norm at most
``lambda_1 * gamma`` (eq (14)), ``lambda_1`` the largest singular value of ``W_HH``, so

* ``lambda_1 < 1/gamma`` is *sufficient* for vanishing gradients (eq (15)): they shrink at least
  as ``(lambda_1 gamma)^(t-k)``;
* ``lambda_1 > 1/gamma`` is *necessary* for exploding gradients (001 sec. 2.6, Pascanu et al. 2013):
  they may, but need not, explode.

For a gated cell the recurrent matrix is a stack of blocks, one per gate (LSTM ``weight_hh``: i, f,
g, o on dim 0; GRU: r, z, n), each feeding its own nonlinearity; each block is reported with its
activation's gamma (sigmoid 1/4, tanh 1). The state Jacobian of a gated cell is not eq (12)'s
``W^T diag(f')`` (the LSTM's cell path is ``diag(f)``, 000's constant error carousel), so for gated
cells the per-block conditions describe the gate pre-activations, not a bound on the gradient;
:func:`rnnzoo.diagnostics.jacobian_lag` measures the gradient's actual path.

The blocks are what each cell names (``Cell.recurrent_blocks()``, :class:`~rnnzoo.core.blocks.RecurrentBlock`);
a cell that names none (the ConvLSTM, whose recurrence is a convolution) is skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.cells.activations import ACTIVATIONS
from rnnzoo.core.blocks import RecurrentBlock
from rnnzoo.core.cell import Cell
from rnnzoo.diagnostics.structure import model_cells

VANISHING = "lambda_1 < 1/gamma: vanishing is guaranteed (sufficient condition)"
EXPLODING = "lambda_1 > 1/gamma: exploding is possible (necessary condition met)"
BOUNDARY = "lambda_1 = 1/gamma: on the boundary of 001 eq (14)"


def recurrent_blocks(cell: Cell) -> list[RecurrentBlock]:
    """The recurrent matrices of ``cell`` by gate, as the cell names them (``cell.recurrent_blocks()``)."""
    return cell.recurrent_blocks()


@dataclass
class WeightReport:
    """001 eq (14) for one recurrent block.

    singular_values: ``(min(m, n),)`` float64, descending; lambda_1 = the largest (001's lambda_1);
    spectral_radius: largest ``|eigenvalue|`` (square blocks; None otherwise); gamma: the bound of
    the block's activation (001 eq (13)); condition: ``"vanishing"``, ``"exploding_possible"`` or
    ``"boundary"``; statement: the sentence of 001 sec. 2.5/2.6 that applies.
    """

    layer: int
    block: str
    activation: str
    gamma: float
    singular_values: Tensor
    lambda_1: float
    spectral_radius: float | None
    condition: str
    statement: str

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "block": self.block, "activation": self.activation, "gamma": self.gamma,
                "inverse_gamma": 1.0 / self.gamma, "lambda_1": self.lambda_1,
                "spectral_radius": self.spectral_radius, "condition": self.condition,
                "statement": self.statement, "singular_values": self.singular_values}


def analyse_matrix(matrix: Tensor, gamma: float, *, layer: int = 0, block: str = "W_HH",
                   activation: str = "") -> WeightReport:
    """Singular values, spectral radius and the eq (14) condition of one matrix ``(m, n)``."""
    w = matrix.detach().to("cpu", torch.float64)
    if not bool(torch.isfinite(w).all()):
        nan = float("nan")
        sv = torch.full((min(w.shape),), nan, dtype=torch.float64)  # cpu: w was copied to the CPU above
        return WeightReport(layer, block, activation, gamma, sv, nan, None, "nonfinite",
                            "the matrix has NaN or infinite entries")
    sv = torch.linalg.svdvals(w)
    lam = float(sv[0]) if sv.numel() else 0.0
    rho = float(torch.linalg.eigvals(w).abs().max()) if w.shape[0] == w.shape[1] and w.numel() else None
    bound = 1.0 / gamma
    if torch.isclose(torch.tensor(lam), torch.tensor(bound), rtol=1e-9, atol=0.0):  # cpu: two Python floats
        condition, statement = "boundary", BOUNDARY
    elif lam < bound:
        condition, statement = "vanishing", VANISHING
    else:
        condition, statement = "exploding_possible", EXPLODING
    return WeightReport(layer, block, activation, gamma, sv, lam, rho, condition, statement)


def model_blocks(model: nn.Module) -> list[tuple[int, str, RecurrentBlock]]:
    """``(layer, direction prefix, block)`` for every recurrent block of every layer of ``model``."""
    return [(i, prefix, b) for i, prefix, cell in model_cells(model) for b in recurrent_blocks(cell)]


def weight_report(model: nn.Module) -> list[WeightReport]:
    """001 eq (14) for every recurrent block of ``model`` (any rnnzoo model, layer or cell).

    Cells that name no recurrent blocks (e.g. the ConvLSTM, whose recurrent map is a convolution)
    are skipped.
    """
    out = []
    for i, prefix, cell in model_cells(model):
        for b in cell.recurrent_blocks():
            out.append(analyse_matrix(b.matrix, ACTIVATIONS[b.activation].gamma, layer=i,
                                      block=prefix + b.name, activation=b.activation))
    return out
