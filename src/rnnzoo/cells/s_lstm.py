r"""S-LSTM: long short-term memory over recursive structures (Zhu, Sobhani & Guo 2015, ICML, arXiv:1503.04881;
seed 001 section 4.1), a binary tree recurrence with separate left and right forget gates and peephole connections
to both children's memory cells, as a :class:`~rnnzoo.core.order.TreeCell` run level by level
(``run(cell, x, order=TreeLevels(children, node_mask))``). Not xLSTM's sLSTM (:mod:`rnnzoo.cells.slstm`).

A node t with left child L and right child R (states ``(h_L, c_L)``, ``(h_R, c_R)``; zeros for a missing child),
``u = project(x_t)`` = ``W_x x_t + b`` for the five pre-activations at once (the paper's equations (1)-(7), written with
the code's names; ``Wh*`` act on ``[h_L; h_R]``, ``Wc*`` on ``[c_L; c_R]``, both full matrices)::

    i   = sigmoid(W_xi x + Wh_i [h_L; h_R] + Wc_i [c_L; c_R] + b_i)                    # (1) input gate
    f_L = sigmoid(W_xfl x + Wh_fl [h_L; h_R] + Wc_fl [c_L; c_R] + b_fl + forget_bias)  # (2) left forget gate
    f_R = sigmoid(W_xfr x + Wh_fr [h_L; h_R] + Wc_fr [c_L; c_R] + b_fr + forget_bias)  # (3) right forget gate
    g   = W_xg x + Wh_g [h_L; h_R] + b_g                                              # (4) the paper's x_t
    c   = f_L * c_L + f_R * c_R + i * tanh(g)                                         # (5)
    o   = sigmoid(W_xo x + Wh_o [h_L; h_R] + W_co c + b_o)                            # (6) peephole to the new c
    h   = o * tanh(c)                                                                 # (7)

Parameters: ``input`` (``W_x*`` and ``b``, ``(5H, I)``, order i, f_L, f_R, g, o), ``hidden`` (``Wh*``, ``(5H, 2H)``,
no bias), ``peephole`` (``Wc_i|Wc_fl|Wc_fr``, ``(3H, 2H)``, no bias), ``peephole_out`` (``W_co``, ``(H, H)``, no
bias). The children's positions are the columns of ``children`` (0 = left, 1 = right).

Deviations: the paper's memory blocks read no input at internal nodes (the leaves hold the words); here every gate
also reads the node's input ``x_t`` (``W_x*``, zero for nodes without a token), so leaves (no children) compute
``c = i * tanh(W_xg x + b_g)`` from their word, and a task whose internal nodes carry tokens (ListOps operators in the
n-ary form) can use them. ``forget_bias`` (default 0) is an explicit constant added once. The peephole matrices are
full, as the paper writes them (its W_c*); [m] the equation numbering was not re-checked against the PDF here.

Example:

>>> import torch
>>> from rnnzoo.core.order import TreeLevels
>>> from rnnzoo.core.runner import run
>>> cell = SLSTMTreeCell(3, 4)
>>> children = torch.tensor([[[-1, -1], [-1, -1], [0, 1]]])
>>> tuple(run(cell, torch.randn(1, 3, 3), order=TreeLevels(children)).output.shape)
(1, 3, 4)
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn

from rnnzoo.cells.lstm import LSTMState
from rnnzoo.cells.tree_lstm import _COMMON, TreeOutput, _TreeModel, check_trees
from rnnzoo.core.checks import positive_int, real
from rnnzoo.core.order import Children, TreeCell
from rnnzoo.core.registry import Paper, register
from rnnzoo.core.spec import TensorSpec
from rnnzoo.data.trees import TreeBatch

__all__ = ["SLSTM", "SLSTMTreeCell"]

ZHU = Paper("Zhu, Sobhani & Guo", 2015, "Long short-term memory over recursive structures", "1503.04881")


class SLSTMTreeCell(TreeCell):
    """The S-LSTM memory block (Zhu et al. 2015, arXiv:1503.04881, eqs (1)-(7); module docstring), binary.

    Args: input_size: I. hidden_size: H. forget_bias: a constant added once to f_L and f_R (0).
    State :class:`~rnnzoo.cells.lstm.LSTMState` ``(h (B, H), c (B, H))`` per node; output h.
    """

    arity = 2
    max_children = 2  # the runner refuses a node with more

    def __init__(self, input_size: int, hidden_size: int, *, forget_bias: float = 0.0) -> None:
        super().__init__()
        self.input_size = positive_int("input_size", input_size)
        self.hidden_size = self.output_size = H = positive_int("hidden_size", hidden_size)
        self.forget_bias = real("forget_bias", forget_bias)
        self.input = nn.Linear(input_size, 5 * H)  # W_x* and b: i, f_L, f_R, g, o
        self.hidden = nn.Linear(2 * H, 5 * H, bias=False)  # Wh_* on [h_L; h_R]
        self.peephole = nn.Linear(2 * H, 3 * H, bias=False)  # Wc_i, Wc_fl, Wc_fr on [c_L; c_R]
        self.peephole_out = nn.Linear(H, H, bias=False)  # W_co on the new c

    def state_spec(self, batch_size: int, *, input_shape: Any = None) -> LSTMState:
        spec = TensorSpec((batch_size, self.hidden_size))
        return LSTMState(spec, spec)

    def project(self, x: Tensor) -> Tensor:
        """``(..., I) -> (..., 5H)``: ``W_x x + b`` of i, f_L, f_R, g, o."""
        return self.input(x)

    def step(self, u_t: Tensor, children: Children) -> tuple[Tensor, LSTMState]:
        mask, h_k, c_k = children.mask, children.state.h, children.state.c  # (M, K), (M, K, H)
        M, K, H = h_k.shape
        if K > 2:
            if bool(mask[:, 2:].any()):
                raise ValueError(f"children: the S-LSTM is binary (at most 2 children per node), got a node with "
                                 f"{int(mask.sum(1).max())}")
            mask, h_k, c_k = mask[:, :2], h_k[:, :2], c_k[:, :2]
        elif K < 2:
            mask = nn.functional.pad(mask, (0, 2 - K))
            h_k, c_k = nn.functional.pad(h_k, (0, 0, 0, 2 - K)), nn.functional.pad(c_k, (0, 0, 0, 2 - K))
        keep = mask[..., None].to(h_k.dtype)
        h_lr = (h_k * keep).reshape(M, 2 * H)  # [h_L; h_R]
        c_l, c_r = (c_k * keep).unbind(1)
        pre = u_t + self.hidden(h_lr)
        gates = pre[:, :3 * H] + self.peephole(torch.cat([c_l, c_r], -1))
        i = torch.sigmoid(gates[:, :H])  # (1)
        f_l = torch.sigmoid(gates[:, H:2 * H] + self.forget_bias)  # (2)
        f_r = torch.sigmoid(gates[:, 2 * H:] + self.forget_bias)  # (3)
        g = pre[:, 3 * H:4 * H]  # (4)
        c = f_l * c_l + f_r * c_r + i * torch.tanh(g)  # (5)
        o = torch.sigmoid(pre[:, 4 * H:] + self.peephole_out(c))  # (6)
        h = o * torch.tanh(c)  # (7)
        self.report("i", i)
        self.report("f_L", f_l)
        self.report("f_R", f_r)
        self.report("o", o)
        return h, LSTMState(h, c)


class SLSTM(_TreeModel):
    """S-LSTM classifier (Zhu et al. 2015, arXiv:1503.04881): embeddings, the S-LSTM over a binary tree, a linear
    classifier of the root's h (the paper's sentiment setting classifies nodes; ``nodes`` holds every node's h).

    Args (keyword-only): vocab_size: V (id 0 = no token). hidden_size: H. num_classes: C. embedding_size: E (default
    H). forget_bias: constant added once to f_L and f_R (0). dropout: on the embeddings and the root.
    """

    arity = 2

    def __init__(self, *, vocab_size: int, hidden_size: int, num_classes: int = 10, embedding_size: int | None = None,
                 forget_bias: float = 0.0, dropout: float = 0.0) -> None:
        super().__init__(vocab_size, hidden_size, embedding_size, num_classes, dropout)
        self.cell = SLSTMTreeCell(self.embedding_size, hidden_size, forget_bias=forget_bias)

    def forward(self, x: TreeBatch) -> TreeOutput:
        return self.run_tree(self.cell, check_trees(x, self.vocab_size))


register("s_lstm", paper=ZHU, seed_equations="001 section 4.1; Zhu et al. eqs (1)-(7)",
         description="S-LSTM: binary tree LSTM with left/right forget gates and peepholes to both children's cells",
         test_options={"vocab_size": 7, "hidden_size": 5, "num_classes": 3}, **_COMMON)(SLSTM)
