"""Trees as data: parse bracketed strings and ListOps expressions into node lists, batch them into padded tensors.

A :class:`Tree` lists its nodes in post-order (every child before its parent, the root last): node ``n`` has a
``token`` (a string, or None for an internal node without one) and ``children`` (indices of its children, left to
right). ``sequence`` is the surface token string the tree was read from (what a sequential model reads).

Two readers:

* :func:`parse_bracketed`: ``"(a (b c))"`` -> leaves ``a``, ``b``, ``c`` and two internal nodes without tokens
  (constituency trees as Tai et al. 2015, arXiv:1503.00075, feed them); ``labelled=True`` reads the first token after
  each ``(`` as the node's own token (``"(3 (2 a) (1 b))"``, SST's format).
* :func:`parse_listops`: ListOps (Nangia & Bowman 2018, arXiv:1804.06028) ``"[MAX 2 9 [MIN 4 7 ] 0 ]"``.
  ``form="nary"``: an operator node with its arguments as children (values are leaves); ``form="binary"``: the
  left-branching binary tree of the published generator (``lra_benchmarks/data/listops.py``:
  ``((((op, a1), a2), ...), ])``), whose leaves are the surface tokens (operator, values, ``]``) and whose internal
  nodes have no token. ``(`` and ``)`` tokens are skipped (the generator's parenthesised output reads the same).

Malformed input raises ``ValueError`` naming the character (bracketed) or token (ListOps) position.

:func:`batch_trees` pads B trees into a :class:`TreeBatch`: node tokens ``(B, N)``, children ``(B, N, K)`` (``-1`` =
none), ``node_mask`` ``(B, N)`` (True = a node), ``root`` ``(B,)`` and the surface sequence ``(B, T)`` with ``lengths``
``(B,)``; token id 0 is "no token" (internal nodes, padding).

>>> t = parse_listops("[MAX 2 9 [MIN 4 7 ] 0 ]")
>>> t.tokens
('2', '9', '4', '7', '[MIN', '0', '[MAX')
>>> t.children[-1]
(0, 1, 4, 5)
>>> parse_bracketed("(a (b c))").children
((), (), (), (1, 2), (0, 3))
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["LISTOPS_OPERATORS", "Tree", "TreeBatch", "batch_trees", "parse_bracketed", "parse_listops", "random_tree"]

LISTOPS_OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
LISTOPS_END = "]"
LISTOPS_VALUES = tuple(str(v) for v in range(10))
FORMS = ("nary", "binary")


class Tree(NamedTuple):
    """One tree, nodes in post-order (module docstring). tokens: per node, a string or None. children: per node,
    the indices of its children, left to right. sequence: the surface tokens."""

    tokens: tuple[str | None, ...]
    children: tuple[tuple[int, ...], ...]
    sequence: tuple[str, ...]

    @property
    def root(self) -> int:
        return len(self.tokens) - 1

    def parents(self) -> list[int]:
        """Each node's parent (-1 for the root)."""
        parent = [-1] * len(self.tokens)
        for n, kids in enumerate(self.children):
            for k in kids:
                parent[k] = n
        return parent

    def heights(self) -> list[int]:
        """Each node's level: 0 for a leaf, 1 + the highest child's otherwise (what a level-by-level scan visits)."""
        height: list[int] = []
        for kids in self.children:
            height.append(1 + max(height[k] for k in kids) if kids else 0)
        return height


class TreeBatch(NamedTuple):
    """B trees padded to N nodes (module docstring). Every leaf is batch first.

    tokens: int64 ``(B, N)`` node token ids (0 = none). children: int64 ``(B, N, K)`` child indices within the same
    tree, left to right, ``-1`` = none. node_mask: bool ``(B, N)``. root: int64 ``(B,)``. sequence: int64 ``(B, T)``
    surface token ids (0 = padding). lengths: int64 ``(B,)``."""

    tokens: Tensor
    children: Tensor
    node_mask: Tensor
    root: Tensor
    sequence: Tensor
    lengths: Tensor

    def to(self, device: torch.device | str) -> TreeBatch:
        """Every tensor moved to ``device`` (all are index or mask tensors: no dtype to cast)."""
        return TreeBatch(*(t.to(device) for t in self))


