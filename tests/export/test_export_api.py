"""``rnnzoo.export.export``: the file it writes loads and gives eager's outputs at other batch sizes and
lengths, a model with a head exports as one predictor, bad arguments are refused naming them, and a file
that differs from eager is reported (the check can fail)."""

from __future__ import annotations

import onnxruntime as ort
import pytest
import torch

import rnnzoo
from rnnzoo.core.tree import tree_leaves
from rnnzoo.export import ExportMismatch, export
from rnnzoo.train.heads import SequenceModel

B, T, I, H = 3, 4, 3, 4


def _eager(model, x, lengths=None):
    with torch.no_grad():
        out, state = model(x, lengths=lengths)
    return [out, *tree_leaves(state)]


def _close(got, want, atol=1e-5):
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        torch.testing.assert_close(torch.as_tensor(g), w, atol=atol, rtol=0)


def test_onnx_file_of_a_model_with_its_head_and_lengths(tmp_path):
    torch.manual_seed(0)
    model = SequenceModel("gru", input_size=I, output_size=2, hidden_size=H, head="last")
    x = torch.randn(B, T, I)
    result = export(model, x, tmp_path / "m.onnx", lengths=[4, 2, 3])
    assert result.input_names == ["x", "lengths"]
    assert result.output_names == ["output", "state.layers.0.h"]
    assert result.dynamic_batch and result.dynamic_steps and result.max_abs_diff < 1e-5
    assert model.training, "export puts the model back in the mode it found it in"
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    x2, lens2 = torch.randn(6, 9, I), torch.tensor([9, 1, 5, 9, 2, 7])
    got = session.run(None, {"x": x2.numpy(), "lengths": lens2.numpy()})
    assert got[0].shape == (6, 2)  # the head's prediction at each sequence's last valid step
    _close(got, _eager(model.eval(), x2, lens2))
    snippet = result.load_snippet()
    assert "onnxruntime" in snippet and str(result.path) in snippet


def test_torch_export_file_and_a_fixed_length(tmp_path):
    torch.manual_seed(0)
    model = rnnzoo.create("peephole_lstm", input_size=I, hidden_size=H)
    x = torch.randn(B, T, I)
    result = export(model, x, tmp_path / "m.pt2", format="torch-export", dynamic_steps=False)
    assert not result.dynamic_steps and f"fixed at T = {T}" in result.sequence_length_note()
    module = torch.export.load(str(result.path)).module()
    x2 = torch.randn(5, T, I)
    _close(list(module(x2)), _eager(model.eval(), x2))
    with pytest.raises(Exception, match=r"Guard failed: x.size\(\)\[1\] == 4"):  # another T: refused
        module(torch.randn(5, T + 1, I))
    assert "torch.export.load" in result.load_snippet()


def test_bad_arguments_are_refused_naming_them(tmp_path):
    model = rnnzoo.create("elman", input_size=I, hidden_size=H)
    x = torch.randn(B, T, I)
    taken = tmp_path / "taken.onnx"
    taken.write_bytes(b"keep me")
    with pytest.raises(FileExistsError, match="path: .*taken.onnx already exists"):
        export(model, x, taken)
    assert taken.read_bytes() == b"keep me"
    with pytest.raises(ValueError, match="path: expected a file ending in .pt2"):
        export(model, x, tmp_path / "m.onnx", format="torch-export")
    with pytest.raises(ValueError, match="format: expected one of onnx, torch-export"):
        export(model, x, tmp_path / "m.onnx", format="tflite")
    with pytest.raises(ValueError, match=r"lengths: expected every length in \[1, 4\]"):
        export(model, x, tmp_path / "m.onnx", lengths=[4, 0, 5])
    with pytest.raises(TypeError, match="example: expected a floating-point tensor"):
        export(model, torch.ones(B, T, I, dtype=torch.long), tmp_path / "m.onnx")


def test_a_file_that_differs_from_eager_is_reported(tmp_path):
    class Drifts(torch.nn.Module):
        """Computes something else while being exported: the check must catch it."""

        def __init__(self) -> None:
            super().__init__()
            self.rnn = rnnzoo.create("gru", input_size=I, hidden_size=H)

        def forward(self, x, lengths=None):
            out, state = self.rnn(x, lengths=lengths)
            return (out + 1 if torch.compiler.is_exporting() else out), state

    with pytest.raises(ExportMismatch, match="differs from eager PyTorch by 1"):
        export(Drifts(), torch.randn(B, T, I), tmp_path / "m.pt2", format="torch-export")

