"""rnnzoo's JANET, NAS, MUT1-3, multiplicative LSTM and residual LSTM against torchrecurrent 0.2.5's layers.

Each test builds the torchrecurrent layer, copies the rnnzoo cell's weights into it (the mapping is written out in
each test: torchrecurrent keeps two biases, ``b_ih`` and ``b_hh``, where rnnzoo keeps one, so one of them is zeroed),
runs both in float64 on the same input and initial state and compares every output and the final state to 1e-12.
Where torchrecurrent departs from the paper (NAS's leaf 3, the multiplicative LSTM's cell input), the test asserts
the documented difference instead: torchrecurrent equals a naive implementation of ITS formula, written here, and
rnnzoo (on the paper) differs from it. The rows of docs/torchrecurrent_lstmlike.md summarise the differences.
"""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.janet import JANETCell, JANETState
from rnnzoo.cells.multiplicative_lstm import MultiplicativeLSTMCell, MultiplicativeLSTMState
from rnnzoo.cells.mut import MUT1Cell, MUT2Cell, MUT3Cell, MUTState
from rnnzoo.cells.nas import NASCell, NASState
from rnnzoo.cells.res_lstm import ResLSTMCell, ResLSTMState

tr = pytest.importorskip("torchrecurrent", reason="torchrecurrent (test extra, pinned in constraints) is not installed")

T, B = 7, 3
TOL = {"rtol": 0.0, "atol": 1e-12}


