"""What a recurrent network remembers: gradient against time lag, Jacobian products, recurrent
weights against 001 eq (14), gate saturation (issue 4).

001 eqs (10)-(12) write the gradient that reaches step k from the loss at step t as a product of
t - k Jacobians ``dh_i/dh_(i-1) = W_HH^T diag(f'(h_(i-1)))``; with ``||diag(f')|| <= gamma``
(eq (13)) the largest singular value lambda_1 of ``W_HH`` below ``1/gamma`` is sufficient for
vanishing gradients and above it necessary for exploding ones (eqs (14)-(15), sec. 2.6).

>>> import torch, rnnzoo
>>> from rnnzoo.diagnostics import gradient_lag, weight_report
>>> model = rnnzoo.create("elman", input_size=2, hidden_size=8)
>>> g = gradient_lag(model, torch.randn(4, 20, 2))      # one batched backward pass
>>> tuple(g.matrix.shape), g.method
((20, 20), 'batched')
>>> weight_report(model)[0].block
'weight_hh'

Pieces: :func:`gradient_lag` (``||dL_t/dh_k||`` for all k <= t, by lag), :func:`jacobian_lag`
(``||dh_t/dh_k||`` and leading singular values, exact or by :func:`power_iteration`),
:func:`weight_report` (spectra and eq (14)'s condition per recurrent block), :func:`gate_saturation`
(fractions and histograms, from :func:`gate_activations`), :func:`diagnose` (all of them),
:class:`DiagnosticsCallback` (Lightning), :func:`apply_init` (spectral radius, orthogonal, identity,
forget bias), plots in :mod:`rnnzoo.diagnostics.plots` and the ``rnnzoo diagnose`` command
(:mod:`rnnzoo.diagnostics.cli`). Nothing here knows a cell: a cell reports its gates from its own
step (``Cell.report``), names its recurrent matrices (``Cell.recurrent_blocks``), applies the
initialisation schemes (``Cell.initialize``) and gives its output from its state (``Cell.output``), so
a new cell gets every diagnostic without an entry here.
"""

from rnnzoo.diagnostics.gates import Activations, GateSaturation, gate_activations, gate_saturation, saturation
from rnnzoo.diagnostics.gradients import GradientLag, RandomProjectionLoss, gradient_lag, lag_profile
from rnnzoo.diagnostics.init import apply_init, parse_init
from rnnzoo.diagnostics.jacobians import JacobianLag, jacobian_lag, power_iteration, step_jacobians
from rnnzoo.diagnostics.report import ModelDiagnostics, diagnose, load_diagnostics, to_jsonable
from rnnzoo.diagnostics.weights import (
    RecurrentBlock,
    WeightReport,
    analyse_matrix,
    recurrent_blocks,
    weight_report,
)


def __getattr__(name: str):  # the callback imports Lightning: only when asked for
    if name == "DiagnosticsCallback":
        from rnnzoo.diagnostics.callback import DiagnosticsCallback

        return DiagnosticsCallback
    raise AttributeError(f"module 'rnnzoo.diagnostics' has no attribute {name!r}")


__all__ = [
    "Activations", "DiagnosticsCallback", "GateSaturation", "GradientLag", "JacobianLag", "ModelDiagnostics",
    "RandomProjectionLoss", "RecurrentBlock", "WeightReport", "analyse_matrix", "apply_init", "diagnose",
    "gate_activations", "gate_saturation", "gradient_lag", "jacobian_lag", "lag_profile", "load_diagnostics",
    "parse_init", "power_iteration", "recurrent_blocks", "saturation", "step_jacobians", "to_jsonable",
    "weight_report",
]
