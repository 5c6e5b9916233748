"""Every registered cell of the LSTM, GRU and Elman families through ``cell=``, stacked and bidirectional, alone
and with each regulariser of ``rnnzoo.create``: the module computes what the ``rnnzoo.create`` model with
the same parameters computes, with torch's hx layout, and its extra parameters follow the documented names.

The cases come from the registry (each class's ``torch_module`` entry gives the family) and from
``rnnzoo.wrappers.REGULARISERS``: a new cell or regulariser is covered without editing this file (a new
regulariser needs a value below, which the first test demands).
"""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnzoo
from rnnzoo import nn as rnn_nn
from rnnzoo.core.registry import ModelKind
from rnnzoo.wrappers import REGULARISERS

F64 = torch.float64
I, H, B, T = 3, 4, 2, 5
# each regulariser's value here, and whether it draws at random in training mode
VALUES = {"zoneout": (0.3, True), "variational_dropout": (0.3, True), "weight_drop": (0.5, True),
          "layer_norm": (True, False)}
CLASSES = (rnn_nn.LSTM, rnn_nn.GRU, rnn_nn.RNN)


def family_cells(cls) -> list[str]:
    default = rnnzoo.model_info(rnnzoo.list_models(torch_module=cls.torch_module)[0])
    return rnnzoo.list_models(family=default.family, kind=ModelKind.CELL, input_kind=default.input_kind)


CASES = [pytest.param(cls, name, reg, id=f"{cls.__name__}-{name}-{reg or 'plain'}")
         for cls in CLASSES for name in family_cells(cls) for reg in (None, *REGULARISERS)]


def test_every_regulariser_has_a_value_and_every_family_a_cell():
    assert set(VALUES) == set(REGULARISERS)
    assert all(family_cells(cls) for cls in CLASSES)
    assert {"lstm", "peephole_lstm"} <= set(family_cells(rnn_nn.LSTM))  # the families are the registry's


def _reference(ours, cls, name, kwargs):
    """The rnnzoo.create model of the same configuration, with ``ours``' parameters copied in by the documented
    naming (the parameter's path in the cell without the wrappers' ``inner``, joined by ``_``, plus ``_l{k}``
    and ``_reverse``); every parameter of either side is used exactly once."""
    ref = rnnzoo.create(name, I, H, num_layers=2, bidirectional=True, batch_first=False, **kwargs).double()
    assert not any(True for _ in ref.buffers())  # nothing but parameters to carry over
    used = []
    with torch.no_grad():
        for k, layer in enumerate(ref.layers):
            for suffix, cell in (("", layer.forward_layer.cell), ("_reverse", layer.backward_layer.cell)):
                for path, p in cell.named_parameters():
                    public = "_".join(part for part in path.split(".") if part != "inner") + f"_l{k}{suffix}"
                    p.copy_(getattr(ours, public))
                    used.append(public)
    assert sorted(used) == sorted(n for n, _ in ours.named_parameters())
    return ref


def _ref_state(ref, ours, hx):
    """torch's stacked hx (index 2k + d: layer k, direction d) as the create model's named state, by hand."""
    init = ref.initial_state(B, dtype=F64)
    layers = []
    for k, st in enumerate(init.layers):
        fwd = st.forward._replace(**{f: t[2 * k] for f, t in zip(ours.state_fields, hx, strict=True)})
        bwd = st.backward._replace(**{f: t[2 * k + 1] for f, t in zip(ours.state_fields, hx, strict=True)})
        layers.append(rnnzoo.BidirectionalState(fwd, bwd))
    return rnnzoo.StackedState(tuple(layers))


def _flat(result):
    out, hx = result
    return out, (hx if isinstance(hx, tuple) else (hx,))


@pytest.mark.parametrize("cls,name,reg", CASES)
def test_cell_and_regulariser_compute_the_create_model(cls, name, reg):
    kwargs = {} if reg is None else {reg: VALUES[reg][0]}
    _check_against_create(cls, name, kwargs, {}, random=reg is not None and VALUES[reg][1])


