"""Generated tasks: adding, multiplication, temporal order, copy, parity."""

from __future__ import annotations

import functools
import math

import pytest
import torch

from rnnzoo.tasks import Batch, get_task

# name, options, expected (input_size, output_size, seq_len)
CASES = {
    "adding": ("adding", {"seq_len": 30}, (2, 1, 30)),
    "multiplication": ("multiplication", {"seq_len": 31}, (2, 1, 31)),
    "temporal_order": ("temporal_order", {"seq_len": 40}, (6, 4, 40)),
    "temporal_order8": ("temporal_order8", {"seq_len": 50}, (6, 8, 50)),
    "temporal_order_opt8": ("temporal_order", {"seq_len": 50, "num_classes": 8}, (6, 8, 50)),
    "copy": ("copy", {"delay": 15}, (10, 10, 35)),
    "parity": ("parity", {"seq_len": 64}, (1, 2, 64)),
    "parity_signed": ("parity", {"seq_len": 64, "encoding": "signed"}, (1, 2, 64)),
}
IDS = list(CASES)


@functools.cache
def make(case: str):
    """One shared task instance per case (its splits are cached), to keep the folder fast."""
    name, options, _ = CASES[case]
    return get_task(name, **options)


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


# --------------------------------------------------------------------------- brute-force label checks
# Each checker walks the inputs with plain Python loops, asserts the input layout, and returns the labels
# it derives, which the tests compare with the task's y.


def brute_marked_pair(batch: Batch, op: str) -> list[float]:
    out = []
    for seq in batch.x.tolist():
        T = len(seq)
        marked = [t for t, (_, m) in enumerate(seq) if m == 1.0]
        assert all(m in (0.0, 1.0) for _, m in seq)
        assert len(marked) == 2 and marked[0] < T // 2 <= marked[1]
        assert all(0.0 <= v <= 1.0 for v, _ in seq)
        a, b = seq[marked[0]][0], seq[marked[1]][0]
        out.append(a + b if op == "sum" else a * b)
    return out


def brute_temporal_order(batch: Batch, windows: list[tuple[int, int]]) -> list[int]:
    out = []
    for seq in batch.x.tolist():
        symbols = []
        for step in seq:
            assert sorted(step) == [0.0] * (len(step) - 1) + [1.0]  # one-hot
            symbols.append(step.index(1.0))
        relevant = [(t, s) for t, s in enumerate(symbols) if s in (0, 1)]  # 0 = X, 1 = Y
        assert len(relevant) == len(windows)
        label = 0
        for (t, s), (lo, hi) in zip(relevant, windows, strict=True):
            assert lo <= t < hi
            label = 2 * label + s
        out.append(label)
    return out


def brute_copy(batch: Batch, delay: int) -> list[list[int]]:
    out = []
    for seq in batch.x.tolist():
        symbols = [step.index(1.0) for step in seq]
        assert all(sum(step) == 1.0 for step in seq)
        assert len(symbols) == delay + 20
        head = symbols[:10]
        assert all(0 <= s <= 7 for s in head)
        assert symbols[10 : 10 + delay - 1] == [8] * (delay - 1)
        assert symbols[10 + delay - 1] == 9
        assert symbols[10 + delay :] == [8] * 10
        out.append([8] * (delay + 10) + head)
    return out


def brute_parity(batch: Batch) -> list[int]:
    out = []
    for seq in batch.x.tolist():
        ones = 0
        for (v,) in seq:
            assert v in (0.0, 1.0, -1.0)
            if v == 1.0:
                ones += 1
        out.append(ones % 2)
    return out


def brute_labels(case: str, task, batch: Batch) -> list:
    if case in ("adding", "multiplication"):
        return brute_marked_pair(batch, "sum" if case == "adding" else "product")
    if case == "temporal_order":  # T = 40: floor(0.1 T) = 4 wide windows starting at 0.1 T and 0.5 T
        return brute_temporal_order(batch, [(4, 8), (20, 24)])
    if case in ("temporal_order8", "temporal_order_opt8"):  # T = 50: starts 0.1, 0.3, 0.6 T, width 5
        return brute_temporal_order(batch, [(5, 10), (15, 20), (30, 35)])
    if case == "copy":
        return brute_copy(batch, delay=15)
    return brute_parity(batch)


# --------------------------------------------------------------------------- tests