def _post_order(tokens: list[str | None], children: list[list[int]], root: int, sequence: list[str]) -> Tree:
    """Renumber a tree built in any order into post-order (iteratively: deep trees do not hit the recursion limit)."""
    order: list[int] = []
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        if done:
            order.append(node)
            continue
        stack.append((node, True))
        stack.extend((k, False) for k in reversed(children[node]))
    new = {old: i for i, old in enumerate(order)}
    return Tree(tuple(tokens[o] for o in order), tuple(tuple(new[k] for k in children[o]) for o in order),
                tuple(sequence))


def parse_bracketed(text: str, *, labelled: bool = False) -> Tree:
    """Read ``"(a (b c))"`` (module docstring). ``labelled``: the first token after ``(`` is the node's token.

    Raises ValueError naming the position of an unmatched bracket, an empty ``()``, a missing label or trailing text."""
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    items = [(m.group(), m.start()) for m in re.finditer(r"\(|\)|[^\s()]+", text)]
    if not items:
        raise ValueError("text: expected a tree, got an empty string")
    tokens: list[str | None] = []
    children: list[list[int]] = []
    sequence: list[str] = []
    open_nodes: list[tuple[int, int]] = []  # (node, position of its "(")
    root = -1
    for i, (item, pos) in enumerate(items):
        if root >= 0:
            raise ValueError(f"text: unexpected {item!r} at position {pos} after the end of the tree in {text!r}")
        if item == "(":
            if labelled:
                if i + 1 >= len(items) or items[i + 1][0] in "()":
                    raise ValueError(f"text: expected a label after '(' at position {pos} in {text!r}")
            tokens.append(None)
            children.append([])
            if open_nodes:
                children[open_nodes[-1][0]].append(len(tokens) - 1)
            open_nodes.append((len(tokens) - 1, pos))
        elif item == ")":
            if not open_nodes:
                raise ValueError(f"text: unmatched ')' at position {pos} in {text!r}")
            node, start = open_nodes.pop()
            if not children[node]:
                raise ValueError(f"text: a node without children, '(' at position {start} closed at {pos} in "
                                 f"{text!r}")
            if not open_nodes:
                root = node
        else:
            if labelled and i > 0 and items[i - 1][0] == "(":
                tokens[open_nodes[-1][0]] = item
                continue
            tokens.append(item)
            children.append([])
            sequence.append(item)
            if open_nodes:
                children[open_nodes[-1][0]].append(len(tokens) - 1)
            else:
                root = len(tokens) - 1
    if open_nodes:
        raise ValueError(f"text: '(' at position {open_nodes[-1][1]} is never closed in {text!r}")
    return _post_order(tokens, children, root, sequence)


def parse_listops(text: str, *, form: str = "nary") -> Tree:
    """Read a ListOps expression (module docstring); ``form`` ``"nary"`` or ``"binary"``.

    Raises ValueError naming the token position of an unknown token, a ``]`` without an operator, an operator without
    arguments or never closed, or tokens after the root."""
    if form not in FORMS:
        raise ValueError(f"form: expected one of {FORMS}, got {form!r}")
    if not isinstance(text, str):
        raise TypeError(f"text: expected a str, got {type(text).__name__}")
    words = [w for w in text.split() if w not in ("(", ")")]
    if not words:
        raise ValueError("text: expected a ListOps expression, got no tokens")
    tokens: list[str | None] = []
    children: list[list[int]] = []
    open_ops: list[tuple[int, int, list[int]]] = []  # (operator node, token position, argument nodes)
    root = -1

    def node(token: str | None, kids: list[int]) -> int:
        tokens.append(token)
        children.append(kids)
        return len(tokens) - 1

    for pos, word in enumerate(words):
        if root >= 0:
            raise ValueError(f"text: unexpected {word!r} at token {pos} after the end of the expression in {text!r}")
        if word in LISTOPS_OPERATORS:
            open_ops.append((node(word, []), pos, []))
            continue
        if word in LISTOPS_VALUES:
            done = node(word, [])
        elif word == LISTOPS_END:
            if not open_ops:
                raise ValueError(f"text: ']' at token {pos} closes no operator in {text!r}")
            op, start, args = open_ops.pop()
            if not args:
                raise ValueError(f"text: operator {words[start]!r} at token {start} has no arguments in {text!r}")
            if form == "nary":
                children[op] = args
                done = op
            else:  # ((((op, a1), a2), ...), ])
                left = op
                for a in args:
                    left = node(None, [left, a])
                done = node(None, [left, node(LISTOPS_END, [])])
        else:
            raise ValueError(f"text: unknown token {word!r} at token {pos} (expected one of "
                             f"{', '.join(LISTOPS_OPERATORS)}, ], 0-9) in {text!r}")
        if open_ops:
            open_ops[-1][2].append(done)
        else:
            root = done
    if open_ops:
        raise ValueError(f"text: operator {words[open_ops[-1][1]]!r} at token {open_ops[-1][1]} is never closed "
                         f"in {text!r}")
    return _post_order(tokens, children, root, words)


