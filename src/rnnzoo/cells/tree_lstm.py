r"""Tree-LSTMs (Tai, Socher & Manning 2015, "Improved Semantic Representations From Tree-Structured Long Short-Term
Memory Networks", ACL, arXiv:1503.00075, section 3): the child-sum and the N-ary Tree-LSTM, as
:class:`~rnnzoo.core.order.TreeCell`\ s run level by level (``run(cell, x, order=TreeLevels(children, node_mask))``:
all nodes of one level of every tree of the batch in one call). The seed's tree recurrence is 001 section 4.1 (its
S-LSTM, :mod:`rnnzoo.cells.s_lstm`); the equation numbers below are the paper's.

Child-sum Tree-LSTM (eqs (2)-(8)), node j with children C(j), ``u = project(x_j)`` = ``W x_j + b`` for the four
gates at once::

    h_sum = sum_k h_k                                              # (2)  h~_j
    i = sigmoid(W_i x_j + U_i h_sum + b_i)                         # (3)
    f_k = sigmoid(W_f x_j + U_f h_k + b_f + forget_bias)           # (4)  ONE forget gate per child k
    o = sigmoid(W_o x_j + U_o h_sum + b_o)                         # (5)
    g = tanh(W_u x_j + U_u h_sum + b_u)                            # (6)  the paper's u_j
    c = i * g + sum_k f_k * c_k                                    # (7)
    h = o * tanh(c)                                                # (8)

N-ary Tree-LSTM (eqs (9)-(14)), children in positions l = 1..N (a missing child's h and c are zeros)::

    i = sigmoid(W_i x_j + sum_l U_i[l] h_l + b_i)                  # (9)
    f_k = sigmoid(W_f x_j + sum_l U_f[k, l] h_l + b_f + forget_bias)  # (10) per child position k
    o = sigmoid(W_o x_j + sum_l U_o[l] h_l + b_o)                  # (11)
    g = tanh(W_u x_j + sum_l U_u[l] h_l + b_u)                     # (12)
    c = i * g + sum_l f_l * c_l                                    # (13)
    h = o * tanh(c)                                                # (14)

Parameters: ``input`` (``W`` and the one bias ``b`` of every gate, ``(4H, I)``, gate order i, o, g, f) and
``recurrent`` (the ``U``\ s, no bias: ``(4H, H)`` child-sum, ``U_i|U_o|U_g`` then ``U_f`` over ``[h_1; ...; h_N]``
``((3 + N) H, N H)`` N-ary). Two known bugs of other implementations are absent here and tested
(``tests/cells/test_tree_lstm.py``): the forget gates read the node's input through ``W_f`` (the DGL example's
child-sum cell omits it, dmlc/dgl#7848), and the forget-gate bias is counted once (the reference Lua code adds a
bias in both the input and the recurrent products, stanfordnlp/treelstm#6); ``forget_bias`` is an explicit constant
added once inside the forget gates' sigmoid (default 0, the paper's; one PyTorch implementation hard-codes +1,
jihunchoi/unsupervised-treelstm#10).

Whole models (:class:`TreeLSTM`, registry ``tree_lstm``; :class:`TreeSequenceLSTM`, ``tree_seq_lstm``, the
sequential baseline on the same batches) read a :class:`~rnnzoo.data.trees.TreeBatch`: node token ids ``(B, N)``
embedded to ``x``, children ``(B, N, K)``, node mask, root index and the surface token sequence. Output
:class:`TreeOutput`: ``logits`` ``(B, C)`` of the root (the paper's classifier, section 4.1: softmax of a linear map of
``h_root``), ``nodes`` ``(B, N, H)`` (zero at padding) and ``root`` ``(B, H)``.

Deviations: none in the cell equations. The classifier reads only the root (the paper's sentence-level setting; its
fine-grained SST setting classifies every node, which ``nodes`` allows). Inputs ``x_j`` of nodes without a token are
zeros (the embedding's padding row), as constituency Tree-LSTMs feed only the leaves.

Example:

>>> import torch
>>> from rnnzoo.core.order import TreeLevels
>>> from rnnzoo.core.runner import run
>>> cell = ChildSumTreeLSTMCell(3, 4)
>>> children = torch.tensor([[[-1, -1], [-1, -1], [0, 1]]])  # node 2 is the parent of nodes 0 and 1
>>> out = run(cell, torch.randn(1, 3, 3), order=TreeLevels(children))
>>> tuple(out.output.shape)
(1, 3, 4)
"""

