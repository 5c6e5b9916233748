"""The MemN2N claims: their configs validate with the paper's PE + LS + RN setting; ``--quick`` runs end to end."""

from __future__ import annotations

import pytest

from rnnzoo.reproduce import reproduce
from rnnzoo.reproduce.claims import get_claim


def test_configs_validate_with_the_papers_setting() -> None:
    claim = get_claim("memn2n_babi1")
    (run, _, cfg), = claim.configs(seeds=[0])
    assert cfg.task == "babi" and cfg.model == "memn2n" and cfg.task_options == {"task_id": 1}
    assert cfg.options["hops"] == 3 and cfg.options["linear_start"] > 0 and cfg.options["random_noise"] == 0.1
    assert cfg.options["position_encoding"] and cfg.options["temporal_encoding"]
    assert cfg.options["tying"] == "adjacent" and cfg.hidden_size == 20 and cfg.clip_norm == 40.0
    assert claim.published_values == {"memn2n-3hop": 0.999} and len(claim.seeds) >= 3
    hops = get_claim("memn2n_hops")
    configs = {run.label: cfg for run, _, cfg in hops.configs(seeds=[0])}
    assert {label: (c.task_options["task_id"], c.options["hops"]) for label, c in configs.items()} == {
        "task2-1hop": (2, 1), "task2-3hop": (2, 3), "task3-1hop": (3, 1), "task3-3hop": (3, 3)}
    # the runs differ only in the task and the number of hops
    strip = [{k: v for k, v in c.to_dict().items() if k not in ("task_options", "options")} for c in configs.values()]
    assert all(s == strip[0] for s in strip)
    assert len({tuple(sorted((k, v) for k, v in c.options.items() if k != "hops")) for c in configs.values()}) == 1
    for claim in (get_claim("memn2n_babi1"), hops):
        assert "regenerated" in claim.setting


@pytest.mark.slow
def test_memn2n_babi1_quick_runs_end_to_end(tmp_path) -> None:
    summary = reproduce(get_claim("memn2n_babi1"), seeds=[0], run_dir=tmp_path / "m", quick=True,
                        echo=lambda _: None)
    assert summary["quick"] and set(summary["measured"]) == {"memn2n-3hop"}
