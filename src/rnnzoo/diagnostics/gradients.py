"""How far back in time a loss still reaches: ``||dL_t / dh_k||`` for every pair ``k <= t``.

001 eq (10) splits the gradient of the loss at step t into one term per earlier step k, each
carrying ``dL_t/dh_t . dh_t/dh_k``; 001 eqs (11)-(12) write ``dh_t/dh_k`` as a product of t - k
Jacobians ``W_HH^T diag(f'(h_(i-1)))``, and 001 eq (15) bounds the term by ``delta^(t-k)``: the
vanishing (and, for 001 sec. 2.6, exploding) gradient is this norm as a function of the lag t - k.

:func:`gradient_lag` measures it for any registered model in one batched backward pass:

1. a step hook adds a zero probe ``p_k`` (requires grad) to every field of the state after step k,
   ``h_k + p_k`` (``(h, c)`` for an LSTM, ``(h, s)`` for SCRN), so ``dL/dp_k = dL/dh_k``;
2. ``loss_fn(outputs)`` gives the T per-step losses ``L_t`` (default: a fixed random unit
   projection of the output at t, summed over the batch);
3. ``torch.autograd.grad(L, probes, grad_outputs=I_T, is_grads_batched=True)`` returns every
   ``dL_t/dp_k`` at once: row t of the identity selects ``L_t``, and vmap batches the T rows through
   one backward pass (split into chunks of rows when the result would not fit ``max_bytes``).

The norm is taken per example over the full state vector (all probed fields concatenated, e.g.
``(h, c)`` for an LSTM: the cell state is the path that carries long memory, 000) and averaged over
the batch. Non-finite gradients stay NaN/inf in every array and are listed, never read as zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.diagnostics.structure import batch_first_run, causal_stack, state_fields, valid_mask

LossFn = Callable[[Tensor], Tensor]


class RandomProjectionLoss:
    """Per-step losses ``L_t = sum_b <r, y_(b,t)>`` for a fixed random unit vector ``r``.

    A readout with no task in it: ``dL_t/dy_t = r`` for every example, so ``||dL_t/dh_t||`` is of
    order one and the lag profile shows the recurrence alone. ``r`` is drawn from
    ``torch.Generator().manual_seed(seed)``, once per output size.

    Call: ``outputs (B, T, *O) -> (T,)``.
    """

    def __init__(self, seed: int = 0) -> None:
        self.seed = int(seed)
        self._r: dict[int, Tensor] = {}

    def direction(self, size: int) -> Tensor:
        """The unit vector ``r`` ``(size,)`` (float64, CPU)."""
        if size not in self._r:
            # cpu: a seeded CPU draw (the same r on every device), moved in __call__
            r = torch.randn(size, generator=torch.Generator().manual_seed(self.seed), dtype=torch.float64)
            self._r[size] = r / r.norm()
        return self._r[size]

    def __call__(self, outputs: Tensor) -> Tensor:
        flat = outputs.flatten(2)  # (B, T, O)
        r = self.direction(flat.shape[-1]).to(device=flat.device, dtype=flat.dtype)
        return (flat @ r).sum(0)

    def __repr__(self) -> str:
        return f"RandomProjectionLoss(seed={self.seed})"


@dataclass
class GradientLag:
    """The result of :func:`gradient_lag`. Arrays are float64 CPU tensors.

    Attributes:
        matrix: ``(T, T)``; ``matrix[t, k]`` = batch mean of ``||dL_t/dh_k||`` (zero above the
            diagonal: a causal layer's later states do not touch an earlier loss).
        by_lag: ``(T,)``; ``by_lag[lag]`` = mean over t of ``matrix[t, t - lag]``.
        field_matrix: the same as ``matrix`` for each state field alone, e.g. ``{"h": ..., "c": ...}``.
        fields: the probed state fields whose concatenation ``matrix`` measures.
        layer: the layer probed (0 = bottom).
        method: ``"batched"`` (vmap'd backward passes over the rows of the identity, ``num_backward``
            of them, one unless split for memory) or ``"loop"`` (one backward per step t: the
            fallback when an op has no batching rule; ``fallback_reason`` says why).
        nonfinite_steps: steps k with a NaN or infinite ``dL_t/dh_k`` for some t.
        nonfinite_lags: lags with a NaN or infinite entry in ``by_lag``.
    """

    matrix: Tensor
    by_lag: Tensor
    field_matrix: dict[str, Tensor]
    fields: tuple[str, ...]
    layer: int
    method: str
    num_backward: int
    fallback_reason: str | None = None
    loss: str = ""
    nonfinite_steps: list[int] = field(default_factory=list)
    nonfinite_lags: list[int] = field(default_factory=list)

    @property
    def seq_len(self) -> int:
        return int(self.matrix.shape[0])

    @property
    def nonfinite(self) -> bool:
        """True if any ``dL_t/dh_k`` is NaN or infinite."""
        return bool(self.nonfinite_steps) or not bool(torch.isfinite(self.matrix).all())

    def at(self, lag: int) -> float:
        """``by_lag[lag]`` as a float (NaN or inf when the gradient was)."""
        if not 0 <= lag < self.seq_len:
            raise ValueError(f"lag: expected 0 <= lag < {self.seq_len}, got {lag}")
        return float(self.by_lag[lag])

    def ratio(self, lag: int, reference: int = 1) -> float:
        """``by_lag[lag] / by_lag[reference]``: e.g. ``ratio(50)`` is how much of the lag-1 gradient
        is left 50 steps back."""
        return self.at(lag) / self.at(reference)

    def to_dict(self) -> dict[str, Any]:
        return {
            "layer": self.layer, "fields": list(self.fields), "method": self.method,
            "num_backward": self.num_backward, "fallback_reason": self.fallback_reason, "loss": self.loss,
            "nonfinite": self.nonfinite, "nonfinite_steps": self.nonfinite_steps,
            "nonfinite_lags": self.nonfinite_lags, "lags": list(range(self.seq_len)),
            "by_lag": self.by_lag, "matrix": self.matrix,
            "field_by_lag": {k: lag_profile(v) for k, v in self.field_matrix.items()},
        }


def lag_profile(matrix: Tensor) -> Tensor:
    """``(T, T)`` -> ``(T,)``: entry ``lag`` is the mean of the lag-th subdiagonal ``matrix[t, t - lag]``.

    A plain mean: a NaN or infinite entry makes its lag's value NaN or infinite.
    """
    steps = matrix.shape[0]
    return torch.stack([torch.diagonal(matrix, offset=-lag).mean() for lag in range(steps)])


class _ProbeHook:
    """Step hook adding a zero probe to the chosen state fields: ``state.f + p_f[t]``.

    The probes are created at the first call, when the state's fields and shapes are known: one
    leaf ``(T, *leaf.shape)`` per field (``leaves``), unbound once so that its backward is a stack.
    """

    def __init__(self, steps: int, fields: Sequence[str] | None, cell_name: str) -> None:
        self.steps = steps
        self.fields = tuple(fields) if fields is not None else None
        self.cell_name = cell_name
        self.leaves: dict[str, Tensor] = {}
        self._slices: dict[str, tuple[Tensor, ...]] = {}

    def __call__(self, t: int, state: Any) -> Any:
        names = state_fields(state)
        if not self.leaves:
            wanted = names if self.fields is None else self.fields
            unknown = [f for f in wanted if f not in names]
            if unknown or not wanted:
                raise ValueError(f"fields: expected a non-empty subset of {self.cell_name}'s state fields "
                                 f"{list(names)}, got {list(wanted)}")
            for name, leaf in zip(names, state, strict=True):
                if name in wanted:
                    p = torch.zeros(self.steps, *leaf.shape, device=leaf.device, dtype=leaf.dtype,
                                    requires_grad=True)
                    self.leaves[name] = p
                    self._slices[name] = p.unbind(0)
        return type(state)(*(leaf + self._slices[name][t] if name in self._slices else leaf
                             for name, leaf in zip(names, state, strict=True)))


def gradient_lag(
    model: nn.Module,
    x: Tensor,
    *,
    lengths: Tensor | None = None,
    loss_fn: LossFn | None = None,
    layer: int = 0,
    fields: Sequence[str] | None = None,
    batched: bool = True,
    max_bytes: int = 256 * 2**20,
) -> GradientLag:
    """``||dL_t/dh_k||`` for all ``k <= t`` in one batched backward pass (001 eqs (10)-(15)).

    Args:
        model: a model from :func:`rnnzoo.create` (or a Stacked/Recurrent layer or a cell) with
            unidirectional layers.
        x: ``(B, T, *F)`` batch-first input (whatever the model's ``batch_first``).
        lengths: ``(B,)`` valid lengths; the batch mean at step t is over the examples valid at t.
        loss_fn: ``outputs (B, T, *O) -> (T,)`` per-step losses ``L_t`` (outputs zero past each
            length); default :class:`RandomProjectionLoss` ``(seed=0)``.
        layer: which layer's state to probe (0 = bottom; negative counts from the top).
        fields: state fields to probe (default all, e.g. ``("h", "c")``); the norm is over their
            concatenation.
        batched: use the batched backward (False forces the loop of T backwards, for comparison).
        max_bytes: memory budget of one batched backward's result; more rows are split in chunks.

    Returns:
        :class:`GradientLag`.

    The model runs in its current mode (dropout between layers is active in training mode;
    :func:`rnnzoo.diagnostics.diagnose` switches to eval). Parameters' ``.grad`` are not touched.
    """
    stack = causal_stack(model)
    n = len(stack.layers)
    if not -n <= layer < n:
        raise ValueError(f"layer: expected an index into the model's {n} layers, got {layer}")
    layer %= n
    if x.dim() < 3:
        raise ValueError(f"x: expected a batch-first (B, T, *F) tensor, got shape {tuple(x.shape)}")
    loss_fn = loss_fn or RandomProjectionLoss()
    steps = x.shape[1]
    hook = _ProbeHook(steps, fields, type(getattr(stack.layers[layer], "cell", stack.layers[layer])).__name__)
    hooks = [hook if i == layer else None for i in range(n)]
    with torch.enable_grad():
        # the hooked layer's outputs are cell.output(state + probe): the probes reach the loss at step k
        # through the layers above as well as through later steps (001 eq (10))
        outputs = batch_first_run(stack, x, lengths=lengths, step_hook=hooks).output
        losses = loss_fn(outputs)
    if not isinstance(losses, Tensor) or tuple(losses.shape) != (steps,):
        raise ValueError(
            f"loss_fn: expected per-step losses of shape ({steps},), got "
            f"{tuple(losses.shape) if isinstance(losses, Tensor) else type(losses).__name__}"
        )
    names = list(hook.leaves)
    inputs = [hook.leaves[n] for n in names]
    grads, method, n_backward, reason = _all_gradients(losses, inputs, batched, max_bytes)

    mask = valid_mask(x, lengths).t().to(torch.float64)  # (T, B): example b valid at loss step t
    count = mask.sum(1).clamp_min(1.0).view(steps, 1)
    per_field: dict[str, Tensor] = {}
    total_sq = None
    for name, g in zip(names, grads, strict=True):
        sq = g.detach().to(torch.float64).flatten(3).pow(2).sum(3)  # (T_loss, T_k, B)
        total_sq = sq if total_sq is None else total_sq + sq
        per_field[name] = _batch_mean(sq.sqrt(), mask, count)
    assert total_sq is not None
    matrix = _batch_mean(total_sq.sqrt(), mask, count)
    by_lag = lag_profile(matrix)
    bad = ~torch.isfinite(matrix)
    return GradientLag(
        matrix=matrix, by_lag=by_lag, field_matrix=per_field, fields=tuple(names), layer=layer,
        method=method, num_backward=n_backward, fallback_reason=reason, loss=repr(loss_fn),
        nonfinite_steps=[int(k) for k in torch.nonzero(bad.any(0)).flatten()],
        nonfinite_lags=[int(k) for k in torch.nonzero(~torch.isfinite(by_lag)).flatten()],
    )


def _batch_mean(norm: Tensor, mask: Tensor, count: Tensor) -> Tensor:
    """``norm`` ``(T, T, B)`` -> ``(T, T)``: mean over the examples valid at the loss step (NaN kept)."""
    keep = mask.unsqueeze(1).bool()  # (T, 1, B)
    return torch.where(keep, norm, torch.zeros((), dtype=norm.dtype, device=norm.device)).sum(2) / count


def _all_gradients(losses: Tensor, inputs: list[Tensor], batched: bool, max_bytes: int
                   ) -> tuple[list[Tensor], str, int, str | None]:
    """Every ``dL_t/d input`` as ``(T, *input.shape)`` tensors, batched over t where possible."""
    steps = losses.shape[0]
    eye = torch.eye(steps, device=losses.device, dtype=losses.dtype)
    if batched:
        per_row = sum(p.numel() * p.element_size() for p in inputs)
        chunk = max(1, min(steps, max_bytes // max(per_row, 1)))
        try:
            parts: list[list[Tensor]] = []
            for start in range(0, steps, chunk):
                rows = eye[start:start + chunk]
                g = torch.autograd.grad(losses, inputs, grad_outputs=rows, retain_graph=True,
                                        is_grads_batched=True, allow_unused=True)
                parts.append([_or_zeros(gi, p, rows.shape[0]) for gi, p in zip(g, inputs, strict=True)])
            grads = [torch.cat([part[i] for part in parts]) for i in range(len(inputs))]
            return grads, "batched", math.ceil(steps / chunk), None
        except (RuntimeError, NotImplementedError) as exc:  # an op without a vmap rule
            reason = f"is_grads_batched failed ({type(exc).__name__}: {str(exc).splitlines()[0][:200]})"
    else:
        reason = "batched=False"
    rows_out: list[list[Tensor]] = []
    for t in range(steps):
        g = torch.autograd.grad(losses[t], inputs, retain_graph=True, allow_unused=True)
        rows_out.append([_or_zeros(gi, p, None) for gi, p in zip(g, inputs, strict=True)])
    grads = [torch.stack([r[i] for r in rows_out]) for i in range(len(inputs))]
    return grads, "loop", steps, reason


def _or_zeros(g: Tensor | None, like: Tensor, rows: int | None) -> Tensor:
    if g is not None:
        return g
    shape = like.shape if rows is None else (rows, *like.shape)
    return torch.zeros(shape, dtype=like.dtype, device=like.device)
