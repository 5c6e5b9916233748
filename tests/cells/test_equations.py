"""Each cell against a naive implementation typed straight from its docstring's equations.

The naive versions use per-gate weight matrices, explicit sigmoid/tanh formulas and a Python loop
over time and never call the cell's own methods.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

import rnnzoo
from rnnzoo.cells.activations import ACTIVATIONS

B, T, I, H = 2, 5, 3, 4


def sig(v):
    return 1.0 / (1.0 + torch.exp(-v))


def _run(cell, x):
    return rnnzoo.run(cell, x, use_fused=False).output


@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_elman(activation):
    cell = rnnzoo.ElmanCell(I, H, activation=activation)
    x = torch.randn(B, T, I) * 2
    f = {"tanh": torch.tanh, "sigmoid": sig, "relu": lambda v: torch.clamp(v, min=0), "linear": lambda v: v,
         "piecewise_linear": lambda v: torch.clamp(v, -1, 1),
         "sine": lambda v: torch.where(v.abs() < math.pi / 2, torch.sin(v), torch.sign(v))}[activation]
    h = torch.zeros(B, H)
    outs = []
    for t in range(T):
        o = x[:, t] @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias_ih + cell.bias_hh  # 001 eq (2)
        h = f(o)  # 001 eq (1)
        outs.append(h)
    torch.testing.assert_close(_run(cell, x), torch.stack(outs, 1))


def _lstm_blocks(cell, n):
    W = cell.weight_ih.chunk(n, 0)
    U = cell.weight_hh.chunk(n, 0)
    b = (cell.bias_ih + cell.bias_hh).chunk(n, 0)
    return W, U, b


@pytest.mark.parametrize("variant", ["lstm", "lstm1997", "lstm1997_sigmoid", "peephole_lstm", "cifg_lstm",
                                     "no_cell_activation", "proj"])
def test_lstm_family(variant):
    kw = {}
    name = variant
    if variant == "lstm1997_sigmoid":
        name, kw = "lstm1997", {"input_activation": "sigmoid"}
    if variant == "no_cell_activation":
        name, kw = "lstm", {"cell_activation": False}
    if variant == "proj":
        name, kw = "lstm", {"proj_size": 2}
    cell = rnnzoo.model_info(name).build(I, H, **kw)
    x = torch.randn(B, T, I)
    n = cell.gates.n
    W, U, b = _lstm_blocks(cell, n)
    P = cell.proj_size or H
    h, c = torch.zeros(B, P), torch.zeros(B, H)
    outs = []
    peep = variant == "peephole_lstm"
    for t in range(T):
        xt = x[:, t]
        if n == 4:
            (Wi, Wf, Wg, Wo), (Ui, Uf, Ug, Uo), (bi, bf, bg, bo) = W, U, b
        else:
            (Wi, Wg, Wo), (Ui, Ug, Uo), (bi, bg, bo) = W, U, b
        i = sig(xt @ Wi.T + h @ Ui.T + bi + (cell.weight_ci * c if peep else 0))  # 001 eq (16)
        g_act = sig if kw.get("input_activation") == "sigmoid" else torch.tanh
        g = g_act(xt @ Wg.T + h @ Ug.T + bg)
        if name == "lstm1997":
            c = c + i * g  # 000: s = g*i + s_prev
        elif name == "cifg_lstm":
            c = (1 - i) * c + i * g
        else:
            f = sig(xt @ Wf.T + h @ Uf.T + bf + (cell.weight_cf * c if peep else 0))  # 001 eq (17)
            c = f * c + i * g  # 001 eq (18)
        o = sig(xt @ Wo.T + h @ Uo.T + bo + (cell.weight_co * c if peep else 0))  # 001 eq (19)
        h = o * (c if variant == "no_cell_activation" else torch.tanh(c))  # 001 eq (20)
        if cell.proj_size:
            h = h @ cell.weight_hr.T
        outs.append(h)
    torch.testing.assert_close(_run(cell, x), torch.stack(outs, 1))


def test_forget_bias_initialisation():
    cell = rnnzoo.LSTMCell(I, H, forget_bias=1.0)
    b = (cell.bias_ih + cell.bias_hh).chunk(4)[1]
    torch.testing.assert_close(b, torch.ones(H))


@pytest.mark.parametrize("reset", ["after", "before"])
def test_gru(reset):
    cell = rnnzoo.GRUCell(I, H, reset=reset)
    x = torch.randn(B, T, I)
    Wr, Wz, Wn = cell.weight_ih.chunk(3)
    Ur, Uz, Un = cell.weight_hh.chunk(3)
    bir, biz, bin_ = cell.bias_ih.chunk(3)
    bhr, bhz, bhn = cell.bias_hh.chunk(3)
    h = torch.zeros(B, H)
    outs = []
    for t in range(T):
        xt = x[:, t]
        r = sig(xt @ Wr.T + bir + h @ Ur.T + bhr)  # 001 eq (39)
        z = sig(xt @ Wz.T + biz + h @ Uz.T + bhz)  # 001 eq (37)
        if reset == "before":
            n = torch.tanh(xt @ Wn.T + bin_ + (r * h) @ Un.T + bhn)  # 001 eq (38)
        else:
            n = torch.tanh(xt @ Wn.T + bin_ + r * (h @ Un.T + bhn))
        h = (1 - z) * n + z * h  # 001 eq (36), z relabelled as in Cho et al.
        outs.append(h)
    torch.testing.assert_close(_run(cell, x), torch.stack(outs, 1))


@pytest.mark.parametrize("learn_alpha", [False, True])
def test_scrn(learn_alpha):
    cell = rnnzoo.SCRNCell(I, H, context_size=3, learn_alpha=learn_alpha)
    if learn_alpha:
        with torch.no_grad():
            cell.alpha_logit.copy_(torch.tensor([0.0, 1.0, 3.0]))
    alpha = sig(cell.alpha_logit) if learn_alpha else 0.95
    x = torch.randn(B, T, I)
    h, s = torch.zeros(B, H), torch.zeros(B, 3)
    outs = []
    for t in range(T):
        s = (1 - alpha) * (x[:, t] @ cell.context_ih.T) + alpha * s  # 001 eq (32)
        h = sig(s @ cell.weight_ch.T + x[:, t] @ cell.weight_ih.T + h @ cell.weight_hh.T + cell.bias)  # eq (33)
        outs.append(torch.cat([h, s], 1))
    torch.testing.assert_close(_run(cell, x), torch.stack(outs, 1))


def test_scrn_default_alpha_is_095():
    assert float(rnnzoo.SCRNCell(I, H).alpha) == pytest.approx(0.95)


@pytest.mark.parametrize("use_fused", [False, True])
def test_scrn_alpha_is_exact_in_float64(use_fused):
    """alpha = 0.95 exactly after .double() (a float32 buffer made it 0.949999988): the context layer of a
    constant input converges to B x, and after T steps its distance is 0.95**T of the start, to rounding."""
    cell = rnnzoo.SCRNCell(1, 1, context_size=1).double()
    with torch.no_grad():
        cell.context_ih.fill_(1.0)
    T_ = 200
    out = rnnzoo.run(cell, torch.ones(1, T_, 1, dtype=torch.float64), use_fused=use_fused).output
    s = out[0, :, 1]  # s_t = 1 - 0.95**t for s_0 = 0, x = 1
    expected = 1 - torch.tensor(0.95, dtype=torch.float64) ** torch.arange(1, T_ + 1, dtype=torch.float64)
    torch.testing.assert_close(s, expected, rtol=0, atol=1e-14)


def test_scrn_reads_checkpoints_with_the_old_alpha_buffer():
    cell = rnnzoo.SCRNCell(I, H)
    old = {**cell.state_dict(), "alpha_value": torch.tensor(0.95)}  # rnnzoo 0.1.0 kept alpha as a buffer
    cell.load_state_dict(old)
    with pytest.raises(ValueError, match="alpha: the checkpoint's alpha 0.5"):
        cell.load_state_dict({**cell.state_dict(), "alpha_value": torch.tensor(0.5)})


@pytest.mark.parametrize("peephole", [False, True])
def test_convlstm(peephole):
    Y = X = 5
    cell = rnnzoo.ConvLSTMCell(2, 3, kernel_size=3, peephole=peephole, spatial_size=(Y, X) if peephole else None)
    x = torch.randn(B, T, 2, Y, X)
    Wx = cell.weight_ih.chunk(4, 0)
    Wh = cell.weight_hh.chunk(4, 0)
    bb = cell.bias.chunk(4, 0)
    h = torch.zeros(B, 3, Y, X)
    c = torch.zeros(B, 3, Y, X)
    outs = []

    def conv(inp, w):
        return F.conv2d(inp, w, padding=1)

    for t in range(T):
        xt = x[:, t]
        pre = [conv(xt, Wx[k]) + conv(h, Wh[k]) + bb[k].view(1, -1, 1, 1) for k in range(4)]
        i = sig(pre[0] + (cell.weight_ci * c if peephole else 0))
        f = sig(pre[1] + (cell.weight_cf * c if peephole else 0))
        c = f * c + i * torch.tanh(pre[2])
        o = sig(pre[3] + (cell.weight_co * c if peephole else 0))
        h = o * torch.tanh(c)
        outs.append(h)
    torch.testing.assert_close(_run(cell, x), torch.stack(outs, 1), atol=1e-5, rtol=1e-4)


def test_convlstm_valid_padding_shrinks_state():
    cell = rnnzoo.ConvLSTMCell(2, 3, kernel_size=3, padding=0)
    out = rnnzoo.run(cell, torch.randn(2, 4, 2, 6, 6))
    assert out.output.shape == (2, 4, 3, 4, 4)
