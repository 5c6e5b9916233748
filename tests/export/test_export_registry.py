"""Every registered model leaves Python correctly: ``torch.export`` and ``torch.onnx.export(dynamo=True)``
give eager's outputs and final state (onnxruntime runs the ONNX graph) with a dynamic batch size and a
dynamic sequence length, and TorchScript (``torch.jit.trace``/``script``, the legacy ONNX exporter)
raises the error naming the supported routes instead of making a wrong graph.

Names come from the registry (a new entry is covered without editing this file). Two configurations
per model keep the exports few (each layer and direction is a scan, and each scan costs a compilation
of its body): ``plain`` (two stacked layers, no lengths, training mode with gradients on; torch.export)
and ``full`` (bidirectional where the entry allows it, lengths where it supports them, every regulariser
of ``rnnzoo.create``; eval mode; torch.export and ONNX).
Each graph is captured at (B, T) = (3, 4) and run at (5, 6) as well.

Each export costs 10-30 s on a 2-core machine: the registry tests run in ``make test`` for
``tests.conftest.REPRESENTATIVE`` and for the other cells under ``@pytest.mark.slow`` (``tiered``). They run on
every device present (``device``); onnxruntime runs the ONNX graph on the CPU, fed the inputs copied there.
"""

from __future__ import annotations

import io
import warnings

import onnxruntime as ort
import pytest
import torch

import rnnzoo
from rnnzoo.core.tree import tree_leaves
from rnnzoo.export import TorchScriptError
from tests.conftest import make_input, tiered

MODELS = [n for n in rnnzoo.list_models(kind=rnnzoo.ModelKind.CELL)
          if rnnzoo.model_info(n).input_kind in (rnnzoo.InputKind.VECTOR_SEQUENCE, rnnzoo.InputKind.IMAGE_SEQUENCE)]
B, T, I, H = 3, 4, 3, 4
B2, T2 = 5, 6
LENGTHS, LENGTHS2 = [4, 2, 3], [6, 1, 3, 5, 2]  # unsorted, with a length-1 sequence
REGULARISERS = {"zoneout": 0.1, "layer_norm": True, "weight_drop": 0.2, "variational_dropout": 0.1}
ROUTES = "torch.export.export(model, (x,)), torch.onnx.export(model, (x,), f, dynamo=True)"


def _config(name: str, config: str) -> tuple[dict, bool]:
    """(create options, with lengths) of a configuration, from the entry's capabilities."""
    info = rnnzoo.model_info(name)
    if config == "plain":
        return {"num_layers": 2}, False
    return {"bidirectional": info.bidirectional_ok, **REGULARISERS}, info.lengths


def _case(name: str, config: str, device: torch.device | str = "cpu"):
    kw, with_lengths = _config(name, config)
    torch.manual_seed(0)
    model = rnnzoo.create(name, input_size=I, hidden_size=H, **kw).to(device).eval()
    gen = torch.Generator().manual_seed(1)
    x = make_input(name, B, T, I, generator=gen, device=device)
    x2 = make_input(name, B2, T2, I, generator=gen, device=device)
    if not with_lengths:
        return model, (x, {}), (x2, {})
    return model, (x, {"lengths": torch.tensor(LENGTHS)}), (x2, {"lengths": torch.tensor(LENGTHS2)})


def _dynamic(kwargs: dict) -> dict:
    batch, steps = torch.export.Dim("batch", min=1), torch.export.Dim("steps", min=1)
    shapes = {"x": {0: batch, 1: steps}}
    if "lengths" in kwargs:
        shapes["lengths"] = {0: batch}
    return shapes


def _eager(model, x, kwargs) -> list[torch.Tensor]:
    with torch.no_grad():
        out, state = model(x, **kwargs)
    return [out, *tree_leaves(state)]


def _max_diff(got, want) -> float:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert tuple(g.shape) == tuple(w.shape)
    return max(float((torch.as_tensor(g).cpu() - w.cpu()).abs().max()) for g, w in zip(got, want, strict=True))


def _check_program(program, model, cases) -> None:
    exported = program.module()
    # the time loop is one scan, unless every cell's fast path traces to standard operators with T symbolic
    # (``fused_exportable``: fsmn's convolution), which is then the graph
    exportable = all(m.fused_exportable for m in model.modules() if isinstance(m, rnnzoo.Cell))
    assert exportable or any("scan" in str(n.target) for n in program.graph.nodes), "expected the time loop as one scan"
    for xi, kwi in cases:
        with torch.no_grad():
            out, state = exported(xi, **kwi)
        assert _max_diff([out, *tree_leaves(state)], _eager(model, xi, kwi)) < 1e-5


