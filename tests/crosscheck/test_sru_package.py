"""rnnzoo's ``sru`` against the ``sru`` 2.6.0 package (Lei et al.'s own code, github.com/asappresearch/sru).

The package's layer is built with its own initialisation, its weights are copied with
:meth:`rnnzoo.cells.SRUCell.from_sru_package` (the mapping is documented there) and both run on the same
input. The package has two CPU paths, both compared: with gradients enabled, ``elementwise_recurrence_naive``
(Python, any dtype: compared in float64 to 1e-12) and without, its C++ ``cpu_forward`` (float32 only:
compared to 1e-5). Its ``mask_pad`` is True on *padded* steps (rnnzoo's mask: True on valid ones); at a padded
step both keep c and emit zero.
"""

from __future__ import annotations

import warnings

import pytest
import torch

import rnnzoo
from rnnzoo.cells import SRUCell

sru = pytest.importorskip("sru", reason="the sru package (test extra, pinned in constraints) is not installed")

B, T = 3, 9
CASES = [  # (input_size, hidden_size, options): I == H uses the scaled input as highway term, I != H W' x
    (6, 6, {}),
    (6, 6, {"rescale": False}),
    (6, 6, {"highway_bias": -2.0}),
    (5, 6, {}),
    (5, 6, {"has_skip_term": False}),
    (6, 6, {"has_skip_term": False}),
]


def _package_layer(I, H, opts, dtype, bidirectional=False):
    torch.manual_seed(0)
    layer = sru.SRUCell(I, H, bidirectional=bidirectional, **opts).to(dtype)
    with torch.no_grad():  # the package zeroes b_f and sets b_r = highway_bias: draw them, so both enter
        layer.bias.normal_()
    return layer


def _package_run(layer, x, c0=None, mask_pad=None, grad=True):
    with warnings.catch_warnings(), torch.set_grad_enabled(grad):
        warnings.filterwarnings("ignore", message="Running SRU on CPU")
        return layer(x, c0, mask_pad=mask_pad)


def _rnnzoo_run(cell, x, c0=None, mask=None, reverse=False):
    state = None if c0 is None else cell.initial_state(x.shape[1], dtype=x.dtype)._replace(c=c0)
    out = rnnzoo.run(cell, x, state, mask=mask, batch_first=False, reverse=reverse)
    return out.output, out.state.c


def _mask(T_, B_):
    lengths = torch.tensor([T_, T_ - 3, 2])[:B_]
    return torch.arange(T_).unsqueeze(1) < lengths  # (T, B), True = valid


