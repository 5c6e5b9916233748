"""The bistable group against torchrecurrent 0.2.5 (BR, NBR, CFN, RAN, STAR, LiGRU, LightRU, IntersectionRNN): the
rnnzoo cell's weights copied into torchrecurrent's layer, both run in float64 on the same input, outputs and final
states compared.

The mapping, per cell (torchrecurrent keeps two biases, ``bias_ih`` and ``bias_hh``, that only ever appear summed:
rnnzoo's one bias goes to ``bias_ih``, ``bias_hh`` is zero):

* br / nbr: ``weight_ih`` = ``[U_a; U_c; U_x]`` (same order), ``weight_hh`` = ``[w_a; w_c]`` (vectors, br) or
  ``[W_a; W_c]`` (nbr), ``bias_ih`` = ``[b_a; b_c; b_x]``;
* cfn: ``weight_ih`` = ``[V_theta; V_eta; W]``, ``weight_hh`` = ``[U_theta; U_eta]``, ``bias_ih`` =
  ``[b_theta; b_eta; b_x]``;
* ran: ``weight_ih`` = ``[W_cx; W_ix; W_fx]``, ``weight_hh`` = ``[W_ih; W_fh]``, ``bias_ih`` = ``[b_i; b_f]``;
  state ``(h, c)``;
* star: ``weight_ih`` = ``[W_z; W_x]``, ``weight_hh`` = ``W_h``, ``bias_ih`` = ``[b_z; b_k]``;
* ligru: ``weight_ih`` = ``[W_z; W_h]``, ``weight_hh`` = ``[U_z; U_h]``, ``bias_ih`` = ``bias``;
* lightru: ``weight_ih`` = ``[W_h; W_f]``, ``weight_hh`` = ``U_f``, ``bias_ih`` = ``[b_x; b_f]``;
* intersection_rnn (I == H): ``weight_ih``, ``weight_hh``, ``bias_ih`` in the same ``[y; h; gy; gh]`` order;
  torchrecurrent's output is ``y``, its state ``h``.

``b_x`` is a bias on the candidate that torchrecurrent's BR, NBR, CFN and LightRU have and their papers do not
(each paper's candidate is ``tanh(U_x x_t + ...)`` or ``tanh(W x_t)``, no bias). With ``b_x = 0`` every cell agrees
to 1e-12; with ``b_x != 0`` torchrecurrent equals a naive loop of ITS formula (typed below) and differs from rnnzoo,
which keeps the paper's. docs/torchrecurrent_bistable.md tabulates the differences.
"""

from __future__ import annotations

import pytest
import torch

import rnnzoo

tr = pytest.importorskip("torchrecurrent", reason="torchrecurrent (the test extra) is not installed")

B, T, H = 3, 7, 4
TR_NAME = {"br": "BR", "nbr": "NBR", "cfn": "CFN", "ran": "RAN", "star": "STAR", "ligru": "LiGRU",
           "lightru": "LightRU", "intersection_rnn": "IntersectionRNN"}
CANDIDATE_BIAS = {"br": 2, "nbr": 2, "cfn": 2, "lightru": 0}  # which H-block of torchrecurrent's bias_ih it is


