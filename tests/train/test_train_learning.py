"""The survey's central claims, as learning runs (slow: minutes each; ``pytest -m slow``).

* 001 sections 2.5 and 3: on the adding problem with T = 100 (Hochreiter & Schmidhuber 1997; Le et al.
  2015) gated networks (LSTM, GRU) learn the long-range dependency while the Elman network (tanh)
  stays at the trivial baseline (MSE 1/6 ~ 0.167: gradients vanish, 001 eq (15)).
* 001 section 2.6: gradient-norm clipping (Pascanu, Mikolov & Bengio 2013) is what lets an Elman
  network with 50 tanh units, trained by SGD, learn the temporal order problem when its gradients
  explode (recurrent weights initialised with spectral radius 1.2 > 1, 001 eq (14)): without
  clipping the same run, same seed, stays at chance.

Every run goes through the command line's default job (``rnnzoo train``) with the changes named.
"""

from __future__ import annotations

import json
import time

import pytest

from rnnzoo import cli

pytestmark = pytest.mark.slow


def _run(tmp_path, name: str, *argv: str) -> tuple[int, dict]:
    run = tmp_path / name
    start = time.time()
    rc = cli.main(["train", *argv, "--run-dir", str(run), "--progress", "log"])
    results = json.loads((run / "results.json").read_text()) if (run / "results.json").exists() else {}
    print(f"{name}: rc {rc}, test {results.get('test')}, steps {results.get('steps')}, "
          f"{time.time() - start:.0f} s")
    return rc, results


@pytest.mark.parametrize("model,solves", [("lstm", True), ("gru", True), ("elman", False)])
def test_adding_problem_T100_gated_networks_learn_elman_does_not(tmp_path, model, solves):
    rc, results = _run(tmp_path, model, "--model", model)
    assert rc == 0
    mse = results["test"]["mse"]
    if solves:
        assert mse < 0.01, mse
    else:
        assert mse > 0.1, mse


PASCANU = ["--model", "elman", "--option", "activation=tanh", "--hidden-size", "50", "--task", "temporal_order",
           "--seq-len", "20", "--init", "spectral_radius=1.2", "--optimizer", "sgd", "--lr", "0.1",
           "--momentum", "0.9", "--batch-size", "32", "--max-steps", "3000", "--val-every", "250",
           "--monitor", "accuracy", "--stop-at", "0.99", "--task-option", "valid_size=500",
           "--task-option", "test_size=1000"]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_temporal_order_clipping_lets_elman_learn(tmp_path, seed):
    rc, clipped = _run(tmp_path, f"clip-{seed}", *PASCANU, "--seed", str(seed), "--clip-norm", "1.0")
    assert rc == 0
    assert clipped["test"]["accuracy"] > 0.9, clipped["test"]
    rc, free = _run(tmp_path, f"noclip-{seed}", *PASCANU, "--seed", str(seed), "--clip-norm", "none")
    # without clipping: stuck near chance (0.25), or diverged (exit status 1)
    assert rc == 1 or free["test"]["accuracy"] < 0.5, free.get("test")
