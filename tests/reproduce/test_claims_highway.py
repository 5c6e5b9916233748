"""The highway claims: their configs validate; ``highway_depth --quick`` runs end to end on a tiny scale
(``rhn_depth --quick`` is not run here: its PTB evaluation takes minutes even at the smoke scale)."""

from __future__ import annotations

import torch

from rnnzoo.reproduce import reproduce
from rnnzoo.reproduce.claims import get_claim
from rnnzoo.tasks import get_task


def test_configs_validate_with_the_papers_widths_and_depths():
    claim = get_claim("highway_depth")
    configs = {run.label: cfg for run, _, cfg in claim.configs(seeds=[0])}
    assert sorted(configs) == sorted(f"{k}-{d}" for k in ("highway", "plain") for d in (10, 20, 50))
    assert configs["highway-50"].hidden_size == 50 and configs["plain-50"].hidden_size == 71
    assert configs["highway-50"].options["depth"] == 50 and configs["plain-50"].options["plain"] is True
    rhn = get_claim("rhn_depth")
    depths = {run.label: cfg.options["depth"] for run, _, cfg in rhn.configs(seeds=[0])}
    assert depths == {"depth-1": 1, "depth-3": 3, "depth-5": 5}


def test_rhn_widths_hold_recurrent_parameters_about_equal():
    """2H*E + L*(2H*H + 2H) within 5% of depth 1's, as the claim's setting says."""
    def count(d: int, h: int, e: int = 200) -> int:
        return 2 * h * e + d * (2 * h * h + 2 * h)
    sizes = {cfg.options["depth"]: cfg.hidden_size for _, _, cfg in get_claim("rhn_depth").configs(seeds=[0])}
    base = count(1, sizes[1])
    for d, h in sizes.items():
        assert abs(count(d, h) - base) / base < 0.05, (d, h)


def test_flat_digits_is_the_digits_task_in_one_step():
    flat, pixels = get_task("digits_flat"), get_task("digits")
    a, b = flat.split("valid"), pixels.split("valid")
    assert a.x.shape == (b.x.shape[0], 1, 64)
    torch.testing.assert_close(a.x[:, 0], b.x[:, :, 0])
    assert torch.equal(a.y, b.y)


def test_highway_depth_quick_runs_end_to_end(tmp_path):
    summary = reproduce(get_claim("highway_depth"), seeds=[0], run_dir=tmp_path / "h", quick=True,
                        echo=lambda _: None)
    assert summary["quick"] and set(summary["measured"]) == set(get_claim("highway_depth").labels)