@pytest.mark.parametrize("case", IDS)
def test_shapes_and_dtypes(case):
    task = make(case)
    input_size, output_size, seq_len = CASES[case][2]
    assert (task.input_size, task.output_size, task.seq_len) == (input_size, output_size, seq_len)
    for batch in (task.sample(7, gen(0)), task.split("valid"), task.split("test")):
        B = batch.x.shape[0]
        assert batch.x.dtype == torch.float32
        assert batch.x.shape == (B, seq_len, input_size)
        assert batch.lengths is None
        if task.loss == "mse":
            assert task.target == "last" and task.metrics == ["mse"]
            assert batch.y.dtype == torch.float32 and batch.y.shape == (B, output_size)
        elif task.target == "last":
            assert batch.y.dtype == torch.int64 and batch.y.shape == (B,)
            assert 0 <= batch.y.min() and batch.y.max() < output_size
        else:
            assert task.target == "per_step"
            assert batch.y.dtype == torch.int64 and batch.y.shape == (B, seq_len)
    assert task.split("valid").x.shape[0] == 1000
    assert task.split("test").x.shape[0] == 2560


@pytest.mark.parametrize("case", IDS)
def test_same_seed_same_data_different_seed_different_data(case):
    task = make(case)
    a, b, c = task.sample(16, gen(3)), task.sample(16, gen(3)), task.sample(16, gen(4))
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    # consecutive draws from one generator differ too
    g = gen(3)
    assert not torch.equal(task.sample(16, g).x, task.sample(16, g).x)
    # the fixed splits are identical across task instances, and a different split seed changes them
    name, options, _ = CASES[case]
    fresh = get_task(name, **options)
    assert fresh is not task and torch.equal(task.split("test").x, fresh.split("test").x)
    assert not torch.equal(task.split("test", generator_seed=1).x[:100], task.split("test").x[:100])


@pytest.mark.parametrize("case", IDS)
def test_labels_match_brute_force(case):
    task = make(case)
    for batch in (task.sample(64, gen(11)), Batch(*(t[:64] for t in task.split("test")[:2]))):
        expected = brute_labels(case, task, batch)
        if task.loss == "mse":
            assert batch.y[:, 0].tolist() == pytest.approx(expected, abs=1e-6)
        else:
            assert batch.y.tolist() == expected


def test_parity_encodings_hold_the_same_bits():
    binary = get_task("parity", seq_len=20).sample(50, gen(5))
    signed = get_task("parity", seq_len=20, encoding="signed").sample(50, gen(5))
    assert set(binary.x.unique().tolist()) == {0.0, 1.0}
    assert set(signed.x.unique().tolist()) == {-1.0, 1.0}
    assert torch.equal(signed.x, 2 * binary.x - 1) and torch.equal(signed.y, binary.y)


def test_classes_are_all_reached():
    for case in ("temporal_order", "temporal_order8", "parity"):
        task = make(case)
        counts = torch.bincount(task.split("test").y, minlength=task.output_size)
        assert (counts > 0).all(), case


# Tolerances for |measured - analytic| on the 2,560-sequence test split: 5 standard errors of the mean of
# the per-sequence metric (std / sqrt(2560)); cross-entropies of the uniform / memoryless predictors do not
# depend on the data when the data have the documented layout, so they must agree to rounding.
N_TEST = 2560
SD_ADDING = math.sqrt(1 / 15 - 1 / 36)  # (U1 + U2 - 1)^2: E[Z^4] = 1/15 for the triangular Z on [-1, 1]
# (U1 U2 - 1/4)^2 with E[(U1 U2)^k] = 1/(k+1)^2: fourth central-ish moment minus the squared variance
_M4_MULT = 1 / 25 - 4 * (1 / 4) / 16 + 6 * (1 / 16) / 9 - 4 * (1 / 64) / 4 + 1 / 256
SD_MULT = math.sqrt(_M4_MULT - (7 / 144) ** 2)


def tolerance(case: str, metric: str, task) -> float:
    if metric == "mse":
        sd = SD_ADDING if case == "adding" else SD_MULT
        return 5 * sd / math.sqrt(N_TEST)
    if metric == "cross_entropy":
        return 1e-9
    if case == "copy":  # only the last 10 steps are random: 10 Bernoulli(1/8) hits per sequence
        return 5 * math.sqrt(10 * (1 / 8) * (7 / 8)) / task.seq_len / math.sqrt(N_TEST)
    p = 1 / task.output_size
    return 5 * math.sqrt(p * (1 - p) / N_TEST)