@pytest.mark.parametrize("name", tiered(MODELS))
def test_torch_export_in_training_mode_with_gradients_on(name, device):
    """``plain`` (two layers), captured where eager takes the fused autograd Functions (training mode,
    gradients on): they loop in Python over T, so the export takes the scan instead and computes the same."""
    model, case, case2 = _case(name, "plain", device)
    model.train()
    program = torch.export.export(model, (case[0],), case[1], dynamic_shapes=_dynamic(case[1]))
    _check_program(program, model, (case, case2))


@pytest.mark.parametrize("name", tiered(MODELS))
def test_torch_export_and_onnx_match_eager_at_other_batch_and_length(name, device):
    """``full`` (bidirectional, lengths, regularisers; eval mode): the torch.export program and, converted
    from it, the ONNX graph in onnxruntime, whose loop is one Scan per direction."""
    model, (x, kw), (x2, kw2) = _case(name, "full", device)
    with torch.no_grad():
        program = torch.export.export(model, (x,), kw, dynamic_shapes=_dynamic(kw))
    _check_program(program, model, ((x, kw), (x2, kw2)))

    with torch.no_grad():  # as rnnzoo.export does: under autograd, torch 2.13's scan saves a symbolic size (sru_pp)
        onnx_program = torch.onnx.export(program, (x,), kwargs=kw, dynamo=True, verbose=False)
    ops = {node.op_type for node in onnx_program.model_proto.graph.node}
    exportable = all(m.fused_exportable for m in model.modules() if isinstance(m, rnnzoo.Cell))
    assert exportable or "Scan" in ops, f"expected the time loop as one ONNX Scan (dynamic T), got ops {sorted(ops)}"
    session = ort.InferenceSession(onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    for xi, kwi in ((x, kw), (x2, kw2)):
        feeds = [xi.cpu().numpy(), *(v.cpu().numpy() for v in kwi.values())]
        got = session.run(None, {i.name: v for i, v in zip(session.get_inputs(), feeds, strict=True)})
        assert _max_diff(got, _eager(model, xi, kwi)) < 1e-5


@pytest.mark.parametrize("name", tiered(MODELS))
def test_torchscript_routes_raise_naming_the_supported_ones(name, device):
    model, (x, kw), _ = _case(name, "full", device)
    with pytest.raises(TorchScriptError, match="torch.jit.script") as err:
        torch.jit.script(model)
    assert ROUTES in str(err.value)
    with pytest.raises(TorchScriptError, match=r"torch.jit.trace") as err:
        torch.jit.trace(model, (x,))
    assert ROUTES in str(err.value)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(TorchScriptError, match=r"dynamo=False") as err:
            torch.onnx.export(model, (x,), io.BytesIO(), dynamo=False, input_names=["x"],
                              dynamic_axes={"x": {0: "B", 1: "T"}})
    assert ROUTES in str(err.value)


def test_a_traced_wrapper_around_a_model_raises_too():
    """The runner refuses a trace itself: a user module whose forward calls the model is refused alike."""

    class Head(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.rnn = rnnzoo.create("lstm", input_size=I, hidden_size=H)

        def forward(self, x):
            return self.rnn.layers[0].run(x).output

    with pytest.raises(TorchScriptError, match="torch.jit.trace"):
        torch.jit.trace(Head(), (torch.randn(B, T, I),))
    with pytest.raises(TorchScriptError, match="torch.jit.trace"):
        torch.jit.trace(lambda x: rnnzoo.run(rnnzoo.GRUCell(I, H), x).output, (torch.randn(B, T, I),))


def test_onnx_export_of_the_module_itself():
    """``torch.onnx.export(model, ...)`` on the nn.Module (it captures with torch.export itself)."""
    model, (x, kw), (x2, kw2) = _case("gru", "plain")
    onnx_program = torch.onnx.export(model, (x,), dynamo=True, dynamic_shapes=_dynamic(kw), verbose=False)
    session = ort.InferenceSession(onnx_program.model_proto.SerializeToString(), providers=["CPUExecutionProvider"])
    assert _max_diff(session.run(None, {"x": x2.numpy()}), _eager(model, x2, kw2)) < 1e-5
