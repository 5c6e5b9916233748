"""T-RNN, T-GRU and T-LSTM against naive loops typed from Balduzzi & Ghifary (2016): float64, the previous input
``x_{t-1}`` carried as the raw input (the cells carry its projection), masks with holes and a late start."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells import TGRUCell, TLSTMCell, TRNNCell

B, T, I, H = 3, 6, 4, 5


def _sig(v):
    return 1.0 / (1.0 + torch.exp(-v))


def _naive(cell, x, mask):
    """One example at a time, one step at a time. W, V, b: the paper's learnware, split by gate from the cell's
    stacked weights; masked steps are skipped (state and x_{t-1} kept, output 0)."""
    kind = type(cell).__name__
    n = 2 if kind == "TRNNCell" else 3
    W = cell.weight_ih.detach().view(n, H, I)
    V = cell.weight_prev.detach().view(n, H, I) if cell.weight_prev is not None else torch.zeros(n, H, I,
                                                                                               dtype=x.dtype)
    b = cell.bias.detach().view(n, H)
    out = torch.zeros(B, T, H, dtype=torch.float64)
    finals = []
    for e in range(B):
        h = torch.zeros(H, dtype=torch.float64)
        c = torch.zeros(H, dtype=torch.float64)
        x_prev = torch.zeros(I, dtype=torch.float64)
        for t in range(T):
            if not mask[e, t]:
                continue
            xt = x[e, t]
            z = W[0] @ xt + V[0] @ x_prev + b[0]
            f = _sig(W[1] @ xt + V[1] @ x_prev + b[1])
            if kind == "TRNNCell":
                h = f * h + (1 - f) * z
            else:
                o = torch.tanh(W[2] @ xt + V[2] @ x_prev + b[2])
                if kind == "TGRUCell":
                    h = f * h + z * o
                else:
                    c = f * c + (1 - f) * z
                    h = c * o
            x_prev = xt
            out[e, t] = h
        finals.append((h, c))
    return out, torch.stack([f[0] for f in finals]), torch.stack([f[1] for f in finals])


def _mask():
    mask = torch.ones(B, T, dtype=torch.bool)
    mask[0, 2] = mask[1, 4:] = mask[2, 0] = False
    return mask


@pytest.mark.parametrize("cls", [TRNNCell, TGRUCell, TLSTMCell])
@pytest.mark.parametrize("fused", [True, False])
def test_typed_cells_equal_the_paper_loop(cls, fused):
    torch.manual_seed(0)
    cell = cls(I, H).double()
    x = torch.randn(B, T, I, dtype=torch.float64)
    mask = _mask()
    want, want_h, want_c = _naive(cell, x, mask)
    res = rnnzoo.run(cell, x, mask=mask, use_fused=fused)
    torch.testing.assert_close(res.output, want, rtol=0, atol=1e-13)
    torch.testing.assert_close(res.state.h, want_h, rtol=0, atol=1e-13)
    if cls is TLSTMCell:
        torch.testing.assert_close(res.state.c, want_c, rtol=0, atol=1e-13)


def test_the_previous_input_enters_tgru_and_tlstm_but_not_trnn():
    """Changing x_0 changes step 1's output of T-GRU/T-LSTM only through V x_{t-1}: with V zeroed it does not."""
    torch.manual_seed(1)
    x = torch.randn(1, 2, I, dtype=torch.float64)
    x2 = x.clone()
    x2[0, 0] += 1.0
    for cls in (TGRUCell, TLSTMCell):
        cell = cls(I, H).double()
        # zero the x_t part of step 0's effect on h: with f = 0 (bias -inf-like) the state is forgotten
        with torch.no_grad():
            cell.bias.view(3, H)[1].fill_(-50.0)
        a = rnnzoo.run(cell, x).output[0, 1]
        b = rnnzoo.run(cell, x2).output[0, 1]
        assert (a - b).abs().max() > 1e-6
        with torch.no_grad():
            cell.weight_prev.zero_()
        torch.testing.assert_close(rnnzoo.run(cell, x).output[0, 1], rnnzoo.run(cell, x2).output[0, 1])


def test_no_recurrent_matrix_and_the_registry():
    for name, cls in (("trnn", TRNNCell), ("tgru", TGRUCell), ("tlstm", TLSTMCell)):
        info = rnnzoo.model_info(name)
        cell = info.build(I, H)
        assert isinstance(cell, cls) and cell.recurrent_weight() is None and cell.recurrent_weights() == ["weight_ih"]
        assert info.paper.arxiv == "1602.02218" and info.recurrence is rnnzoo.Recurrence.ELEMENTWISE
        assert info.peers == (f"torchrecurrent.{name.upper()}",)
    assert TRNNCell(I, H).weight_prev is None


def test_bias_false_has_no_bias():
    cell = TGRUCell(I, H, bias=False)
    assert cell.bias is None and {n for n, _ in cell.named_parameters()} == {"weight_ih", "weight_prev"}
    x = torch.zeros(2, 3, I)
    assert rnnzoo.run(cell, x).output.abs().max() == 0


@pytest.mark.parametrize("cls", [TRNNCell, TGRUCell, TLSTMCell])
def test_bad_arguments_name_themselves(cls):
    with pytest.raises(ValueError, match="hidden_size"):
        cls(I, 0)
    with pytest.raises(ValueError, match="input_size"):
        cls(-1, H)
    with pytest.raises(TypeError, match="bias"):
        cls(I, H, bias="yes")
