"""s_lstm against a naive implementation typed from Zhu, Sobhani & Guo 2015 (arXiv:1503.04881) eqs (1)-(7): one node
at a time, recursively, float64, with every weight matrix named as in the paper (W^L_hi, W^R_hi, W^L_ci, ...); the
level-batched run must agree on binary trees of different shapes in one batch."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells.s_lstm import SLSTM, SLSTMTreeCell
from rnnzoo.core.order import TreeLevels
from rnnzoo.core.runner import run
from rnnzoo.data.trees import batch_trees, random_tree

sig, tanh = torch.sigmoid, torch.tanh


def naive(cell: SLSTMTreeCell, x: torch.Tensor, kids: list[list[int]], t: int,
          memo: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    H = cell.hidden_size
    Wx, b, Wh, Wc, Wco = (cell.input.weight, cell.input.bias, cell.hidden.weight, cell.peephole.weight,
                          cell.peephole_out.weight)

    def rows(m: torch.Tensor, g: int) -> torch.Tensor:
        return m[g * H:(g + 1) * H]

    def left(m: torch.Tensor) -> torch.Tensor:
        return m[:, :H]

    def right(m: torch.Tensor) -> torch.Tensor:
        return m[:, H:]

    zero = torch.zeros(H, dtype=x.dtype)
    states = [memo[k] if k in memo else naive(cell, x, kids, k, memo) for k in kids[t]]
    (hL, cL), (hR, cR) = (states + [(zero, zero)] * 2)[:2]
    W_hi_L, W_hi_R, W_ci_L, W_ci_R = left(rows(Wh, 0)), right(rows(Wh, 0)), left(rows(Wc, 0)), right(rows(Wc, 0))
    W_hfl_L, W_hfl_R, W_cfl_L, W_cfl_R = left(rows(Wh, 1)), right(rows(Wh, 1)), left(rows(Wc, 1)), right(rows(Wc, 1))
    W_hfr_L, W_hfr_R, W_cfr_L, W_cfr_R = left(rows(Wh, 2)), right(rows(Wh, 2)), left(rows(Wc, 2)), right(rows(Wc, 2))
    W_hx_L, W_hx_R = left(rows(Wh, 3)), right(rows(Wh, 3))
    W_ho_L, W_ho_R = left(rows(Wh, 4)), right(rows(Wh, 4))
    xin = [rows(Wx, g) @ x[t] + rows(b, g) for g in range(5)]  # the input term of every gate (the deviation)
    i = sig(W_hi_L @ hL + W_hi_R @ hR + W_ci_L @ cL + W_ci_R @ cR + xin[0])  # (1)
    fL = sig(W_hfl_L @ hL + W_hfl_R @ hR + W_cfl_L @ cL + W_cfl_R @ cR + xin[1] + cell.forget_bias)  # (2)
    fR = sig(W_hfr_L @ hL + W_hfr_R @ hR + W_cfr_L @ cL + W_cfr_R @ cR + xin[2] + cell.forget_bias)  # (3)
    g = W_hx_L @ hL + W_hx_R @ hR + xin[3]  # (4), the paper's x_t
    c = fL * cL + fR * cR + i * tanh(g)  # (5)
    o = sig(W_ho_L @ hL + W_ho_R @ hR + Wco @ c + xin[4])  # (6)
    h = o * tanh(c)  # (7)
    memo[t] = (h, c)
    return h, c


def test_level_batched_run_equals_the_naive_per_node_recursion() -> None:
    torch.manual_seed(0)
    cell = SLSTMTreeCell(3, 4, forget_bias=0.25).double()
    gen = torch.Generator().manual_seed(2)
    trees = [random_tree(gen, n, 2, 5) for n in (1, 4, 2, 6)]
    b = batch_trees(trees, {str(i): i for i in range(1, 5)})
    x = torch.randn(*b.tokens.shape, 3, dtype=torch.float64)
    out = run(cell, x, order=TreeLevels(b.children, b.node_mask))
    for i in range(len(trees)):
        kids = [list(k) for k in trees[i].children]
        memo: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        naive(cell, x[i], kids, trees[i].root, memo)
        assert len(memo) == len(kids)
        for j, (h, c) in memo.items():
            torch.testing.assert_close(out.output[i, j], h, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(out.state.c[i, j], c, rtol=1e-12, atol=1e-12)


def test_left_and_right_forget_gates_are_separate_and_the_bias_is_added_once() -> None:
    cell = SLSTMTreeCell(1, 1, forget_bias=0.5).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.input.bias[3] = 1.0  # b_g: each leaf's c = sigmoid(0) tanh(1)
        cell.input.weight[1] = 2.0  # W_xfl: the left forget gate reads x
    x = torch.tensor([[[0.0], [0.0], [1.0]]], dtype=torch.float64)
    c = run(cell, x, order=TreeLevels(torch.tensor([[[-1, -1], [-1, -1], [0, 1]]]))).state.c[0, :, 0]
    leaf = math.tanh(1.0) / 2
    f_l, f_r = 1 / (1 + math.exp(-2.5)), 1 / (1 + math.exp(-0.5))
    torch.testing.assert_close(c[2], torch.tensor(f_l * leaf + f_r * leaf + leaf, dtype=torch.float64))


def test_peepholes_reach_both_childrens_cells() -> None:
    """Zero every h-weight: the gates still see c_L and c_R, and the left and right children are not interchangeable."""
    torch.manual_seed(5)
    cell = SLSTMTreeCell(2, 3).double()
    with torch.no_grad():
        cell.hidden.weight.zero_()
    x = torch.randn(1, 3, 2, dtype=torch.float64)
    a = run(cell, x, order=TreeLevels(torch.tensor([[[-1, -1], [-1, -1], [0, 1]]]))).output[0, 2]
    b = run(cell, x, order=TreeLevels(torch.tensor([[[-1, -1], [-1, -1], [1, 0]]]))).output[0, 2]
    assert not torch.allclose(a, b)
    with torch.no_grad():
        cell.peephole.weight.zero_()
    a0 = run(cell, x, order=TreeLevels(torch.tensor([[[-1, -1], [-1, -1], [0, 1]]]))).output[0, 2]
    assert not torch.allclose(a, a0)


def test_binary_only_and_the_model() -> None:
    with pytest.raises(ValueError, match="children"):
        three = torch.tensor([[[-1, -1, -1]] * 3 + [[0, 1, 2]]])
        run(SLSTMTreeCell(2, 3), torch.randn(1, 4, 2), order=TreeLevels(three))
    model = rnnzoo.create("s_lstm", vocab_size=6, hidden_size=4, num_classes=3)
    assert isinstance(model, SLSTM) and rnnzoo.model_info("s_lstm").paper.arxiv == "1503.04881"
    x = model.example_input(3, generator=torch.Generator().manual_seed(0))
    assert int((x.children >= 0).sum(-1).max()) <= 2
    out = model(x)
    assert out.logits.shape == (3, 3) and out.nodes.shape == (3, x.tokens.shape[1], 4)
