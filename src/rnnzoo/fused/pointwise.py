r"""Fused recurrence of every :class:`~rnnzoo.core.pointwise.PointwiseCell`: one recurrent product and an
elementwise update per step, the backward derived from the cell's own ``pointwise``::

    r_t = concat(s_{t-1}[recurrent_fields]) @ W.T          # (B, R), R = G*H: the only product in time
    s_t = pointwise(u_t, r_t, s_{t-1})                     # S state fields, each (B, H), unit-local

A second product after a gate (``second_weight``, :meth:`~rnnzoo.core.pointwise.PointwiseCell.gated_input`)
appends ``q_t @ W2.T`` to ``r_t``, ``q_t = gated_input(u_t, r1_t, s_{t-1})``; its tables (``dq/dr1``, ``dq/ds``) and
the cotangent ``dq_t = dr2_t @ W2`` join the same loop, and ``dW2 = dr2^T @ q`` is one more product over all steps.

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

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch import Tensor
from torch.autograd.function import once_differentiable

from rnnzoo.fused._common import check_mask


def _diagonals(outputs: list[Tensor], inputs: list[Tensor | None], N: int, H: int) -> list[Tensor | None]:
    """For unit-local ``outputs`` (each ``(N, H)``) of ``inputs`` (each ``(N, k*H)`` or None): per input, the table
    ``(N, k, len(outputs), H)`` of the diagonals of ``d output[i] / d input[block]``.

    Unit-locality makes the gradient of ``outputs[i].sum()`` with respect to an input exactly the diagonal of that
    input's Jacobian: one reverse-mode product per output gives every table (a forward-mode product per block and
    field, ``torch.func.jvp``, measured 7x slower here)."""
    live = [x for x in inputs if x is not None]
    tables = [x.new_zeros((N, x.shape[-1] // H, len(outputs), H)) if x is not None else None for x in inputs]
    for i, out in enumerate(outputs):
        if not out.requires_grad:
            continue
        grads = iter(torch.autograd.grad(out, live, torch.ones_like(out), retain_graph=True, allow_unused=True))
        for table, x in zip(tables, inputs, strict=True):
            if x is None:
                continue
            grad = next(grads)
            if grad is not None and table is not None:
                table[:, :, i] = grad.view(N, -1, H)
    return tables


@contextmanager
def _rebound(cell: Any, tensors: list[Tensor]) -> Iterator[None]:
    """Within the block the cell's trainable parameters (``named_parameters`` order, as ``pointwise_recurrence``
    passed them) read as ``tensors``; put back on exit."""
    names = [name for name, p in cell.named_parameters() if p.requires_grad]
    if len(names) != len(tensors):
        raise RuntimeError(f"pointwise backward: the cell has {len(names)} trainable parameters, the forward "
                           f"passed {len(tensors)}")
    saved = []
    try:
        for name, value in zip(names, tensors, strict=True):
            owner_name, _, leaf = name.rpartition(".")
            owner = cell.get_submodule(owner_name) if owner_name else cell
            saved.append((owner, leaf, owner._parameters[leaf]))
            owner._parameters[leaf] = value
        yield
    finally:
        for owner, leaf, param in reversed(saved):
            owner._parameters[leaf] = param


def _cat(parts: list[Tensor]) -> Tensor:
    return parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)


class PointwiseFunction(torch.autograd.Function):
    """``(cell, make, mask, n_state, u, W, W2, *state0, *params) -> (out, *s_T)``; see the module."""

    @staticmethod
    def forward(ctx: Any, cell: Any, make: Any, mask: Tensor | None, n_state: int, u: Tensor, W: Tensor | None,
                W2: Tensor | None, *rest: Tensor) -> tuple[Tensor, ...]:
        state0, params = rest[:n_state], rest[n_state:]
        fields = make._fields
        out_index = fields.index(cell.output_field)
        rec_index = [fields.index(name) for name in cell.recurrent_fields]
        T = u.shape[0]
        cur = make(*state0)
        history: list[list[Tensor]] = [[s] for s in state0]
        outs: list[Tensor] = []
        us = u.unbind(0)
        ms = mask.unsqueeze(2).unbind(0) if mask is not None else None
        w_t = W.t() if W is not None else None
        w2_t = W2.t() if W2 is not None else None
        for t in range(T):
            r = _cat([cur[i] for i in rec_index]) @ w_t if w_t is not None else None
            if w2_t is not None:
                r = torch.cat([r, cell.gated_input(us[t], r, cur) @ w2_t], dim=-1)
            new = tuple(cell.pointwise(us[t], r, cur))
            if ms is not None:
                new = tuple(torch.where(ms[t], n, c) for n, c in zip(new, cur, strict=True))
                outs.append(new[out_index] * ms[t])
            else:
                outs.append(new[out_index])
            for i, st in enumerate(new):
                history[i].append(st)
            cur = make(*new)
        stacked = [torch.stack(h) for h in history]  # (T+1, B, H) per field
        ctx.cell, ctx.make, ctx.n_state = cell, make, n_state
        ctx.params = params  # the cell's parameters as read now: their gradients come from one reverse-mode product
        ctx.out_index, ctx.rec_index = out_index, rec_index
        ctx.has = (W is not None, W2 is not None, mask is not None)
        empty = u.new_empty(0)
        ctx.save_for_backward(u, W if W is not None else empty, W2 if W2 is not None else empty,
                              mask if mask is not None else empty, *stacked)
        out = torch.stack(outs) if outs else u.new_zeros((0, *state0[out_index].shape))
        return (out, *(st[-1] for st in stacked))

    @staticmethod
    @once_differentiable
    def backward(ctx: Any, g_out: Tensor, *g_final: Tensor) -> tuple[Any, ...]:
        u, W, W2, mask, *stacked = ctx.saved_tensors
        has_w, has_w2, has_mask = ctx.has
        W, W2, mask = (W if has_w else None), (W2 if has_w2 else None), (mask if has_mask else None)
        cell, make = ctx.cell, ctx.make
        S = ctx.n_state
        T, B = u.shape[0], u.shape[1]
        H = stacked[0].shape[-1]
        N = T * B
        prev = tuple(st[:-1].reshape(N, H) for st in stacked)
        u_flat = u.reshape(N, *u.shape[2:])
        rec_in = _cat([prev[i] for i in ctx.rec_index]) if W is not None else None
        # the parameters as the forward read them (a wrapper such as weight drop may have swapped a tensor in for a
        # parameter during the forward only): detached leaves put in their place while the graph is rebuilt
        want = [p.detach().requires_grad_(True) for p in ctx.params]
        with torch.enable_grad(), _rebound(cell, want):  # one graph of the update over all steps: tables, parameters
            u_req = u_flat.detach().requires_grad_(True)
            prev_req = tuple(p.detach().requires_grad_(True) for p in prev)
            r1_req = (rec_in @ W.t()).detach().requires_grad_(True) if W is not None else None
            q = cell.gated_input(u_req, r1_req, make(*prev_req)) if W2 is not None else None
            r2 = (q.detach() @ W2.t()).detach() if q is not None else None  # W2's gradient is dW2, below
            r_req = (torch.cat([r1_req.detach(), r2], dim=-1).requires_grad_(True) if r2 is not None
                     else r1_req)
            new = tuple(cell.pointwise(u_req, r_req, make(*prev_req)))
            jr, *js_list = _diagonals(list(new), [r_req, *prev_req], N, H)  # (N, G, S, H), S x (N, 1, S, H)
            q_blocks = q.view(N, -1, H).unbind(1) if q is not None else ()
            jq = _diagonals(list(q_blocks), [r1_req, *prev_req], N, H) if q is not None else None
        G = jr.shape[1] if jr is not None else 0
        G1 = r1_req.shape[-1] // H if r1_req is not None else 0
        jr = jr.view(T, B, G, S, H) if jr is not None else None
        js = torch.cat(js_list, dim=1).view(T, B, S, S, H)  # [t, b, from field, to field, h]
        if jq is not None:
            Kq = len(q_blocks)
            jqr = jq[0].view(T, B, G1, Kq, H)
            jqs = torch.cat(jq[1:], dim=1).view(T, B, S, Kq, H)

        g = torch.stack([gf if gf is not None else torch.zeros_like(stacked[i][-1])
                         for i, gf in enumerate(g_final)], dim=1)  # (B, S, H): d loss / d s_t
        g_new = g.new_empty((T, B, S, H))  # the cotangent of each new state (zero on masked rows)
        dr = g.new_empty((T, B, G1, H)) if W is not None else None
        dr2 = g.new_empty((T, B, G - G1, H)) if W2 is not None else None
        gq_all = g.new_empty((T, B, Kq, H)) if W2 is not None else None
        ms = mask.view(T, B, 1, 1) if mask is not None else None
        rec_slot = torch.tensor(ctx.rec_index, device=g.device)

        def through(gt: Tensor, table: Tensor) -> Tensor:  # sum_i gt[:, i] * table[:, :, i]: (B, k, H)
            return (gt.unsqueeze(1) * table).sum(dim=2) if gt.shape[1] > 1 else gt * table[:, :, 0]

        for t in range(T - 1, -1, -1):
            if g_out is not None:  # the output is zero on a masked row: its gradient goes nowhere
                g[:, ctx.out_index] += g_out[t] * ms[t, :, 0] if ms is not None else g_out[t]
            gt = g * ms[t] if ms is not None else g
            g_new[t] = gt
            prev_g = through(gt, js[t])  # (B, S, H)
            if W is not None:
                drt = through(gt, jr[t])  # (B, G, H)
                dr1 = drt[:, :G1]
                if W2 is not None:
                    dr2[t] = drt[:, G1:]
                    gq = (drt[:, G1:].reshape(B, -1) @ W2).view(B, Kq, H)
                    gq_all[t] = gq
                    dr1 = dr1 + through(gq, jqr[t])
                    prev_g = prev_g + through(gq, jqs[t])
                dr[t] = dr1
                back = (dr1.reshape(B, G1 * H) @ W).view(B, -1, H)
                prev_g = prev_g.index_add(1, rec_slot, back)
            if ms is not None:
                prev_g = torch.where(ms[t], prev_g, g)
            g = prev_g

        dW = dr.reshape(N, G1 * H).t() @ rec_in if W is not None and ctx.needs_input_grad[5] else None
        dW2 = dr2.reshape(N, -1).t() @ q.detach() if W2 is not None and ctx.needs_input_grad[6] else None
        with torch.enable_grad():
            outs = list(new) + ([q] if q is not None else [])
            cots = list(g_new.reshape(N, S, H).unbind(1)) + ([gq_all.reshape(N, -1)] if q is not None else [])
            used = [(o, c) for o, c in zip(outs, cots, strict=True) if o.requires_grad]
            grads = torch.autograd.grad([o for o, _ in used], [u_req, *want], [c for _, c in used],
                                        allow_unused=True) if used else (None,) * (1 + len(want))
        du = grads[0].view_as(u) if grads[0] is not None else None
        g0 = tuple(g[:, i] for i in range(S))
        return (None, None, None, None, du, dW, dW2, *g0, *grads[1:])


def pointwise_recurrence(cell: Any, u: Tensor, state: Any, mask: Tensor | None = None) -> tuple[Tensor, Any]:
    """Run ``cell`` (a :class:`~rnnzoo.core.pointwise.PointwiseCell`) over ``u (T, B, P)`` (``cell.project`` of
    the time-major input) from ``state``; ``mask (T, B)`` booleans, True = valid step (a masked step keeps the state
    and outputs zero). Returns ``(out (T, B, H), final_state)``, equal to the step loop's."""
    T, B = u.shape[0], u.shape[1]
    check_mask(mask, T, B)
    make = type(state)
    W = cell.recurrent_weight()
    W2 = cell.second_weight()
    if W2 is not None and W is None:
        raise ValueError(f"{type(cell).__name__}: second_weight() needs a recurrent_weight() (the gate it follows)")
    params = tuple(p for p in cell.parameters() if p.requires_grad)
    out, *final = PointwiseFunction.apply(cell, make, mask, len(state), u, W, W2, *state, *params)
    return out, make(*final)
