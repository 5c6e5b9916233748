"""The pointer-network claims: configurations validate, thresholds match the test split's optimum, --quick runs."""

from __future__ import annotations

import pytest

from rnnzoo.reproduce import get_claim
from rnnzoo.reproduce.claims_pointer import OPTIMAL_TEST
from rnnzoo.tasks.registry import get_task
from rnnzoo.tasks.tsp import tour_lengths

NAMES = ("ptr_tsp5", "ptr_tsp10", "ptr_hull5")


@pytest.mark.parametrize("name", NAMES)
def test_configs_validate(name: str) -> None:
    claim = get_claim(name)
    configs = claim.configs()
    assert len(claim.seeds) >= 3 and len(configs) == len(claim.seeds)
    assert {cfg.model for _, _, cfg in configs} == {"pointer_net"}
    assert claim.published_values and f"{configs[0][2].max_steps * configs[0][2].batch_size:,}" in claim.setting
    claim.configs(quick=True)


@pytest.mark.parametrize("n", [5, 10])
def test_the_tsp_threshold_is_two_percent_over_the_test_optimum(n: int) -> None:
    test = get_task("tsp", seq_len=n).split("test")
    optimum = float(tour_lengths(test.x.points.double().numpy(), test.y.pointers.numpy()).mean())
    assert optimum == pytest.approx(OPTIMAL_TEST[n], abs=1e-4)
    (cond,) = get_claim(f"ptr_tsp{n}").conditions
    assert cond.op == "<=" and cond.value == pytest.approx(1.02 * optimum, abs=1e-3)


@pytest.mark.slow  # needs the structured-task trainer (the lead's "train: structured tasks" commit)
@pytest.mark.parametrize("name", ["ptr_tsp5", "ptr_hull5"])
def test_quick_run_end_to_end(name: str, tmp_path) -> None:
    from rnnzoo.reproduce import reproduce

    summary = reproduce(get_claim(name), seeds=[0], run_dir=tmp_path / "q", quick=True, echo=lambda _: None)
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    assert set(summary["measured"]) == {"ptr-net"}
