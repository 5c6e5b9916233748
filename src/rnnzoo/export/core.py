"""Export a model (an rnnzoo model, or a model with a head) to ONNX or a ``torch.export`` program, and
check the file against eager PyTorch.

What is exported is ``model(x, lengths=lengths) -> (output, state)`` in eval mode, from the zero
initial state, with its outputs flattened: ``output`` first, then every tensor of the final state in
the state's order, named by its place in the state (``state.layers.0.h``,
``state.layers.1.backward.c``...). For a trained run's :class:`~rnnzoo.train.heads.SequenceModel`
``output`` is the task's prediction (the head applied): the file maps inputs to task outputs.

Shapes: ``x`` ``(B, T, *F)`` batch-first as the model takes it; ``lengths`` ``(B,)`` int64 (an input of
the graph only when the example has lengths). B is a dynamic dimension (``dynamic_batch``) and so is
T (``dynamic_steps``): under ``torch.export`` the runner computes its loop as one ``scan`` over a
symbolic T (ONNX ``Scan``; :mod:`rnnzoo.core.scan`). With ``dynamic_steps=False`` the graph is
specialised to the example's T and refuses (onnxruntime: "Got invalid dimensions"; torch: a guard
error) any other length.

In the graph the lengths are not range-checked as eager runs check them (see
:func:`rnnzoo.core.runner._exported_mask`): a length above T acts as T, a length below 1 gives zero
outputs and the initial state; :func:`export` checks the example's lengths.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
import torch.utils._pytree as pytree
from torch import Tensor, nn

FORMATS = ("onnx", "torch-export")
SUFFIXES = {"onnx": ".onnx", "torch-export": ".pt2"}


class ExportMismatch(RuntimeError):
    """The exported file's outputs differ from eager PyTorch's by more than the tolerance."""


@dataclasses.dataclass
class ExportResult:
    """What :func:`export` wrote and measured.

    Attributes:
        path: the file. format: ``"onnx"`` or ``"torch-export"``.
        input_names, output_names: the graph's inputs (``x``, ``lengths``) and flat outputs.
        dynamic_batch, dynamic_steps: whether B and T are dynamic in the graph.
        steps: the example's T (the only T the graph takes when ``dynamic_steps`` is False).
        max_abs_diff: the largest ``|exported - eager|`` over every output and every checked input.
        checked: the ``(B, T)`` of each input the file was checked on.
        seconds: wall time of the export and the check.
    """

    path: Path
    format: str
    input_names: list[str]
    output_names: list[str]
    dynamic_batch: bool
    dynamic_steps: bool
    steps: int
    max_abs_diff: float
    checked: list[tuple[int, int]]
    seconds: float

    def sequence_length_note(self) -> str:
        """One line saying which sequence lengths the file takes."""
        if self.dynamic_steps:
            return "sequence length: dynamic (any T >= 1; the loop is one ONNX Scan / torch scan)"
        return (f"sequence length: fixed at T = {self.steps} (the graph is specialised to the example's length "
                "and refuses any other)")

    def load_snippet(self) -> str:
        """Python that loads the file and runs it on ``x`` (and ``lengths``)."""
        args = ", ".join(self.input_names)
        if self.format == "onnx":
            feeds = ", ".join(f'"{n}": {n}.numpy()' for n in self.input_names)
            return ("import onnxruntime as ort\n"
                    f'session = ort.InferenceSession("{self.path}")\n'
                    f"{', '.join(self.output_names[:1] + ['*state'])} = session.run(None, {{{feeds}}})"
                    f"  # x float32 (B, T, ...){', lengths int64 (B,)' if 'lengths' in self.input_names else ''}")
        return ("import torch\n"
                f'program = torch.export.load("{self.path}")\n'
                f"{', '.join(self.output_names[:1] + ['*state'])} = program.module()({args})")


class _Flat(nn.Module):
    """``model(x, lengths=...)`` with flat tensor outputs (``output, *state leaves``), what an exported
    graph returns."""

    def __init__(self, model: nn.Module, with_lengths: bool) -> None:
        super().__init__()
        self.model = model
        self.with_lengths = with_lengths

    def forward(self, x: Tensor, lengths: Tensor | None = None) -> tuple[Tensor, ...]:
        out, state = self.model(x, lengths=lengths) if self.with_lengths else self.model(x)
        return (out, *pytree.tree_leaves(state))


def output_names(model: nn.Module, x: Tensor, lengths: Tensor | None) -> list[str]:
    """``["output", "state.<path>", ...]``: the flat outputs' names, read off one eager run."""
    with torch.no_grad():
        out, state = model(x, lengths=lengths) if lengths is not None else model(x)
    if not isinstance(out, Tensor):
        raise TypeError(f"model: expected model(x) to return (output tensor, state), got output of type "
                        f"{type(out).__name__}")
    paths = pytree.tree_flatten_with_path(state)[0]
    names = ["output"]
    for path, leaf in paths:
        if not isinstance(leaf, Tensor):
            raise TypeError(f"model: expected a state of tensors, got a {type(leaf).__name__} at {pytree.keystr(path)}")
        key = pytree.keystr(path).replace("[", ".").replace("]", "").replace("'", "")
        names.append("state" + (key if key.startswith(".") else "." + key))
    return names


