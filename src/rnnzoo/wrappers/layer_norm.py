"""Layer normalisation around any cell: the new state fields (and optionally the projected input), per step."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rnnzoo.core.cell import Cell, Steps, bind
from rnnzoo.core.checks import real
from rnnzoo.core.spec import TensorSpec
from rnnzoo.wrappers._fields import Field, get_field, probe_spec, put_field, resolve_fields
from rnnzoo.wrappers.base import Wrapper


def layer_norm(t: Tensor, gain: Tensor, bias: Tensor, axes: int, eps: float) -> Tensor:
    """``gain * (t - mu) / sqrt(var + eps) + bias`` with ``mu``, ``var`` (biased) over the last ``axes``
    axes of ``t``; ``gain`` and ``bias`` ``(C,)`` act on the first of them (channels) and broadcast over
    the others (space)."""
    if axes == 1:  # one kernel with the affine part
        return F.layer_norm(t, t.shape[-1:], gain, bias, eps)
    normed = F.layer_norm(t, t.shape[t.dim() - axes:], eps=eps)
    shape = (-1, *([1] * (axes - 1)))
    return normed * gain.view(shape) + bias.view(shape)


class LayerNorm(Wrapper):
    r"""Layer normalisation (Ba, Kiros & Hinton 2016, "Layer normalization", arXiv:1607.06450) as a wrapper,
    for cells without a native option::

        y~, s~_t = inner.step(u_t, s_{t-1})                        # u_t = LN_in(inner.project(x_t)) with input=True
        s_t[f] = gain[f] * (s~_t[f] - mu) / sqrt(var + eps) + bias[f]    # for every field f in `fields`
        y_t = inner.output(s_t)

    with ``mu`` and ``var`` the mean and (biased) variance of the field over its units, per batch element
    and step (the paper's eq (3): all units of a layer share them; for a spatial state ``(B, C, Y, X)``
    over channels and space, with one gain and bias per channel). ``gain`` starts at 1 and ``bias`` at 0.
    The normalised state is what is carried to the next step and what the output reads.

    What it normalises: what the cell returns (its new state) and, with ``input=True``, the input part of
    its pre-activations ``u_t = project(x_t)`` (for an LSTM ``weight_ih x_t + bias``, the four gates'
    blocks together), normalised over its features with its own gain and bias. A wrapper cannot reach
    inside the step: the paper's LN-RNN (Sec. 3.1, eq (4)) normalises the summed input
    ``a_t = W_hh h_{t-1} + W_xh x_t`` before the nonlinearity, and its LN-LSTM normalises ``W_h h_{t-1}``,
    ``W_x x_t`` and ``c_t`` (before ``tanh``) separately. That exact placement is the ``layer_norm=True``
    option of the LSTM and GRU cells; ``rnnzoo.create(..., layer_norm=True)`` uses a cell's native option
    where it has one and this wrapper otherwise.

    Args:
        cell: any :class:`~rnnzoo.core.cell.Cell` whose state fields are tensors.
        fields: the state fields to normalise, each with its own gain and bias; default ``"h"`` if the
            state has it, else its first field (a state that is one tensor is normalised whole).
        input: also normalise the projected input ``project(x_t)`` (tensor inputs).
        eps: added to the variance.
        input_shape: a step input's trailing shape, for a cell that cannot size its state without one
            (spatial cells are probed with a 16 x 16 input when it is None).

    Parameters: ``gain[f]``, ``bias[f]`` of shape ``(C,)`` (``C`` = the field's size along axis 1, e.g.
    hidden_size) per field (the key ``"state"`` for a state that is one tensor); ``input_gain``,
    ``input_bias`` ``(P,)`` with ``input=True``.

    Shapes: as the inner cell. Fast path: none (the normalisation acts inside the recurrence); the
    runner's step loop runs.

    Deviations: see "What it normalises": for an Elman cell the paper normalises before ``tanh`` and this
    wrapper after it (the state ``h_t``); normalising ``u_t`` includes the cell's input bias, where the
    paper normalises ``W_x x_t`` alone.

    >>> import torch, rnnzoo
    >>> cell = rnnzoo.LayerNorm(rnnzoo.ElmanCell(3, 8))
    >>> h = rnnzoo.run(cell, torch.randn(2, 5, 3)).output[0, -1].detach()   # normalised: mean 0, variance 1
    >>> round(float(h.mean()), 5) + 0.0, round(float(h.var(unbiased=False)), 2)
    (0.0, 1.0)
    """

    fused_kind = None
    fused_state_masks: frozenset[str] = frozenset()  # no fast path: nothing to hand masks to

    def __init__(self, cell: Cell, fields: str | Sequence[str] | None = None, *, input: bool = False,
                 eps: float = 1e-5, input_shape: Any = None) -> None:
        super().__init__(cell)
        owner = type(cell).__name__
        self.eps = real("eps", eps)
        if self.eps <= 0:
            raise ValueError(f"eps: expected a number > 0, got {eps!r}")
        if not isinstance(input, bool):
            raise TypeError(f"input: expected True or False, got {input!r}")
        spec = probe_spec(cell, input_shape)
        if spec is None:
            raise ValueError(f"input_shape: {owner} cannot size its state without the input's trailing shape; "
                             f"pass input_shape=(C, ...), got {input_shape!r}")
        self.fields: tuple[Field, ...] = resolve_fields("fields", fields, spec, owner)
        self.gain = nn.ParameterDict()
        self.bias = nn.ParameterDict()
        for f in self.fields:
            leaf = get_field(spec, f)
            if not isinstance(leaf, TensorSpec) or len(leaf.shape) < 2:
                raise TypeError(f"fields: {owner}'s state field {f!r} is not a (B, C, ...) tensor; "
                                "layer normalisation needs one")
            self.gain[self._key(f)] = nn.Parameter(torch.ones(leaf.shape[1]))
            self.bias[self._key(f)] = nn.Parameter(torch.zeros(leaf.shape[1]))
        self.normalise_input = input
        if input:
            size = self._projection_size(input_shape)
            self.input_gain = nn.Parameter(torch.ones(size))
            self.input_bias = nn.Parameter(torch.zeros(size))

    @staticmethod
    def _key(field: Field) -> str:
        return "state" if field is None else field

    def _projection_size(self, input_shape: Any) -> int:
        """The projection's size along its first feature axis, from projecting one zero input."""
        inner = self.inner
        shape = input_shape or (inner.input_size, *([16] * (inner.feature_dims - 1)))
        dtype = inner.default_dtype()
        device = next((p.device for p in inner.parameters()), None)
        with torch.no_grad(), torch.random.fork_rng(devices=[]):  # a prepare that draws must not move the seed
            prepared = inner.prepare(None, 1, device=device, dtype=dtype, input_shape=tuple(shape))
            u = bind(inner.project, 1, prepared)(torch.zeros(1, *shape, device=device, dtype=dtype))
        if not isinstance(u, Tensor) or u.dim() != 1 + inner.feature_dims:
            raise TypeError(f"input: {type(inner).__name__}.project does not return one (B, P, ...) tensor; "
                            "input=True needs one")
        return u.shape[1]

    def project(self, x: Any, prepared: Any) -> Any:
        """``inner.project(x)``, normalised over its feature axes with ``input=True``."""
        u = bind(self.inner.project, 1, prepared)(x)
        if self.normalise_input:
            u = layer_norm(u, self.input_gain, self.input_bias, self.inner.feature_dims, self.eps)
        return u

    def step(self, u_t: Any, state: Any, prepared: Any) -> tuple[Any, Any]:
        _, new = bind(self.inner.step, 2, prepared, strict=True)(u_t, state)
        for f in self.fields:
            value = get_field(new, f)
            key = self._key(f)
            new = put_field(new, f, layer_norm(value, self.gain[key], self.bias[key], value.dim() - 1, self.eps))
        return bind(self.inner.output, 1, prepared)(new), new

    def fused(self, steps: Steps, state: Any) -> None:
        """No fast path: the normalisation acts inside the recurrence."""
        return None

    def extra_repr(self) -> str:
        return f"fields={self.fields}, input={self.normalise_input}, eps={self.eps}"
