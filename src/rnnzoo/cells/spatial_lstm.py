r"""Spatial LSTM for image modelling (Theis & Bethge 2015, "Generative image modeling using spatial LSTMs", NeurIPS,
arXiv:1506.03478, section 2; 001 section 4.4, "a particular case of MDLSTM").

**The cell** (:class:`SpatialLSTMCell`): the causal 2-D LSTM, scanned from the top-left corner (one of MD-LSTM's four
directions). Pixel ``(i, j)`` reads the causal neighbourhood ``x_<ij`` of its input (below) and the states of the
pixel above, ``(h_{i-1,j}, c_{i-1,j})``, and to the left, ``(h_{i,j-1}, c_{i,j-1})`` (Theis & Bethge eqs (6)-(8)
[written from RESEARCH.md and the paper's description; the equation numbers were not checked against the text])::

    [i, f_r, f_c, g, o]_pre = W x_<ij + b + U [h_{i-1,j}; h_{i,j-1}]        # T_{A,b} in the paper
    c_ij = sigmoid(i) * tanh(g) + sigmoid(f_c) * c_{i,j-1} + sigmoid(f_r) * c_{i-1,j}
    h_ij = tanh(sigmoid(o) * c_ij)                                          # the output gate INSIDE the tanh

The gates and the cell equation are MD-LSTM's for N = 2 (:class:`~rnnzoo.cells.mdlstm.MDLSTMCell` computes them:
one piece of code); the hidden state differs where the paper does, ``tanh(o * c)`` instead of MD-LSTM's
``o * tanh(c)`` (:meth:`SpatialLSTMCell.hidden`).

**The model** (:class:`SpatialLSTM`, registry ``spatial_lstm``; the paper's RIDE, "recurrent image density
estimator"): ``x_<ij`` is the causal neighbourhood of radius k: the pixels ``(i - a, j + b)`` with ``0 < a <= k,
|b| <= k`` and ``(i, j - b)`` with ``0 < b <= k`` (zero outside the image: ``k (2k + 1) + k`` pixels times C
channels); ``num_layers`` spatial LSTMs are stacked (the paper: 2), layer l + 1 reading layer l's ``h_ij``; each
pixel's density is conditioned on the last layer's ``h_ij``, so ``log p(x) = sum_ij log p(x_ij | h_ij)`` and
``h_ij`` depends only on pixels before ``(i, j)`` in raster order (the tests check the gradient).
``p(x_ij | h_ij)`` is a mixture of K Gaussians with diagonal covariance over the C channels::

    pi = softmax(W_pi h + b_pi) (K),  mu = W_mu h + b_mu (K, C),  log sigma = W_s h + b_s (K, C)
    log p(x_ij | h_ij) = logsumexp_k [log pi_k + sum_c log N(x_ijc; mu_kc, sigma_kc^2)]

Inputs: :class:`~rnnzoo.core.order.GridInput` (``grid`` ``(B, H, W, C)`` channels last, ``sizes`` ``(B, 2)``).
Output: :class:`PixelDensity` ``log_density`` ``(B, H, W)`` (zero outside each image's sizes);
:meth:`SpatialLSTM.nll_bits` gives the negative log-likelihood in bits per (sub)pixel.

Deviations: the paper's head is a factorised MCGSM (mixture of conditional Gaussian scale mixtures, eqs (4)-(5)),
whose components share precision matrices across scales; here a plain mixture of diagonal Gaussians (a simpler
conditional density, the same role: a multimodal p(x_ij | h_ij)). RIDE whitens the input and predicts the last
channel given the others for colour images; here all C channels are modelled jointly by the diagonal mixture.
The paper's neighbourhood sizes and the MCGSM's sizes are not reproduced (k, K are options).

>>> import torch, rnnzoo
>>> model = rnnzoo.create("spatial_lstm", input_size=1, hidden_size=4)
>>> x = model.example_input(2, generator=torch.Generator().manual_seed(0))
>>> model(x).log_density.shape
torch.Size([2, 5, 4])
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.cells.mdlstm import MDLSTMCell, check_grid, random_grid
from rnnzoo.core.checks import positive_int
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.order import GridInput, Wavefront, grid_mask, grid_work
from rnnzoo.core.registry import FastPath, InputKind, ModelKind, Paper, register
from rnnzoo.core.runner import run

__all__ = ["PixelDensity", "SpatialLSTM", "SpatialLSTMCell", "causal_neighbourhood", "neighbour_offsets"]

class PixelDensity(NamedTuple):
    """log_density: ``(B, H, W)``, ``log p(x_ij | x_<ij)`` summed over the channels' joint density (0 outside)."""

    log_density: Tensor


class SpatialLSTMCell(MDLSTMCell):
    """The spatial LSTM of Theis & Bethge 2015 (module docstring): MD-LSTM's gates for N = 2 (blocks i, f_r, f_c,
    g, o; ``f_r`` gates the state from above, axis 0, ``f_c`` from the left, axis 1), ``h = tanh(o * c)``."""

    def __init__(self, input_size: int, hidden_size: int, *, forget_bias: float | None = None) -> None:
        super().__init__(input_size, hidden_size, ndim=2, cell="lstm", forget_bias=forget_bias)

    def hidden(self, o_pre: Tensor, c: Tensor) -> Tensor:
        """``h_ij = tanh(o_ij * c_ij)``: where the spatial LSTM differs from MD-LSTM's ``o * tanh(c)``."""
        o = torch.sigmoid(o_pre)
        self.report("o", o, "sigmoid")
        return torch.tanh(o * c)