from __future__ import annotations

from typing import Any, NamedTuple

import torch
from torch import Tensor, nn

from rnnzoo.cells.lstm import LSTMCell, LSTMState
from rnnzoo.core.checks import positive_int, probability, real
from rnnzoo.core.model import StructuredModel
from rnnzoo.core.order import Children, TreeCell, TreeLevels, tree_levels
from rnnzoo.core.registry import FastPath, InputKind, ModelKind, Paper, register
from rnnzoo.core.runner import run
from rnnzoo.core.spec import TensorSpec
from rnnzoo.data.trees import TreeBatch, batch_trees, random_tree

__all__ = ["ChildSumTreeLSTMCell", "NaryTreeLSTMCell", "TreeLSTM", "TreeOutput", "TreeSequenceLSTM", "check_trees"]

TAI = Paper("Tai, Socher & Manning", 2015, "Improved semantic representations from tree-structured long short-term "
            "memory networks", "1503.00075")
VARIANTS = ("child_sum", "nary")


class TreeOutput(NamedTuple):
    """logits: ``(B, C)`` from the root. nodes: ``(B, N, H)`` every node's h (zero at padding). root: ``(B, H)``."""

    logits: Tensor
    nodes: Tensor
    root: Tensor


class _TreeLSTMBase(TreeCell):
    def __init__(self, input_size: int, hidden_size: int, recurrent_in: int, recurrent_out: int,
                 forget_bias: float) -> None:
        super().__init__()
        self.input_size = positive_int("input_size", input_size)
        self.hidden_size = self.output_size = positive_int("hidden_size", hidden_size)
        self.forget_bias = real("forget_bias", forget_bias)
        self.input = nn.Linear(input_size, 4 * hidden_size)  # W_i|W_o|W_u|W_f and b: the one bias of each gate
        self.recurrent = nn.Linear(recurrent_in, recurrent_out, bias=False)  # the U's: no second bias

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> LSTMState:
        spec = TensorSpec((batch_size, self.hidden_size))
        return LSTMState(spec, spec)

    def project(self, x: Tensor) -> Tensor:
        """``(..., I) -> (..., 4H)``: ``W x + b`` of the gates i, o, g, f."""
        return self.input(x)

    def _finish(self, u: Tensor, iog: Tensor, f_pre: Tensor, c_k: Tensor, mask: Tensor) -> tuple[Tensor, LSTMState]:
        """Eqs (7)-(8) / (13)-(14) from the pre-activations: ``iog`` ``(M, 3H)`` recurrent part of i, o, g;
        ``f_pre`` ``(M, K, H)`` recurrent part of each child's forget gate."""
        H = self.hidden_size
        pre = u[:, :3 * H] + iog
        i, o, g = torch.sigmoid(pre[:, :H]), torch.sigmoid(pre[:, H:2 * H]), torch.tanh(pre[:, 2 * H:])
        f = torch.sigmoid(u[:, None, 3 * H:] + f_pre + self.forget_bias)  # (M, K, H): W_f x_j reaches every f_k
        f = f * mask[..., None].to(f.dtype)
        self.report("i", i)
        self.report("f", f)
        self.report("o", o)
        c = i * g + (f * c_k).sum(1)
        h = o * torch.tanh(c)
        return h, LSTMState(h, c)


