"""weight_report and apply_init: 001 eq (14) on matrices with known spectra."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.diagnostics import analyse_matrix, apply_init, recurrent_blocks, weight_report
from rnnzoo.diagnostics.weights import EXPLODING, VANISHING

D = torch.float64


def _with_singular_values(s, seed=0):
    gen = torch.Generator().manual_seed(seed)
    u, _ = torch.linalg.qr(torch.randn(len(s), len(s), generator=gen, dtype=D))
    v, _ = torch.linalg.qr(torch.randn(len(s), len(s), generator=gen, dtype=D))
    return u @ torch.diag(torch.tensor(s, dtype=D)) @ v.t()


def test_known_singular_values_and_conditions():
    s = [0.9, 0.5, 0.2, 0.1]
    rep = analyse_matrix(_with_singular_values(s), gamma=1.0, activation="tanh")
    torch.testing.assert_close(rep.singular_values, torch.tensor(s, dtype=D))
    assert rep.lambda_1 == pytest.approx(0.9)
    assert rep.spectral_radius <= rep.lambda_1 + 1e-12  # |eigenvalues| <= largest singular value
    assert rep.condition == "vanishing" and rep.statement == VANISHING

    # sigmoid: gamma = 1/4, so the boundary is lambda_1 = 4
    assert analyse_matrix(_with_singular_values([3.0, 1.0]), gamma=0.25).condition == "vanishing"
    big = analyse_matrix(_with_singular_values([5.0, 1.0]), gamma=0.25)
    assert big.condition == "exploding_possible" and big.statement == EXPLODING
    assert analyse_matrix(torch.eye(3, dtype=D) * 2.0, gamma=0.5).condition == "boundary"


def test_spectral_radius_differs_from_lambda_1():
    nilpotent = torch.tensor([[0.0, 3.0], [0.0, 0.0]], dtype=D)
    rep = analyse_matrix(nilpotent, gamma=1.0)
    assert rep.spectral_radius == pytest.approx(0.0)
    assert rep.lambda_1 == pytest.approx(3.0) and rep.condition == "exploding_possible"


def test_gate_blocks_and_gammas():
    lstm = rnnzoo.create("lstm", input_size=2, hidden_size=3, num_layers=2)
    reps = weight_report(lstm)
    assert [(r.layer, r.block, r.gamma) for r in reps[:4]] == [
        (0, "weight_hh[i]", 0.25), (0, "weight_hh[f]", 0.25), (0, "weight_hh[g]", 1.0), (0, "weight_hh[o]", 0.25)]
    assert len(reps) == 8
    cell = lstm.layers[0].cell
    f_block = recurrent_blocks(cell)[1].matrix
    torch.testing.assert_close(f_block, cell.weight_hh[3:6])
    assert reps[1].lambda_1 == pytest.approx(float(torch.linalg.svdvals(cell.weight_hh[3:6].detach().double())[0]))
    gru = [r.block for r in weight_report(rnnzoo.create("gru", input_size=2, hidden_size=3))]
    assert gru == ["weight_hh[r]", "weight_hh[z]", "weight_hh[n]"]
    cifg = [r.block for r in weight_report(rnnzoo.create("cifg_lstm", input_size=2, hidden_size=3))]
    assert cifg == ["weight_hh[i]", "weight_hh[g]", "weight_hh[o]"]
    elman = weight_report(rnnzoo.create("elman", input_size=2, hidden_size=3, activation="sigmoid"))
    assert elman[0].gamma == 0.25 and elman[0].activation == "sigmoid"


def test_inits():
    torch.manual_seed(0)
    elman = rnnzoo.create("elman", input_size=2, hidden_size=6)
    apply_init(elman, "spectral_radius=0.9")
    assert weight_report(elman)[0].spectral_radius == pytest.approx(0.9, rel=1e-5)
    apply_init(elman, "identity")
    cell = elman.layers[0].cell
    torch.testing.assert_close(cell.weight_hh, torch.eye(6))
    assert float(cell.bias_hh.detach().abs().sum()) == 0.0
    apply_init(elman, "orthogonal", generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(cell.weight_hh.t() @ cell.weight_hh, torch.eye(6), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="forget_bias"):
        apply_init(elman, "forget_bias=1.0")
    with pytest.raises(ValueError, match="expected one of"):
        apply_init(elman, "xavier")

    lstm = rnnzoo.create("lstm", input_size=2, hidden_size=4)
    apply_init(lstm, "forget_bias=1.0")
    c = lstm.layers[0].cell
    torch.testing.assert_close(c.bias_ih[4:8] + c.bias_hh[4:8], torch.ones(4))
    apply_init(lstm, "spectral_radius=3.0")
    for rep in weight_report(lstm):
        assert rep.spectral_radius == pytest.approx(3.0, rel=1e-5)


def test_uniform_init_draws_every_parameter_from_the_interval():
    model = torch.nn.Sequential(torch.nn.Embedding(50, 8), torch.nn.Linear(8, 8))
    lstm = rnnzoo.create("lstm", input_size=8, hidden_size=8, num_layers=2)
    for module in (model, lstm):
        apply_init(module, "uniform=0.1", generator=torch.Generator().manual_seed(0))
        values = torch.cat([p.detach().flatten() for p in module.parameters()])
        assert float(values.abs().max()) <= 0.1
        # uniform on [-0.1, 0.1]: mean 0, variance 0.01 / 3; 600+ draws keep both within a few percent
        assert abs(float(values.mean())) < 0.01
        assert float(values.var()) == pytest.approx(0.01 / 3, rel=0.15)
    a = torch.cat([p.detach().flatten() for p in lstm.parameters()])
    apply_init(lstm, "uniform=0.1", generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(torch.cat([p.detach().flatten() for p in lstm.parameters()]), a)
    for bad, match in (("uniform", "needs a value"), ("uniform=0", "positive"), ("uniform=-1", "positive")):
        with pytest.raises(ValueError, match=match):
            apply_init(lstm, bad)
