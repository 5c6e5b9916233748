"""The layer-normalised LSTM and GRU against naive implementations typed from their sources, float64.

LSTM: Ba, Kiros & Hinton 2016 (arXiv:1607.06450), supplementary eqs (20)-(22), written in the paper's
own gate order (f, i, o, g) with the paper's names (alpha for gains, beta for biases). GRU: the authors'
``lngru_layer`` (github.com/ryankiros/layer-norm), biases after the LNs. Each sequence runs alone to its
length in a per-step Python loop with ``torch.nn.functional.layer_norm``; the cell runs a padded batch
with lengths through the runner (step loop and fast path). The naive versions never call the cell's
methods; the LN parameters are randomised first so that a swapped gain or bias shows.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

import rnnzoo

B, T, I, H = 3, 6, 4, 5
LENGTHS = [6, 2, 4]
EPS = 1e-5
F64 = torch.float64


def sig(v):
    return 1.0 / (1.0 + torch.exp(-v))


def LN(a, alpha, beta=None):
    """Layer normalisation over the units of one example (Ba et al. 2016 sec. 3, biased variance)."""
    return F.layer_norm(a, a.shape[-1:], alpha, beta, EPS)


def _randomise(cell):
    gen = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for name, p in cell.named_parameters():
            if name.startswith("ln_"):
                p.copy_((1.0 if name.endswith("weight") else 0.0) + 0.5 * torch.randn(p.shape, generator=gen,
                                                                                       dtype=p.dtype))
    return cell


def _check(cell, naive, x, state0):
    """The cell's runner output on a padded batch with lengths against ``naive`` run per sequence."""
    for use_fused in (False, True):
        out = rnnzoo.run(cell, x, state0, lengths=LENGTHS, use_fused=use_fused)
        for b, n in enumerate(LENGTHS):
            outs, final = naive(x[b, :n], tuple(s[b] for s in state0))
            torch.testing.assert_close(out.output[b, :n], torch.stack(outs))
            assert torch.count_nonzero(out.output[b, n:]) == 0
            for got, want in zip(out.state, final, strict=True):
                torch.testing.assert_close(got[b], want)


# LSTM: torch's gate order (i, f, g, o) in the cell; the paper's (f, i, o, g) here.
_TORCH_ORDER = {4: ("i", "f", "g", "o"), 3: ("i", "g", "o")}
_PAPER_ORDER = {4: ("f", "i", "o", "g"), 3: ("i", "o", "g")}


def _to_paper(v, n):
    """Reorder the gate blocks of ``v`` (first axis n*H) from torch's order to the paper's."""
    blocks = dict(zip(_TORCH_ORDER[n], v.chunk(n, 0), strict=True))
    return torch.cat([blocks[k] for k in _PAPER_ORDER[n]], 0)


@pytest.mark.parametrize("name,opts", [("lstm", {}), ("lstm1997", {}), ("cifg_lstm", {}),
                                       ("lstm", {"input_activation": "sigmoid"}),
                                       ("lstm", {"cell_activation": False}), ("lstm", {"bias": False}),
                                       ("lstm", {"forget_bias": 1.0}), ("peephole_lstm", {}),
                                       ("cifg_lstm", {"peephole": True}), ("lstm", {"proj_size": 3}),
                                       ("peephole_lstm", {"proj_size": 2, "forget_gate": False})])
