"""rnnzoo.fused.products: the per-step product's row and column forms compute the same numbers (float64), the size
rule picks the column form only where it was measured faster (CPU, more than one thread, a weight of at least 2 MiB,
batch <= 128), a forced form reaches the fused Functions, and a bad form is refused."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.wmc_lstm import WMCLSTMCell
from rnnzoo.fused import products
from rnnzoo.fused.products import COLUMN_MAX_BATCH, COLUMN_MIN_BYTES, StepProduct, column_form, forced_form


@pytest.mark.parametrize("form", ["row", "column"])
@pytest.mark.parametrize("bias_shape", ["full", "vector"])
def test_both_forms_equal_the_plain_product(form, bias_shape):
    g = torch.Generator().manual_seed(0)
    B, K, G = 5, 7, 12
    W, h = torch.randn(G, K, generator=g, dtype=torch.float64), torch.randn(B, K, generator=g, dtype=torch.float64)
    bias = torch.randn((B, G) if bias_shape == "full" else (G,), generator=g, dtype=torch.float64)
    with forced_form(form):
        p = StepProduct(W, B)
    assert p.column == (form == "column")
    out = torch.empty(B, G, dtype=torch.float64)
    torch.testing.assert_close(p.mm(h, out), h @ W.t(), rtol=1e-14, atol=1e-14)
    into = torch.empty(B, G, dtype=torch.float64)
    assert p.mm_into(h, into) is into
    torch.testing.assert_close(into, h @ W.t(), rtol=1e-14, atol=1e-14)
    got = p.addmm_into(bias, h, out)
    assert got is out
    torch.testing.assert_close(out, bias + h @ W.t(), rtol=1e-14, atol=1e-14)
    before = out.clone()  # in place: the bias is the output
    torch.testing.assert_close(p.addmm_into(out, h, out), before + h @ W.t(), rtol=1e-14, atol=1e-14)
    for beta, alpha in ((1.0, -0.3), (2.0, 0.7), (0.0, 1.5)):
        before = out.clone()
        want = beta * before + alpha * (h @ W.t())
        torch.testing.assert_close(p.addmm_into(out, h, out, beta=beta, alpha=alpha), want, rtol=1e-14, atol=1e-14)
        fresh = torch.empty(B, G, dtype=torch.float64)  # the bias as given (a vector broadcasts), out apart
        assert p.addmm_into(bias, h, fresh, beta=beta, alpha=alpha) is fresh
        torch.testing.assert_close(fresh, beta * bias + alpha * (h @ W.t()), rtol=1e-14, atol=1e-14)
    nan_bias = torch.full_like(bias, float("nan"))  # beta = 0 ignores the bias, as torch.addmm does
    torch.testing.assert_close(p.addmm_into(nan_bias, h, out, beta=0.0), h @ W.t(), rtol=1e-14, atol=1e-14)


def test_the_rule(monkeypatch):
    big = torch.empty(COLUMN_MIN_BYTES // 4 // 512, 512)  # exactly the threshold, float32
    small = torch.empty(big.shape[0] - 1, 512)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    assert column_form(big, 64)
    assert column_form(big, COLUMN_MAX_BATCH)
    assert not column_form(big, COLUMN_MAX_BATCH + 1)
    assert not column_form(small, 64)
    assert not column_form(big.half(), 64)
    assert column_form(big.double()[: big.shape[0] // 2], 64)  # bytes, not elements
    monkeypatch.setattr(torch, "get_num_threads", lambda: 1)
    assert not column_form(big, 64)
    with forced_form("column"):
        assert column_form(small, 1000)
    with forced_form("row"):
        monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
        assert not column_form(big, 64)
    assert column_form(big, 64)  # the rule is back after the block


def test_a_bad_form_is_refused():
    with pytest.raises(ValueError, match="form: expected one of"), forced_form("columns"):
        pass


def test_a_forced_form_reaches_the_fused_function(monkeypatch):
    seen: list[bool] = []
    init = StepProduct.__init__

    def spy(self, weight, batch):
        init(self, weight, batch)
        seen.append(self.column)

    monkeypatch.setattr(products.StepProduct, "__init__", spy)
    cell = WMCLSTMCell(3, 4)
    x = torch.randn(2, 5, 3)
    with forced_form("column"):
        rnnzoo.run(cell, x)
    assert seen and all(seen)
    seen.clear()
    rnnzoo.run(cell, x)  # tiny weights: the rule's row form
    assert seen and not any(seen)