PROJECTING = [name for name in family_cells(rnn_nn.LSTM) if "proj_size" in (rnnzoo.model_info(name).options() or ())]


@pytest.mark.parametrize("name", PROJECTING)
def test_proj_size_with_every_lstm_family_cell_that_projects(name):
    assert "lstm" in PROJECTING and "peephole_lstm" in PROJECTING
    _check_against_create(rnn_nn.LSTM, name, {"layer_norm": True}, {"proj_size": 2}, random=False)


def _check_against_create(cls, name, kwargs, torch_args, *, random):
    torch.manual_seed(0)
    ours = cls(I, H, 2, bidirectional=True, cell=name, dtype=F64, **torch_args, **kwargs)
    assert ours.cell_name == name
    ref = _reference(ours, cls, name, {**torch_args, **kwargs})
    x = torch.randn(T, B, I, dtype=F64)
    sizes = ref.layers[0].forward_layer.cell.state_spec(B)._asdict()
    hx = tuple(torch.randn(4, B, *sizes[f].shape[1:], dtype=F64, requires_grad=True) for f in ours.state_fields)
    given = hx if cls is rnn_nn.LSTM else hx[0]
    H_out = torch_args.get("proj_size") or H

    for mode in ("eval", "train"):
        getattr(ours, mode)()
        getattr(ref, mode)()
        torch.manual_seed(5)
        out, finals = _flat(ours(x, given))
        torch.manual_seed(5)
        ref_out, ref_final = ref(x, _ref_state(ref, ours, hx))
        torch.testing.assert_close(out, ref_out, rtol=0, atol=0)
        assert out.shape == (T, B, 2 * H_out) and finals[0].shape == (4, B, H_out)
        stacked = [s for layer in ref_final.layers for s in layer]
        for f, t in zip(ours.state_fields, finals, strict=True):
            torch.testing.assert_close(t, torch.stack([getattr(s, f) for s in stacked]), rtol=0, atol=0)
        if mode == "eval":
            eval_out = out
    assert (not torch.allclose(out, eval_out)) == random  # a random regulariser acts in training mode only

    grads = torch.autograd.grad(out.sum() + sum(f.sum() for f in finals), [*ours.parameters(), *hx],
                                allow_unused=True)
    assert all(g is not None and torch.isfinite(g).all() for g in grads)


@pytest.mark.parametrize("cls,name,reg", [c for c in CASES if c.values[2] is None])
def test_state_dict_round_trip_unbatched_and_packed(cls, name, reg):
    torch.manual_seed(0)
    a = cls(I, H, 2, bidirectional=True, batch_first=True, cell=name).eval()
    torch.manual_seed(1)
    b = cls(I, H, 2, bidirectional=True, batch_first=True, cell=name).eval()
    b.load_state_dict(a.state_dict())
    x = torch.randn(B, T, I)
    torch.testing.assert_close(b(x)[0], a(x)[0], rtol=0, atol=0)
    one, hx_one = _flat(a(x[0]))  # unbatched: the batch axis dropped everywhere
    torch.testing.assert_close(one, a(x[:1])[0][0], rtol=1e-6, atol=1e-6)
    assert all(t.shape[0] == 4 and t.dim() == 2 for t in hx_one)
    packed = pack_padded_sequence(x, torch.tensor([2, T]), batch_first=True, enforce_sorted=False)
    out, hx_packed = _flat(a(packed))
    padded, lengths = pad_packed_sequence(out, batch_first=True)
    assert lengths.tolist() == [2, T]
    short, hx_short = _flat(a(x[:1, :2]))  # each sequence alone, at its own length
    torch.testing.assert_close(padded[0, :2], short[0], rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(padded[1], a(x[1:])[0][0], rtol=1e-6, atol=1e-6)
    assert padded[0, 2:].abs().sum() == 0
    for t, t_short in zip(hx_packed, hx_short, strict=True):
        torch.testing.assert_close(t[:, 0], t_short[:, 0], rtol=1e-6, atol=1e-6)