def _data(I, H, two_states, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(T, B, I, dtype=torch.float64, generator=g)
    h0 = torch.randn(B, H, dtype=torch.float64, generator=g)
    c0 = torch.randn(B, H, dtype=torch.float64, generator=g) if two_states else None
    return x, h0, c0


def _load(layer, **tensors):
    """Copy ``tensors`` into ``layer.cells[0]``'s parameters of the same names (every one of them named)."""
    cell = layer.cells[0]
    names = {n for n, _ in cell.named_parameters()}
    assert names == set(tensors), f"mapping must name every torchrecurrent parameter: {sorted(names)}"
    with torch.no_grad():
        for name, value in tensors.items():
            getattr(cell, name).copy_(torch.as_tensor(value, dtype=torch.float64))


def _scale(cell, k=2.0):
    """Weights larger than the default initialisation, so every nonlinearity sees both signs."""
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(k)
    return cell


def _run_tr(layer, x, h0, c0=None):
    if c0 is None:
        out, hn = layer(x, h0.unsqueeze(0))
        return out, hn[0], None
    out, (hn, cn) = layer(x, (h0.unsqueeze(0), c0.unsqueeze(0)))
    return out, hn[0], cn[0]


def _run_zoo(cell, x, state):
    res = rnnzoo.run(cell, x, state, batch_first=False)
    return res.output, res.state


# ---------------------------------------------------------------------------------------------------- JANET


@pytest.mark.parametrize("beta", [1.0, 0.3])
def test_janet_agrees(beta):
    I, H = 4, 5
    cell = _scale(JANETCell(I, H, beta=beta).double())
    layer = tr.JANET(I, H).double()
    # weight_ih = [W_f; W_c], weight_hh = [U_f; U_c] in both; rnnzoo's bias = b_ih, b_hh = 0; beta copied
    _load(layer, weight_ih=cell.weight_ih, weight_hh=cell.weight_hh, bias_ih=cell.bias,
          bias_hh=torch.zeros(2 * H, dtype=torch.float64), beta=beta)
    x, _, c0 = _data(I, H, True)
    out_tr, hn, cn = _run_tr(layer, x, c0, c0)  # JANET's h is its c: both start at c0
    out_zoo, state = _run_zoo(cell, x, JANETState(c0))
    torch.testing.assert_close(out_zoo, out_tr, **TOL)
    torch.testing.assert_close(state.c, cn, **TOL)
    torch.testing.assert_close(state.c, hn, **TOL)
    # the documented difference: torchrecurrent learns beta, the paper (and rnnzoo) fix it
    assert layer.cells[0].beta.requires_grad and "beta" not in dict(cell.named_parameters())


# ---------------------------------------------------------------------------------------------------- NAS


def _nas_torchrecurrent_formula(cell, x, h0, c0):
    """torchrecurrent's NASCell.forward written out: every leaf ADDS its input and state terms (leaf 3 included)."""
    H = cell.hidden_size
    h, c, outs = h0, c0, []
    for t in range(x.shape[0]):
        g = (x[t] @ cell.weight_ih.t() + h @ cell.weight_hh.t() + cell.bias).split(H, -1)
        l1 = [torch.sigmoid(g[0]), torch.relu(g[1]), torch.sigmoid(g[2]), torch.relu(g[3]),
              torch.tanh(g[4]), torch.sigmoid(g[5]), torch.tanh(g[6]), torch.sigmoid(g[7])]
        c = torch.tanh(torch.tanh(l1[0] * l1[1]) + c) * torch.tanh(l1[2] + l1[3])
        h = torch.tanh(c * torch.tanh(torch.tanh(l1[4] * l1[5]) + torch.sigmoid(l1[6] + l1[7])))
        outs.append(h)
    return torch.stack(outs), h, c


def test_nas_differs_in_leaf_3_as_documented():
    I, H = 4, 5
    cell = _scale(NASCell(I, H).double())
    layer = tr.NAS(I, H).double()
    # weight_ih = [W_0..W_7], weight_hh = [U_0..U_7] in both; rnnzoo's bias (the state's term) = b_hh, b_ih = 0
    _load(layer, weight_ih=cell.weight_ih, weight_hh=cell.weight_hh,
          bias_ih=torch.zeros(8 * H, dtype=torch.float64), bias_hh=cell.bias)
    x, h0, c0 = _data(I, H, True)
    out_tr, hn, cn = _run_tr(layer, x, h0, c0)
    with torch.no_grad():
        want, want_h, want_c = _nas_torchrecurrent_formula(cell, x, h0, c0)
    torch.testing.assert_close(out_tr, want, **TOL)
    torch.testing.assert_close(hn, want_h, **TOL)
    torch.testing.assert_close(cn, want_c, **TOL)
    out_zoo, _ = _run_zoo(cell, x, NASState(h0, c0))
    assert (out_zoo - out_tr).abs().max() > 1e-3  # relu(a_3 * b_3), the searched cell, is not relu(a_3 + b_3)


def test_nas_agrees_where_leaf_3_cannot_matter():
    """Leaf 3 only reaches the output through l2_1 = tanh(l1_2 + l1_3): with W_3 = U_3 = 0 and no bias on leaf 3,
    both leaves are relu(0) = 0, and everything else is the same computation."""
    I, H = 4, 5
    cell = _scale(NASCell(I, H).double())
    with torch.no_grad():
        cell.weight_ih[3 * H:4 * H] = 0
        cell.weight_hh[3 * H:4 * H] = 0
        cell.bias[3 * H:4 * H] = 0
    layer = tr.NAS(I, H).double()
    _load(layer, weight_ih=cell.weight_ih, weight_hh=cell.weight_hh,
          bias_ih=torch.zeros(8 * H, dtype=torch.float64), bias_hh=cell.bias)
    x, h0, c0 = _data(I, H, True, seed=1)
    out_tr, hn, cn = _run_tr(layer, x, h0, c0)
    out_zoo, state = _run_zoo(cell, x, NASState(h0, c0))
    torch.testing.assert_close(out_zoo, out_tr, **TOL)
    torch.testing.assert_close(state.h, hn, **TOL)
    torch.testing.assert_close(state.c, cn, **TOL)


# ---------------------------------------------------------------------------------------------------- MUT1-3


def _mut_tr_weights(cell):
    """rnnzoo's MUT parameters in torchrecurrent's layout: weight_ih = [W_xz; W_xr; W_xh] (the identity where the
    paper feeds x_t itself), weight_hh = [W_hr; W_hh] (MUT1) or [W_hz; W_hr; W_hh] (MUT2, MUT3)."""
    H = cell.hidden_size
    w_ih = cell.weight_ih
    if cell.identity_input:
        parts = list(w_ih.split(H))
        parts.insert(cell.identity_slot, torch.eye(H, dtype=w_ih.dtype))
        w_ih = torch.cat(parts)
    return w_ih, torch.cat([cell.weight_hg, cell.weight_hh])


@pytest.mark.parametrize(("I", "H", "identity"), [(4, 5, False), (5, 5, True)])
def test_mut1_agrees(I, H, identity):
    cell = _scale(MUT1Cell(I, H, identity_input=identity).double())
    layer = tr.MUT1(I, H).double()
    w_ih, w_hh = _mut_tr_weights(cell)
    b_z, b_r, b_h = cell.bias.split(H)
    zero = torch.zeros(H, dtype=torch.float64)
    # torchrecurrent: z = sig(W_z x + bi_z), r = sig(W_r x + bi_r + U_r h + bh_r),
    # cand = tanh(U_h (r h) + tanh(W_h x + bi_h) + bh_h): rnnzoo's b_h goes outside the inner tanh (bh_h), bi_h = 0
    _load(layer, weight_ih=w_ih, weight_hh=w_hh, bias_ih=torch.cat([b_z, b_r, zero]), bias_hh=torch.cat([zero, b_h]))
    x, h0, _ = _data(I, H, False)
    out_tr, hn, _ = _run_tr(layer, x, h0)
    out_zoo, state = _run_zoo(cell, x, MUTState(h0))
    torch.testing.assert_close(out_zoo, out_tr, **TOL)
    torch.testing.assert_close(state.h, hn, **TOL)


@pytest.mark.parametrize(("kind", "I", "H", "identity"), [("mut2", 4, 5, False), ("mut2", 5, 5, True),
                                                         ("mut3", 4, 5, None), ("mut3", 5, 5, None)])
def test_mut2_mut3_agree(kind, I, H, identity):
    if kind == "mut2":
        cell, layer = MUT2Cell(I, H, identity_input=identity), tr.MUT2(I, H)
    else:
        cell, layer = MUT3Cell(I, H), tr.MUT3(I, H)
    cell, layer = _scale(cell.double()), layer.double()
    # torchrecurrent: b_ih holds rnnzoo's [b_z, b_r, b_h], b_hh = 0
    w_ih, w_hh = _mut_tr_weights(cell)
    _load(layer, weight_ih=w_ih, weight_hh=w_hh, bias_ih=cell.bias, bias_hh=torch.zeros(3 * H, dtype=torch.float64))
    x, h0, _ = _data(I, H, False)
    out_tr, hn, _ = _run_tr(layer, x, h0)
    out_zoo, state = _run_zoo(cell, x, MUTState(h0))
    torch.testing.assert_close(out_zoo, out_tr, **TOL)
    torch.testing.assert_close(state.h, hn, **TOL)


# ---------------------------------------------------------------------------------------------------- mLSTM


def _mlstm_layer(cell):
    H = cell.hidden_size
    layer = tr.MultiplicativeLSTM(cell.input_size, H).double()
    # weight_ih = [W_mx; W_ix; W_fx; W_hx; W_ox] in both; torchrecurrent's weight_hh = rnnzoo's weight_mh (W_mh),
    # its weight_mh = rnnzoo's weight_m ([W_im; W_fm; W_hm; W_om]); m_t's two biases zero, the gates' in b_ih
    _load(layer, weight_ih=cell.weight_ih, weight_hh=cell.weight_mh, weight_mh=cell.weight_m,
          bias_ih=torch.cat([torch.zeros(H, dtype=torch.float64), cell.bias]),
          bias_hh=torch.zeros(H, dtype=torch.float64), bias_mh=torch.zeros(4 * H, dtype=torch.float64))
    return layer


def test_multiplicative_lstm_with_candidate_tanh_agrees():
    I, H = 4, 5
    cell = _scale(MultiplicativeLSTMCell(I, H, candidate_tanh=True).double())
    layer = _mlstm_layer(cell)
    x, h0, c0 = _data(I, H, True)
    out_tr, hn, cn = _run_tr(layer, x, h0, c0)
    out_zoo, state = _run_zoo(cell, x, MultiplicativeLSTMState(h0, c0))
    torch.testing.assert_close(out_zoo, out_tr, **TOL)
    torch.testing.assert_close(state.h, hn, **TOL)
    torch.testing.assert_close(state.c, cn, **TOL)


def test_multiplicative_lstm_paper_form_differs_as_documented():
    I, H = 4, 5
    cell = _scale(MultiplicativeLSTMCell(I, H).double())  # default: the paper's linear cell input
    layer = _mlstm_layer(cell)
    x, h0, c0 = _data(I, H, True)
    out_tr, _, _ = _run_tr(layer, x, h0, c0)
    out_zoo, _ = _run_zoo(cell, x, MultiplicativeLSTMState(h0, c0))
    tanh_twin = MultiplicativeLSTMCell(I, H, candidate_tanh=True).double()
    tanh_twin.load_state_dict(cell.state_dict())
    out_twin, _ = _run_zoo(tanh_twin, x, MultiplicativeLSTMState(h0, c0))
    torch.testing.assert_close(out_twin, out_tr, **TOL)  # torchrecurrent = tanh on the cell input
    assert (out_zoo - out_tr).abs().max() > 1e-3


# ---------------------------------------------------------------------------------------------------- ResLSTM


@pytest.mark.parametrize(("I", "H", "identity"), [(4, 5, None), (5, 5, None), (5, 5, False)])
def test_res_lstm_agrees(I, H, identity):
    cell = _scale(ResLSTMCell(I, H, identity_shortcut=identity).double())
    layer = tr.ResLSTM(I, H).double()
    short = torch.eye(H, dtype=torch.float64) if cell.weight_short is None else cell.weight_short
    # gates (i, f, c, o) in both; peephole [w_ci, w_cf, w_co] = weight_ph; W_p = weight_proj; W_h = weight_res
    # (the identity where rnnzoo has none); rnnzoo's bias = b_ih, b_hh = 0
    _load(layer, weight_ih=cell.weight_ih, weight_hh=cell.weight_hh, weight_proj=cell.weight_proj,
          weight_res=short, weight_ph=cell.peephole, bias_ih=cell.bias,
          bias_hh=torch.zeros(4 * H, dtype=torch.float64))
    x, h0, c0 = _data(I, H, True)
    out_tr, hn, cn = _run_tr(layer, x, h0, c0)
    out_zoo, state = _run_zoo(cell, x, ResLSTMState(h0, c0))
    torch.testing.assert_close(out_zoo, out_tr, **TOL)
    torch.testing.assert_close(state.h, hn, **TOL)
    torch.testing.assert_close(state.c, cn, **TOL)
