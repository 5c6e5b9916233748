"""The linear-chain CRF against a brute-force enumeration of every path, gradcheck, and pytorch-crf."""

from __future__ import annotations

import itertools

import pytest
import torch

from rnnzoo.crf import CRF, PAD_TAG

K, T = 3, 5
# rows: full, a prefix, a prefix of one, holes, leading masked steps
MASKS = torch.tensor([[1, 1, 1, 1, 1],
                      [1, 1, 1, 0, 0],
                      [1, 0, 0, 0, 0],
                      [1, 0, 1, 1, 0],
                      [0, 0, 1, 0, 1]], dtype=torch.bool)


def _crf(k=K, seed=0):
    torch.manual_seed(seed)
    crf = CRF(k).double()
    with torch.no_grad():  # larger than the U(-0.1, 0.1) start, so that transitions matter
        for p in crf.parameters():
            p.normal_()
    return crf


def _path_score(crf, e, path, steps):
    """score(y | e) typed from the definition, over the valid steps ``steps`` of one sequence ``e`` (T, K)."""
    s = crf.start_transitions[path[0]] + crf.end_transitions[path[-1]]
    for n, (t, y) in enumerate(zip(steps, path, strict=True)):
        s = s + e[t, y]
        if n > 0:
            s = s + crf.transitions[path[n - 1], y]
    return s


def _enumerate(crf, e, mask_row):
    """All K^n paths of one sequence: (log Z, {path: score})."""
    steps = mask_row.nonzero().flatten().tolist()
    scores = {p: _path_score(crf, e, p, steps) for p in itertools.product(range(crf.num_tags), repeat=len(steps))}
    return torch.logsumexp(torch.stack(list(scores.values())), 0), scores, steps


def test_log_partition_and_nll_equal_enumeration():
    crf = _crf()
    e = torch.randn(len(MASKS), T, K, dtype=torch.float64)
    tags = torch.randint(0, K, (len(MASKS), T))
    log_z = crf.log_partition(e, MASKS)
    nll = crf.nll(e, tags, MASKS)
    for b in range(len(MASKS)):
        ref_z, scores, steps = _enumerate(crf, e[b], MASKS[b])
        torch.testing.assert_close(log_z[b], ref_z, rtol=0, atol=1e-12)
        gold = tuple(tags[b, steps].tolist())
        torch.testing.assert_close(nll[b], ref_z - scores[gold], rtol=0, atol=1e-12)


def test_viterbi_equals_enumerated_argmax():
    crf = _crf(seed=1)
    e = torch.randn(len(MASKS), T, K, dtype=torch.float64)
    path = crf.viterbi(e, MASKS)
    decoded = crf.decode(e, MASKS)
    for b in range(len(MASKS)):
        _, scores, steps = _enumerate(crf, e[b], MASKS[b])
        best = max(scores, key=lambda p: scores[p].item())
        assert decoded[b] == list(best)
        assert path.tags[b, steps].tolist() == list(best)
        assert (path.tags[b, ~MASKS[b]] == PAD_TAG).all()
        torch.testing.assert_close(path.score[b], scores[best], rtol=0, atol=1e-12)


def test_mask_with_holes_equals_the_steps_removed():
    crf = _crf(seed=2)
    e = torch.randn(1, T, K, dtype=torch.float64)
    tags = torch.randint(0, K, (1, T))
    mask = MASKS[3:4]
    keep = mask[0]
    torch.testing.assert_close(crf.nll(e, tags, mask), crf.nll(e[:, keep], tags[:, keep]))
    assert crf.decode(e, mask) == crf.decode(e[:, keep])


def test_gradcheck_float64():
    crf = _crf(seed=3)
    e = torch.randn(len(MASKS), T, K, dtype=torch.float64, requires_grad=True)
    tags = torch.randint(0, K, (len(MASKS), T))
    params = (crf.transitions, crf.start_transitions, crf.end_transitions)

    def f(e, a, s, n):
        return torch.func.functional_call(crf, {"transitions": a, "start_transitions": s, "end_transitions": n},
                                          (e, tags, MASKS))

    inputs = (e, *(p.detach().clone().requires_grad_() for p in params))
    assert torch.autograd.gradcheck(f, inputs)


def test_gradient_of_log_partition_is_the_marginal():
    """d log Z / d emissions[t, j] = P(y_t = j): the marginals sum to 1 at valid steps, 0 at masked ones."""
    crf = _crf(seed=4)
    e = torch.randn(len(MASKS), T, K, dtype=torch.float64, requires_grad=True)
    crf.log_partition(e, MASKS).sum().backward()
    torch.testing.assert_close(e.grad.sum(2), MASKS.double())


