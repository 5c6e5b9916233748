r"""Fused recurrence of every :class:`~rnnzoo.core.pointwise.PointwiseCell`: one recurrent product and an
elementwise update per step, the backward derived from the cell's own ``pointwise``::

    r_t = concat(s_{t-1}[recurrent_fields]) @ W.T          # (B, R), R = G*H: the only product in time
    s_t = pointwise(u_t, r_t, s_{t-1})                     # S state fields, each (B, H), unit-local

Forward: the loop with raw tensor ops (no autograd graph per step); every state is kept, ``(T+1, B, H)`` per field.

Backward, in three parts:

1. the derivative tables, for all steps at once: because ``pointwise`` is unit-local, ``ds_t/dr_t`` and
   ``ds_t/ds_{t-1}`` are diagonal per (block, field) pair, and one forward-mode product (``torch.func.jvp``) over
   the whole ``(T*B, ...)`` batch with a one-hot block tangent reads off each diagonal: G + S products of the
   pointwise part, as large kernels;
2. the loop back in time, per step one multiply (and a sum over the S fields) against the tables and one recurrent
   product ``dr_t @ W``::

       g_t     = ds_t (+ dout_t on the output field)                  # the cotangent of the new state
       dr_t    = sum_s g_t[s] * Jr_t[:, :, s]                          # (B, G, H)
       ds_{t-1}= sum_s g_t[s] * Js_t[:, :, s] + split(dr_t @ W)        # the product's part to the recurrent fields

   (a masked step passes ``ds`` through unchanged and contributes nothing);
3. every parameter's gradient at once: ``dW = dr^T @ concat(s_{t-1})`` as ONE product over all steps, and the
   input projections' and the pointwise parameters' gradients from ONE reverse-mode product of ``pointwise`` over
   all steps with the cotangents ``g_t``.

The step loop (``PointwiseCell.step``) is the reference twin: the model contract suite holds them equal in outputs
and float64 gradients for every registered cell, masked and bidirectional, and ``tests/fused/test_pointwise.py``
checks the unit-locality the tables rely on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask


def _tables(new: tuple[Tensor, ...], r: Tensor | None, prev: tuple[Tensor, ...], blocks: int
            ) -> tuple[Tensor | None, Tensor]:
    """``(Jr, Js)`` from the graph of ``new = pointwise(u, r, prev)`` over ``N = T*B`` rows: ``Jr (N, G, S, H)`` the
    diagonal of ``d new[s] / d r[block g]`` and ``Js (N, S', S, H)`` of ``d new[s] / d prev[s']``.

    ``pointwise`` is unit-local, so the gradient of ``new[s].sum()`` with respect to an input holds exactly the
    diagonal of that input's Jacobian: one reverse-mode product per state field gives every table (a forward-mode
    product per block and field, ``torch.func.jvp``, measured 7x slower here)."""
    S = len(new)
    N, H = prev[0].shape
    inputs = ([r] if r is not None else []) + list(prev)
    jr = r.new_zeros((N, blocks, S, H)) if r is not None else None
    js = prev[0].new_zeros((N, S, S, H))
    for i, n in enumerate(new):
        if not n.requires_grad:
            continue
        grads = torch.autograd.grad(n, inputs, torch.ones_like(n), retain_graph=True, allow_unused=True)
        if r is not None:
            gr, grads = grads[0], grads[1:]
            if gr is not None:
                jr[:, :, i] = gr.view(N, blocks, H)
        for k, gk in enumerate(grads):
            if gk is not None:
                js[:, k, i] = gk
    return jr, js


@contextmanager
def _parameters_as(cell: Any, named: Sequence[tuple[str, Tensor]]) -> Iterator[None]:
    """Within the block, ``cell``'s parameters named in ``named`` read as the given tensors: what they read as when
    the forward ran. A wrapper (weight drop) swaps masked tensors in for the length of the forward call only; the
    backward re-runs ``pointwise``, which must see the same tensors (and their graph back to the parameters)."""
    saved: list[tuple[Any, str, Any]] = []
    try:
        for name, value in named:
            path, _, leaf = name.rpartition(".")
            owner = cell.get_submodule(path) if path else cell
            current = owner._parameters.get(leaf)
            if current is not value:
                saved.append((owner, leaf, current))
                owner._parameters[leaf] = value
        yield
    finally:
        for owner, leaf, current in reversed(saved):
            owner._parameters[leaf] = current


class PointwiseFunction(torch.autograd.Function):
    """``(cell, make, mask, n_state, names, u, W, *state0, *params) -> (out, *s_T)``; see the module. ``names``: the
    parameters' names in ``cell`` (the backward re-runs ``pointwise`` with ``params`` in their places)."""

    @staticmethod
    def forward(ctx: Any, cell: Any, make: Any, mask: Tensor | None, n_state: int, names: tuple[str, ...], u: Tensor,
                W: Tensor | None, *rest: Tensor) -> tuple[Tensor, ...]:
        state0, params = rest[:n_state], rest[n_state:]
        fields = make._fields
        out_index = fields.index(cell.output_field)
        rec_index = [fields.index(name) for name in cell.recurrent_fields]
        T = u.shape[0]
        cur = make(*state0)
        history: list[list[Tensor]] = [[s] for s in state0]
        outs: list[Tensor] = []
        rs: list[Tensor] = []  # every step's r_t, kept for the backward (recomputing them is a second product)
        us = u.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        w_t = W.t() if W is not None else None
        for t in range(T):
            if w_t is not None:
                parts = [cur[i] for i in rec_index]
                r = (parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)) @ w_t
                rs.append(r)
            else:
                r = None
            new = tuple(cell.pointwise(us[t], r, cur))
            if ms is not None:
                new = tuple(torch.where(ms[t], n, c) for n, c in zip(new, cur, strict=True))
                outs.append(new[out_index] * ms[t])
            else:
                outs.append(new[out_index])
            for i, s in enumerate(new):
                history[i].append(s)
            cur = make(*new)
        stacked = [torch.stack(h) for h in history]  # (T+1, B, H) per field
        ctx.cell, ctx.make, ctx.n_state = cell, make, n_state
        ctx.params = params  # leaves (the cell's parameters): their gradients come from one reverse-mode product
        ctx.names = names
        ctx.out_index, ctx.rec_index = out_index, rec_index
        ctx.has_w = W is not None
        r_saved = torch.stack(rs) if rs else u.new_empty(0)  # (T, B, R)
        ctx.save_for_backward(u, W if W is not None else u.new_empty(0), mask if mask is not None else u.new_empty(0),
                              r_saved, *stacked)
        ctx.has_mask = mask is not None
        out = torch.stack(outs) if outs else u.new_zeros((0, *state0[out_index].shape))
        return (out, *(s[-1] for s in stacked))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, *g_final: Tensor) -> tuple[Any, ...]:
        u, W, mask, r_saved, *stacked = ctx.saved_tensors
        W = W if ctx.has_w else None
        mask = mask if ctx.has_mask else None
        cell, make = ctx.cell, ctx.make
        S = ctx.n_state
        T, B = u.shape[0], u.shape[1]
        H = stacked[0].shape[-1]
        N = T * B
        prev = tuple(s[:-1].reshape(N, H) for s in stacked)
        u_flat = u.reshape(N, *u.shape[2:])
        rec_in = None
        r_all = None
        if W is not None:
            parts = [prev[i] for i in ctx.rec_index]
            rec_in = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
            r_all = r_saved.reshape(N, -1) if T > 0 else rec_in @ W.t()
        G = r_all.shape[-1] // H if r_all is not None else 0
        with torch.enable_grad(), _parameters_as(cell, tuple(zip(ctx.names, ctx.params, strict=True))):
            # one graph of the pointwise part over all steps: the tables, then the parameters
            u_req = u_flat.detach().requires_grad_(True)
            r_req = r_all.detach().requires_grad_(True) if r_all is not None else None
            prev_req = tuple(p.detach().requires_grad_(True) for p in prev)
            new = tuple(cell.pointwise(u_req, r_req, make(*prev_req)))
            jr, js = _tables(new, r_req, prev_req, G)
        jr = jr.view(T, B, G, S, H) if jr is not None else None
        js = js.view(T, B, S, S, H)

        g = torch.stack([gf if gf is not None else torch.zeros_like(stacked[i][-1])
                         for i, gf in enumerate(g_final)], dim=1)  # (B, S, H): d loss / d s_t
        g_new = g.new_empty((T, B, S, H))  # the cotangent of each new state (zero on masked rows)
        dr = g.new_empty((T, B, G, H)) if W is not None else None
        ms = mask.view(T, B, 1, 1) if mask is not None else None
        rec_slot = torch.tensor(ctx.rec_index, device=g.device)
        for t in range(T - 1, -1, -1):
            if g_out is not None:  # the output is zero on a masked row: its gradient goes nowhere
                g[:, ctx.out_index] += g_out[t] * ms[t, :, 0] if ms is not None else g_out[t]
            gt = g * ms[t] if ms is not None else g
            g_new[t] = gt
            prev_g = (gt.unsqueeze(1) * js[t]).sum(dim=2) if S > 1 else gt * js[t, :, :, 0]  # (B, S, H)
            if W is not None:
                drt = (gt.unsqueeze(1) * jr[t]).sum(dim=2) if S > 1 else gt * jr[t, :, :, 0]  # (B, G, H)
                dr[t] = drt
                back = (drt.reshape(B, G * H) @ W).view(B, -1, H)
                prev_g = prev_g.index_add(1, rec_slot, back)
            if ms is not None:
                prev_g = torch.where(ms[t], prev_g, g)
            g = prev_g

        dW = None
        if W is not None and ctx.needs_input_grad[6]:
            dW = dr.reshape(N, G * H).t() @ rec_in
        want = list(ctx.params)
        with torch.enable_grad():
            cot = g_new.reshape(N, S, H).unbind(1)
            used = [(n, c) for n, c in zip(new, cot, strict=True) if n.requires_grad]
            grads = torch.autograd.grad([n for n, _ in used], [u_req, *want], [c for _, c in used],
                                        allow_unused=True) if used else (None,) * (1 + len(want))
        du = grads[0].view_as(u) if grads[0] is not None else None
        dparams = tuple(grads[1:])
        g0 = tuple(g[:, i] for i in range(S))
        return (None, None, None, None, None, du, dW, *g0, *dparams)


def pointwise_recurrence(cell: Any, u: Tensor, state: Any, mask: Tensor | None = None) -> tuple[Tensor, Any]:
    """Run ``cell`` (a :class:`~rnnzoo.core.pointwise.PointwiseCell`) over ``u (T, B, P)`` (``cell.project`` of
    the time-major input) from ``state``; ``mask (T, B)`` booleans, True = valid step (a masked step keeps the state
    and outputs zero). Returns ``(out (T, B, H), final_state)``, equal to the step loop's."""
    T, B = u.shape[0], u.shape[1]
    check_mask(mask, T, B)
    make = type(state)
    W = cell.recurrent_weight()
    named = [(n, p) for n, p in cell.named_parameters() if p.requires_grad]
    names, params = tuple(n for n, _ in named), tuple(p for _, p in named)
    out, *final = PointwiseFunction.apply(cell, make, mask, len(state), names, u, W, *state, *params)
    return out, make(*final)