def _check_inputs(x: Any, lengths: Any) -> tuple[Tensor, Tensor | None]:
    if not isinstance(x, Tensor) or not x.is_floating_point() or x.dim() < 3:
        got = f"shape {tuple(x.shape)} dtype {x.dtype}" if isinstance(x, Tensor) else type(x).__name__
        raise TypeError(f"example: expected a floating-point tensor (B, T, *F), got {got}")
    if lengths is None:
        return x, None
    lens = torch.as_tensor(lengths)  # cpu: lengths (a list here), as pack_padded_sequence takes them
    if lens.dtype not in (torch.int32, torch.int64) or tuple(lens.shape) != (x.shape[0],):
        raise TypeError(f"lengths: expected integers of shape ({x.shape[0]},), got dtype {lens.dtype} shape "
                        f"{tuple(lens.shape)}")
    if int(lens.min()) < 1 or int(lens.max()) > x.shape[1]:
        raise ValueError(f"lengths: expected every length in [1, {x.shape[1]}], got {lens.tolist()}")
    return x, lens.to(torch.int64)


def _target(path: str | Path, fmt: str, overwrite: bool) -> Path:
    p = Path(path)
    if p.suffix != SUFFIXES[fmt]:
        raise ValueError(f"path: expected a file ending in {SUFFIXES[fmt]} for format {fmt!r}, got {str(p)!r}")
    if p.exists() and not overwrite:
        raise FileExistsError(f"path: {p} already exists; choose another path or pass overwrite=True")
    p.parent.mkdir(parents=True, exist_ok=True)
    return p


def _run_file(fmt: str, path: Path, args: tuple[Tensor, ...]) -> list[Tensor]:
    if fmt == "onnx":
        import onnxruntime as ort

        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feeds = {i.name: a.numpy() for i, a in zip(session.get_inputs(), args, strict=True)}
        return [torch.from_numpy(v) for v in session.run(None, feeds)]
    program = torch.export.load(str(path))
    with torch.no_grad():
        return list(program.module()(*args))