def test_agrees_with_pytorch_crf():
    torchcrf = pytest.importorskip("torchcrf", reason="pytorch-crf (the `test` extra) is not installed")
    k, t, b = 7, 12, 6
    ref = torchcrf.CRF(k, batch_first=True).double()
    with torch.no_grad():
        for p in ref.parameters():
            p.normal_()
    crf = CRF(k).double()
    crf.load_state_dict(ref.state_dict())  # same names and layout: transitions[i, j] is i -> j
    e = torch.randn(b, t, k, dtype=torch.float64)
    tags = torch.randint(0, k, (b, t))
    lengths = torch.tensor([12, 1, 5, 9, 12, 3])
    mask = torch.arange(t)[None] < lengths[:, None]  # pytorch-crf needs the first step valid, no holes
    torch.testing.assert_close(crf.nll(e, tags, mask), -ref(e, tags, mask, reduction="none"), rtol=0, atol=1e-10)
    assert crf.decode(e, mask) == ref.decode(e, mask)


def test_accuracy_of_the_decoded_path_and_torchmetrics():
    crf = _crf(seed=5)
    e = torch.randn(len(MASKS), T, K, dtype=torch.float64)
    best = crf.viterbi(e, MASKS).tags
    tags = best.clamp(min=0)
    assert crf.accuracy(e, tags, MASKS).item() == 1.0
    wrong = tags.clone()
    wrong[0, 0] = (wrong[0, 0] + 1) % K
    wrong[3, 2] = (wrong[3, 2] + 1) % K
    wrong[1, 4] = (wrong[1, 4] + 1) % K  # a masked step: not counted
    n = int(MASKS.sum())
    assert crf.accuracy(e, wrong, MASKS).item() == pytest.approx((n - 2) / n)
    from torchmetrics.classification import MulticlassAccuracy

    metric = MulticlassAccuracy(K, average="micro", ignore_index=PAD_TAG)
    metric.update(best, torch.where(MASKS, wrong, PAD_TAG))
    assert metric.compute().item() == pytest.approx((n - 2) / n)


def test_learns_transitions_from_uninformative_emissions():
    """With constant emissions only the transitions can predict the tag chain 0 -> 1 -> 2 -> 0 ..."""
    crf = CRF(K)
    opt = torch.optim.Adam(crf.parameters(), lr=0.1)
    e = torch.zeros(4, 9, K)
    tags = (torch.arange(9) % K).expand(4, 9).contiguous()
    for _ in range(60):
        opt.zero_grad()
        crf.nll(e, tags).mean().backward()
        opt.step()
    assert crf.decode(e) == tags.tolist()
    assert crf.nll(e, tags).mean().item() < 0.1


@pytest.mark.parametrize("call, error, match", [
    (lambda c: c.nll(torch.zeros(2, 3, K, dtype=torch.long), torch.zeros(2, 3, dtype=torch.long)), TypeError,
     "emissions: expected a floating-point"),
    (lambda c: c.nll(torch.zeros(2, 3, K + 1), torch.zeros(2, 3, dtype=torch.long)), ValueError,
     r"emissions: expected shape \(B, T >= 1, K=3\)"),
    (lambda c: c.nll(torch.zeros(2, 3, K, dtype=torch.float64), torch.zeros(2, 3, dtype=torch.long)), TypeError,
     "emissions: expected dtype torch.float32"),
    (lambda c: c.nll(torch.zeros(2, 3, K), torch.zeros(2, 3, dtype=torch.long), torch.ones(2, 3)), TypeError,
     "mask: expected a bool tensor"),
    (lambda c: c.nll(torch.zeros(2, 3, K), torch.zeros(2, 3, dtype=torch.long), torch.ones(3, 2).bool()),
     ValueError, r"mask: expected shape \(B, T\)"),
    (lambda c: c.decode(torch.zeros(2, 3, K), torch.tensor([[1, 0, 0], [0, 0, 0]]).bool()), ValueError,
     r"mask: every sequence needs at least one valid step; sequences \[1\]"),
    (lambda c: c.nll(torch.zeros(2, 3, K), torch.zeros(2, 3)), TypeError, "tags: expected an int64"),
    (lambda c: c.nll(torch.zeros(2, 3, K), torch.full((2, 3), K)), ValueError, r"tags: expected tags in \[0, 3\)"),
    (lambda c: CRF(0), ValueError, "num_tags: expected a positive int"),
])
def test_bad_input_raises_naming_the_argument(call, error, match):
    with pytest.raises(error, match=match):
        call(CRF(K))


def test_tags_at_masked_steps_are_not_read():
    crf = CRF(K)
    e = torch.randn(2, 3, K)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]]).bool()
    tags = torch.tensor([[0, 1, PAD_TAG], [2, 2, 1]])
    torch.testing.assert_close(crf.nll(e, tags, mask), crf.nll(e, tags.clamp(min=0), mask))
