"""Zoneout: at each step, some units of the state keep their previous value."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from rnnzoo.core.cell import Cell, Steps, bind
from rnnzoo.core.checks import probability
from rnnzoo.core.spec import is_spec
from rnnzoo.core.tree import tree_leaves, tree_map
from rnnzoo.wrappers._fields import Field, field_names, get_field, is_floating, probe_spec, put_field
from rnnzoo.wrappers.base import Drawn, Wrapper


class Zoneout(Wrapper):
    r"""Zoneout (Krueger, Maharaj, Kramár, Pezeshki, Ballas, Ke, Goyal, Bengio, Courville & Pal 2017,
    "Zoneout: regularizing RNNs by randomly preserving hidden activations", arXiv:1606.01305).

    For every zoned field ``s`` of the state (their Sec. 3.2, ``d = 1`` keeps the previous value)::

        y~, s~_t = inner.step(u_t, s_{t-1})                   # the inner cell's update
        training: d ~ Bernoulli(rate), per step, unit and batch element
                  s_t = d * s_{t-1} + (1 - d) * s~_t
        eval:     s_t = rate * s_{t-1} + (1 - rate) * s~_t    # the expectation of the noise
        y_t = inner.output(s_t)

    The paper (Sec. 1): "As in dropout, we use the expectation of the random noise at test time."
    Fields not zoned are the inner cell's update. For an LSTM with ``{"h": r_h, "c": r_c}`` this is the
    paper's zoneout LSTM exactly: the candidate ``h~_t = o_t * tanh(f_t * c_{t-1} + i_t * g_t)`` uses the
    candidate memory, not the zoned one, because the inner step computes both from ``s_{t-1}``.

    Args:
        cell: any :class:`~rnnzoo.core.cell.Cell`.
        rates: one rate for every floating field of the state, or a rate per field, e.g.
            ``{"h": 0.05, "c": 0.5}`` (the paper's LSTM setting for language modelling). A field not named
            is not zoned; an unknown field raises naming the state's fields.

    Randomness: zoneout is per step by definition; the masks are drawn inside ``step`` at every step,
    whatever ``run``'s ``randomness`` (seed ``torch.manual_seed`` for a reproducible run).

    Shapes: as the inner cell. Fast path: none (the mix acts inside the recurrence); ``fused`` returns
    None and the runner's step loop runs.

    Deviations: none in the update. The paper's LSTM experiments also try zoning out the output gate
    with the input mask (their variant); that variant is not this wrapper.

    >>> import torch, rnnzoo
    >>> cell = rnnzoo.Zoneout(rnnzoo.LSTMCell(3, 8), {"h": 0.05, "c": 0.5})
    >>> out = rnnzoo.run(cell, torch.randn(2, 5, 3))
    >>> tuple(out.state.c.shape)
    (2, 8)
    """

    fused_kind = None
    fused_state_masks: frozenset[str] = frozenset()  # no fast path: nothing to hand masks to

    def __init__(self, cell: Cell, rates: float | dict[str, float]) -> None:
        super().__init__(cell)
        if isinstance(rates, dict):
            if not rates or not all(isinstance(k, str) for k in rates):
                raise TypeError(f"rates: expected a float or a dict of field names to rates, got {rates!r}")
            self.rates: float | dict[str, float] = {k: probability(f"rates[{k!r}]", v) for k, v in rates.items()}
        else:
            self.rates = probability("rates", rates)
        spec = probe_spec(cell)
        if spec is not None:  # check the names now; a cell that cannot size its state is checked per run
            self._plan(spec)

    def _plan(self, spec: Any) -> tuple[tuple[Field, float], ...]:
        """``(field, rate)`` pairs to zone for a state ``spec``: every field holding a floating tensor for
        one rate, the named fields for a dict (unknown names raise)."""
        names = field_names(spec)
        owner = type(self.inner).__name__
        if isinstance(self.rates, float):
            if names is None:
                return ((None, self.rates),) if self.rates else ()
            floating = [n for n in names
                        if any(is_floating(s) for s in tree_leaves(getattr(spec, n), is_leaf=is_spec))]
            return tuple((n, self.rates) for n in floating if self.rates)
        if names is None:
            raise ValueError(f"rates: {owner}'s state is a {type(spec).__name__} without named fields; "
                             f"pass one rate (a float), got {self.rates!r}")
        for n in self.rates:
            if n not in names:
                raise ValueError(f"rates: {owner}'s state has the fields {', '.join(names)}; got {n!r}")
        return tuple((n, r) for n, r in self.rates.items() if r)

    def prepare(self, context: Any, batch_size: int, *, device: torch.device | str | None = None,
                dtype: torch.dtype | None = None, input_shape: Any = None) -> Drawn:
        """The inner cell's prepared value and the fields to zone (nothing random: zoneout draws per step)."""
        inner = self.inner.prepare(context, batch_size, device=device, dtype=dtype, input_shape=input_shape)
        return Drawn(self._plan(self.inner.state_spec(batch_size, input_shape=input_shape)), inner)

    def project(self, x: Any, prepared: Drawn) -> Any:
        return bind(self.inner.project, 1, prepared.inner)(x)

    def _zone(self, prev: Tensor, new: Tensor, rate: float) -> Tensor:
        if not new.is_floating_point():
            return new
        if self.training:  # d = 1 (keep the previous value) with probability rate
            d = (torch.rand_like(new) < rate).to(new.dtype)
            return torch.lerp(new, prev, d)  # d * prev + (1 - d) * new
        return torch.lerp(new, prev, rate)  # rate * prev + (1 - rate) * new

    def step(self, u_t: Any, state: Any, prepared: Drawn) -> tuple[Any, Any]:
        _, new = bind(self.inner.step, 2, prepared.inner, strict=True)(u_t, state)
        for field, rate in prepared.value:
            zoned = tree_map(lambda p, n, rate=rate: self._zone(p, n, rate), get_field(state, field),
                             get_field(new, field))
            new = put_field(new, field, zoned)
        return bind(self.inner.output, 1, prepared.inner)(new), new

    def output(self, state: Any, prepared: Drawn) -> Any:
        return bind(self.inner.output, 1, prepared.inner)(state)

    def fused(self, steps: Steps, state: Any) -> None:
        """No fast path: the mix with the previous state acts inside the recurrence."""
        return None

    def extra_repr(self) -> str:
        return f"rates={self.rates!r}"
