"""Optional compilation of a whole model with ``torch.compile``."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def compile_model(model: nn.Module, **torch_compile_kwargs: Any) -> nn.Module:
    """``torch.compile(model, dynamic=False, **torch_compile_kwargs)``: a compiled wrapper sharing
    ``model``'s parameters and attributes. ``model`` itself is unchanged; save and load its
    ``state_dict`` (the wrapper's keys carry torch's ``_orig_mod.`` prefix). ``model.compile(dynamic=False)``
    compiles in place instead and behaves the same: the choices below live in the cells.

    Under compilation the runner takes only the fast paths a cell declares ``fused_traceable``
    (the policy lives in :func:`rnnzoo.core.runner.run_steps`): the rnnzoo Functions write into
    preallocated buffers, which inductor turns into whole-buffer copies per step (traced, they ran
    3.9x slower than eager).
    The runner's step loop is traced instead: dynamo unrolls it over T and inductor fuses each
    step's pointwise ops, forward and backward. torch's fused GRU/RNN kernels are kept; torch's
    LSTM kernel steps aside too, its oneDNN backward fails compiled on CPU (pytorch#158007).

    ``dynamic=False`` because the loop is unrolled over T anyway: each new (B, T) recompiles, and
    static shapes give inductor fixed sizes to specialise on. Any ``torch.compile`` keyword
    overrides these. Measured on 2 CPU threads (docs/performance.md): compiling a peephole LSTM at
    T=100 took about 90 s and made its train step 1.75x instead of 2.0x of torch.nn.LSTM at
    B=32, H=128 and 1.02x instead of 1.16x at B=64, H=256: it pays only for long runs at one shape.

    Example::

        model = rnnzoo.create("peephole_lstm", input_size=8, hidden_size=32)
        fast = rnnzoo.fused.compile_model(model)
        out, state = fast(x)   # the first call compiles
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model: expected a torch.nn.Module, got {type(model).__name__}")
    kwargs: dict[str, Any] = {"dynamic": False}
    kwargs.update(torch_compile_kwargs)
    return torch.compile(model, **kwargs)
