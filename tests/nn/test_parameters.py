"""The torch-named parameters are the module's real ones and the source of truth for the cells: loading
(strict, partial, assign), reassigning, converting, copying and functional calls reach the computation."""

from __future__ import annotations

import copy
import pickle

import pytest
import torch
from torch import nn

from rnnzoo import nn as rnn_nn

F64 = torch.float64


def _torch_and_peephole():
    torch.manual_seed(0)
    ref = nn.LSTM(3, 4, 2, bidirectional=True)
    torch.manual_seed(1)
    peep = rnn_nn.LSTM(3, 4, 2, bidirectional=True, cell="peephole_lstm")
    return ref, peep


def test_peephole_has_extra_keys_in_torchs_style():
    ref, peep = _torch_and_peephole()
    extra = [k for k in peep.state_dict() if k not in ref.state_dict()]
    assert extra == [f"weight_c{g}_l{k}{d}" for k in range(2) for d in ("", "_reverse") for g in "ifo"]
    assert set(ref.state_dict()) < set(peep.state_dict())


def test_loading_a_plain_lstm_into_a_peephole_model_strict_names_the_missing_keys():
    ref, peep = _torch_and_peephole()
    with pytest.raises(RuntimeError, match=r"Missing key\(s\).*weight_ci_l0.*\nstate_dict: rnnzoo.nn.LSTM with "
                                           r"cell='peephole_lstm' has parameters the state dict lacks: weight_ci_l0, "
                                           r"weight_cf_l0, .* strict=False"):
        peep.load_state_dict(ref.state_dict())


def test_loading_a_plain_lstm_into_a_peephole_model_non_strict_loads_the_shared_keys():
    ref, peep = _torch_and_peephole()
    peepholes = {k: v.clone() for k, v in peep.state_dict().items() if k not in ref.state_dict()}
    result = peep.load_state_dict(ref.state_dict(), strict=False)
    assert sorted(result.missing_keys) == sorted(peepholes) and result.unexpected_keys == []
    for k, v in ref.state_dict().items():
        assert torch.equal(peep.state_dict()[k], v), k
    for k, v in peepholes.items():
        assert torch.equal(peep.state_dict()[k], v), k  # left at their initial values
    with torch.no_grad():
        for k in peepholes:
            getattr(peep, k).zero_()
    x = torch.randn(5, 2, 3)
    torch.testing.assert_close(peep(x)[0], ref(x)[0])  # zero peepholes: the plain LSTM's function


def test_a_torch_program_that_loads_the_wrong_state_dict_still_fails_as_in_torch():
    model = rnn_nn.LSTM(3, 4)
    with pytest.raises(RuntimeError, match=r"Unexpected key\(s\) in state_dict: \"weight_ih_l1\""):
        model.load_state_dict(nn.LSTM(3, 4, 2).state_dict())
    with pytest.raises(RuntimeError, match=r"size mismatch for weight_ih_l0"):
        model.load_state_dict(nn.LSTM(5, 4).state_dict())


def _fresh(seed=0):
    torch.manual_seed(seed)
    return rnn_nn.LSTM(3, 4, 2, batch_first=True)


def test_load_with_assign_and_reassigned_parameters_reach_the_cells():
    x = torch.randn(2, 5, 3)
    torch.manual_seed(2)
    ref = nn.LSTM(3, 4, 2, batch_first=True)
    model = _fresh()
    model.load_state_dict(ref.state_dict(), assign=True)  # new Parameter objects on the module
    assert model.weight_hh_l1 is not None and model.weight_hh_l1.data_ptr() == ref.weight_hh_l1.data_ptr()
    torch.testing.assert_close(model(x)[0], ref(x)[0])

    model.weight_hh_l0 = nn.Parameter(torch.zeros_like(model.weight_hh_l0))
    ref.weight_hh_l0 = nn.Parameter(torch.zeros_like(ref.weight_hh_l0))
    torch.testing.assert_close(model(x)[0], ref(x)[0])
    out = model(x)[0].sum()
    out.backward()
    assert model.weight_hh_l0.grad is not None and model.weight_hh_l0.grad.abs().sum() > 0