def _pair(name: str, seed: int = 0):
    """An rnnzoo cell (parameters moved off their initial values) and torchrecurrent's layer holding its weights."""
    torch.manual_seed(seed)
    I = H if name == "intersection_rnn" else 3
    cell = rnnzoo.model_info(name).build(I, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    layer = getattr(tr, TR_NAME[name])(I, H).double()
    peer = layer.cells[0]
    with torch.no_grad():
        peer.weight_ih.copy_(cell.weight_ih)
        peer.weight_hh.copy_(cell.weight_hh)
        b = cell.bias.detach()
        if name in CANDIDATE_BIAS:
            parts = list(b.chunk(b.numel() // H))
            parts.insert(CANDIDATE_BIAS[name], b.new_zeros(H))
            b = torch.cat(parts)
        peer.bias_ih.copy_(b)
        peer.bias_hh.zero_()
    return cell, layer, I


def _run_both(name: str, cell, layer, x):
    """(rnnzoo output, rnnzoo final recurrent state(s), torchrecurrent output, its final state(s)), batch-major."""
    h0 = torch.randn(B, H, dtype=torch.float64)
    spec = cell.state_spec(B)
    fields = {f: (h0 if f == "h" else torch.randn(B, H, dtype=torch.float64)) for f in spec._fields}
    res = rnnzoo.run(cell, x, type(spec)(**fields))
    if name == "ran":
        out, (h, c) = layer(x.transpose(0, 1), (h0[None], fields["c"][None]))
        return res.output, (res.state.h, res.state.c), out.transpose(0, 1), (h[0], c[0])
    out, h = layer(x.transpose(0, 1), h0[None])
    return res.output, (res.state.h,), out.transpose(0, 1), (h[0],)


@pytest.mark.parametrize("name", list(TR_NAME))
def test_rnnzoo_equals_torchrecurrent_with_the_weights_mapped(name):
    cell, layer, I = _pair(name)
    x = torch.randn(B, T, I, dtype=torch.float64)
    out, state, tr_out, tr_state = _run_both(name, cell, layer, x)
    torch.testing.assert_close(out, tr_out, rtol=0, atol=1e-12)
    for a, b in zip(state, tr_state, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=1e-12)


def _sig(v):
    return torch.sigmoid(v)


def _tr_formula(name, peer, x, h0):
    """torchrecurrent's formula for the four cells with a candidate bias, typed from its source, per step."""
    Wi, Wh, bi = peer.weight_ih.detach(), peer.weight_hh.detach(), peer.bias_ih.detach()
    h, outs = h0, []
    for t in range(x.shape[1]):
        u = x[:, t] @ Wi.t() + bi
        if name in ("br", "nbr"):
            ua, uc, ux = u.chunk(3, -1)
            wa, wc = Wh.chunk(2)
            ra, rc = (wa * h, wc * h) if name == "br" else (h @ wa.t(), h @ wc.t())
            a, c = 1 + torch.tanh(ua + ra), _sig(uc + rc)
            h = c * h + (1 - c) * torch.tanh(ux + a * h)  # ux includes torchrecurrent's b_x
        elif name == "cfn":
            ut, ue, ux = u.chunk(3, -1)
            rt, re = (h @ Wh.t()).chunk(2, -1)
            h = _sig(ut + rt) * torch.tanh(h) + _sig(ue + re) * torch.tanh(ux)  # tanh(W x + b_x)
        else:  # lightru
            ux, uf = u.chunk(2, -1)
            f = _sig(uf + h @ Wh.t())
            h = (1 - f) * h + f * torch.tanh(ux)  # tanh(W_h x + b_x)
        outs.append(h)
    return torch.stack(outs, 1), h


@pytest.mark.parametrize("name", list(CANDIDATE_BIAS))
def test_torchrecurrent_adds_a_candidate_bias_the_paper_does_not_have(name):
    cell, layer, I = _pair(name, seed=1)
    peer = layer.cells[0]
    with torch.no_grad():
        peer.bias_ih[CANDIDATE_BIAS[name] * H:(CANDIDATE_BIAS[name] + 1) * H] = torch.randn(H, dtype=torch.float64)
    x = torch.randn(B, T, I, dtype=torch.float64)
    h0 = torch.randn(B, H, dtype=torch.float64)
    tr_out, tr_h = layer(x.transpose(0, 1), h0[None])
    want_out, want_h = _tr_formula(name, peer, x, h0)
    torch.testing.assert_close(tr_out.transpose(0, 1), want_out, rtol=0, atol=1e-12)  # torchrecurrent: its formula
    torch.testing.assert_close(tr_h[0], want_h, rtol=0, atol=1e-12)
    ours = rnnzoo.run(cell, x, type(cell.state_spec(B))(h0)).output
    assert float((ours - tr_out.transpose(0, 1)).detach().abs().max()) > 1e-3  # rnnzoo: the paper's, without b_x


def test_ligru_batch_norm_is_what_torchrecurrent_leaves_out():
    # the paper's Li-GRU normalises W x (batch norm); torchrecurrent's has no normalisation: it equals rnnzoo's
    # batch_norm=False (above), and rnnzoo's batch_norm=True (the paper's cell) differs from it
    cell, layer, I = _pair("ligru", seed=2)
    bn = rnnzoo.model_info("ligru").build(I, H, batch_norm=True).double()
    with torch.no_grad():
        bn.weight_ih.copy_(cell.weight_ih)
        bn.weight_hh.copy_(cell.weight_hh)
        layer.cells[0].bias_ih.zero_()
    x = torch.randn(B, T, I, dtype=torch.float64) * 2 + 1
    tr_out, _ = layer(x.transpose(0, 1))
    assert float((rnnzoo.run(bn, x).output - tr_out.transpose(0, 1)).detach().abs().max()) > 1e-2


def test_torchrecurrent_intersection_rnn_needs_equal_sizes_rnnzoo_projects_the_carry():
    with pytest.raises(ValueError, match="input_size == hidden_size"):
        tr.IntersectionRNN(3, H)
    assert rnnzoo.model_info("intersection_rnn").build(3, H).weight_carry.shape == (H, 3)
