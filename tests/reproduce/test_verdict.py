"""The pass conditions and the verdict, on values the tests choose."""

from __future__ import annotations

import pytest

from rnnzoo.reproduce.verdict import Ordering, Threshold, verdict


def test_threshold_pass_partial_fail():
    cond = (Threshold("a", "<=", 0.05),)
    assert verdict(cond, {"a": {0: 0.01, 1: 0.02, 2: 0.04}}, "mse")[0] == "PASS"
    result, reason = verdict(cond, {"a": {0: 0.01, 1: 0.02, 2: 0.30}}, "mse")
    assert result == "PARTIAL" and "seed(s) 2" in reason
    assert verdict(cond, {"a": {0: 0.10, 1: 0.20, 2: 0.01}}, "mse")[0] == "FAIL"


def test_within_is_relative_both_ways():
    cond = (Threshold("lm", "within", 114.5, rel_tol=0.05),)
    assert verdict(cond, {"lm": {0: 119.0}}, "perplexity")[0] == "PASS"
    assert verdict(cond, {"lm": {0: 109.5}}, "perplexity")[0] == "PASS"
    assert verdict(cond, {"lm": {0: 121.0}}, "perplexity")[0] == "FAIL"
    assert verdict(cond, {"lm": {0: 108.0}}, "perplexity")[0] == "FAIL"


def test_ordering_follows_the_metric_direction():
    cond = (Ordering(("gru", "lstm"), ("tanh",)),)
    low = {"gru": {0: 8.5}, "lstm": {0: 8.7}, "tanh": {0: 9.1}}
    assert verdict(cond, low, "nll")[0] == "PASS"
    assert verdict(cond, low, "accuracy")[0] == "FAIL"  # for accuracy higher is better
    one_fails = {"gru": {0: 8.5}, "lstm": {0: 9.2}, "tanh": {0: 9.1}}
    assert verdict(cond, one_fails, "nll")[0] == "FAIL"


def test_ordering_margin():
    cond = (Ordering(("irnn",), ("tanh",), margin=0.2),)
    assert verdict(cond, {"irnn": {0: 0.9}, "tanh": {0: 0.6}}, "accuracy")[0] == "PASS"
    assert verdict(cond, {"irnn": {0: 0.7}, "tanh": {0: 0.6}}, "accuracy")[0] == "FAIL"


def test_missing_runs_fail_and_mixed_conditions_are_partial():
    conds = (Threshold("t100", "<=", 0.05), Threshold("t400", "<=", 0.05))
    result, reason = verdict(conds, {"t100": {0: 0.01}, "t400": {}}, "mse")
    assert result == "PARTIAL"
    assert "no finished run of t400" in reason
    assert verdict(conds, {"t100": {}, "t400": {}}, "mse")[0] == "FAIL"


def test_bad_conditions_are_refused():
    with pytest.raises(ValueError, match="op"):
        Threshold("a", "<", 1.0)
    with pytest.raises(ValueError, match="rel_tol"):
        Threshold("a", "within", 1.0)
    with pytest.raises(ValueError, match="better, worse"):
        Ordering((), ("a",))
    with pytest.raises(ValueError, match="conditions"):
        verdict((), {}, "mse")
