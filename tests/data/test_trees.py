"""rnnzoo.data.trees: bracketed and ListOps parsing (post-order, errors naming the position), batching into tensors."""

from __future__ import annotations

import pytest
import torch

from rnnzoo.data.trees import Tree, batch_trees, parse_bracketed, parse_listops, random_tree


def is_post_order(t: Tree) -> bool:
    parents = t.parents()
    ordered = all(k < n for n, kids in enumerate(t.children) for k in kids)
    return parents.count(-1) == 1 and parents[-1] == -1 and ordered


def test_bracketed_trees() -> None:
    t = parse_bracketed("(a (b c))")
    assert t.tokens == ("a", "b", "c", None, None) and t.children == ((), (), (), (1, 2), (0, 3))
    assert t.sequence == ("a", "b", "c") and t.heights() == [0, 0, 0, 1, 2] and is_post_order(t)
    assert parse_bracketed("word") == Tree(("word",), ((),), ("word",))
    s = parse_bracketed("(3 (2 good) (1 (0 not) bad))", labelled=True)
    assert s.tokens == ("good", "2", "not", "0", "bad", "1", "3") and s.sequence == ("good", "not", "bad")
    assert s.children[-1] == (1, 5) and is_post_order(s)


@pytest.mark.parametrize(("text", "message"), [
    ("(a b))", "unexpected '\\)' at position 5"),
    (") a", "unmatched '\\)' at position 0"),
    ("((a b)", "'\\(' at position 0 is never closed"),
    ("(a ())", "without children, '\\(' at position 3"),
    ("(a b) c", "unexpected 'c' at position 6"),
    ("", "empty"),
])
def test_malformed_bracketed_strings_name_the_position(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_bracketed(text)


def test_a_label_is_required_when_labelled() -> None:
    with pytest.raises(ValueError, match="label after '\\(' at position 0"):
        parse_bracketed("((1 a) (2 b))", labelled=True)


def test_listops_nary_and_binary_forms() -> None:
    text = "[MAX 2 9 [MIN 4 7 ] 0 ]"
    n = parse_listops(text)
    assert n.tokens == ("2", "9", "4", "7", "[MIN", "0", "[MAX") and n.children[-1] == (0, 1, 4, 5)
    assert n.sequence == tuple(text.split()) and is_post_order(n)
    b = parse_listops(text, form="binary")
    assert is_post_order(b) and all(len(k) in (0, 2) for k in b.children)
    leaves = [tok for tok, kids in zip(b.tokens, b.children, strict=True) if not kids]
    assert tuple(leaves) == b.sequence == tuple(text.split())  # the leaves, left to right, are the tokens
    assert all(tok is None for tok, kids in zip(b.tokens, b.children, strict=True) if kids)
    # the generator's bracketing: ((((MAX 2) 9) (((MIN 4) 7) ])) 0) ]
    assert parse_listops("( ( ( [SM 1 ) 2 ) ] )", form="binary") == parse_listops("[SM 1 2 ]", form="binary")
    assert len(parse_listops("[SM 1 2 ]", form="binary").tokens) == 7  # 4 leaves, 3 internal nodes


@pytest.mark.parametrize(("text", "message"), [
    ("[MAX 2 ] ]", "unexpected '\\]' at token 3"),
    ("[MAX ]", "'\\[MAX' at token 0 has no arguments"),
    ("[MAX 2 [MIN 3 ]", "'\\[MAX' at token 0 is never closed"),
    ("[MAX 2 12 ]", "unknown token '12' at token 2"),
    ("] 3", "']' at token 0 closes no operator"),
])
def test_malformed_listops_name_the_token(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_listops(text)
    with pytest.raises(ValueError, match="form"):
        parse_listops("1", form="ternary")


def test_batch_trees_pads_and_indexes() -> None:
    vocab = {w: i + 1 for i, w in enumerate("abc")}
    trees = [parse_bracketed("(a (b c))"), parse_bracketed("b")]
    x = batch_trees(trees, vocab, width=6)
    assert x.tokens.tolist() == [[1, 2, 3, 0, 0, 0], [2, 0, 0, 0, 0, 0]]
    assert x.node_mask.tolist() == [[True] * 5 + [False], [True] + [False] * 5]
    assert x.children.shape == (2, 6, 2) and x.children[0, 4].tolist() == [0, 3] and x.children[1].max() == -1
    assert x.root.tolist() == [4, 0] and x.lengths.tolist() == [3, 1]
    assert x.sequence.tolist() == [[1, 2, 3], [2, 0, 0]]
    with pytest.raises(ValueError, match="width: expected at least 5"):
        batch_trees(trees, vocab, width=4)
    with pytest.raises(KeyError, match="'d'"):
        batch_trees([parse_bracketed("(a d)")], vocab)


def test_random_trees_are_trees_of_bounded_arity() -> None:
    gen = torch.Generator().manual_seed(0)
    for leaves in range(1, 8):
        t = random_tree(gen, leaves, 3, 5)
        assert is_post_order(t) and len(t.sequence) == leaves
        assert all(len(k) <= 3 and len(k) != 1 for k in t.children)