def test_awd_style_weight_replacement_by_a_plain_tensor():
    """AWD-LSTM's WeightDrop deletes ``weight_hh_l0`` from ``_parameters`` and sets a computed tensor under the
    name before each forward; the computation must use it."""
    x = torch.randn(2, 5, 3)
    model = _fresh()
    raw = nn.Parameter(model.weight_hh_l0.detach().clone())
    del model._parameters["weight_hh_l0"]
    model.weight_hh_l0 = raw * 0.0
    zeroed = model(x)[0]
    model.weight_hh_l0 = raw * 1.0
    torch.testing.assert_close(model(x)[0], _fresh()(x)[0])
    assert not torch.allclose(zeroed, model(x)[0])


def test_functional_call_and_dtype_conversion_and_copies():
    x = torch.randn(2, 5, 3)
    model = _fresh()
    other = _fresh(seed=9)
    out = torch.func.functional_call(model, dict(other.named_parameters()), (x,))[0]
    torch.testing.assert_close(out, other(x)[0])
    torch.testing.assert_close(model(x)[0], _fresh()(x)[0])  # its own parameters again afterwards

    double = copy.deepcopy(model).double()
    torch.testing.assert_close(double(x.double())[0], model(x)[0].double(), rtol=1e-5, atol=1e-6)
    assert all(p.dtype == F64 for p in double.parameters())
    assert all(p.dtype == torch.float32 for p in model.parameters())  # the copy shares nothing
    restored = pickle.loads(pickle.dumps(model))
    torch.testing.assert_close(restored(x)[0], model(x)[0])


def test_optimizer_updates_reach_the_computation():
    x = torch.randn(2, 5, 3)
    model = _fresh()
    before = model(x)[0].detach()
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model(x)[0].pow(2).sum().backward()
    opt.step()
    assert not torch.allclose(model(x)[0], before)
    assert len(opt.param_groups[0]["params"]) == len(nn.LSTM(3, 4, 2).state_dict())


def test_reset_parameters_uses_each_cells_initialisation():
    model = rnn_nn.LSTM(3, 4, 2, layer_norm=True)
    with torch.no_grad():
        for p in model.parameters():
            p.fill_(7.0)
    model.reset_parameters()
    assert torch.equal(model.ln_c_weight_l1, torch.ones(4)) and torch.equal(model.ln_c_bias_l1, torch.zeros(4))
    assert model.weight_hh_l0.abs().max() <= 0.5 and model.weight_hh_l0.std() > 0  # U(-1/sqrt(H), 1/sqrt(H))


def test_torch_func_leaves_nothing_in_the_cells():
    """After torch.func.grad over functional_call the module still deep-copies and saves (the cells
    hold the module's parameters again, not the transform's tensors)."""
    import io

    m = rnn_nn.LSTM(4, 6, 1)
    x = torch.randn(5, 3, 4)
    params = {k: v.detach() for k, v in m.named_parameters()}
    grads = torch.func.grad(lambda p: torch.func.functional_call(m, p, (x,))[0].sum())(params)
    assert set(grads) == set(params)
    twin = copy.deepcopy(m)
    torch.save(m, io.BytesIO())
    torch.testing.assert_close(twin(x)[0], m(x)[0])
    doubled = {k: v * 2 for k, v in m.named_parameters()}
    torch.func.functional_call(m, doubled, (x,))
    copy.deepcopy(m)


def test_meta_device_forward_gives_shapes():
    m = rnn_nn.LSTM(4, 6, 2).to("meta")
    out, (h, c) = m(torch.randn(5, 3, 4, device="meta"))
    assert (out.shape, h.shape, c.shape) == ((5, 3, 6), (2, 3, 6), (2, 3, 6))


def test_data_parallel_replication_is_refused():
    with pytest.raises(NotImplementedError, match="DistributedDataParallel"):
        rnn_nn.GRU(4, 6)._replicate_for_data_parallel()
