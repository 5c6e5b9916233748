"""A drop-in for ``torch.nn.LSTM``, ``GRU`` and ``RNN``, with any registered cell of their family.

Change one import line of a torch program and it runs on rnnzoo's cells, runner and fused paths::

    from rnnzoo import nn as rnn_nn
    lstm = rnn_nn.LSTM(256, 256, 2, cell="peephole_lstm", zoneout=0.1)   # was torch.nn.LSTM(256, 256, 2)
    out, (h_n, c_n) = lstm(x, (h_0, c_0))

What is torch's, exactly: the constructors' arguments and positional order (``RNN``'s ``nonlinearity``
fourth), ``forward(input, hx=None)`` with time-major, ``batch_first``, unbatched ``(T, I)`` and
``PackedSequence`` input (a PackedSequence out, packed as the input was), the stacked states ``h_n``
(and ``c_n``) of shape ``(num_layers * num_directions, B, H_out)``, ``proj_size``, dropout between layers
in training mode, ``bidirectional``, the parameter names (``weight_ih_l0``, ``bias_hh_l1_reverse``,
``weight_hr_l0``), their shapes, order and initialisation, hence ``state_dict`` keys, so
``model.load_state_dict(torch_lstm.state_dict())`` works directly, and ``flatten_parameters()`` (a no-op).
With the default cell the outputs equal torch's to float rounding (tests/nn hold it in float64).

What rnnzoo adds (keyword-only): ``cell=`` (any registered cell whose registry ``family`` is that of the
entry ``torch.nn.LSTM``/``GRU``/``RNN`` converts to, i.e. ``rnnzoo.list_models(family="lstm")``), the
regularisers of :func:`rnnzoo.create` (``zoneout=``, ``variational_dropout=``, ``weight_drop=``,
``layer_norm=``) and the cell's own options. Parameters torch's module lacks keep the cell's own name with
torch's layer suffix: ``weight_ci_l0``, ``weight_cf_l0``, ``weight_co_l0`` (peepholes), ``ln_ih_weight_l0``,
``ln_hh_weight_l0``, ``ln_c_weight_l0``, ``ln_c_bias_l0`` (the layer-normalised LSTM; the GRU has the first
two), ``gain_h_l0``/``bias_h_l0`` (the LayerNorm wrapper around an Elman cell); a wrapper's parameters are
named by their path inside the wrapped cell without the wrappers' ``inner`` steps. Loading a plain
``nn.LSTM`` state dict into a peephole model fails under ``strict=True`` naming the missing keys, and loads
the shared ones with ``strict=False``, as torch does. A torch argument a cell cannot honour (``proj_size``
for a cell without a projection, ``bias=False`` for one without biases) raises, naming it.

**How the parameters are stored (the decision).** The torch-named parameters are the module's real
parameters: each cell's ``nn.Parameter`` objects are registered on the module under torch's names, and the
:func:`rnnzoo.create` model that computes with them is held as a plain attribute, not a submodule. So
``named_parameters()``, ``parameters()`` (same order as torch's), ``state_dict()``, ``model.weight_hh_l0``,
optimizers, ``torch.nn.utils.clip_grad_norm_``, weight decay by name and optimizer state dicts written for
``nn.LSTM`` see exactly torch's names, with no key mapping in ``state_dict``/``_load_from_state_dict`` hooks
(mapping keys would leave ``named_parameters()`` and attribute access with rnnzoo's nested names). The
module's attribute is the source of truth: before every forward pass the cells are pointed at what
``getattr(module, "weight_hh_l0")`` returns now, so ``load_state_dict(..., assign=True)``, a reassigned or
AWD-style replaced weight, a device or dtype conversion that makes new Parameter objects, and
``torch.func.functional_call`` all reach the computation. Alternatives rejected: copying weights into the
cells at each call (breaks gradients to the registered parameters) and registering the model as a
submodule too (every parameter would appear twice in ``state_dict``).

Differences from torch, on purpose: dropout must be in [0, 1) (a probability of 1 drops everything);
``RNN``'s ``nonlinearity`` takes the Elman cell's other activations too (``"sigmoid"``, ...); with
``dtype=``/``device=`` the parameters are drawn in the default dtype on the CPU and then converted (torch
draws them in place), so only default-dtype models share torch's initial values for a seed. Speed: the
default cells run torch's fused kernel, one call per layer and direction (torch makes one call for the
whole stack; the work is the same); the other cells and regularisers run rnnzoo's paths for them (fused
recurrences, or the step loop where a regulariser draws per step, as zoneout). Not supported:
``torch.jit.script`` and ``nn.DataParallel`` (its replicas would share the one model the parameters are
bound into, so replicating raises; ``DistributedDataParallel`` is fine). The classes are not subclasses of
``torch.nn.LSTM``/``RNNBase`` (those hold torch's flat weights and kernels): code that tests
``isinstance(m, nn.LSTM)`` before initialising (``Module.apply`` helpers) must also test for
``rnnzoo.nn.TorchRecurrent``.
"""

from rnnzoo.nn.base import TorchRecurrent
from rnnzoo.nn.modules import GRU, LSTM, RNN

__all__ = ["GRU", "LSTM", "RNN", "TorchRecurrent"]