class ChildSumTreeLSTMCell(_TreeLSTMBase):
    """Child-sum Tree-LSTM (Tai et al. 2015, arXiv:1503.00075, eqs (2)-(8); module docstring), any number of children.

    Args: input_size: I. hidden_size: H. forget_bias: a constant added once to the forget gates' pre-activation (0).
    State :class:`~rnnzoo.cells.lstm.LSTMState` ``(h (B, H), c (B, H))`` per node; output h.
    """

    def __init__(self, input_size: int, hidden_size: int, *, forget_bias: float = 0.0) -> None:
        super().__init__(input_size, hidden_size, hidden_size, 4 * hidden_size, forget_bias)

    def step(self, u_t: Tensor, children: Children) -> tuple[Tensor, LSTMState]:
        mask = children.mask
        h_k, c_k = children.state.h, children.state.c  # (M, K, H), zeros where no child
        H = self.hidden_size
        U_iog, U_f = self.recurrent.weight[:3 * H], self.recurrent.weight[3 * H:]
        h_sum = (h_k * mask[..., None].to(h_k.dtype)).sum(1)  # eq (2)
        return self._finish(u_t, h_sum @ U_iog.t(), h_k @ U_f.t(), c_k, mask)


class NaryTreeLSTMCell(_TreeLSTMBase):
    """N-ary Tree-LSTM (Tai et al. 2015, arXiv:1503.00075, eqs (9)-(14); module docstring): at most ``arity``
    children per node, in positions (a child's position is its column in ``children``).

    Args: input_size: I. hidden_size: H. arity: N (2, the binary Tree-LSTM). forget_bias: as the child-sum cell's.
    """

    def __init__(self, input_size: int, hidden_size: int, *, arity: int = 2, forget_bias: float = 0.0) -> None:
        self.arity = positive_int("arity", arity)
        super().__init__(input_size, hidden_size, arity * hidden_size, (3 + arity) * hidden_size, forget_bias)
        self.max_children = arity  # the runner refuses a node with more

    def step(self, u_t: Tensor, children: Children) -> tuple[Tensor, LSTMState]:
        mask, h_k, c_k = children.mask, children.state.h, children.state.c
        M, K, H = h_k.shape
        N = self.arity
        if K > N:
            if bool(mask[:, N:].any()):
                raise ValueError(f"children: the {N}-ary Tree-LSTM takes at most {N} children per node, got a node "
                                 f"with {int(mask.sum(1).max())}")
            mask, h_k, c_k = mask[:, :N], h_k[:, :N], c_k[:, :N]
        elif K < N:
            pad = (0, 0, 0, N - K)
            mask = nn.functional.pad(mask, (0, N - K))
            h_k, c_k = nn.functional.pad(h_k, pad), nn.functional.pad(c_k, pad)
        h_cat = (h_k * mask[..., None].to(h_k.dtype)).reshape(M, N * H)  # [h_1; ...; h_N]
        rec = self.recurrent(h_cat)  # (M, (3 + N) H): sum_l U[l] h_l for i, o, g, then U_f[k, :] for each k
        return self._finish(u_t, rec[:, :3 * H], rec[:, 3 * H:].reshape(M, N, H), c_k, mask)


# ------------------------------------------------------------------------------------------ whole models


def check_trees(x: Any, vocab_size: int) -> TreeBatch:
    """Raise, naming the field, unless ``x`` is a consistent :class:`~rnnzoo.data.trees.TreeBatch`; return it."""
    if not isinstance(x, TreeBatch):
        raise TypeError(f"x: expected a TreeBatch (rnnzoo.data.trees.batch_trees builds one), got {type(x).__name__}")
    B = x.tokens.shape[0] if isinstance(x.tokens, Tensor) and x.tokens.dim() == 2 else None
    for field, t, dtype, rank in (("tokens", x.tokens, torch.long, 2), ("children", x.children, torch.long, 3),
                                  ("node_mask", x.node_mask, torch.bool, 2), ("root", x.root, torch.long, 1),
                                  ("sequence", x.sequence, torch.long, 2), ("lengths", x.lengths, torch.long, 1)):
        if not isinstance(t, Tensor) or t.dtype != dtype or t.dim() != rank or t.shape[0] != B:
            got = f"{t.dtype} {tuple(t.shape)}" if isinstance(t, Tensor) else type(t).__name__
            raise ValueError(f"x.{field}: expected {dtype} of rank {rank} with batch {B} (tokens'), got {got}")
    N = x.tokens.shape[1]
    if x.children.shape[1] != N or x.node_mask.shape[1] != N:
        raise ValueError(f"x.children/x.node_mask: expected {N} nodes (tokens'), got {tuple(x.children.shape)} and "
                         f"{tuple(x.node_mask.shape)}")
    for field, t in (("tokens", x.tokens), ("sequence", x.sequence)):
        if t.numel() and (int(t.min()) < 0 or int(t.max()) >= vocab_size):
            raise ValueError(f"x.{field}: expected ids in [0, {vocab_size}), got [{int(t.min())}, {int(t.max())}]")
    at_root = x.node_mask.gather(1, x.root.clamp(0, N - 1)[:, None])
    if bool(((x.root < 0) | (x.root >= N)).any()) or not bool(at_root.all()):
        raise ValueError(f"x.root: expected the index of an existing node of each tree, got {x.root.tolist()}")
    if bool(((x.lengths < 1) | (x.lengths > x.sequence.shape[1])).any()):
        raise ValueError(f"x.lengths: expected lengths in [1, {x.sequence.shape[1]}], got {x.lengths.tolist()}")
    return x