@pytest.mark.parametrize(("I", "H", "opts"), CASES, ids=lambda v: str(v))
@pytest.mark.parametrize("with_c0", [False, True])
@pytest.mark.parametrize("masked", [False, True])
def test_equals_package_float64(I, H, opts, with_c0, masked):
    layer = _package_layer(I, H, opts, torch.float64)
    cell = SRUCell.from_sru_package(layer)
    x = torch.randn(T, B, I, dtype=torch.float64)
    c0 = torch.randn(B, H, dtype=torch.float64) if with_c0 else None
    mask = _mask(T, B) if masked else None
    h_ref, c_ref = _package_run(layer, x, c0, mask_pad=None if mask is None else ~mask)
    for use_fused in (True, False):
        state = None if c0 is None else cell.initial_state(B, dtype=x.dtype)._replace(c=c0)
        out = rnnzoo.run(cell, x, state, mask=mask, batch_first=False, use_fused=use_fused)
        torch.testing.assert_close(out.output, h_ref.detach(), rtol=1e-12, atol=1e-12)
        torch.testing.assert_close(out.state.c, c_ref.detach(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("I", "H", "opts"), CASES[:4], ids=lambda v: str(v))
def test_equals_package_cpp_kernel_float32(I, H, opts):
    layer = _package_layer(I, H, opts, torch.float32)
    cell = SRUCell.from_sru_package(layer)
    x = torch.randn(T, B, I)
    c0 = torch.randn(B, H)
    mask = _mask(T, B)
    h_ref, c_ref = _package_run(layer, x, c0, mask_pad=~mask, grad=False)  # the C++ cpu_forward
    h, c = _rnnzoo_run(cell, x, c0, mask)
    torch.testing.assert_close(h, h_ref, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(c, c_ref, rtol=1e-5, atol=1e-5)


def test_bidirectional_layer_is_two_cells():
    """A bidirectional package layer with I != 2H (its highway term is then a projection W' x per direction)
    is a forward cell and a backward cell run in reversed time, outputs concatenated [forward, backward].
    With I == 2H each direction's highway term is its half of x, which no single cell computes: refused."""
    H, I = 4, 5
    with pytest.raises(ValueError, match="blocks"):
        SRUCell.from_sru_package(sru.SRUCell(2 * H, H, bidirectional=True))
    layer = _package_layer(I, H, {}, torch.float64, bidirectional=True)
    fwd, bwd = (SRUCell.from_sru_package(layer, direction=d) for d in (0, 1))
    x = torch.randn(T, B, I, dtype=torch.float64)
    c0 = torch.randn(B, 2 * H, dtype=torch.float64)
    mask = _mask(T, B)
    h_ref, c_ref = _package_run(layer, x, c0, mask_pad=~mask)
    hf, cf = _rnnzoo_run(fwd, x, c0[:, :H], mask)
    hb, cb = _rnnzoo_run(bwd, x, c0[:, H:], mask, reverse=True)
    torch.testing.assert_close(torch.cat([hf, hb], -1), h_ref.detach(), rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(torch.cat([cf, cb], -1), c_ref.detach(), rtol=1e-12, atol=1e-12)


def test_gradients_equal_package():
    """The package's naive path is plain autograd: its gradients are an independent check of the
    hand-written backward (input, initial state and every parameter)."""
    layer = _package_layer(5, 6, {}, torch.float64)
    cell = SRUCell.from_sru_package(layer)
    x = torch.randn(T, B, 5, dtype=torch.float64, requires_grad=True)
    c0 = torch.randn(B, 6, dtype=torch.float64, requires_grad=True)
    mask = _mask(T, B)
    w = torch.randn(T, B, 6, dtype=torch.float64)
    h_ref, c_ref = _package_run(layer, x, c0, mask_pad=~mask)
    g_ref = torch.autograd.grad((h_ref * w).sum() + c_ref.sum(), [x, c0, layer.weight, layer.weight_c, layer.bias])
    h, c = _rnnzoo_run(cell, x, c0, mask)
    g = torch.autograd.grad((h * w).sum() + c.sum(), [x, c0, cell.weight_ih, cell.weight_c, cell.bias])
    torch.testing.assert_close(g[0], g_ref[0])
    torch.testing.assert_close(g[1], g_ref[1])
    # package layout -> rnnzoo layout, as from_sru_package maps the weights
    torch.testing.assert_close(g[2], g_ref[2].view(5, 6, 4).permute(2, 1, 0).reshape(24, 5))
    torch.testing.assert_close(g[3], g_ref[3].view(2, 6))
    torch.testing.assert_close(g[4], g_ref[4].view(2, 6))


def test_initialisation_matches_package_statistics():
    """rnnzoo's initialisation is the package's recipe: the same ranges block by block."""
    I, H = 200, 300
    layer = sru.SRUCell(I, H)
    cell = SRUCell(I, H)
    w = layer.weight.detach().view(I, H, 4).permute(2, 1, 0)  # (block, H, I)
    for m in range(4):
        blk = cell.weight_ih.detach()[m * H:(m + 1) * H]
        assert abs(blk.abs().max().item() / w[m].abs().max().item() - 1) < 0.01, m
    assert abs(cell.weight_c.abs().max().item() / layer.weight_c.abs().max().item() - 1) < 0.01
    torch.testing.assert_close(cell.bias.detach().flatten(), layer.bias.detach())


def test_unsupported_options_refused():
    with pytest.raises(ValueError, match="layer_norm"):
        SRUCell.from_sru_package(sru.SRUCell(4, 4, layer_norm=True))
    with pytest.raises(ValueError, match="direction"):
        SRUCell.from_sru_package(sru.SRUCell(4, 4), direction=1)
