"""Truncated BPTT (Williams & Peng 1990) against full BPTT and against its definition."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.train import SequenceModel, full_loss, make_targets, tbptt
from rnnzoo.train.tbptt import run_window, windows


def _model(name: str, head: str, out: int, **options) -> SequenceModel:
    torch.manual_seed(0)
    return SequenceModel(name, input_size=3, output_size=out, hidden_size=5, head=head, num_layers=2,
                         options=options).double()


def _grads(model: SequenceModel) -> dict[str, torch.Tensor]:
    return {n: p.grad.clone() for n, p in model.named_parameters()}


def _full_grads(model, x, y, head, loss, lengths=None):
    model.zero_grad()
    pred, _ = model(x, lengths=lengths)
    full_loss(pred, make_targets(head, y, lengths, x.shape[1], loss), loss).backward()
    return _grads(model)


def _tbptt_grads(model, x, y, head, loss, k1, k2, lengths=None):
    model.zero_grad()
    calls = []

    def update(chunk_loss, index):  # accumulate, no optimizer step
        chunk_loss.backward()
        calls.append(index)

    targets = make_targets(head, y, lengths, x.shape[1], loss)
    tbptt(model, x, targets, k1, k2, loss=loss, lengths=lengths, update=update)
    return _grads(model), calls


@pytest.mark.parametrize("name", ["lstm", "gru", "elman", "peephole_lstm"])
@pytest.mark.parametrize("head,loss", [("last", "mse"), ("per_step", "cross_entropy"),
                                       ("next_token", "cross_entropy")])
def test_full_window_equals_full_bptt(name, head, loss):
    T = 12
    g = torch.Generator().manual_seed(1)
    x = torch.randn(4, T, 3, generator=g, dtype=torch.float64)
    y = torch.randn(4, 2, generator=g, dtype=torch.float64) if loss == "mse" else torch.randint(0, 2, (4, T))
    model = _model(name, "last" if head == "last" else "per_step", 2)
    model.head_kind = head if head != "next_token" else "per_step"
    full = _full_grads(model, x, y, head, loss)
    trunc, calls = _tbptt_grads(model, x, y, head, loss, T, T)
    assert calls == [0]
    for n in full:
        torch.testing.assert_close(trunc[n], full[n], rtol=0, atol=0, msg=n)


def test_full_window_equals_full_bptt_with_lengths():
    T = 10
    g = torch.Generator().manual_seed(2)
    x = torch.randn(3, T, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (3, T))
    lengths = torch.tensor([10, 4, 7])
    model = _model("gru", "per_step", 4)
    full = _full_grads(model, x, y, "per_step", "cross_entropy", lengths)
    trunc, _ = _tbptt_grads(model, x, y, "per_step", "cross_entropy", T, T, lengths)
    for n in full:
        torch.testing.assert_close(trunc[n], full[n], rtol=0, atol=0, msg=n)


@pytest.mark.parametrize("k1,k2", [(5, 5), (4, 7), (3, 3), (6, 9)])
def test_no_gradient_before_the_window(k1, k2):
    """A last-step target: only the final window [T - k2, T) gets a gradient."""
    T = 20
    model = _model("lstm", "last", 1)
    x = torch.randn(2, T, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randn(2, 1, dtype=torch.float64)
    _, calls = _tbptt_grads(model, x, y, "last", "mse", k1, k2)
    assert len(calls) == 1  # only the last chunk holds a scored step
    last_chunk_start = ((T - 1) // k1) * k1
    window_start = max(0, T - k2)
    assert last_chunk_start >= window_start
    per_step = x.grad.abs().sum(dim=(0, 2))
    assert torch.all(per_step[:window_start] == 0)
    assert per_step[window_start] > 0 and torch.all(per_step[window_start:] > 0)


def test_per_step_chunks_are_detached():
    """With k1 = k2, the loss of chunk c reaches the inputs of chunk c only."""
    T, k = 12, 4
    model = _model("elman", "per_step", 3)
    x = torch.randn(2, T, 3, dtype=torch.float64, requires_grad=True)
    y = torch.randint(0, 3, (2, T))
    seen = []

    def update(loss, index):
        x.grad = None
        loss.backward()
        seen.append((index, x.grad.abs().sum(dim=(0, 2)).clone()))

    tbptt(model, x, make_targets("per_step", y, None, T, "cross_entropy"), k, k, loss="cross_entropy", update=update)
    assert [i for i, _ in seen] == [0, 1, 2]
    for index, g in seen:
        inside = torch.zeros(T, dtype=torch.bool)
        inside[index * k:(index + 1) * k] = True
        assert torch.all(g[~inside] == 0) and torch.all(g[inside] > 0)


@pytest.mark.parametrize("k1,k2", [(3, 5), (4, 4), (2, 7)])
def test_chunk_gradient_matches_definition(k1, k2):
    """The gradient of chunk [s, e) equals: detached state at e - k2, grad-enabled run over [e - k2, e)."""
    T = 13
    model = _model("lstm", "per_step", 3)
    x = torch.randn(2, T, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (2, T))
    targets = make_targets("per_step", y, None, T, "cross_entropy")
    got = []

    def update(loss, index):
        model.zero_grad()
        loss.backward()
        got.append(_grads(model))

    tbptt(model, x, targets, k1, k2, loss="cross_entropy", update=update)
    from rnnzoo.train.objective import chunk_loss

    for index, s in enumerate(range(0, T, k1)):
        e = min(s + k1, T)
        w = max(0, e - k2)
        model.zero_grad()
        state = None
        if w > 0:
            with torch.no_grad():
                _, state = model.features(x[:, :w])
        feats, _ = model.features(x[:, w:e], state)
        chunk_loss(model.head, feats[:, s - w:], s, targets, "cross_entropy").backward()
        want = _grads(model)
        for n in want:
            torch.testing.assert_close(got[index][n], want[n], rtol=1e-12, atol=1e-14, msg=f"chunk {index} {n}")


def test_chunk_losses_add_up_to_the_mean():
    T = 9
    model = _model("gru", "per_step", 3)
    x = torch.randn(2, T, 3, dtype=torch.float64)
    y = torch.randint(0, 3, (2, T))
    targets = make_targets("per_step", y, None, T, "cross_entropy")
    total, updates = tbptt(model, x, targets, T, T, loss="cross_entropy", update=lambda loss, i: None)
    pred, _ = model(x)
    torch.testing.assert_close(total, full_loss(pred, targets, "cross_entropy"))
    assert updates == 1


def test_rejects_bidirectional_and_bad_k():
    torch.manual_seed(0)
    bi = SequenceModel("gru", input_size=3, output_size=2, hidden_size=4, head="per_step", bidirectional=True)
    x = torch.randn(1, 6, 3)
    targets = make_targets("per_step", torch.zeros(1, 6, dtype=torch.long), None, 6, "cross_entropy")
    with pytest.raises(ValueError, match="bidirectional"):
        tbptt(bi, x, targets, 2, 2, loss="cross_entropy", update=lambda loss, i: None)
    uni = SequenceModel("gru", input_size=3, output_size=2, hidden_size=4, head="per_step")
    with pytest.raises(ValueError, match="k1 <= k2"):
        tbptt(uni, x, targets, 3, 2, loss="cross_entropy", update=lambda loss, i: None)


@pytest.mark.parametrize("steps,k1,k2", [(13, 3, 5), (12, 4, 4), (7, 2, 7), (5, 5, 9), (10, 3, 3), (1, 1, 1)])
def test_windows_follow_the_definition(steps, k1, k2):
    """Chunks [s, e) of k1 steps tile [0, T); each window starts k2 steps before its chunk's end (or at 0);
    the carried state is the next window's start."""
    got = windows(steps, k1, k2)
    starts = list(range(0, steps, k1))
    assert [(w.index, w.start, w.stop) for w in got] == [(i, s, min(s + k1, steps)) for i, s in enumerate(starts)]
    assert [w.begin for w in got] == [max(0, min(s + k1, steps) - k2) for s in starts]
    assert [w.carry for w in got] == [w.begin for w in got[1:]] + [steps]
    assert all(w.begin <= w.carry <= w.stop for w in got)