def neighbour_offsets(radius: int) -> list[tuple[int, int]]:
    """The causal neighbourhood's offsets ``(da, db)`` (pixel ``(i - da, j + db)``), rows above first."""
    above = [(a, b) for a in range(radius, 0, -1) for b in range(-radius, radius + 1)]
    return above + [(0, -b) for b in range(radius, 0, -1)]


def causal_neighbourhood(grid: Tensor, radius: int) -> Tensor:
    """``(B, H, W, C) -> (B, H, W, n * C)``: each pixel's causal neighbours (zeros outside the image), in the order
    of :func:`neighbour_offsets`; the pixel itself is not among them."""
    B, H, W, C = grid.shape
    padded = torch.nn.functional.pad(grid, (0, 0, radius, radius, radius, 0))  # rows above, columns both sides
    parts = [padded[:, radius - a:radius - a + H, radius + b:radius + b + W] for a, b in neighbour_offsets(radius)]
    return torch.cat(parts, -1)


class SpatialLSTM(StructuredModel):
    """RIDE with a Gaussian-mixture head (Theis & Bethge 2015, arXiv:1506.03478); equations in the module docstring.

    Args (keyword-only): input_size: C, the channels. hidden_size: H of every layer. num_layers: stacked spatial
    LSTMs (2, as the paper). radius: k of the causal neighbourhood. components: K of the mixture. grid_shape: the
    grid of :meth:`example_input`. forget_bias: initial forget-gate bias.
    """

    def __init__(self, *, input_size: int, hidden_size: int, num_layers: int = 2, radius: int = 1,
                 components: int = 3, grid_shape: tuple[int, int] = (5, 4), forget_bias: float | None = None) -> None:
        super().__init__()
        for name, v in (("input_size", input_size), ("hidden_size", hidden_size), ("num_layers", num_layers),
                        ("radius", radius), ("components", components)):
            positive_int(name, v)
        if len(tuple(grid_shape)) != 2:
            raise ValueError(f"grid_shape: expected (H, W), got {grid_shape!r}")
        self.input_size, self.hidden_size, self.radius, self.components = input_size, hidden_size, radius, components
        self.grid_shape = tuple(positive_int("grid_shape", s) for s in grid_shape)
        n_in = len(neighbour_offsets(radius)) * input_size
        self.layers = nn.ModuleList(SpatialLSTMCell(n_in if k == 0 else hidden_size, hidden_size,
                                                    forget_bias=forget_bias) for k in range(num_layers))
        self.mixture = nn.Linear(hidden_size, components * (1 + 2 * input_size))  # [pi logits, mu, log sigma]

    def hidden_states(self, x: GridInput) -> Tensor:
        """``(B, H, W, hidden)``: the last layer's ``h_ij`` (zero outside each image's sizes)."""
        grid, sizes = check_grid(x, 2, self.input_size)
        grid = grid * grid_mask(sizes, tuple(grid.shape[1:3])).unsqueeze(-1)
        h = causal_neighbourhood(grid, self.radius)
        for cell in self.layers:
            h = run(cell, h, order=Wavefront((False, False), sizes)).output
        return h

    def forward(self, x: GridInput) -> PixelDensity:
        grid, sizes = check_grid(x, 2, self.input_size)
        h = self.hidden_states(x)
        K, C = self.components, self.input_size
        params = self.mixture(h)
        log_pi = torch.log_softmax(params[..., :K], -1)  # (B, H, W, K)
        mu = params[..., K:K + K * C].unflatten(-1, (K, C))
        log_sigma = params[..., K + K * C:].unflatten(-1, (K, C))
        z = (grid.unsqueeze(-2) - mu) * torch.exp(-log_sigma)
        log_normal = (-0.5 * z * z - log_sigma - 0.5 * math.log(2 * math.pi)).sum(-1)  # (B, H, W, K)
        log_p = torch.logsumexp(log_pi + log_normal, -1)
        mask = grid_mask(sizes, tuple(grid.shape[1:3]))
        return PixelDensity(torch.where(mask, log_p, torch.zeros((), dtype=log_p.dtype, device=log_p.device)))

    def nll_bits(self, x: GridInput) -> Tensor:
        """``(B,)``: each image's negative log-likelihood in bits per subpixel (over its valid pixels and channels)."""
        log_p = self(x).log_density
        count = x.sizes.prod(-1).to(log_p.dtype) * self.input_size
        return -log_p.flatten(1).sum(-1) / count / math.log(2)

    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> GridInput:
        return random_grid(batch_size, self.grid_shape, self.input_size, self.device, self.dtype, generator)

    def work(self, x: GridInput) -> dict[str, int]:
        """Pixels scanned by every layer and runner steps (one wavefront run per layer)."""
        w = grid_work(*check_grid(x, 2, self.input_size))
        return {"cells": w["cells"] * len(self.layers), "steps": w["steps"] * len(self.layers)}


register("spatial_lstm", paper=Paper("Theis & Bethge", 2015, "Generative image modeling using spatial LSTMs",
                                     "1506.03478"),
         seed_equations="001 section 4.4 (SLSTM, a particular case of MDLSTM); Theis & Bethge eqs (6)-(8)",
         description="Spatial LSTM (RIDE): causal 2-D LSTM over each pixel's causal neighbourhood, h = tanh(o * c), "
                     "stacked, with a per-pixel Gaussian-mixture density",
         kind=ModelKind.MODEL, input_kind=InputKind.GRID, causal=True, chunkable=False, bidirectional_ok=False,
         unbatched=False, gated=True, fast_path=FastPath.NONE,
         test_options={"input_size": 2, "hidden_size": 3, "num_layers": 2, "components": 2})(SpatialLSTM)