class _TreeModel(StructuredModel):
    """What the tree models share: sizes, the embedding, the classifier, input checks, random example trees."""

    arity: int | None = None  # the most children a node may have (None: any)

    def __init__(self, vocab_size: int, hidden_size: int, embedding_size: int | None, num_classes: int,
                 dropout: float) -> None:
        super().__init__()
        self.vocab_size = positive_int("vocab_size", vocab_size)
        if vocab_size < 2:
            raise ValueError(f"vocab_size: expected at least 2 (id 0 is 'no token'), got {vocab_size}")
        self.hidden_size = positive_int("hidden_size", hidden_size)
        self.num_classes = positive_int("num_classes", num_classes)
        self.embedding_size = hidden_size if embedding_size is None else positive_int("embedding_size",
                                                                                    embedding_size)
        self.embedding = nn.Embedding(vocab_size, self.embedding_size, padding_idx=0)
        self.dropout = nn.Dropout(probability("dropout", dropout))
        self.classifier = nn.Linear(hidden_size, num_classes)

    def run_tree(self, cell: TreeCell, x: TreeBatch) -> TreeOutput:
        """Embed the node tokens, run ``cell`` level by level, classify the root.

        The run covers the nodes up to the batch's last existing one (a batch drawn from a padded training set is
        often much narrower than its width N); ``nodes`` is padded back to N with zeros."""
        width = x.tokens.shape[1]
        used = int(x.node_mask.any(0).nonzero().max()) + 1
        emb = self.dropout(self.embedding(x.tokens[:, :used]))
        nodes = run(cell, emb, order=TreeLevels(x.children[:, :used], x.node_mask[:, :used])).output  # (B, n, H)
        root = nodes[torch.arange(nodes.shape[0], device=nodes.device), x.root]
        nodes = nn.functional.pad(nodes, (0, 0, 0, width - used))
        return TreeOutput(self.classifier(self.dropout(root)), nodes, root)

    # cpu: example data drawn from a seeded CPU generator (the same draw on every device)
    def example_input(self, batch_size: int, *, generator: torch.Generator | None = None) -> TreeBatch:
        """``batch_size`` random trees of 1-5 leaves (at most ``arity`` children a node, else 3), width 9 nodes."""
        gen = generator if generator is not None else torch.Generator().manual_seed(0)
        trees = [random_tree(gen, int(torch.randint(1, 6, (), generator=gen)), self.arity or 3,
                             self.vocab_size) for _ in range(batch_size)]
        vocab = {str(i): i for i in range(1, self.vocab_size)}
        return batch_trees(trees, vocab, width=9, max_children=self.arity or 3, seq_width=5).to(self.device)

    def work(self, x: TreeBatch) -> dict[str, int]:
        """Nodes computed and runner steps (the batch's levels)."""
        x = check_trees(x, self.vocab_size)
        return {"nodes": int(x.node_mask.sum()), "steps": int(tree_levels(x.children, x.node_mask).max()) + 1}


