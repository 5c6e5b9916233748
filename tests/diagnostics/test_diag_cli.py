"""``rnnzoo diagnose`` (rnnzoo.diagnostics.cli.main): plots and numbers for several models."""

from __future__ import annotations

import json

import pytest
import torch

import rnnzoo
from rnnzoo.diagnostics import load_diagnostics
from rnnzoo.diagnostics.cli import main

PNGS = ("gradient_vs_lag.png", "gradient_matrix.png", "jacobian_vs_lag.png", "singular_values.png",
        "gate_saturation.png")
BASE = ["--task", "adding", "--seq-len", "12", "--hidden-size", "6", "--batch-size", "4"]


def _strict(path):
    def refuse(token):
        raise ValueError(f"non-standard JSON token {token}")

    return json.loads(path.read_text(), parse_constant=refuse)


def test_two_models_write_plots_and_json(tmp_path, capsys):
    out = tmp_path / "diag"
    code = main(["--model", "elman", "--model", "lstm", *BASE, "--init", "elman:spectral_radius=0.9",
                 "--init", "lstm:forget_bias=1.0", "--out", str(out)])
    assert code == 0
    for name in PNGS:
        data = (out / name).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    doc = _strict(out / "diagnostics.json")
    assert sorted(doc["models"]) == ["elman", "lstm"]
    assert doc["task"]["seq_len"] == 12 and set(doc["plots"]) == set(PNGS)
    elman, lstm = doc["models"]["elman"], doc["models"]["lstm"]
    assert elman["init"] == ["spectral_radius=0.9"] and lstm["init"] == ["forget_bias=1.0"]
    assert elman["weights"][0]["spectral_radius"] == pytest.approx(0.9, rel=1e-4)
    assert len(elman["gradient"]["by_lag"]) == 12 and len(elman["gradient"]["matrix"]) == 12
    assert lstm["gradient"]["fields"] == ["h", "c"] and lstm["gradient"]["method"] == "batched"
    assert [s["gate"] for s in lstm["saturation"]][:4] == ["i", "f", "g", "o"]
    assert "grad/ratio_6" in elman["scalars"]
    printed = capsys.readouterr().out
    assert "elman: grad[lag 1]=" in printed and "lstm: grad[lag 1]=" in printed


def test_existing_json_is_not_overwritten(tmp_path, capsys):
    out = tmp_path / "diag"
    args = ["--model", "gru", *BASE, "--no-jacobian", "--out", str(out)]
    assert main(args) == 0
    before = (out / "diagnostics.json").read_bytes()
    assert main(args) == 2
    assert "exists; pass --overwrite" in capsys.readouterr().err
    assert (out / "diagnostics.json").read_bytes() == before
    assert main([*args, "--overwrite", "--seed", "1"]) == 0
    assert (out / "diagnostics.json").read_bytes() != before


def test_exploding_gradients_are_marked(tmp_path):
    out = tmp_path / "diag"
    code = main(["--model", "elman", "--task", "adding", "--seq-len", "40", "--hidden-size", "8", "--batch-size",
                 "2", "--option", "activation=linear", "--init", "spectral_radius=30", "--no-jacobian",
                 "--out", str(out)])
    assert code == 0
    g = load_diagnostics(out / "diagnostics.json")["models"]["elman"]["gradient"]
    assert g["nonfinite"] and g["nonfinite_lags"]
    lag = g["nonfinite_lags"][0]
    assert g["by_lag"][lag] != g["by_lag"][lag] or g["by_lag"][lag] == float("inf")  # NaN or inf, not 0
    assert _strict(out / "diagnostics.json")["models"]["elman"]["gradient"]["by_lag"][lag] in ("NaN", "Infinity")


def test_checkpoints(tmp_path):
    torch.manual_seed(5)
    trained = rnnzoo.create("lstm", input_size=2, hidden_size=6)
    plain = tmp_path / "plain.pt"
    torch.save(trained.state_dict(), plain)
    lightning = tmp_path / "lightning.ckpt"
    torch.save({"state_dict": {f"model.backbone.{k}": v for k, v in trained.state_dict().items()},
                "epoch": 3}, lightning)
    out = tmp_path / "diag"
    code = main(["--model", "lstm:a", "--model", "lstm:b", *BASE, "--checkpoint", f"a:{plain}",
                 "--checkpoint", f"b:{lightning}", "--no-jacobian", "--out", str(out)])
    assert code == 0
    doc = load_diagnostics(out / "diagnostics.json")
    want = float(torch.linalg.svdvals(trained.layers[0].cell.weight_hh[:6].detach().double())[0])
    for label in ("a", "b"):
        assert doc["models"][label]["weights"][0]["lambda_1"] == pytest.approx(want, rel=1e-6)
        assert doc["models"][label]["checkpoint"].endswith((".pt", ".ckpt"))


@pytest.mark.parametrize("extra,message", [
    (["--model", "elmann"], "unknown name 'elmann'"),
    (["--model", "elman", "--init", "spectral_radius"], "spectral_radius needs a value"),
    (["--model", "elman", "--init", "forget_bias=1"], "forget_bias applies to LSTMs"),
    (["--model", "elman", "--option", "activation=swish"], "activation: expected one of"),
    (["--model", "elman", "--model", "gru", "--checkpoint", "x.pt"], "prefix the path with a label"),
    (["--model", "elman", "--checkpoint", "missing.pt"], "no such file"),
])
def test_bad_input_exits_2(tmp_path, capsys, extra, message):
    assert main([*extra, *BASE, "--no-jacobian", "--out", str(tmp_path / "d")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "d" / "diagnostics.json").exists()
