"""The runner's export path: the step loop as one ``scan`` (torch's higher-order op), so that an exported
graph keeps the sequence length symbolic.

Under ``torch.export`` (and so ``torch.onnx.export(..., dynamo=True)``, which captures with it) the
Python step loop of :func:`rnnzoo.core.runner.run_steps` would be unrolled over the example's T: the
graph would only take inputs of that length. :func:`scan_steps` computes exactly what the loop computes
(same ``cell.project`` of all steps at once, same ``cell.step``, same masking: the state frozen and the
output zero at masked steps) with ``torch._higher_order_ops.scan``, which ``torch.export`` keeps as one
``scan`` node over a symbolic T and torch's ONNX exporter lowers to ONNX ``Scan``. The runner takes it
only while exporting (``torch.compiler.is_exporting()``); the loop stays the reference and
tests/export holds the two equal (eagerly, ``scan`` runs its body through ``torch.compile``).

Limits (the runner then takes the unrolled loop, specialised to the example's T): a run without input
(``x=None``), ``return_states``, step hooks and per-step randomness.
"""

from __future__ import annotations

import types
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch import Tensor
from torch._higher_order_ops.scan import scan

from rnnzoo.core.cell import Steps, bind


def _forget_compiled_scans() -> None:
    """Drop torch.compile's cached entries for ``scan``'s inner function.

    ``scan`` compiles its body with torch.compile, under one code object (its inner
    ``run_flattened_scan``) for every scan of the process. An entry compiled for static shapes (an
    export at a fixed T, an eager scan) would have its guards evaluated against a later export's
    symbolic T and specialise it (a ConstraintViolationError for ``Dim("steps")``); entries for other
    cells' bodies would also pile up to dynamo's recompile limit. Each run's body is a new closure, so
    nothing reusable is lost. (Should torch rename that function, nothing is reset and
    tests/export/test_export_scan.py's fixed-then-dynamic export fails.)
    """
    for const in scan.__code__.co_consts:
        if isinstance(const, types.CodeType) and const.co_name == "run_flattened_scan":
            torch._dynamo.reset_code(const)


def _frozen(m: Tensor, new: Tensor, old: Tensor) -> Tensor:
    return torch.where(m.view(-1, *([1] * (new.dim() - 1))), new, old)


def scan_steps(seq: Steps, state: Any) -> tuple[Any, Any]:
    """``(outputs (T, B, *O), final state)`` of ``seq`` (time-major, already ordered) from ``state``,
    computed with one ``scan`` over T: what the runner's step loop returns."""
    cell = seq.cell
    step = bind(cell.step, 2, seq.prepared, strict=True)
    leaves, spec = pytree.tree_flatten(state)
    u_leaves, u_spec = pytree.tree_flatten(seq.u)
    has_mask = seq.mask is not None
    # the body may not write to Python state outside it: the output's structure is read off
    # ``cell.output`` of the initial state (the step's output as a function of its state, by the protocol)
    y_spec = pytree.tree_structure(bind(cell.output, 1, seq.prepared)(state))

    def body(carry: list[Tensor], xs: list[Tensor]) -> tuple[list[Tensor], list[Tensor]]:
        u_t = pytree.tree_unflatten(xs[:len(u_leaves)], u_spec)
        old = pytree.tree_unflatten(list(carry), spec)
        y, new = step(u_t, old)
        new_leaves = pytree.tree_leaves(new)
        y_leaves, got = pytree.tree_flatten(y)
        if got != y_spec:
            raise TypeError(f"{type(cell).__name__}: its step's output ({got}) is not structured as its "
                            f"output(state) ({y_spec}); the export path needs them alike")
        if has_mask:
            m = xs[-1]
            new_leaves = [_frozen(m, a, b) for a, b in zip(new_leaves, carry, strict=True)]
            y_leaves = [_frozen(m, t, torch.zeros((), dtype=t.dtype, device=t.device)) for t in y_leaves]
        # scan's body may not return an alias of its inputs or two aliases of one tensor (a cell's output
        # is often its new h): copies (one per state tensor and step, small beside the step's products)
        return [t.clone() for t in new_leaves], [t.clone() for t in y_leaves]

    xs = [*u_leaves, seq.mask] if has_mask else list(u_leaves)
    _forget_compiled_scans()
    final, out = scan(body, leaves, xs)
    return pytree.tree_unflatten(out, y_spec), pytree.tree_unflatten(final, spec)