class TreeLSTM(_TreeModel):
    """Tree-LSTM classifier (Tai et al. 2015, arXiv:1503.00075; module docstring): embeddings, a child-sum or N-ary
    Tree-LSTM over the tree, a linear classifier of the root's h.

    Args (keyword-only): vocab_size: V (id 0 = no token). hidden_size: H. embedding_size: E (default H).
    num_classes: C. variant: ``"child_sum"`` or ``"nary"``. arity: N of the N-ary cell (2). forget_bias: constant
    added once to the forget gates (0). dropout: on the embeddings and the root.
    """

    def __init__(self, *, vocab_size: int, hidden_size: int, num_classes: int = 10, embedding_size: int | None = None,
                 variant: str = "child_sum", arity: int = 2, forget_bias: float = 0.0, dropout: float = 0.0) -> None:
        super().__init__(vocab_size, hidden_size, embedding_size, num_classes, dropout)
        if variant not in VARIANTS:
            raise ValueError(f"variant: expected one of {VARIANTS}, got {variant!r}")
        self.variant = variant
        if variant == "nary":
            self.arity = positive_int("arity", arity)
            self.cell: TreeCell = NaryTreeLSTMCell(self.embedding_size, hidden_size, arity=arity,
                                                   forget_bias=forget_bias)
        else:
            self.cell = ChildSumTreeLSTMCell(self.embedding_size, hidden_size, forget_bias=forget_bias)

    def forward(self, x: TreeBatch) -> TreeOutput:
        return self.run_tree(self.cell, check_trees(x, self.vocab_size))


class TreeSequenceLSTM(_TreeModel):
    """The sequential baseline on tree batches (Tai et al. 2015, arXiv:1503.00075, section 4: their LSTM rows): an
    LSTM (001 eqs (16)-(20)) over the surface token sequence ``x.sequence`` (the tree is ignored), a linear classifier
    of its last valid h. ``nodes`` of its :class:`TreeOutput` are the per-token outputs ``(B, T, H)``.

    Args (keyword-only): vocab_size, hidden_size, num_classes, embedding_size, dropout: as :class:`TreeLSTM`.
    """

    def __init__(self, *, vocab_size: int, hidden_size: int, num_classes: int = 10, embedding_size: int | None = None,
                 dropout: float = 0.0) -> None:
        super().__init__(vocab_size, hidden_size, embedding_size, num_classes, dropout)
        self.lstm = LSTMCell(self.embedding_size, hidden_size)

    def forward(self, x: TreeBatch) -> TreeOutput:
        x = check_trees(x, self.vocab_size)
        out = run(self.lstm, self.dropout(self.embedding(x.sequence)), lengths=x.lengths.cpu())
        root = out.state.h  # the last valid step's h
        return TreeOutput(self.classifier(self.dropout(root)), out.output, root)

    def work(self, x: TreeBatch) -> dict[str, int]:
        """Tokens read and runner steps (the longest sequence)."""
        x = check_trees(x, self.vocab_size)
        return {"tokens": int(x.lengths.sum()), "steps": int(x.lengths.max())}


_COMMON = dict(kind=ModelKind.MODEL, input_kind=InputKind.TREE, causal=False, chunkable=False, bidirectional_ok=False,
               unbatched=False, gated=True, fast_path=FastPath.NONE)
register("tree_lstm", paper=TAI, seed_equations="001 section 4.1 (tree recurrences); Tai et al. eqs (2)-(14)",
         description="Child-sum or N-ary Tree-LSTM, one forget gate per child, run level by level over batched trees",
         test_options={"vocab_size": 7, "hidden_size": 5, "num_classes": 3}, **_COMMON)(TreeLSTM)
register("tree_seq_lstm", paper=TAI, seed_equations="001 eqs (16)-(20) (the LSTM over the token sequence)",
         description="Sequential baseline on tree tasks: an LSTM over the surface tokens, the tree ignored",
         test_options={"vocab_size": 7, "hidden_size": 5, "num_classes": 3}, **_COMMON)(TreeSequenceLSTM)