def test_layer_norm_lstm_equals_paper(name, opts):
    """The paper's eqs (20)-(22); peepholes (Gers et al. 2002) add to the normalised pre-activations and
    the projection (torch's proj_size) maps h_t, the combinations this cell defines."""
    torch.manual_seed(0)
    cell = _randomise(rnnzoo.model_info(name).build(I, H, layer_norm=True, **opts).double())
    n = cell.gates.n
    coupled = name == "cifg_lstm"
    zero = torch.zeros(H, dtype=F64)
    w_ci, w_co = (cell.weight_ci, cell.weight_co) if cell.peephole else (zero, zero)
    w_cf = cell.weight_cf if cell.peephole and n == 4 else zero
    W_hr = cell.weight_hr if cell.proj_size else torch.eye(H, dtype=F64)
    W_x, W_h = _to_paper(cell.weight_ih, n), _to_paper(cell.weight_hh, n)
    b = _to_paper(cell.bias_ih + cell.bias_hh, n) if cell.bias else torch.zeros(n * H, dtype=F64)
    alpha1, alpha2 = _to_paper(cell.ln_hh_weight, n), _to_paper(cell.ln_ih_weight, n)
    alpha3, beta3 = cell.ln_c_weight, cell.ln_c_bias
    act_g = sig if opts.get("input_activation") == "sigmoid" else torch.tanh
    act_c = torch.tanh if opts.get("cell_activation", True) else (lambda v: v)

    def naive(xs, state):
        h, c = state
        outs = []
        for x_t in xs:
            pre = LN(W_h @ h, alpha1) + LN(W_x @ x_t, alpha2) + b  # eq (20): beta_1 = beta_2 = 0, b holds them
            if n == 4:
                f, i, o, g = pre.chunk(4)
                i, f = sig(i + w_ci * c), sig(f + w_cf * c)
                c = f * c + i * act_g(g)  # eq (21)
            else:
                i, o, g = pre.chunk(3)
                i = sig(i + w_ci * c)
                keep = 1 - i if coupled else 1.0  # CIFG: f = 1 - i; 1997: no forget gate
                c = keep * c + i * act_g(g)
            h = W_hr @ (sig(o + w_co * c) * act_c(LN(c, alpha3, beta3)))  # eq (22), then the projection
            outs.append(h)
        return outs, (h, c)

    x = torch.randn(B, T, I, dtype=F64)
    state0 = rnnzoo.LSTMState(torch.randn(B, cell.output_size, dtype=F64), torch.randn(B, H, dtype=F64))
    _check(cell, naive, x, state0)


@pytest.mark.parametrize("reset", ["after", "before"])
@pytest.mark.parametrize("bias", [True, False])
def test_layer_norm_gru_equals_authors_code(reset, bias):
    torch.manual_seed(0)
    cell = _randomise(rnnzoo.GRUCell(I, H, reset=reset, bias=bias, layer_norm=True).double())
    W, U = cell.weight_ih, cell.weight_hh  # (3H, .) blocks r, z, n
    zeros = torch.zeros(3 * H, dtype=F64)
    b_i, b_h = (cell.bias_ih, cell.bias_hh) if bias else (zeros, zeros)
    s_x, s_h = cell.ln_ih_weight, cell.ln_hh_weight

    def naive(xs, state):
        (h,) = state
        outs = []
        for x_t in xs:
            x_ = LN(W[:2 * H] @ x_t, s_x[:2 * H]) + b_i[:2 * H]  # the authors' x_ = ln(W x), gates r, u
            xx_ = LN(W[2 * H:] @ x_t, s_x[2 * H:]) + b_i[2 * H:]  # xx_ = ln(Wx x), the candidate
            preact = LN(U[:2 * H] @ h, s_h[:2 * H]) + b_h[:2 * H] + x_
            r, z = sig(preact[:H]), sig(preact[H:])
            if reset == "after":  # preactx = ln(Ux h) * r + xx_
                preactx = (LN(U[2 * H:] @ h, s_h[2 * H:]) + b_h[2 * H:]) * r + xx_
            else:  # Cho et al.'s reset before the product
                preactx = LN(U[2 * H:] @ (r * h), s_h[2 * H:]) + b_h[2 * H:] + xx_
            h = z * h + (1.0 - z) * torch.tanh(preactx)
            outs.append(h)
        return outs, (h,)

    x = torch.randn(B, T, I, dtype=F64)
    _check(cell, naive, x, rnnzoo.GRUState(torch.randn(B, H, dtype=F64)))