def export(
    model: nn.Module,
    example: Tensor,
    path: str | Path,
    *,
    format: str = "onnx",
    lengths: Tensor | Sequence[int] | None = None,
    dynamic_batch: bool = True,
    dynamic_steps: bool = True,
    check_inputs: Sequence[tuple[Tensor, Tensor | None]] = (),
    atol: float = 1e-5,
    overwrite: bool = False,
) -> ExportResult:
    """Export ``model`` to ``path`` and check the file against eager PyTorch.

    Args:
        model: an rnnzoo model (``rnnzoo.create(...)``, any layer) or a module with the same call,
            ``model(x, lengths=...) -> (output, state)`` (a trained run's model with its head).
        example: ``(B, T, *F)`` input the graph is captured with.
        path: the file to write (``.onnx`` or ``.pt2``); an existing file is refused unless ``overwrite``.
        format: ``"onnx"`` (``torch.onnx.export(..., dynamo=True)``, run by onnxruntime) or
            ``"torch-export"`` (``torch.export.save``; load with ``torch.export.load``).
        lengths: ``(B,)`` valid lengths of ``example``: the graph then takes ``lengths`` as its second input.
        dynamic_batch, dynamic_steps: make B and T dynamic dimensions of the graph.
        check_inputs: more ``(x, lengths)`` pairs to check the file on (e.g. held-out data; lengths
            None when the graph has none); the example is always checked, and with a dynamic B or T
            so is a copy of it grown by one sequence and one step.
        atol: the largest ``|file - eager|`` accepted; above it :class:`ExportMismatch` is raised
            (the file is kept for inspection).
        overwrite: replace an existing file.

    Returns:
        :class:`ExportResult`.
    """
    if format not in FORMATS:
        raise ValueError(f"format: expected one of {', '.join(FORMATS)}, got {format!r}")
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    start = time.perf_counter()
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    x, lens = _check_inputs(example, lengths)
    x = x.to(dtype).contiguous()  # a view's strides (a slice of a longer batch) would pin T in the graph
    target = _target(path, format, overwrite)
    was_training = model.training
    model.eval()
    try:
        names = output_names(model, x, lens)
        flat = _Flat(model, lens is not None).eval()
        args = (x,) if lens is None else (x, lens)
        input_names = ["x"] if lens is None else ["x", "lengths"]
        dims: dict[int, Any] = {}
        if dynamic_batch:
            dims[0] = torch.export.Dim("batch", min=1)
        if dynamic_steps:
            dims[1] = torch.export.Dim("steps", min=1)
        shapes: tuple[Any, ...] = (dims,) if lens is None else (dims, {0: dims[0]} if dynamic_batch else None)
        with torch.no_grad():
            program = torch.export.export(flat, args, dynamic_shapes=shapes)
        if format == "onnx":
            onnx_program = torch.onnx.export(program, args, dynamo=True, input_names=input_names,
                                             output_names=names, verbose=False)
            onnx_program.save(str(target))
        else:
            torch.export.save(program, str(target))

        checks: list[tuple[Tensor, Tensor | None]] = [(x, lens)]
        if dynamic_batch or dynamic_steps:
            checks.append(_grown(x, lens, dynamic_batch, dynamic_steps))
        checks += [_check_inputs(cx, cl) for cx, cl in check_inputs]
        worst = 0.0
        checked = []
        for cx, cl in checks:
            cx = cx.to(dtype)
            cargs = (cx,) if cl is None else (cx, cl.to(torch.int64))
            if len(cargs) != len(args):
                raise ValueError("check_inputs: expected lengths exactly when the example has lengths")
            with torch.no_grad():
                want = flat(*cargs)
            got = _run_file(format, target, cargs)
            diff = max(float((g.to(w.dtype) - w).abs().max()) for g, w in zip(got, want, strict=True))
            worst = max(worst, diff)
            checked.append((int(cx.shape[0]), int(cx.shape[1])))
    finally:
        model.train(was_training)
    result = ExportResult(target, format, input_names, names, dynamic_batch, dynamic_steps, int(x.shape[1]),
                          worst, checked, time.perf_counter() - start)
    if worst > atol:
        raise ExportMismatch(f"{target}: the exported model differs from eager PyTorch by {worst:.3g} "
                             f"(> atol {atol:g}) on inputs of (B, T) {checked}")
    return result


def _grown(x: Tensor, lengths: Tensor | None, batch: bool, steps: bool) -> tuple[Tensor, Tensor | None]:
    """The example with one more sequence (a copy of the first, reversed in time) and one more step
    where those dimensions are dynamic: the file must take other shapes than the one it was captured with."""
    if steps:
        x = torch.cat([x, x[:, :1]], 1)
    if batch:
        x = torch.cat([x, x[:1].flip(1)], 0)
    if lengths is None:
        return x, None
    if batch:
        lengths = torch.cat([lengths, lengths.new_tensor([x.shape[1]])])
    return x, lengths