@pytest.mark.parametrize("case", IDS)
def test_analytic_baseline_matches_measured(case):
    task = make(case)
    analytic, measured = task.baseline(), task.measured_baseline("test")
    assert set(analytic) == set(measured) == set(task.metrics)
    for metric in task.metrics:
        assert abs(measured[metric] - analytic[metric]) < tolerance(case, metric, task), metric


def test_baseline_values():
    assert get_task("adding").baseline() == {"mse": pytest.approx(1 / 6)}
    assert abs(get_task("adding").measured_baseline()["mse"] - 1 / 6) < 0.02
    assert get_task("multiplication").baseline() == {"mse": pytest.approx(7 / 144)}
    assert get_task("temporal_order").baseline() == {
        "accuracy": 0.25,
        "cross_entropy": pytest.approx(math.log(4)),
    }
    assert get_task("temporal_order8").baseline()["accuracy"] == 1 / 8
    assert get_task("copy", delay=100).baseline()["cross_entropy"] == pytest.approx(10 * math.log(8) / 120)
    assert get_task("parity").baseline() == {"accuracy": 0.5, "cross_entropy": pytest.approx(math.log(2))}


def test_baseline_is_sensitive_to_wrong_targets():
    # the measured baseline is computed from the data: corrupting labels moves it
    task = make("copy")
    batch = task.split("test")
    wrong = batch.y.clone()
    wrong[:, -1] = 8  # a blank where a symbol is due: impossible under the memoryless predictor
    assert math.isinf(task.evaluate(task.baseline_output(batch.x), wrong)["cross_entropy"])
    adding = make("adding")
    b = adding.split("test")
    assert adding.evaluate(adding.baseline_output(b.x), b.y + 1)["mse"] > 1


def _rows(batch: Batch) -> set[bytes]:
    return {row.numpy().tobytes() for row in batch.x}


@pytest.mark.parametrize("case", IDS)
def test_splits_are_disjoint_from_each_other_and_from_training(case):
    task = make(case)
    valid, test = _rows(task.split("valid")), _rows(task.split("test"))
    assert len(valid) == 1000 and len(test) == 2560  # no repeats within a split either
    train = set()
    for seed in (0, 1, 42):
        train |= _rows(task.sample(500, gen(seed)))
    assert not valid & test
    assert not (valid | test) & train


@pytest.mark.parametrize(
    ("name", "options", "argument"),
    [
        ("adding", {"seq_len": 1}, "seq_len"),
        ("adding", {"seq_len": 0}, "seq_len"),
        ("multiplication", {"seq_len": -5}, "seq_len"),
        ("adding", {"seq_len": 10.0}, "seq_len"),
        ("temporal_order", {"seq_len": 9}, "seq_len"),
        ("temporal_order", {"num_classes": 5}, "num_classes"),
        ("temporal_order4", {"num_classes": 8}, "num_classes"),
        ("temporal_order8", {"seq_len": 5}, "seq_len"),
        ("copy", {"seq_len": 20}, "seq_len"),
        ("copy", {"delay": 0}, "delay"),
        ("copy", {"delay": 10, "seq_len": 40}, "seq_len"),
        ("parity", {"seq_len": 0}, "seq_len"),
        ("parity", {"encoding": "gray"}, "encoding"),
        ("adding", {"valid_size": 0}, "valid_size"),
        ("adding", {"bogus": 1}, "bogus"),
    ],
)
def test_bad_options_raise_value_error_naming_the_argument(name, options, argument):
    with pytest.raises(ValueError, match=argument) as info:
        get_task(name, **options)
    assert "got" in str(info.value)


def test_bad_options_message_lists_allowed_values():
    with pytest.raises(ValueError, match=r"num_classes must be one of \[4, 8\].*got 5"):
        get_task("temporal_order", num_classes=5)
    with pytest.raises(ValueError, match=r"seq_len must be an integer >= 10.*got 9"):
        get_task("temporal_order", seq_len=9)


def test_bad_sample_and_split_arguments():
    task = make("adding")
    with pytest.raises(ValueError, match="batch_size"):
        task.sample(0, gen(0))
    with pytest.raises(TypeError, match="generator"):
        task.sample(4, 0)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"split must be one of \['valid', 'test'\].*'train'"):
        task.split("train")
    with pytest.raises(ValueError, match="generator_seed"):
        task.split("valid", generator_seed=-1)


def test_sample_does_not_touch_global_rng():
    torch.manual_seed(123)
    before = torch.get_rng_state()
    make("copy").sample(8, gen(0))
    make("copy").split("valid", generator_seed=7)
    assert torch.equal(before, torch.get_rng_state())
