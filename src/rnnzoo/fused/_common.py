"""Helpers shared by the fused recurrences: masks and the recurrent transforms (matrix or convolution).

A fused recurrence runs time-major: ``u`` is ``(T, B, G, *S)`` (all steps' input projections,
``G`` stacked gate units, ``*S`` empty for vector cells and ``(Y, X)`` for convolutional ones) and
the state is ``(B, H, *S)``. Masks are ``(T, B)`` booleans, True = valid step (the runner's polarity).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from rnnzoo.fused.products import StepProduct

LN_EPS = 1e-5
"""The epsilon of every layer normalisation in rnnzoo's cells (``var + eps`` under the square root): torch's
``nn.LayerNorm`` default, and what Ba et al.'s code (github.com/ryankiros/layer-norm) and haste use."""


def check_mask(mask: Tensor | None, steps: int, batch: int) -> None:
    """Raise unless ``mask`` is None or a boolean ``(T, B)`` tensor."""
    if mask is None:
        return
    if not isinstance(mask, Tensor) or mask.dtype != torch.bool or tuple(mask.shape) != (steps, batch):
        got = tuple(mask.shape) if isinstance(mask, Tensor) else type(mask).__name__
        raise ValueError(f"mask: expected a boolean (T, B) = ({steps}, {batch}) tensor, got {got}")


def broadcast_mask(mask: Tensor, state_dim: int) -> Tensor:
    """``(T, B)`` -> ``(T, B, 1, ...)`` with ``state_dim - 1`` trailing unit axes, to broadcast over a
    time-stacked state ``(T, B, H, *S)``."""
    return mask.view(*mask.shape, *([1] * (state_dim - 1)))


def tanh_constants(like: Tensor) -> tuple[Tensor, Tensor]:
    """The constant tensors -1 and 2 in ``like``'s shape, dtype and device, for :func:`tanh_into`."""
    return torch.full_like(like, -1.0), torch.full_like(like, 2.0)


def tanh_into(x: Tensor, out: Tensor, constants: tuple[Tensor, Tensor]) -> Tensor:
    """``out = tanh(x)`` computed as ``2 * sigmoid(2x) - 1`` (``out`` may be ``x``).

    Measured on this project's CPUs, ``aten::tanh`` of 4096 floats takes 11.7 us against 2.6 us for
    ``sigmoid`` on one thread, and 40-55 us against 3 us on two threads while the other core is busy
    (docs/performance.md); this form costs about one sigmoid plus two multiply-adds. Absolute error
    <= 2e-7 in float32 (2e-16 in float64).
    ``constants`` is :func:`tanh_constants` of ``out``.
    """
    torch.add(x, x, out=out).sigmoid_()
    return torch.addcmul(constants[0], out, constants[1], out=out)


class Linear:
    """The recurrent transform ``h -> h @ weight.T`` of a vector cell: weight ``(G, H)``, h ``(B, H)``."""

    def __init__(self, weight: Tensor) -> None:
        self.weight = weight
        self.product: StepProduct | None = None  # built at the first step, when the batch is known

    def forward_into(self, u_t: Tensor, h: Tensor, out: Tensor) -> None:
        """``out = u_t + h @ weight.T``: (B, G), in the faster form (:mod:`rnnzoo.fused.products`)."""
        if self.product is None or self.product.batch != h.shape[0]:
            self.product = StepProduct(self.weight, h.shape[0])
        self.product.addmm_into(u_t, h, out)

    def backward_into(self, dg: Tensor, base: Tensor | None, out: Tensor) -> None:
        """``out = base + dg @ weight``: the gradient reaching h, (B, H)."""
        if base is None:
            torch.mm(dg, self.weight, out=out)
        else:
            torch.addmm(base, dg, self.weight, out=out)

    def weight_grad(self, dg: Tensor, h: Tensor) -> Tensor:
        """The weight's gradient over all steps in ONE product: ``dg (T, B, G)``, ``h (T, B, H)`` -> (G, H)."""
        return torch.mm(dg.reshape(-1, dg.shape[-1]).t(), h.reshape(-1, h.shape[-1]))


class Conv:
    """The recurrent transform of a convolutional cell: ``conv2d(h, weight, padding)`` with weight
    ``(G, H, k, k)``, stride 1 and "same" padding ``k // 2``; h ``(B, H, Y, X)``."""

    def __init__(self, weight: Tensor) -> None:
        self.weight = weight
        self.padding = weight.shape[-1] // 2

    def forward_into(self, u_t: Tensor, h: Tensor, out: Tensor) -> None:
        torch.add(u_t, F.conv2d(h, self.weight, padding=self.padding), out=out)

    def backward_into(self, dg: Tensor, base: Tensor | None, out: Tensor) -> None:
        # the input gradient of a stride-1 "same" convolution is the transposed convolution
        dh = F.conv_transpose2d(dg, self.weight, padding=self.padding)
        if base is None:
            out.copy_(dh)
        else:
            torch.add(base, dh, out=out)

    def weight_grad(self, dg: Tensor, h: Tensor) -> Tensor:
        """All steps in one weight-gradient convolution: ``dg (T, B, G, Y, X)``, ``h (T, B, H, Y, X)``."""
        return torch.nn.grad.conv2d_weight(h.flatten(0, 1), self.weight.shape, dg.flatten(0, 1),
                                           padding=self.padding)


def step_back(g_prev: Tensor, g: Tensor, g_out: tuple[Tensor, ...], masks: tuple[Tensor, ...] | None,
              t: int) -> Tensor:
    """The cotangent reaching ``h_{t-1}`` in a Function's backward loop over a one-field state: ``g_prev`` (what step
    ``t`` sends back) or, where step ``t`` was masked (``masks[t]`` ``(B, 1)`` False), ``g`` passed through
    unchanged; plus the output's cotangent at ``t - 1`` (zero on masked rows). ``g_out``, ``masks``: per-step
    ``unbind`` views."""
    if masks is not None:
        g_prev = torch.where(masks[t], g_prev, g)
    if not t:
        return g_prev
    return g_prev + g_out[t - 1] if masks is None else torch.addcmul(g_prev, g_out[t - 1], masks[t - 1])


def weight_grad(d_pre: Tensor, h0: Tensor, states: Tensor) -> Tensor:
    """``sum_t d_pre[t]^T h_{t-1}`` as one product over all steps: ``d_pre`` ``(T, B, R)`` (any strides), ``h0``
    ``(B, K)`` the state before step 0, ``states`` ``(T, B, K)`` the states after each step. Returns ``(R, K)``."""
    dW = d_pre[0].t() @ h0
    if d_pre.shape[0] > 1:
        dW.addmm_(d_pre[1:].flatten(0, 1).t(), states[:-1].flatten(0, 1))
    return dW