def batch_trees(trees: Sequence[Tree], vocab: Mapping[str, int], *, width: int | None = None,
                max_children: int | None = None, seq_width: int | None = None) -> TreeBatch:
    """Pad ``trees`` into a :class:`TreeBatch`.

    Args:
        trees: B trees. vocab: token -> id (ids >= 1; 0 is "no token"). width: N (default the largest tree).
        max_children: K (default the most children of any node). seq_width: T (default the longest sequence).
    """
    if not trees or not all(isinstance(t, Tree) for t in trees):
        raise ValueError("trees: expected a non-empty sequence of Tree")
    sizes = [len(t.tokens) for t in trees]
    most_kids = max(len(k) for t in trees for k in t.children)
    longest = max(len(t.sequence) for t in trees)
    for name, given, need in (("width", width, max(sizes)), ("max_children", max_children, most_kids),
                              ("seq_width", seq_width, longest)):
        if given is not None and given < need:
            raise ValueError(f"{name}: expected at least {need} (the largest tree's), got {given}")
    n, k, t_max = width or max(sizes), max(1, max_children or most_kids), seq_width or max(1, longest)

    def ids(token: str | None) -> int:
        if token is None:
            return 0
        if token not in vocab:
            raise KeyError(f"vocab: token {token!r} is not in the vocabulary")
        v = vocab[token]
        if v < 1:
            raise ValueError(f"vocab: token ids must be >= 1 (0 means no token), got {token!r} -> {v}")
        return v

    b = len(trees)
    tokens = torch.zeros(b, n, dtype=torch.long)
    children = torch.full((b, n, k), -1, dtype=torch.long)
    mask = torch.zeros(b, n, dtype=torch.bool)
    sequence = torch.zeros(b, t_max, dtype=torch.long)
    for i, tree in enumerate(trees):
        tokens[i, :len(tree.tokens)] = torch.tensor([ids(w) for w in tree.tokens])
        mask[i, :len(tree.tokens)] = True
        for j, kids in enumerate(tree.children):
            if kids:
                children[i, j, :len(kids)] = torch.tensor(kids)
        if tree.sequence:
            sequence[i, :len(tree.sequence)] = torch.tensor([ids(w) for w in tree.sequence])
    root = torch.tensor([len(t.tokens) - 1 for t in trees], dtype=torch.long)
    lengths = torch.tensor([len(t.sequence) for t in trees], dtype=torch.long)
    return TreeBatch(tokens, children, mask, root, sequence, lengths)



def random_tree(generator: torch.Generator, leaves: int, arity: int, vocab_size: int) -> Tree:
    """A random tree over ``leaves`` leaves: 2 to ``arity`` adjacent nodes merged under a new parent until one root is
    left. Leaf tokens are random ids in ``[1, vocab_size)`` written as strings; internal nodes' in ``[0, vocab_size)``,
    ``"0"`` read as no token (None). The sequence is the leaves' tokens, left to right."""
    if leaves < 1 or arity < 2 or vocab_size < 2:
        raise ValueError(f"leaves/arity/vocab_size: expected >= 1, >= 2 and >= 2, got {leaves}, {arity}, {vocab_size}")

    def draw(low: int) -> int:
        return int(torch.randint(low, vocab_size, (), generator=generator))

    tokens: list[str | None] = [str(draw(1)) for _ in range(leaves)]
    children: list[list[int]] = [[] for _ in range(leaves)]
    sequence = [str(t) for t in tokens]
    level = list(range(leaves))
    while len(level) > 1:
        size = int(torch.randint(2, min(arity, len(level)) + 1, (), generator=generator))
        start = int(torch.randint(0, len(level) - size + 1, (), generator=generator))
        token = draw(0)
        tokens.append(str(token) if token else None)
        children.append(level[start:start + size])
        level[start:start + size] = [len(tokens) - 1]
    return _post_order(tokens, children, level[0], sequence)
