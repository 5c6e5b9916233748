"""SRU against a naive implementation typed from the paper (Lei et al. 2018, arXiv:1709.02755, eqs (1)-(4)),
float64, a Python loop over time and units; plus its fused Function's edge cases and argument checks."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells import SRUCell
from rnnzoo.fused.sru import sru_recurrence

B, T = 2, 6


def sig(v):
    return 1.0 / (1.0 + math.exp(-v))


def naive_sru(cell, x, c0, mask=None):
    """Eqs (1)-(4) unit by unit; the highway term ``alpha * x_t`` (alpha = sqrt(1 + 2 exp(b_r init))) when
    I == H, else a projection ``W' x_t`` (paper Section 2: "a projection when dimensions differ")."""
    H = cell.hidden_size
    W = cell.weight_ih.detach().double()
    Wc, Wf, Wr = W[:H], W[H:2 * H], W[2 * H:3 * H]
    Wp = W[3 * H:] if W.shape[0] == 4 * H else None
    vf, vr = cell.weight_c.detach().double()
    bf, br = cell.bias.detach().double()
    alpha = math.sqrt(1 + 2 * math.exp(cell.highway_bias)) if cell.rescale else 1.0
    hs = torch.zeros(B, T, H, dtype=torch.float64)
    c = c0.clone()
    for b in range(B):
        for t in range(T):
            if mask is not None and not mask[b, t]:
                continue  # padded: c kept, output zero
            xt = x[b, t]
            for j in range(H):
                f = sig(float(Wf[j] @ xt) + float(vf[j] * c[b, j]) + float(bf[j]))  # eq (1)
                r = sig(float(Wr[j] @ xt) + float(vr[j] * c[b, j]) + float(br[j]))  # eq (3), old c
                c[b, j] = f * c[b, j] + (1 - f) * float(Wc[j] @ xt)  # eq (2)
                if not cell.skip:
                    hs[b, t, j] = r * c[b, j]
                else:
                    xp = float(Wp[j] @ xt) if Wp is not None else alpha * float(xt[j])
                    hs[b, t, j] = r * c[b, j] + (1 - r) * xp  # eq (4)
    return hs, c


@pytest.mark.parametrize(("I", "H", "opts"), [(4, 4, {}), (4, 4, {"highway_bias": -1.5}), (4, 4, {"rescale": False}),
                                              (3, 5, {}), (3, 5, {"skip": False}), (4, 4, {"skip": False})])
@pytest.mark.parametrize("use_fused", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_sru_equals_paper(I, H, opts, use_fused, masked):
    torch.manual_seed(0)
    cell = SRUCell(I, H, **opts).double()
    with torch.no_grad():
        cell.bias.normal_()  # b_f, b_r nonzero (the initialisation zeroes b_f)
    x = torch.randn(B, T, I, dtype=torch.float64)
    c0 = torch.randn(B, H, dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 1, 1, 1], [1, 1, 1, 1, 0, 0]], dtype=torch.bool) if masked else None
    out = rnnzoo.run(cell, x, cell.initial_state(B, dtype=torch.float64)._replace(c=c0), mask=mask,
                     use_fused=use_fused)
    h_ref, c_ref = naive_sru(cell, x, c0, mask)
    torch.testing.assert_close(out.output, h_ref, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(out.state.c, c_ref, rtol=1e-12, atol=1e-12)
    # the state's h is the last valid step's output
    last = [max(t for t in range(T) if mask is None or mask[b, t]) for b in range(B)]
    torch.testing.assert_close(out.state.h, torch.stack([h_ref[b, last[b]] for b in range(B)]))


def test_default_highway_scale_is_sqrt3():
    """The paper's scaling alpha = sqrt(3) at highway_bias 0 (and the package's)."""
    assert SRUCell(4, 4).scale_x == pytest.approx(math.sqrt(3))
    assert SRUCell(4, 4, rescale=False).scale_x == 1.0
    assert SRUCell(3, 4).scale_x == 1.0  # the projection W' carries the scale in its initialisation


def test_fused_function_gradcheck_all_inputs():
    """The hand-written backward against finite differences for every input, both highway forms, a mask
    with holes and a fully masked row."""
    torch.manual_seed(1)
    H = 3
    mask = torch.tensor([[1, 0, 0], [0, 0, 0], [1, 0, 1], [1, 0, 1]], dtype=torch.bool)  # (T=4, B=3)
    kw = {"dtype": torch.float64, "requires_grad": True}
    c0, v, b = torch.randn(3, H, **kw), torch.randn(2, H, **kw), torch.randn(2, H, **kw)
    for width, skip in ((4 * H, None), (3 * H, torch.randn(4, 3, H, **kw)), (3 * H, None)):
        u = torch.randn(4, 3, width, **kw)
        for m in (None, mask):
            inputs = (u, c0, v, b) + ((skip,) if skip is not None else ())

            def f(u, c0, v, b, *s, m=m):
                return sru_recurrence(u, c0, v, b, mask=m, skip=s[0] if s else None, scale=1.7)

            assert torch.autograd.gradcheck(f, inputs)


def test_fully_masked_row_keeps_initial_state():
    cell = SRUCell(4, 4).double()
    x = torch.randn(2, T, 4, dtype=torch.float64)
    state = cell.initial_state(2, dtype=torch.float64)
    state = state._replace(h=torch.randn(2, 4, dtype=torch.float64), c=torch.randn(2, 4, dtype=torch.float64))
    mask = torch.ones(2, T, dtype=torch.bool)
    mask[1] = False
    for use_fused in (False, True):
        out = rnnzoo.run(cell, x, state, mask=mask, use_fused=use_fused)
        torch.testing.assert_close(out.state.h[1], state.h[1])
        torch.testing.assert_close(out.state.c[1], state.c[1])
        assert out.output[1].abs().max() == 0


def test_bad_arguments_name_themselves():
    with pytest.raises(TypeError, match="highway_bias"):
        SRUCell(4, 4, highway_bias="big")
    with pytest.raises(TypeError, match="rescale"):
        SRUCell(4, 4, rescale="yes")
    with pytest.raises(ValueError, match="hidden_size"):
        SRUCell(4, 0)
    u, c0, wc = torch.randn(5, 2, 12), torch.randn(2, 4), torch.randn(2, 4)
    with pytest.raises(ValueError, match="u: expected"):
        sru_recurrence(torch.randn(5, 2, 10), c0, wc, wc)
    with pytest.raises(ValueError, match="weight_c"):
        sru_recurrence(u, c0, torch.randn(8), wc)
    with pytest.raises(ValueError, match="skip"):
        sru_recurrence(u, c0, wc, wc, skip=torch.randn(5, 2, 3))
    with pytest.raises(ValueError, match="mask"):
        sru_recurrence(u, c0, wc, wc, mask=torch.ones(5, 3, dtype=torch.bool))


def test_registry_entry():
    info = rnnzoo.model_info("sru")
    assert info.recurrence is rnnzoo.Recurrence.ELEMENTWISE
    assert info.fast_path is rnnzoo.FastPath.RNNZOO and info.gated and "sru.SRU" in info.peers
