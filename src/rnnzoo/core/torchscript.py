"""Why rnnzoo models refuse TorchScript (``torch.jit.trace``, ``torch.jit.script`` and the TorchScript-based
ONNX exporter ``torch.onnx.export(..., dynamo=False)``), and the error that says so.

A run's time loop, its lengths and masks, and the choice of a fast path are Python control flow over
the input's shape and values. ``torch.jit.trace`` records one path through them: the graph it makes
replays the example's sequence length, the example's lengths (or their absence) and the fused
Functions' writes into preallocated buffers, which the legacy ONNX exporter turned into a graph without
inputs (a Constant holding the example's output) or one off by 0.3. That is a silently wrong graph, so
the runner refuses to be traced. ``torch.jit.script`` cannot compile the runner at all (pytree states,
``typing.Any``); :meth:`~rnnzoo.core.cell.Cell.__prepare_scriptable__` (the hook ``torch.jit.script``
calls on every module first) raises this error before TorchScript's own obscure one.

The supported routes capture the Python instead of replaying it: ``torch.export`` (the runner then
computes the loop as one ``scan`` over a symbolic T, :mod:`rnnzoo.core.scan`),
``torch.onnx.export(..., dynamo=True)`` (torch's default, which captures with ``torch.export``) and
:func:`rnnzoo.export.export` / ``rnnzoo export RUN_DIR``, which use them and check the result against
eager.
"""

from __future__ import annotations

from typing import NoReturn

SUPPORTED_ROUTES = ("torch.export.export(model, (x,)), torch.onnx.export(model, (x,), f, dynamo=True) "
                    "(torch's default) or rnnzoo.export.export(model, x, path) / `rnnzoo export RUN_DIR`")


class TorchScriptError(RuntimeError):
    """An rnnzoo model was handed to TorchScript (``torch.jit.trace``/``script`` or the legacy ONNX exporter)."""


def refuse_trace() -> NoReturn:
    """Raise :class:`TorchScriptError` for ``torch.jit.trace`` (and the legacy ONNX exporter, which traces)."""
    raise TorchScriptError(
        "torch.jit.trace (also used by torch.onnx.export(..., dynamo=False)) cannot capture an rnnzoo model: "
        "its time loop, lengths and masks are Python control flow that a trace freezes to the example input, "
        f"giving a graph that is silently wrong for other inputs. Use {SUPPORTED_ROUTES}.")


def refuse_script(owner: object) -> NoReturn:
    """Raise :class:`TorchScriptError` for ``torch.jit.script`` of ``owner``."""
    raise TorchScriptError(
        f"torch.jit.script: {type(owner).__name__} is not TorchScript-compatible (rnnzoo's runner works on "
        f"pytree states with Python control flow over time). Use {SUPPORTED_ROUTES}.")
