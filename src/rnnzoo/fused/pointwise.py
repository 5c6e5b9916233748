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
from rnnzoo.fused.workspace import buffer


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


def _back_one_field(g: Tensor, g_out: Tensor | None, js: Tensor, jr: Tensor | None, W: Tensor | None,
                    mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """The loop back in time of a cell with ONE state field and one recurrent product (the common case), as the
    general loop computes it but on ``(B, H)`` tensors: per step a multiply by each table and one fused multiply-add
    ``dr_t @ W``; the tables are unbound once and the per-step cotangents collected in lists (no indexing, no copies,
    no ``index_add`` in the loop). Returns ``(d s_0 (B, H), g_new (T, B, 1, H), dr (T, B, G, H) or None)``."""
    T, B, H = js.shape[0], js.shape[1], g.shape[-1]
    js_t = js.reshape(T, B, H).unbind(0)
    jr_t = jr.reshape(T, B, -1, H).unbind(0) if W is not None else None
    go_t = g_out.unbind(0) if g_out is not None else None
    m_t = mask.unsqueeze(2).unbind(0) if mask is not None else None
    g_news: list[Tensor] = []
    drs: list[Tensor] = []
    for t in range(T - 1, -1, -1):
        if go_t is not None:  # the output is zero on a masked row: its gradient goes nowhere
            g = g + go_t[t] * m_t[t] if m_t is not None else g + go_t[t]
        gt = g * m_t[t] if m_t is not None else g
        g_news.append(gt)
        prev = gt * js_t[t]
        if jr_t is not None:
            drt = gt.unsqueeze(1) * jr_t[t]  # (B, G, H)
            drs.append(drt)
            prev = torch.addmm(prev, drt.reshape(B, -1), W)
        g = torch.where(m_t[t], prev, g) if m_t is not None else prev
    g_new = torch.stack(g_news[::-1]).unsqueeze(2)
    dr = torch.stack(drs[::-1]) if drs else None
    return g, g_new, dr


def _through(gt: Tensor, table: Tensor) -> Tensor:
    """``sum_i gt[:, i] * table[:, :, i]``: ``gt (B, n, H)``, ``table (B, k, n, H)`` -> ``(B, k, H)``."""
    return (gt.unsqueeze(1) * table).sum(dim=2) if gt.shape[1] > 1 else gt * table[:, :, 0]


def _back_general(g: Tensor, g_out: Tensor | None, js: Tensor, jr: Tensor | None, W: Tensor | None,
                  W2: Tensor | None, mask: Tensor | None, G1: int, quads: tuple[Tensor, Tensor] | None,
                  out_index: int, rec_index: list[int]) -> tuple[Tensor, ...]:
    """The loop back in time for any number of state fields and an optional second product (the module's part 2).
    Returns ``(d s_0 (B, S, H), g_new (T, B, S, H), dr1 (T, B, G1, H) or None, dr2 or None, dq (T, B, Kq, H) or
    None)``; ``quads``: the second product's tables ``(dq/dr1 (T, B, G1, Kq, H), dq/ds (T, B, S, Kq, H))``."""
    T, B, S, H = js.shape[0], js.shape[1], js.shape[2], js.shape[-1]
    G = jr.shape[2] if jr is not None else 0
    g_new = buffer(g, (T, B, S, H))  # the cotangent of each new state (zero on masked rows)
    dr = buffer(g, (T, B, G1, H)) if W is not None else None
    dr2 = buffer(g, (T, B, G - G1, H)) if W2 is not None else None
    Kq = quads[0].shape[3] if quads is not None else 0
    gq_all = buffer(g, (T, B, Kq, H)) if W2 is not None else None
    ms = mask.view(T, B, 1, 1) if mask is not None else None
    rec_slot = torch.tensor(rec_index, device=g.device)
    for t in range(T - 1, -1, -1):
        if g_out is not None:  # the output is zero on a masked row: its gradient goes nowhere
            g[:, out_index] += g_out[t] * ms[t, :, 0] if ms is not None else g_out[t]
        gt = g * ms[t] if ms is not None else g
        g_new[t] = gt
        prev_g = _through(gt, js[t])  # (B, S, H)
        if W is not None:
            drt = _through(gt, jr[t])  # (B, G, H)
            dr1 = drt[:, :G1]
            if W2 is not None and quads is not None:
                dr2[t] = drt[:, G1:]
                gq = (drt[:, G1:].reshape(B, -1) @ W2).view(B, Kq, H)
                gq_all[t] = gq
                dr1 = dr1 + _through(gq, quads[0][t])
                prev_g = prev_g + _through(gq, quads[1][t])
            dr[t] = dr1
            back = (dr1.reshape(B, G1 * H) @ W).view(B, -1, H)
            prev_g = prev_g.index_add(1, rec_slot, back)
        if ms is not None:
            prev_g = torch.where(ms[t], prev_g, g)
        g = prev_g
    return g, g_new, dr, dr2, gq_all


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
        names = {id(p): name for name, p in cell.named_parameters()}
        ctx.param_names = [names.get(id(p)) for p in params]  # what pointwise_vjp's gradients are keyed by
        ctx.out_index, ctx.rec_index = out_index, rec_index
        ctx.has = (W is not None, W2 is not None, mask is not None)
        empty = buffer(u, 0)
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
        if u.shape[0] == 0:  # no step: the final state is the initial one
            g0 = tuple(gf if gf is not None else torch.zeros_like(st[-1]) for gf, st in zip(g_final, stacked,
                                                                                              strict=True))
            return (None, None, None, None, torch.zeros_like(u), None, None, *g0, *(None for _ in ctx.params))
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
        # a one-field cell that writes its own derivatives (PointwiseCell.pointwise_derivatives/_vjp): the tables and
        # the input and parameter gradients in closed form over all steps, no autograd graph of the pointwise part
        analytic = (S == 1 and W is not None and W2 is None
                    and getattr(cell, "pointwise_derivatives", None) is not None)
        q = quads = None
        if analytic:
            r_all = rec_in @ W.t()
            with _rebound(cell, want):
                jr1, jh1 = cell.pointwise_derivatives(u_flat, r_all, prev[0])  # (N, G, H), (N, H)
            G1 = jr1.shape[1]
            jr, js = jr1.reshape(T, B, G1, 1, H), jh1.reshape(T, B, 1, 1, H)
        else:
            with torch.enable_grad(), _rebound(cell, want):  # one graph of the update over all steps
                u_req = u_flat.detach().requires_grad_(True)
                prev_req = tuple(p.detach().requires_grad_(True) for p in prev)
                r1_req = (rec_in @ W.t()).detach().requires_grad_(True) if W is not None else None
                q = cell.gated_input(u_req, r1_req, make(*prev_req)) if W2 is not None else None
                r2 = (q.detach() @ W2.t()).detach() if q is not None else None  # W2's gradient is dW2, below
                r_req = (torch.cat([r1_req.detach(), r2], dim=-1).requires_grad_(True) if r2 is not None
                         else r1_req)
                new = tuple(cell.pointwise(u_req, r_req, make(*prev_req)))
                jr, *js_list = _diagonals(list(new), [r_req, *prev_req], N, H)  # (N, G, S, H), S x (N, 1, S, H)
                if q is not None:
                    q_blocks = q.view(N, -1, H).unbind(1)
                    jq = _diagonals(list(q_blocks), [r1_req, *prev_req], N, H)
                    quads = (jq[0].view(T, B, -1, len(q_blocks), H),
                             torch.cat(jq[1:], dim=1).view(T, B, S, len(q_blocks), H))
            G1 = r1_req.shape[-1] // H if r1_req is not None else 0
            jr = jr.view(T, B, -1, S, H) if jr is not None else None
            js = torch.cat(js_list, dim=1).view(T, B, S, S, H)  # [t, b, from field, to field, h]

        g = torch.stack([gf if gf is not None else torch.zeros_like(stacked[i][-1])
                         for i, gf in enumerate(g_final)], dim=1)  # (B, S, H): d loss / d s_t
        dr2 = gq_all = None
        if S == 1 and W2 is None and T > 0:  # one field, one product: the loop on (B, H) tensors
            g1, g_new, dr = _back_one_field(g[:, 0], g_out, js, jr, W, mask)
            g = g1.unsqueeze(1)
        else:
            g, g_new, dr, dr2, gq_all = _back_general(g, g_out, js, jr, W, W2, mask, G1, quads, ctx.out_index,
                                                      ctx.rec_index)

        dW = dr.reshape(N, G1 * H).t() @ rec_in if W is not None and ctx.needs_input_grad[5] else None
        dW2 = dr2.reshape(N, -1).t() @ q.detach() if W2 is not None and ctx.needs_input_grad[6] else None
        if analytic:
            with _rebound(cell, want):
                du_flat, by_name = cell.pointwise_vjp(u_flat, r_all, prev[0], g_new.reshape(N, H),
                                                      dr.reshape(N, G1 * H))
            du = du_flat.view_as(u)
            dparams = tuple(by_name.get(name) for name in ctx.param_names)
        else:
            with torch.enable_grad():
                outs = list(new) + ([q] if q is not None else [])
                cots = list(g_new.reshape(N, S, H).unbind(1)) + ([gq_all.reshape(N, -1)] if q is not None else [])
                used = [(o, c) for o, c in zip(outs, cots, strict=True) if o.requires_grad]
                grads = torch.autograd.grad([o for o, _ in used], [u_req, *want], [c for _, c in used],
                                            allow_unused=True) if used else (None,) * (1 + len(want))
            du = grads[0].view_as(u) if grads[0] is not None else None
            dparams = tuple(grads[1:])
        g0 = tuple(g[:, i] for i in range(S))
        return (None, None, None, None, du, dW, dW2, *g0, *dparams)


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
