"""tree_lstm against a naive implementation typed from Tai, Socher & Manning 2015 (arXiv:1503.00075) eqs (2)-(14):
one node at a time, recursively from the root, float64; the level-batched run must agree on trees of different shapes
in one batch. Plus the two known bugs of other implementations (W_f omitted; the forget bias counted twice), each with
a test that fails if it is introduced, and the whole models (tree_lstm, tree_seq_lstm)."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells.lstm import LSTMState
from rnnzoo.cells.tree_lstm import ChildSumTreeLSTMCell, NaryTreeLSTMCell, TreeLSTM, TreeSequenceLSTM
from rnnzoo.core.order import Children, TreeLevels
from rnnzoo.core.runner import run
from rnnzoo.data.trees import TreeBatch, batch_trees, parse_bracketed, random_tree

sig, tanh = torch.sigmoid, torch.tanh


def forest(arity: int, seed: int = 0, count: int = 5, vocab: int = 6) -> TreeBatch:
    gen = torch.Generator().manual_seed(seed)
    trees = [random_tree(gen, leaves, arity, vocab) for leaves in (1, 2, 5, 3, 6)[:count]]
    return batch_trees(trees, {str(i): i for i in range(1, vocab)}, max_children=arity)


def tree_lists(b: TreeBatch, i: int) -> list[list[int]]:
    n = int(b.node_mask[i].sum())
    return [[int(k) for k in b.children[i, j] if k >= 0] for j in range(n)]


def naive_child_sum(cell: ChildSumTreeLSTMCell, x: torch.Tensor, kids: list[list[int]], j: int,
                    memo: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs (2)-(8) for node j, its children first (recursion)."""
    H = cell.hidden_size
    W, b, U = cell.input.weight, cell.input.bias, cell.recurrent.weight
    Wi, Wo, Wu, Wf = (W[g * H:(g + 1) * H] for g in range(4))
    bi, bo, bu, bf = (b[g * H:(g + 1) * H] for g in range(4))
    Ui, Uo, Uu, Uf = (U[g * H:(g + 1) * H] for g in range(4))
    states = [memo[k] if k in memo else naive_child_sum(cell, x, kids, k, memo) for k in kids[j]]
    h_tilde = torch.zeros(H, dtype=x.dtype)
    for h_k, _ in states:
        h_tilde = h_tilde + h_k  # (2)
    i = sig(Wi @ x[j] + Ui @ h_tilde + bi)  # (3)
    o = sig(Wo @ x[j] + Uo @ h_tilde + bo)  # (5)
    u = tanh(Wu @ x[j] + Uu @ h_tilde + bu)  # (6)
    c = i * u
    for h_k, c_k in states:
        f_jk = sig(Wf @ x[j] + Uf @ h_k + bf + cell.forget_bias)  # (4)
        c = c + f_jk * c_k  # (7)
    h = o * tanh(c)  # (8)
    memo[j] = (h, c)
    return h, c


