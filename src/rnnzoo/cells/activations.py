"""Hidden-unit activations of 001 fig. 2 and eqs (4)-(7), each with its derivative bound gamma.

gamma is the bound ``||diag(f'(h))|| <= gamma`` of 001 eq (13) that the gradient diagnostics use:
the recurrent weights' largest singular value below ``1/gamma`` is sufficient for vanishing
gradients (001 sec. 2.5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
from torch import Tensor


def _sine(x: Tensor) -> Tensor:
    # 001 fig. 2(e): sin(net) until saturation, i.e. sin on [-pi/2, pi/2] and +-1 beyond.
    return torch.sin(x.clamp(-math.pi / 2, math.pi / 2))


@dataclass(frozen=True)
class Activation:
    name: str
    fn: Callable[[Tensor], Tensor]
    gamma: float
    equation: str


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", torch.tanh, 1.0, "001 eq (4), fig. 2(c)"),
    "sigmoid": Activation("sigmoid", torch.sigmoid, 0.25, "001 eq (5), fig. 2(f)"),
    "relu": Activation("relu", torch.relu, 1.0, "001 eq (7)"),
    "linear": Activation("linear", lambda x: x, 1.0, "001 fig. 2(a)"),
    "piecewise_linear": Activation("piecewise_linear", torch.nn.functional.hardtanh, 1.0, "001 fig. 2(b)"),
    "sine": Activation("sine", _sine, 1.0, "001 fig. 2(e)"),
}


def get_activation(name: str, argument: str = "activation") -> Activation:
    """Look up an activation; an unknown name raises naming the argument and the allowed values."""
    try:
        return ACTIVATIONS[name]
    except (KeyError, TypeError):
        raise ValueError(f"{argument}: expected one of {sorted(ACTIVATIONS)}, got {name!r}") from None
