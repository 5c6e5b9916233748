"""rnnzoo's memory-controller LSTM against torchrecurrent 0.2.5's ``MCLSTM`` (the same cell: Ben-Ari & Shwartz-Ziv
2017). Weights mapped (torchrecurrent keeps ``b_ih`` and ``b_hh``: ``b_hh`` is zeroed), float64, outputs and the final
control vector and memory compared to 1e-12."""

from __future__ import annotations

import pytest
import torch

from rnnzoo import run
from rnnzoo.cells.memory_controller_lstm import MemoryControllerLSTMCell, MemoryControllerLSTMState

tr = pytest.importorskip("torchrecurrent", reason="torchrecurrent (test extra, pinned in constraints) is not installed")

T, B, I, H = 7, 3, 4, 5


def test_memory_controller_lstm_equals_torchrecurrent_mclstm():
    torch.manual_seed(0)
    cell = MemoryControllerLSTMCell(I, H).double()
    with torch.no_grad():
        for p in cell.parameters():
            p.mul_(2.0)
    layer = tr.MCLSTM(I, H).double()
    theirs = layer.cells[0]
    assert {n for n, _ in theirs.named_parameters()} == {"weight_ih", "weight_hh", "bias_ih", "bias_hh"}
    with torch.no_grad():
        theirs.weight_ih.copy_(cell.weight_ih)
        theirs.weight_hh.copy_(cell.weight_hh)
        theirs.bias_ih.copy_(cell.bias)
        theirs.bias_hh.zero_()
    g = torch.Generator().manual_seed(1)
    x = torch.randn(T, B, I, dtype=torch.float64, generator=g)
    v0, c0 = (torch.randn(B, H, dtype=torch.float64, generator=g) for _ in range(2))
    out, (vn, cn) = layer(x, (v0.unsqueeze(0), c0.unsqueeze(0)))
    state = MemoryControllerLSTMState(torch.zeros(B, H, dtype=torch.float64), v0, c0)
    res = run(cell, x.transpose(0, 1), state)
    torch.testing.assert_close(res.output.transpose(0, 1), out, rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.v, vn[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(res.state.c, cn[0], rtol=0, atol=1e-12)
