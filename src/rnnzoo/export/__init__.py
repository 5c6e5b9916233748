"""Export to ONNX and ``torch.export``, checked against eager PyTorch (:func:`export`), and the
``rnnzoo export RUN_DIR`` command (:mod:`rnnzoo.export.cli`).

The supported routes are ``torch.export.export`` and ``torch.onnx.export(..., dynamo=True)`` (what
:func:`export` uses); TorchScript (``torch.jit.trace``/``script``, ``torch.onnx.export(..., dynamo=False)``)
raises :class:`~rnnzoo.core.torchscript.TorchScriptError` (see :mod:`rnnzoo.core.torchscript`).
"""

from rnnzoo.core.torchscript import TorchScriptError
from rnnzoo.export.core import FORMATS, ExportMismatch, ExportResult, export

__all__ = ["FORMATS", "ExportMismatch", "ExportResult", "TorchScriptError", "export"]
