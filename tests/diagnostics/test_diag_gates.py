"""Gate activations as the cells report them, and saturation fractions on constructed inputs."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.diagnostics import gate_activations, gate_saturation, saturation

D = torch.float64


def test_saturation_fractions_on_constructed_values():
    sig = saturation(torch.tensor([0.01, 0.05, 0.5, 0.95, 0.99, 0.999, float("nan"), 0.3]), "sigmoid")
    assert sig.low_fraction == pytest.approx(2 / 7) and sig.high_fraction == pytest.approx(3 / 7)
    assert sig.nonfinite_fraction == pytest.approx(1 / 8)
    assert float(sig.counts.sum()) == 7 and sig.edges[0] == 0 and sig.edges[-1] == 1
    tanh = saturation(torch.tensor([-0.95, -0.5, 0.0, 0.89, 0.91]), "tanh")
    assert (tanh.low_threshold, tanh.high_threshold) == (-0.9, 0.9)
    assert tanh.low_fraction == pytest.approx(0.2) and tanh.high_fraction == pytest.approx(0.2)
    custom = saturation(torch.tensor([0.15, 0.5, 0.85]), "sigmoid", low=0.2, high=0.8)
    assert custom.low_fraction == pytest.approx(1 / 3) and custom.high_fraction == pytest.approx(1 / 3)
    relu = saturation(torch.tensor([0.0, 0.0, 2.0, 5.0]), "relu")
    assert relu.low_fraction == 0.5 and relu.high_fraction is None
    assert saturation(torch.tensor([1.0, -3.0]), "linear").low_fraction is None


@pytest.mark.parametrize("name", ["lstm", "peephole_lstm", "cifg_lstm", "lstm1997"])
def test_lstm_gates_reproduce_the_states(name):
    torch.manual_seed(0)
    cell = rnnzoo.model_info(name).build(2, 3).to(D)
    x = torch.randn(2, 5, 2, dtype=D)
    states = rnnzoo.run(cell, x, return_states=True).states
    acts = gate_activations(cell, x)
    i, g, o = acts["i"].values, acts["g"].values, acts["o"].values
    c_prev = torch.cat([torch.zeros(2, 1, 3, dtype=D), states.c[:, :-1]], 1)
    if "f" in acts:
        f = acts["f"].values
    elif name == "cifg_lstm":
        f = 1 - i
    else:
        f = torch.ones_like(i)
    torch.testing.assert_close(states.c, f * c_prev + i * g)  # 001 eq (18)
    torch.testing.assert_close(states.h, o * acts["tanh(c)"].values)  # 001 eq (20)
    assert [k for k in acts][:2] == (["i", "f"] if name in ("lstm", "peephole_lstm") else ["i", "g"])


def test_gru_gates_reproduce_the_states():
    torch.manual_seed(1)
    for reset in ("after", "before"):
        cell = rnnzoo.GRUCell(2, 3, reset=reset).to(D)
        x = torch.randn(2, 4, 2, dtype=D)
        states = rnnzoo.run(cell, x, return_states=True).states
        a = gate_activations(cell, x)
        h_prev = torch.cat([torch.zeros(2, 1, 3, dtype=D), states.h[:, :-1]], 1)
        z, n = a["z"].values, a["n"].values
        torch.testing.assert_close(states.h, (1 - z) * n + z * h_prev)  # 001 eq (36), z relabelled


@pytest.mark.parametrize("bias,side", [(20.0, "high"), (-20.0, "low")])
def test_forget_gate_saturated_by_construction(bias, side):
    model = rnnzoo.create("lstm", input_size=2, hidden_size=4, forget_bias=bias)
    sats = {s.gate: s for s in gate_saturation(model, torch.rand(3, 6, 2), lengths=torch.tensor([6, 2, 4]))}
    f = sats["f"]
    assert f.count == (6 + 2 + 4) * 4  # padded steps left out
    assert getattr(f, f"{side}_fraction") == 1.0
    assert getattr(f, f"{'low' if side == 'high' else 'high'}_fraction") == 0.0


def test_elman_hidden_saturation():
    model = rnnzoo.create("elman", input_size=1, hidden_size=3)
    with torch.no_grad():
        model.layers[0].cell.weight_ih.fill_(100.0)
    x = torch.cat([torch.ones(2, 3, 1), -torch.ones(2, 1, 1)], 1)  # tanh(+-100 + ...) = +-1
    (h,) = gate_saturation(model, x)
    assert h.gate == "h" and h.kind == "tanh"
    assert h.high_fraction == pytest.approx(0.75) and h.low_fraction == pytest.approx(0.25)


@pytest.mark.parametrize("options", [{"zoneout": 0.1, "weight_drop": 0.2}, {"variational_dropout": 0.2},
                                     {"layer_norm": True}])
def test_wrapped_cells_report_through_their_wrappers(options):
    """The gates a wrapped cell reports are the layer's gates (wrappers add no name)."""
    model = rnnzoo.create("lstm", input_size=2, hidden_size=3, num_layers=2, **options).eval()
    sats = gate_saturation(model, torch.randn(2, 5, 2), lengths=torch.tensor([5, 3]))
    names = [(s.layer, s.gate) for s in sats]
    assert (0, "f") in names and (1, "f") in names and (0, "i") in names
    assert all(s.count == 8 * 3 for s in sats)


def test_a_deep_cell_reports_each_cell_under_its_place():
    deep = rnnzoo.DeepCell([rnnzoo.LSTMCell(2, 3), rnnzoo.GRUCell(3, 3)])
    acts = gate_activations(deep, torch.randn(2, 4, 2))
    assert {"layers.0.f", "layers.0.i", "layers.1.z", "layers.1.r"} <= set(acts)
    assert acts["layers.1.z"].values.shape == (2, 4, 3)
