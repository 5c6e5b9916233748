"""The NTM tasks (Graves et al. 2014 section 4): targets checked example by example against the inputs, the test
split's lengths, the metrics, and the baselines measured against their formulas."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.tasks import get_task


def _gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_copy_targets_are_the_inputs_after_the_delimiter():
    task = get_task("ntm_copy", seq_len=5)
    b = task.sample(32, _gen())
    assert b.x.shape == (32, 11, 9) and b.y.shape == (32, 11, 8)
    assert b.lengths.min() >= 3 and b.lengths.max() <= 11
    for i in range(32):
        L = int(b.lengths[i] - 1) // 2
        assert 1 <= L <= 5
        assert b.x[i, L, 8] == 1 and b.x[i, :, 8].sum() == 1
        assert torch.equal(b.x[i, L:, :8], torch.zeros(11 - L, 8))  # zeros while the model answers
        assert torch.equal(b.y[i, L + 1:2 * L + 1], b.x[i, :L, :8])
        assert torch.equal(b.y[i, :L + 1], torch.zeros(L + 1, 8))
        assert torch.equal(b.y[i, 2 * L + 1:], torch.zeros(11 - 2 * L - 1, 8))  # padding
    assert set(b.x[:, :, :8].unique().tolist()) == {0.0, 1.0}


def test_copy_test_split_has_the_test_length_and_valid_the_training_range():
    task = get_task("ntm_copy", seq_len=4, test_len=8, valid_size=50, test_size=20)
    test, valid = task.split("test"), task.split("valid")
    assert test.x.shape == (20, 17, 9) and (test.lengths == 17).all()
    assert valid.x.shape == (50, 9, 9) and valid.lengths.max() <= 9
    assert task.split("test") is test  # cached
    again = get_task("ntm_copy", seq_len=4, test_len=8, valid_size=50, test_size=20).split("test")
    assert torch.equal(again.x, test.x)


def test_repeat_copy_targets():
    task = get_task("ntm_repeat_copy", seq_len=3, max_repeats=4)
    b = task.sample(32, _gen(1))
    for i in range(32):
        L = int(b.x[i, :, 8].argmax())
        k = round(float(b.x[i, L, 9]) * 4)
        assert 1 <= L <= 3 and 1 <= k <= 4 and int(b.lengths[i]) == L + 2 + L * k
        seq = b.x[i, :L, :8]
        for r in range(k):
            assert torch.equal(b.y[i, L + 1 + r * L:L + 1 + (r + 1) * L, :8], seq)
        end = L + 1 + L * k
        assert b.y[i, end, 8] == 1 and b.y[i, :, 8].sum() == 1 and b.y[i, end, :8].sum() == 0


def test_associative_recall_target_is_the_item_after_the_query():
    task = get_task("ntm_associative_recall", seq_len=5, bits=4, item_len=2)
    b = task.sample(32, _gen(2))
    for i in range(32):
        starts = b.x[i, :, 4].nonzero().squeeze(1).tolist()  # item delimiters
        items = [b.x[i, s + 1:s + 3, :4] for s in starts]
        q0, q1 = b.x[i, :, 5].nonzero().squeeze(1).tolist()
        assert q1 == q0 + 3 and 2 <= len(items) <= 5
        query = b.x[i, q0 + 1:q1, :4]
        j = next(j for j, it in enumerate(items[:-1]) if torch.equal(it, query))
        assert torch.equal(b.y[i, q1 + 1:q1 + 3], items[j + 1])
        assert int(b.lengths[i]) == q1 + 3 and b.y[i, :q1 + 1].sum() == 0


@pytest.mark.parametrize("name, opts", [("ntm_copy", {"seq_len": 6, "test_len": 12}),
                                        ("ntm_repeat_copy", {"seq_len": 3, "max_repeats": 3}),
                                        ("ntm_associative_recall", {"seq_len": 4})])
def test_baseline_measured_matches_its_formula(name, opts):
    task = get_task(name, test_size=2000, **opts)
    b = task.split("test")
    measured = task.metrics_of(task.baseline_output(b.x), b)
    want = task.baseline()
    assert measured["nll"] == pytest.approx(want["nll"], rel=0.04)
    assert measured["bit_error"] == pytest.approx(want["bit_error"], rel=0.06)


def test_bit_error_counts_wrong_output_bits_per_sequence():
    task = get_task("ntm_copy", seq_len=4)
    b = task.sample(8, _gen(3))
    perfect = b.y * 60 - 30
    m = task.metrics_of(perfect, b)
    assert m["bit_error"] == 0 and m["nll"] < 1e-10
    wrong = perfect.clone()
    L0 = int(b.lengths[0] - 1) // 2
    wrong[0, L0 + 1, :3] *= -1  # three bits of the first output step of example 0
    wrong[1, 0, :] = 30.0  # input-phase bits are not counted in bit_error
    assert task.metrics_of(wrong, b)["bit_error"] == pytest.approx(3 / 8)
    with pytest.raises(ValueError, match="logits"):
        task.metrics_of(perfect[:, :-1], b)


@pytest.mark.parametrize("name, opts, match", [
    ("ntm_copy", {"min_len": 0}, "min_len"), ("ntm_copy", {"min_len": 5, "seq_len": 3}, "min_len"),
    ("ntm_copy", {"test_len": 0}, "test_len"), ("ntm_copy", {"seq_len": 3, "max_len": 4}, "max_len"),
    ("ntm_repeat_copy", {"max_repeats": 0}, "max_repeats"), ("ntm_associative_recall", {"min_items": 1}, "min_items"),
])
def test_bad_options_name_themselves(name, opts, match):
    with pytest.raises(ValueError, match=match):
        get_task(name, **opts)


def test_samples_depend_only_on_the_generator():
    task = get_task("ntm_repeat_copy")
    a, b = task.sample(4, _gen(7)), task.sample(4, _gen(7))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y) and torch.equal(a.lengths, b.lengths)
