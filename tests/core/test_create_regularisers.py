"""``rnnzoo.create(..., variational_dropout=, zoneout=, weight_drop=, layer_norm=)``: the wrappers' order,
one set per layer and direction, the recorded config, the native layer_norm option, errors, conversion."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.core.registry import register, unregister
from rnnzoo.core.spec import TensorSpec
from rnnzoo.wrappers import LayerNorm, VariationalDropout, WeightDrop, Zoneout

ALL = dict(variational_dropout=0.2, zoneout={"h": 0.1}, weight_drop=0.3, layer_norm=True)


def _chain(cell):
    out = []
    while True:
        out.append(type(cell))
        if not hasattr(cell, "inner"):
            return out
        cell = cell.inner


def test_order_from_the_inside_and_one_set_per_layer_and_direction():
    model = rnnzoo.create("elman", input_size=3, hidden_size=4, num_layers=2, bidirectional=True, **ALL)
    cells = [c for layer in model.layers for c in (layer.forward_layer.cell, layer.backward_layer.cell)]
    for cell in cells:
        assert _chain(cell) == [VariationalDropout, Zoneout, WeightDrop, LayerNorm, rnnzoo.ElmanCell]
    assert len({id(c) for c in cells}) == 4 and len({id(c.inner.inner) for c in cells}) == 4
    assert cells[0].p_input == cells[0].p_output == cells[0].p_state == 0.2
    assert cells[0].inner.rates == {"h": 0.1}
    assert cells[0].inner.inner.weights == ("inner.weight_hh",)


def test_config_records_normalised_values_and_rebuilds_the_model():
    model = rnnzoo.create("lstm", input_size=3, hidden_size=4, **ALL)
    assert model.config["variational_dropout"] == {"input": 0.2, "output": 0.2, "state": 0.2}
    assert model.config["zoneout"] == {"h": 0.1}
    assert model.config["weight_drop"] == 0.3 and model.config["layer_norm"] is True
    other = rnnzoo.create(**model.config)
    assert _chain(other.layers[0].cell) == _chain(model.layers[0].cell)
    other.load_state_dict(model.state_dict())
    part = rnnzoo.create("lstm", input_size=3, hidden_size=4, variational_dropout={"state": 0.5})
    assert part.config["variational_dropout"] == {"input": 0.0, "output": 0.0, "state": 0.5}
    plain = rnnzoo.create("lstm", input_size=3, hidden_size=4, variational_dropout=0.0, zoneout=0, weight_drop=None)
    assert not hasattr(plain.layers[0].cell, "inner")
    assert not {"variational_dropout", "zoneout", "weight_drop", "layer_norm"} & set(plain.config)


@pytest.mark.parametrize("kwargs,error,message", [
    (dict(variational_dropout=1.5), ValueError, r"variational_dropout: expected a probability in \[0, 1\), got 1.5"),
    (dict(variational_dropout={"inputs": 0.1}), ValueError,
     r"variational_dropout: expected a dict with keys among input, output, state, got \{'inputs': 0.1\}"),
    (dict(variational_dropout="0.1"), TypeError, r"variational_dropout: expected None, a probability"),
    (dict(variational_dropout={"state": -1}), ValueError, r"variational_dropout\['state'\]: expected a probability"),
    (dict(zoneout=True), TypeError, r"zoneout: expected None, a rate in \[0, 1\) or a dict"),
    (dict(zoneout={"q": 0.1}), ValueError, r"zoneout: LSTMCell's state has the fields h, c; got 'q'"),
    (dict(zoneout={"c": 2.0}), ValueError, r"zoneout\['c'\]: expected a probability in \[0, 1\), got 2.0"),
    (dict(weight_drop=1.0), ValueError, r"weight_drop: expected a probability in \[0, 1\), got 1.0"),
    (dict(weight_drop="x"), ValueError, r"weight_drop: expected a probability in \[0, 1\), got 'x'"),
    (dict(layer_norm="yes"), TypeError, r"layer_norm: expected True or False, got 'yes'"),
])
def test_bad_values_name_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        rnnzoo.create("lstm", input_size=3, hidden_size=4, **kwargs)


def test_to_torch_refuses_a_wrapped_model():
    model = rnnzoo.create("lstm", input_size=3, hidden_size=4, weight_drop=0.5)
    with pytest.raises(ValueError, match=r"'lstm' has wrapper cells \(WeightDrop\(LSTMCell\)"):
        model.to_torch()
    with pytest.raises(ValueError, match=r"torch.nn's RNN/LSTM/GRU cannot express"):
        rnnzoo.to_torch(rnnzoo.create("gru", input_size=3, hidden_size=4, zoneout=0.1))
    rnnzoo.create("lstm", input_size=3, hidden_size=4).to_torch()  # unchanged without wrappers


def test_model_cell_steps_a_wrapped_stack_in_training_mode():
    model = rnnzoo.create("gru", input_size=3, hidden_size=4, num_layers=2, dropout=0.1, **ALL)
    cell = model.cell
    assert all(isinstance(c, VariationalDropout) for c in cell.cells)
    y, state = cell(torch.randn(2, 3))
    assert y.shape == (2, 4) and len(state.layers) == 2
    assert cell.training and not model.eval().cell.training


class _NormCell(rnnzoo.Cell):
    """A cell with a native ``layer_norm`` option (as the LSTM and GRU are getting)."""

    def __init__(self, input_size, hidden_size, *, layer_norm=False):
        super().__init__()
        self.input_size, self.output_size, self.layer_norm = input_size, hidden_size, layer_norm
        self.weight = torch.nn.Parameter(torch.randn(hidden_size, input_size))

    def state_spec(self, batch_size, *, input_shape=None):
        return TensorSpec((batch_size, self.output_size))

    def step(self, u_t, state):
        s = torch.tanh(u_t @ self.weight.T) + state
        return s, s


def test_layer_norm_uses_a_cells_native_option_where_it_has_one():
    register("_norm_cell", paper=rnnzoo.Paper("Test", 2024, "t"), seed_equations="-", description="t")(_NormCell)
    try:
        model = rnnzoo.create("_norm_cell", input_size=3, hidden_size=4, layer_norm=True, zoneout=0.2,
                              bidirectional=True)
        cell = model.layers[0].forward_layer.cell
        assert isinstance(cell, Zoneout) and type(cell.inner) is _NormCell and cell.inner.layer_norm is True
        assert model.config["layer_norm"] is True
        assert rnnzoo.create(**model.config).layers[0].backward_layer.cell.inner.layer_norm is True
        with pytest.raises(ValueError, match=r"weight_drop: _NormCell names no recurrent weights"):
            rnnzoo.create("_norm_cell", input_size=3, hidden_size=4, weight_drop=0.2)
    finally:
        unregister("_norm_cell")
    wrapped = rnnzoo.create("elman", input_size=3, hidden_size=4, layer_norm=True)
    assert isinstance(wrapped.layers[0].cell, LayerNorm)


def test_whole_model_entries_refuse_the_regularisers():
    register("_whole", paper=rnnzoo.Paper("Test", 2024, "t"), seed_equations="-", description="t",
             kind=rnnzoo.ModelKind.MODEL)(lambda **kw: torch.nn.Identity())
    try:
        with pytest.raises(TypeError, match=r"zoneout: '_whole' is a whole model"):
            rnnzoo.create("_whole", zoneout=0.1)
        assert isinstance(rnnzoo.create("_whole"), torch.nn.Identity)
    finally:
        unregister("_whole")
