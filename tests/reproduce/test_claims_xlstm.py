"""The xLSTM parity claim: registered with its paper, its configs validate, and --quick runs it end to end.

On the xlstm branch alone ``mingru`` is not registered (another branch of issue 11 adds it): the config
validation and the quick run then fail naming the claim and the model, as they should."""

from __future__ import annotations

import rnnzoo
from rnnzoo.reproduce import get_claim
from rnnzoo.reproduce.runner import reproduce
from rnnzoo.reproduce.verdict import Ordering, Threshold


def test_claim_compares_slstm_with_mlstm_and_mingru():
    claim = get_claim("xlstm_parity")
    assert claim.paper.arxiv == "2405.04517"
    assert claim.labels == ["slstm", "mlstm", "mlstm-512", "mingru", "lstm"] and len(claim.seeds) >= 3
    assert Ordering(("slstm",), ("mlstm", "mlstm-512", "mingru"), margin=0.2) in claim.conditions
    assert Threshold("slstm", ">=", 0.9) in claim.conditions
    assert claim.metric == "accuracy" and claim.minutes > 0


def test_configs_validate():
    configs = get_claim("xlstm_parity").configs((0,))
    assert [cfg.model for _, _, cfg in configs] == ["slstm", "mlstm", "mlstm", "mingru", "lstm"]
    assert all(cfg.task == "parity_lengths" and rnnzoo.model_info(cfg.model) for _, _, cfg in configs)


def test_quick_run_end_to_end(tmp_path):
    summary = reproduce(get_claim("xlstm_parity"), seeds=[0], run_dir=tmp_path / "x", quick=True,
                        echo=lambda _: None)
    assert summary["quick"] is True and summary["verdict"].startswith("SMOKE")
    for label in ("slstm", "mlstm", "mlstm-512", "mingru", "lstm"):
        assert 0.0 <= summary["measured"][label]["median"] <= 1.0
