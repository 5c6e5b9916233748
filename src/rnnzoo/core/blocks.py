"""Recurrent weight blocks: what a cell names for the spectral diagnostics and the initialisation schemes.

A cell's ``recurrent_blocks()`` lists its recurrent matrices, one per gate where the gates feed
different nonlinearities (an LSTM's ``weight_hh`` is four blocks i, f, g, o), each with the
activation its product feeds: 001 eq (14) compares the block's largest singular value with
``1/gamma`` of that activation (eq (13)). The initialisation schemes of
:func:`rnnzoo.diagnostics.apply_init` act on the same blocks through :func:`init_blocks`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn

BLOCK_SCHEMES = ("spectral_radius", "orthogonal", "identity")
"""The schemes :func:`init_blocks` applies to square recurrent blocks."""


@dataclass(frozen=True)
class RecurrentBlock:
    """One recurrent matrix of a cell and the activation its product feeds.

    name: e.g. ``"weight_hh[f]"``. matrix: ``(H_out_block, H_in)``; for ``writable`` blocks a view
    of the parameter ``parameter`` (writing into it under ``torch.no_grad()`` changes the weight).
    activation: a key of :data:`rnnzoo.cells.activations.ACTIVATIONS` (its gamma bounds f').
    """

    name: str
    matrix: Tensor
    activation: str
    writable: bool = True
    parameter: str | None = None


def gate_blocks(weight: Tensor, names: tuple[str, ...], activations: tuple[str, ...], *,
                parameter: str = "weight_hh") -> list[RecurrentBlock]:
    """Split a stacked recurrent weight ``(G*H, R)`` into one block per gate, along dim 0."""
    size = weight.shape[0] // len(names)
    return [RecurrentBlock(f"{parameter}[{n}]", weight[i * size:(i + 1) * size], a, True, parameter)
            for i, (n, a) in enumerate(zip(names, activations, strict=True))]


def init_blocks(blocks: list[RecurrentBlock], scheme: str, value: float | None = None, *,
                generator: torch.Generator | None = None) -> int:
    """Apply ``scheme`` to every writable square block in place; returns how many it changed.

    * ``spectral_radius`` (value R): rescale each block to spectral radius R (001 sec. 2.5);
    * ``orthogonal`` (value GAIN, default 1): a (scaled) random orthogonal matrix (Saxe et al. 2014,
      arXiv:1312.6120);
    * ``identity`` (value SCALE, default 1): SCALE times the identity (Le, Jaitly & Hinton 2015,
      arXiv:1504.00941).
    """
    if scheme not in BLOCK_SCHEMES:
        raise ValueError(f"scheme: expected one of {BLOCK_SCHEMES}, got {scheme!r}")
    done = 0
    with torch.no_grad():
        for b in blocks:
            w = b.matrix
            if not b.writable or w.dim() != 2 or w.shape[0] != w.shape[1]:
                continue
            if scheme == "spectral_radius":
                if value is None or value <= 0:
                    raise ValueError(f"value: spectral_radius needs a positive radius, got {value!r}")
                rho = float(torch.linalg.eigvals(w.detach().double()).abs().max())
                if rho == 0.0:
                    raise ValueError(f"init: {b.name} has spectral radius 0 and cannot be rescaled")
                w.mul_(float(value) / rho)
            elif scheme == "orthogonal":
                q = torch.empty_like(w)
                nn.init.orthogonal_(q, gain=1.0 if value is None else value, generator=generator)
                w.copy_(q)
            else:
                w.copy_(torch.eye(w.shape[0], dtype=w.dtype, device=w.device) * (1.0 if value is None else value))
            done += 1
    return done