def test_windows_refuse_k2_below_k1():
    with pytest.raises(ValueError, match="k1 <= k2"):
        windows(10, 4, 3)


@pytest.mark.parametrize("time_dim", [0, 1])
def test_run_window_returns_the_scored_steps_and_a_detached_carry(time_dim):
    """``run_window`` runs [begin, carry) then [carry, stop) from the given state: its outputs for the scored
    steps equal one run over [begin, stop), and the carried state is the detached state at ``carry``."""
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(3, 4, batch_first=time_dim == 1).double()
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    x = x.transpose(0, 1) if time_dim == 0 else x
    calls = []

    def run(a, b, state):
        calls.append((a, b))
        return lstm(x.narrow(time_dim, a, b - a), state)

    window = windows(9, 3, 5)[1]
    assert (window.begin, window.start, window.stop, window.carry) == (1, 3, 6, 4)
    _, state = lstm(x.narrow(time_dim, 0, 1))
    out, carry = run_window(run, window, state, time_dim=time_dim)
    assert calls == [(1, 4), (4, 6)]
    full, _ = lstm(x.narrow(time_dim, 1, 5), state)
    # float64 to an ulp, not bitwise: torch's input product over 5 steps and over 3 + 2 steps may be blocked
    # differently by the CPU's GEMM (1 ulp on some machines, equal on others)
    torch.testing.assert_close(out, full.narrow(time_dim, 2, 3), rtol=1e-15, atol=1e-16)
    _, want = lstm(x.narrow(time_dim, 1, 3), state)
    assert all(not c.requires_grad for c in carry) and out.requires_grad
    for c, w in zip(carry, want, strict=True):
        torch.testing.assert_close(c, w, rtol=0, atol=0)