def test_parameters_and_initialisation():
    torch.manual_seed(3)
    plain = rnnzoo.LSTMCell(I, H)
    torch.manual_seed(3)
    lstm = rnnzoo.LSTMCell(I, H, layer_norm=True)
    names = [n for n, _ in lstm.named_parameters()]
    assert names == ["weight_ih", "weight_hh", "bias_ih", "bias_hh", "ln_ih_weight", "ln_hh_weight", "ln_c_weight",
                     "ln_c_bias"]
    for n, p in plain.named_parameters():  # the same W, U, b as without layer_norm, same seed
        torch.testing.assert_close(getattr(lstm, n), p, rtol=0, atol=0)
    assert lstm.ln_ih_weight.shape == lstm.ln_hh_weight.shape == (4 * H,)
    assert torch.equal(lstm.ln_c_weight, torch.ones(H)) and torch.equal(lstm.ln_c_bias, torch.zeros(H))
    assert torch.equal(lstm.ln_hh_weight, torch.ones(4 * H)) and torch.equal(lstm.ln_ih_weight, torch.ones(4 * H))
    assert rnnzoo.LSTMCell(I, H, forget_gate=False, layer_norm=True).ln_hh_weight.shape == (3 * H,)
    gru = rnnzoo.GRUCell(I, H, layer_norm=True)
    assert [n for n, _ in gru.named_parameters()][-2:] == ["ln_ih_weight", "ln_hh_weight"]
    assert torch.equal(gru.ln_hh_weight, torch.ones(3 * H))
    assert torch.equal(rnnzoo.LSTMCell(I, H, layer_norm=True, forget_bias=1.0).bias_ih[H:2 * H], torch.ones(H))


@pytest.mark.parametrize("cls,opts", [(rnnzoo.LSTMCell, {}), (rnnzoo.LSTMCell, {"coupled": True}),
                                      (rnnzoo.GRUCell, {}), (rnnzoo.GRUCell, {"reset": "before"})])
def test_fast_path_kind_and_what_others_ask(cls, opts):
    cell, plain = cls(I, H, layer_norm=True, **opts), cls(I, H, **opts)
    assert cell.fused_kind == "rnnzoo"
    assert cell.torch_equivalent() is None
    assert not cell.fused_traceable
    blocks = [(b.name, b.parameter, b.activation) for b in cell.recurrent_blocks()]
    assert blocks == [(b.name, b.parameter, b.activation) for b in plain.recurrent_blocks()]
    assert "layer_norm=True" in repr(cell) and "layer_norm" not in repr(plain)


def test_reports_gates():
    from rnnzoo.core.probe import record

    cell = rnnzoo.LSTMCell(I, H, layer_norm=True)
    with record() as rec:
        rnnzoo.run(cell, torch.randn(B, T, I), lengths=LENGTHS)
    assert rec.names(cell) == ["i", "f", "g", "o", "tanh(LN(c))"]
    gru = rnnzoo.GRUCell(I, H, layer_norm=True)
    with record() as rec:
        rnnzoo.run(gru, torch.randn(B, T, I))
    assert rec.names(gru) == ["r", "z", "n"]


def test_create_uses_the_cells_own_option():
    """rnnzoo.create passes layer_norm to the LSTM and GRU cells (no wrapper), every variant included."""
    for name in ("lstm", "lstm1997", "peephole_lstm", "cifg_lstm", "gru"):
        cell = rnnzoo.create(name, input_size=I, hidden_size=H, layer_norm=True).layers[0].cell
        assert type(cell) in (rnnzoo.LSTMCell, rnnzoo.GRUCell) and cell.layer_norm and cell.fused_kind == "rnnzoo"


def test_layer_norm_must_be_a_bool():
    with pytest.raises(TypeError, match="layer_norm: expected True or False"):
        rnnzoo.LSTMCell(I, H, layer_norm=1)
    with pytest.raises(TypeError, match="layer_norm: expected True or False"):
        rnnzoo.GRUCell(I, H, layer_norm="yes")
