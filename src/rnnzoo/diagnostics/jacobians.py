"""The Jacobian products of 001 eq (11): ``||dh_t/dh_k||`` and its leading singular values by lag.

001 eq (11) writes how an error travels from step t back to step k as the product
``dh_t/dh_k = prod_(i=k+1..t) dh_i/dh_(i-1)``, which for the Elman network is
``prod W_HH^T diag(f'(h_(i-1)))`` (001 eq (12)). Its spectral norm bounds the gradient that reaches
step k (001 eqs (14)-(15)). Here ``h`` is a cell's full state vector (every field of its state
flattened and concatenated: ``(h, c)`` for an LSTM), the inputs are held fixed at the batch's values,
and each step is the cell's own ``step`` (:mod:`rnnzoo.core.cell`), so any cell works.

Two ways to get the norms (``method``):

* ``"exact"``: the per-step Jacobians ``J_i = ds_i/ds_(i-1)`` ``(D, D)`` by ``torch.func.jacrev``
  (vmapped over examples and steps), multiplied as in eq (11), then ``torch.linalg.svdvals``.
  Memory ``O(B T D^2)``: for small states (``D <= exact_max_dim``).
* ``"power"``: subspace (power) iteration on ``J^T J`` for the composed map from step k to step t,
  with vector-Jacobian products (backward passes through the composed map's graph) and
  Jacobian-vector products (the double-vjp form); never forms a ``D x D`` matrix. See
  :func:`power_iteration`.

Convention: the code's ``J`` is ``ds_t/ds_k`` in numerator layout, the transpose of eq (12)'s
``W_HH^T diag(f')`` form; singular values and norms are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.core.cell import Cell, bind
from rnnzoo.core.tree import tree_map
from rnnzoo.diagnostics.structure import causal_stack, eval_mode, flatten_state, unflatten_state

MatVec = Callable[[Tensor], Tensor]


def power_iteration(matvec: MatVec, rmatvec: MatVec, v0: Tensor, *, iters: int = 300, tol: float = 1e-5
                    ) -> tuple[Tensor, int]:
    """Leading singular values of a batch of linear maps ``A_n`` given only products with them.

    Subspace iteration on ``A^T A`` (Golub & Van Loan, sec. 8.2.4) with a final Rayleigh-Ritz step:
    ``V <- orth(A^T A V)`` until the Ritz values change by less than ``tol`` times the largest,
    then the singular values of ``A V``.

    Args:
        matvec: ``V (N, D_in, k) -> A V (N, D_out, k)``.
        rmatvec: ``W (N, D_out, k) -> A^T W (N, D_in, k)``.
        v0: ``(N, D_in, k)`` starting vectors (random; k = how many singular values).
        iters: at most this many iterations. tol: relative change that stops them.

    Returns:
        ``(sigma (N, k) descending, iterations used)``. Non-finite products give NaN estimates.
    """
    v, _ = torch.linalg.qr(v0)
    prev = None
    used = 0
    for used in range(1, iters + 1):  # noqa: B007  (``used`` is returned)
        z = rmatvec(matvec(v))  # A^T A V
        if not bool(torch.isfinite(z).all()):
            break
        # Ritz values of A^T A on span(V): invariant to rotations inside a cluster of equal values
        ritz = torch.linalg.eigvalsh(v.transpose(-2, -1) @ z).flip(-1).clamp_min(0).sqrt()
        v, _ = torch.linalg.qr(z)
        if prev is not None and bool(((ritz - prev).abs() <= tol * ritz[..., :1]).all()):
            break
        prev = ritz
    if not bool(torch.isfinite(v).all()):
        return torch.full(v.shape[:1] + v.shape[2:], float("nan"), dtype=v.dtype, device=v.device), used
    return torch.linalg.svdvals(matvec(v)), used


@dataclass
class JacobianLag:
    """The result of :func:`jacobian_lag`. Arrays are float64 CPU tensors, one entry per (t, k) pair.

    Attributes:
        t, k, lag: ``(n,)`` int64 step pairs, ``lag = t - k``.
        norm: ``(n,)`` mean over examples of ``||ds_t/ds_k||_2`` (the largest singular value).
        norm_per_example: ``(n, E)``.
        singular_values: ``(n, top_k)`` mean over examples of the leading singular values.
        dim: D, the state vector's size; examples: E; method: ``"exact"`` or ``"power"``.
    """

    t: Tensor
    k: Tensor
    lag: Tensor
    norm: Tensor
    norm_per_example: Tensor
    singular_values: Tensor
    dim: int
    examples: int
    layer: int
    method: str
    iterations: list[int] = field(default_factory=list)

    @property
    def nonfinite(self) -> bool:
        return not bool(torch.isfinite(self.norm_per_example).all())

    def to_dict(self) -> dict[str, Any]:
        return {"layer": self.layer, "method": self.method, "dim": self.dim, "examples": self.examples,
                "t": self.t, "k": self.k, "lag": self.lag, "norm": self.norm,
                "norm_per_example": self.norm_per_example, "singular_values": self.singular_values,
                "nonfinite": self.nonfinite, "iterations": self.iterations}


def default_lags(steps: int, count: int = 16) -> list[int]:
    """About ``count`` lags from 1 to ``steps - 1``, spaced evenly on a log scale."""
    if steps < 2:
        return []
    # cpu: a list of Python ints, computed on the host
    grid = torch.logspace(0, torch.log10(torch.tensor(float(steps - 1))), count)
    return sorted({int(round(float(v))) for v in grid} | {1, steps - 1})


def _steps_map(cell: Cell, u: Tensor, like: Any, prepared: Any = None) -> Callable[[Tensor], Tensor]:
    """The state map ``s_k -> s_t`` on flat states ``(N, D)`` for fixed projected inputs ``u`` ``(N, L, *P)``."""

    step = bind(cell.step, 2, prepared, strict=True)

    def f(flat: Tensor) -> Tensor:
        state = unflatten_state(flat, like)
        for i in range(u.shape[1]):
            _, state = step(u[:, i], state)
        return flatten_state(state)

    return f


def step_jacobians(cell: Cell, u: Tensor, prev: Any, prepared: Any = None) -> Tensor:
    """Per-step Jacobians ``J = ds_i/ds_(i-1)`` for every example and step (001 eq (12)'s factors).

    Args:
        cell: the cell. u: ``(B, L, *P)`` projected inputs ``cell.project(x)`` of steps i.
        prev: the states before those steps, leaves ``(B, L, ...)``.
        prepared: what ``cell.prepare`` returned for this run (None for most cells).

    Returns:
        ``(B, L, D, D)``.
    """
    batch, steps = u.shape[:2]
    rows = tree_map(lambda s: s.reshape(batch * steps, *s.shape[2:]), prev)
    flat = flatten_state(rows)  # (B*L, D)
    u_rows = u.reshape(batch * steps, *u.shape[2:])
    one = tree_map(lambda s: s[:1], rows)
    step = bind(cell.step, 2, prepared, strict=True)

    def f(s: Tensor, ui: Tensor) -> Tensor:
        _, new = step(ui.unsqueeze(0), unflatten_state(s.unsqueeze(0), one))
        return flatten_state(new).squeeze(0)

    with torch.no_grad():  # no graph to the parameters (the transform still differentiates f)
        jac = torch.func.vmap(torch.func.jacrev(f, argnums=0))(flat, u_rows)  # (B*L, D, D)
    return jac.reshape(batch, steps, *jac.shape[1:])


def jacobian_lag(
    model: nn.Module,
    x: Tensor,
    *,
    layer: int = 0,
    t: int | Sequence[int] | None = None,
    lags: Sequence[int] | None = None,
    pairs: Sequence[tuple[int, int]] | None = None,
    method: str = "auto",
    top_k: int = 4,
    examples: int | None = 8,
    exact_max_dim: int = 128,
    iters: int = 300,
    tol: float = 1e-5,
    seed: int = 0,
) -> JacobianLag:
    """``||ds_t/ds_k||_2`` and the leading singular values of eq (11)'s product, for (t, k) pairs.

    Args:
        model: a model from :func:`rnnzoo.create` (or a Stacked/Recurrent layer or a cell) with
            unidirectional layers.
        x: ``(B, T, *F)`` batch-first input; full-length sequences (the Jacobians of padded steps
            would be identities).
        layer: which layer (0 = bottom); its input sequence is the layer below's output.
        t: end step(s) (default ``T - 1``). lags: lags ``t - k`` (default :func:`default_lags`).
        pairs: explicit ``(t, k)`` pairs with ``0 <= k < t < T``, instead of ``t``/``lags``.
        method: ``"exact"``, ``"power"`` or ``"auto"`` (exact when ``D <= exact_max_dim``).
        top_k: how many singular values to report.
        examples: use the first this many examples of the batch (None: all).
        iters, tol, seed: of the power iteration.

    Returns:
        :class:`JacobianLag`.

    The Jacobians are those of the model in eval mode (switched for the call and restored): a
    regulariser's random draws (dropout masks, zoneout, a dropped weight) make the training-mode
    step a random map, whose Jacobian is not what eq (11) describes.
    """
    if method not in ("auto", "exact", "power"):
        raise ValueError(f"method: expected 'auto', 'exact' or 'power', got {method!r}")
    stack = causal_stack(model)
    with eval_mode(stack):
        return _jacobian_lag(stack, x, layer=layer, t=t, lags=lags, pairs=pairs, method=method, top_k=top_k,
                             examples=examples, exact_max_dim=exact_max_dim, iters=iters, tol=tol, seed=seed)


def _jacobian_lag(stack: Any, x: Tensor, *, layer: int, t: int | Sequence[int] | None, lags: Sequence[int] | None,
                  pairs: Sequence[tuple[int, int]] | None, method: str, top_k: int, examples: int | None,
                  exact_max_dim: int, iters: int, tol: float, seed: int) -> JacobianLag:
    n = len(stack.layers)
    if not -n <= layer < n:
        raise ValueError(f"layer: expected an index into the model's {n} layers, got {layer}")
    layer %= n
    if examples is not None:
        x = x[:examples]
    steps = x.shape[1]
    pair_list = _pairs(steps, t, lags, pairs)
    with torch.no_grad():
        xs = x if stack.batch_first else x.transpose(0, 1)
        runs = stack.iter_layers(xs, return_states=True)
        lr = next(r for r in runs if r.index == layer)
    cell = lr.layer.cell
    inputs = lr.inputs if stack.batch_first else lr.inputs.transpose(0, 1)
    states = lr.run.states if stack.batch_first else tree_map(lambda s: s.transpose(0, 1), lr.run.states)
    prepared = cell.prepare(None, inputs.shape[0], device=inputs.device, dtype=inputs.dtype,
                            input_shape=tuple(inputs.shape[2:]))
    u = bind(cell.project, 1, prepared)(inputs).detach()  # (E, T, *P)
    states = tree_map(lambda s: s.detach(), states)
    init = cell.initial_state(inputs.shape[0], device=inputs.device, dtype=inputs.dtype,
                              input_shape=tuple(inputs.shape[2:]))
    init = tree_map(lambda s: s.detach().unsqueeze(1), init)
    prev_all = tree_map(lambda a, b: torch.cat([a, b[:, :-1]], 1), init, states)  # state before step i
    dim = flatten_state(tree_map(lambda s: s[:, 0], states)).shape[1]
    if method == "auto":
        method = "exact" if dim <= exact_max_dim else "power"
    top_k = max(1, min(top_k, dim))
    norms: dict[tuple[int, int], Tensor] = {}
    svals: dict[tuple[int, int], Tensor] = {}
    iterations: list[int] = []
    if method == "exact":
        jac = step_jacobians(cell, u, prev_all, prepared).to(torch.float64)  # (E, T, D, D): ds_i/ds_(i-1)
        by_t: dict[int, set[int]] = {}
        for tt, kk in pair_list:
            by_t.setdefault(tt, set()).add(kk)
        for tt, ks in by_t.items():
            prod = torch.eye(dim, dtype=torch.float64, device=jac.device).expand(jac.shape[0], dim, dim)
            for kk in range(tt - 1, min(ks) - 1, -1):
                prod = prod @ jac[:, kk + 1]  # ds_t/ds_k = ds_t/ds_(k+1) . ds_(k+1)/ds_k
                if kk in ks:
                    sv = _svdvals(prod)
                    norms[(tt, kk)] = sv[:, 0]
                    svals[(tt, kk)] = sv[:, :top_k]
    else:
        gen = torch.Generator().manual_seed(seed)
        for tt, kk in pair_list:
            s_k = tree_map(lambda s, kk=kk: s[:, kk], states)
            sigma, used = _power_pair(cell, u[:, kk + 1:tt + 1], s_k, top_k, iters, tol, gen, prepared)
            norms[(tt, kk)] = sigma[:, 0].to(torch.float64)
            svals[(tt, kk)] = sigma.to(torch.float64)
            iterations.append(used)
    per_ex = torch.stack([norms[p] for p in pair_list]).detach().cpu()  # (n, E)
    sv = torch.stack([svals[p] for p in pair_list]).detach().cpu()  # (n, E, k)
    return JacobianLag(  # cpu: the report's arrays are CPU tensors (per_ex and sv moved above)
        t=torch.tensor([p[0] for p in pair_list]), k=torch.tensor([p[1] for p in pair_list]),
        lag=torch.tensor([p[0] - p[1] for p in pair_list]), norm=per_ex.mean(1), norm_per_example=per_ex,
        singular_values=sv.mean(1), dim=dim, examples=int(x.shape[0]), layer=layer, method=method,
        iterations=iterations,
    )


def _svdvals(m: Tensor) -> Tensor:
    """svdvals with non-finite matrices giving NaN rows instead of an error."""
    ok = torch.isfinite(m).flatten(1).all(1)
    out = torch.full(m.shape[:1] + (min(m.shape[1:]),), float("nan"), dtype=m.dtype, device=m.device)
    if bool(ok.any()):
        out[ok] = torch.linalg.svdvals(m[ok])
    return out


def _power_pair(cell: Cell, u: Tensor, s_k: Any, top_k: int, iters: int, tol: float,
                gen: torch.Generator, prepared: Any = None) -> tuple[Tensor, int]:
    """Leading singular values of ``ds_t/ds_k`` per example by power iteration.

    The composed map is run once with autograd; vector-Jacobian products ``J^T w`` are backward
    passes through that retained graph, Jacobian-vector products ``J v`` are backward passes
    through the graph of ``w -> J^T w`` (the double-vjp form of a jvp). Measured on CPU this is
    several times faster than re-running the steps under ``torch.func.jvp`` at every iteration.
    """
    n = u.shape[0]
    flat = flatten_state(s_k)  # (E, D)
    dim = flat.shape[1]
    # k vectors per example ride on the batch axis: rows (k*E); the map acts row by row
    rep_u = u.repeat(top_k, *([1] * (u.dim() - 1)))
    like = tree_map(lambda s: s.repeat(top_k, *([1] * (s.dim() - 1))), s_k)
    f = _steps_map(cell, rep_u, like, prepared)
    with torch.enable_grad():
        s = flat.repeat(top_k, 1).detach().requires_grad_(True)
        out = f(s)
        w = torch.zeros_like(out, requires_grad=True)
        (jt,) = torch.autograd.grad(out, s, w, create_graph=True)  # J^T w, linear in w

    def to_rows(v: Tensor) -> Tensor:  # (E, D, k) -> (k*E, D)
        return v.permute(2, 0, 1).reshape(top_k * n, dim).to(device=s.device, dtype=s.dtype)

    def from_rows(r: Tensor) -> Tensor:  # (k*E, D) -> (E, D, k)
        return r.reshape(top_k, n, dim).permute(1, 2, 0).to(torch.float64)

    def matvec(v: Tensor) -> Tensor:  # J v
        return from_rows(torch.autograd.grad(jt, w, to_rows(v), retain_graph=True)[0])

    def rmatvec(wv: Tensor) -> Tensor:  # J^T w
        return from_rows(torch.autograd.grad(out, s, to_rows(wv), retain_graph=True)[0])

    # cpu: the start vectors come from the seeded CPU generator (the same start on every device), then move
    v0 = torch.randn(n, dim, top_k, generator=gen, dtype=torch.float64).to(s.device)
    return power_iteration(matvec, rmatvec, v0, iters=iters, tol=tol)


def _pairs(steps: int, t: int | Sequence[int] | None, lags: Sequence[int] | None,
           pairs: Sequence[tuple[int, int]] | None) -> list[tuple[int, int]]:
    if pairs is not None:
        if t is not None or lags is not None:
            raise ValueError("pairs: pass either pairs or t/lags, not both")
        out = [(int(a), int(b)) for a, b in pairs]
    else:
        ts = [steps - 1] if t is None else ([t] if isinstance(t, int) else list(t))
        lag_list = default_lags(steps) if lags is None else [int(v) for v in lags]
        out = [(tt, tt - lag) for tt in ts for lag in lag_list if tt - lag >= 0]
    for a, b in out:
        if not 0 <= b < a < steps:
            raise ValueError(f"pairs: expected 0 <= k < t < T={steps}, got (t={a}, k={b})")
    if not out:
        raise ValueError(f"pairs: no (t, k) pair with 0 <= k < t < T={steps}")
    return list(dict.fromkeys(out))
