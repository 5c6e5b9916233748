"""Initialisations for diagnostic experiments, applied in place to a built model.

Specs (strings, as the CLI's ``--init`` takes them):

* ``spectral_radius=R``: rescale every recurrent block (``Cell.recurrent_blocks()``: ``weight_hh``,
  or each gate's square block of it) to spectral radius R (001 sec. 2.5: below 1 gradients
  vanish, above 1 they can explode);
* ``orthogonal[=GAIN]``: each block a (scaled) random orthogonal matrix (Saxe et al. 2014,
  arXiv:1312.6120);
* ``identity[=SCALE]``: each block SCALE times the identity and, for the Elman cell, zero biases:
  the IRNN of Le, Jaitly & Hinton 2015 (arXiv:1504.00941) with ``activation="relu"``;
* ``forget_bias=B``: the LSTM's forget-gate bias ``b_f = bias_ih_f + bias_hh_f`` set to B (Gers et
  al. 2000; 1.0 per Jozefowicz et al. 2015);
* ``uniform=A``: every parameter of the module given (not only the recurrent blocks: the trainer passes
  the whole model, embedding and output layer included) drawn from U(-A, A), Zaremba, Sutskever &
  Vinyals 2014 (arXiv:1409.2329; A = 0.1 for their small model, 0.05 medium, 0.04 large).

Each cell applies a scheme itself (``Cell.initialize(scheme, value)``): the block schemes act on
what the cell names as its recurrent blocks, and cells add their own (the LSTM and ConvLSTM
``forget_bias``, the Elman cell's zero biases for ``identity``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from rnnzoo.diagnostics.structure import model_cells

INITS = ("spectral_radius", "orthogonal", "identity", "forget_bias", "uniform")


@dataclass(frozen=True)
class InitSpec:
    """A parsed ``name[=value]``."""

    name: str
    value: float | None = None

    def __str__(self) -> str:
        return self.name if self.value is None else f"{self.name}={self.value:g}"


def parse_init(spec: str) -> InitSpec:
    """``"spectral_radius=0.9"`` -> ``InitSpec("spectral_radius", 0.9)``; raises naming the choices."""
    name, sep, raw = spec.strip().partition("=")
    name = name.strip()
    if name not in INITS:
        raise ValueError(f"init: expected one of {list(INITS)} (as name or name=value), got {spec!r}")
    value = None
    if sep:
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"init: expected a number after {name}=, got {raw!r}") from None
        if not math.isfinite(value):
            raise ValueError(f"init: expected a finite number for {name}, got {raw!r}")
    if name in ("spectral_radius", "forget_bias", "uniform") and value is None:
        example = {"spectral_radius": "0.9", "forget_bias": "1.0", "uniform": "0.1"}[name]
        raise ValueError(f"init: {name} needs a value, e.g. {name}={example}")
    if name == "uniform" and value is not None and value <= 0:
        raise ValueError(f"init: uniform needs a positive half-width A (U(-A, A)), got {value:g}")
    if name == "spectral_radius" and value is not None and value <= 0:
        raise ValueError(f"init: spectral_radius must be positive, got {value:g}")
    return InitSpec(name, value)


def apply_init(model: nn.Module, spec: str | InitSpec, *, generator: torch.Generator | None = None) -> None:
    """Apply one initialisation to ``model`` (any rnnzoo model, layer or cell) in place.

    Raises ``ValueError`` if the model has nothing it applies to (e.g. ``forget_bias`` on an Elman network).
    """
    init = parse_init(spec) if isinstance(spec, str) else spec
    if init.name == "uniform":
        assert init.value is not None
        params = list(model.parameters())
        if not params:
            raise ValueError(f"init: uniform needs parameters; {type(model).__name__} has none")
        with torch.no_grad():
            for p in params:
                p.uniform_(-init.value, init.value, generator=generator)
        return
    done = 0
    for _, _, cell in model_cells(model):
        done += bool(cell.initialize(init.name, init.value, generator=generator))
    if not done:
        if init.name == "forget_bias":
            raise ValueError("init: forget_bias applies to LSTMs with a forget gate and biases; this model has none")
        raise ValueError(f"init: {init} needs square recurrent blocks; {type(model).__name__} has none")