def naive_nary(cell: NaryTreeLSTMCell, x: torch.Tensor, kids: list[list[int]], j: int,
               memo: dict[int, tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """Eqs (9)-(14) for node j; U^(g)_l = block l of gate g, U^(f)_kl = block (k, l) of the forget rows."""
    H, N = cell.hidden_size, cell.arity
    W, b, U = cell.input.weight, cell.input.bias, cell.recurrent.weight

    def block(row: int, col: int) -> torch.Tensor:
        return U[row * H:(row + 1) * H, col * H:(col + 1) * H]

    zero = torch.zeros(H, dtype=x.dtype)
    states = [memo[k] if k in memo else naive_nary(cell, x, kids, k, memo) for k in kids[j]]
    states += [(zero, zero)] * (N - len(states))
    pre = [W[g * H:(g + 1) * H] @ x[j] + b[g * H:(g + 1) * H] for g in range(4)]
    for g in range(3):  # i, o, u: sum_l U_l h_jl
        for l_, (h_l, _) in enumerate(states):
            pre[g] = pre[g] + block(g, l_) @ h_l
    i, o, u = sig(pre[0]), sig(pre[1]), tanh(pre[2])  # (9), (11), (12)
    c = i * u
    for k, (_, c_k) in enumerate(states):
        f_pre = pre[3] + cell.forget_bias
        for l_, (h_l, _) in enumerate(states):
            f_pre = f_pre + block(3 + k, l_) @ h_l  # (10): sum_l U^(f)_kl h_jl
        c = c + sig(f_pre) * c_k  # (13)
    h = o * tanh(c)  # (14)
    memo[j] = (h, c)
    return h, c


@pytest.mark.parametrize("variant", ["child_sum", "nary"])
def test_level_batched_run_equals_the_naive_per_node_recursion(variant: str) -> None:
    torch.manual_seed(0)
    arity = 3 if variant == "child_sum" else 2
    cell = (ChildSumTreeLSTMCell(3, 4, forget_bias=0.5) if variant == "child_sum"
            else NaryTreeLSTMCell(3, 4, arity=2, forget_bias=0.5)).double()
    b = forest(arity)
    x = torch.randn(*b.tokens.shape, 3, dtype=torch.float64)
    out = run(cell, x, order=TreeLevels(b.children, b.node_mask))
    naive = naive_child_sum if variant == "child_sum" else naive_nary
    assert len({int(n) for n in b.node_mask.sum(1)}) > 2, "the batch must mix tree sizes"
    for i in range(x.shape[0]):
        memo: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}
        kids = tree_lists(b, i)
        naive(cell, x[i], kids, int(b.root[i]), memo)
        assert len(memo) == len(kids)
        for j, (h, c) in memo.items():
            torch.testing.assert_close(out.output[i, j], h, rtol=1e-12, atol=1e-12)
            torch.testing.assert_close(out.state.c[i, j], c, rtol=1e-12, atol=1e-12)
        assert bool((out.output[i, len(kids):] == 0).all()), "padding nodes must output zeros"


def test_a_batch_equals_its_trees_one_by_one() -> None:
    torch.manual_seed(1)
    cell = ChildSumTreeLSTMCell(2, 3).double()
    b = forest(3, seed=4)
    x = torch.randn(*b.tokens.shape, 2, dtype=torch.float64)
    full = run(cell, x, order=TreeLevels(b.children, b.node_mask)).output
    for i in range(x.shape[0]):
        n = int(b.node_mask[i].sum())
        one = run(cell, x[i:i + 1, :n], order=TreeLevels(b.children[i:i + 1, :n])).output
        torch.testing.assert_close(full[i:i + 1, :n], one, rtol=1e-12, atol=1e-12)


def two_leaves_and_a_root(cell: ChildSumTreeLSTMCell | NaryTreeLSTMCell) -> tuple[torch.Tensor, TreeLevels]:
    """Leaves 0, 1 under root 2; every weight zero, b_u = 1: each leaf's c is sigmoid(0) tanh(1) = tanh(1) / 2."""
    H = cell.hidden_size
    with torch.no_grad():
        for p in cell.parameters():
            p.zero_()
        cell.input.bias[2 * H:3 * H] = 1.0
    return torch.zeros(1, 3, cell.input_size, dtype=torch.float64), TreeLevels(torch.tensor([[[-1, -1], [-1, -1],
                                                                                               [0, 1]]]))


@pytest.mark.parametrize("cls", [ChildSumTreeLSTMCell, NaryTreeLSTMCell])
def test_the_forget_bias_is_added_once(cls: type) -> None:
    """stanfordnlp/treelstm#6 counted the forget-gate bias twice: then the root's c would use sigmoid(2 b)."""
    cell = cls(2, 3, forget_bias=1.5).double()
    x, order = two_leaves_and_a_root(cell)
    c = run(cell, x, order=order).state.c[0]
    leaf = math.tanh(1.0) / 2
    torch.testing.assert_close(c[0], torch.full((3,), leaf, dtype=torch.float64))
    expected = leaf + 2 * (1 / (1 + math.exp(-1.5))) * leaf  # i * u + f_0 c_0 + f_1 c_1, f = sigmoid(0 + 1.5)
    torch.testing.assert_close(c[2], torch.full((3,), expected, dtype=torch.float64))
    # and one learned bias per gate: the recurrent product has none (a second b_f would be the same bug, learned)
    assert cell.recurrent.bias is None
    assert sum(p.numel() for n, p in cell.named_parameters() if "bias" in n) == 4 * cell.hidden_size


@pytest.mark.parametrize("cls", [ChildSumTreeLSTMCell, NaryTreeLSTMCell])
def test_the_forget_gates_read_the_node_input(cls: type) -> None:
    """dmlc/dgl#7848: the DGL child-sum cell has no W_f x_j. With only W_f nonzero, the root's c must depend on x."""
    cell = cls(2, 3).double()
    _, order = two_leaves_and_a_root(cell)
    with torch.no_grad():
        cell.input.weight[3 * 3:] = 1.0  # W_f only
    cs = []
    for value in (-2.0, 2.0):
        x = torch.zeros(1, 3, 2, dtype=torch.float64)
        x[0, 2] = value  # the root's input only: the leaves do not change
        cs.append(run(cell, x, order=order).state.c[0])
    torch.testing.assert_close(cs[0][:2], cs[1][:2])
    leaf = math.tanh(1.0) / 2
    for value, c in zip((-2.0, 2.0), cs, strict=True):
        f = 1 / (1 + math.exp(-2 * value))  # W_f x = (1, 1) . (v, v)
        torch.testing.assert_close(c[2], torch.full((3,), leaf + 2 * f * leaf, dtype=torch.float64))


def test_one_forget_gate_per_child() -> None:
    """Children with different h get different forget gates (a single gate from h~ would treat them alike)."""
    torch.manual_seed(3)
    cell = ChildSumTreeLSTMCell(2, 3).double()
    kids = Children(LSTMState(torch.randn(1, 2, 3, dtype=torch.float64), torch.tensor([[[1.0] * 3, [0.0] * 3]],
                                                                                             dtype=torch.float64)),
                    torch.ones(1, 2, dtype=torch.bool))
    swapped = Children(LSTMState(kids.state.h.flip(1), kids.state.c), kids.mask)
    x = torch.randn(1, 2, dtype=torch.float64)
    assert not torch.allclose(cell(x, kids)[1].c, cell(x, swapped)[1].c)


def test_bad_inputs_name_the_argument() -> None:
    cell = NaryTreeLSTMCell(2, 3, arity=2)
    with pytest.raises(ValueError, match="children"):
        run(cell, torch.randn(1, 4, 2), order=TreeLevels(torch.tensor([[[-1, -1, -1]] * 3 + [[0, 1, 2]]])))
    with pytest.raises(ValueError, match="arity"):
        NaryTreeLSTMCell(2, 3, arity=0)
    with pytest.raises(TypeError, match="forget_bias"):
        ChildSumTreeLSTMCell(2, 3, forget_bias="1")
    model = TreeLSTM(vocab_size=5, hidden_size=3)
    with pytest.raises(TypeError, match="TreeBatch"):
        model(torch.zeros(2, 3, dtype=torch.long))
    x = model.example_input(2)
    with pytest.raises(ValueError, match=r"x\.tokens.*\[0, 5\)"):
        model(x._replace(tokens=x.tokens + 5))
    with pytest.raises(ValueError, match="variant"):
        TreeLSTM(vocab_size=5, hidden_size=3, variant="binary")


def test_models_read_the_tree_and_the_sequence() -> None:
    torch.manual_seed(0)
    vocab = {w: i + 1 for i, w in enumerate("abcd")}
    x = batch_trees([parse_bracketed("(a (b c))"), parse_bracketed("((a b) (c d))")], vocab)
    for model in (TreeLSTM(vocab_size=5, hidden_size=4, num_classes=3),
                  TreeLSTM(vocab_size=5, hidden_size=4, num_classes=3, variant="nary"),
                  TreeSequenceLSTM(vocab_size=5, hidden_size=4, num_classes=3)):
        out = model(x)
        assert out.logits.shape == (2, 3) and out.root.shape == (2, 4)
    tree = TreeLSTM(vocab_size=5, hidden_size=4, num_classes=3)
    out = tree(x)
    torch.testing.assert_close(out.root, out.nodes[torch.arange(2), x.root])
    # (a (b c)) and ((a b) c) have the same tokens: the tree model tells them apart, the sequence model cannot
    y = batch_trees([parse_bracketed("(a (b c))"), parse_bracketed("((a b) c)")], vocab)
    r = tree(y).root
    assert not torch.allclose(r[0], r[1])
    seq = TreeSequenceLSTM(vocab_size=5, hidden_size=4, num_classes=3)(y).root
    torch.testing.assert_close(seq[0], seq[1])


def test_registry_entries() -> None:
    for name in ("tree_lstm", "tree_seq_lstm"):
        info = rnnzoo.model_info(name)
        assert info.kind is rnnzoo.ModelKind.MODEL and info.input_kind is rnnzoo.InputKind.TREE
        assert info.paper.arxiv == "1503.00075" and info.test_options
    assert isinstance(rnnzoo.create("tree_lstm", vocab_size=5, hidden_size=3, variant="nary").cell, NaryTreeLSTMCell)
