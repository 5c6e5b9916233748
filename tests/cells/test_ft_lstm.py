"""The F-T-LSTM (rnnzoo.cells.ft_lstm) against a naive per-frame, per-band loop typed from the paper's description
(001 section 4.8, 001 eqs (16)-(20)) in float64; frames independent in the F-LSTM; variable lengths; bad input."""

from __future__ import annotations

import math

import pytest
import torch

import rnnzoo
from rnnzoo.cells.ft_lstm import FTLSTMCell, band_count


def _lstm_step(x, h, c, w_ih, w_hh, b_ih, b_hh):
    """One LSTM step written from 001 eqs (16)-(20) (no peepholes), one vector at a time, gates (i, f, g, o)."""
    pre = w_ih @ x + b_ih + w_hh @ h + b_hh
    n = h.shape[0]
    i = torch.sigmoid(pre[0:n])
    f = torch.sigmoid(pre[n:2 * n])
    g = torch.tanh(pre[2 * n:3 * n])
    o = torch.sigmoid(pre[3 * n:4 * n])
    c = f * c + i * g
    return o * torch.tanh(c), c


def naive_ft_lstm(cell: FTLSTMCell, x: torch.Tensor, lengths: list[int]) -> torch.Tensor:
    """(B, T, F) -> (B, T, H): for every example, every frame, every band, in Python loops; outputs zero past each
    example's length. Bands: coefficients k*S .. k*S + B - 1, zero past F, while k*S + B - B < F is needed."""
    fl, B, S = cell.f_lstm, cell.band_size, cell.band_stride
    F = x.shape[-1]
    bands = []  # band start indices, written without band_count: windows until every coefficient is covered
    start = 0
    while True:
        bands.append(start)
        if start + B >= F:
            break
        start += S
    out = torch.zeros(x.shape[0], x.shape[1], cell.hidden_size, dtype=x.dtype)
    for b in range(x.shape[0]):
        h = torch.zeros(cell.hidden_size, dtype=x.dtype)
        c = torch.zeros(cell.hidden_size, dtype=x.dtype)
        for t in range(lengths[b]):
            frame = x[b, t]
            pieces = []
            q = torch.zeros(cell.band_hidden, dtype=x.dtype)  # the F-LSTM restarts at every frame
            d = torch.zeros(cell.band_hidden, dtype=x.dtype)
            for s in bands:
                z = torch.zeros(B, dtype=x.dtype)
                coeffs = frame[s:min(s + B, F)]
                z[:coeffs.shape[0]] = coeffs
                q, d = _lstm_step(z, q, d, fl.weight_ih, fl.weight_hh, fl.bias_ih, fl.bias_hh)
                pieces.append(q)
            v = torch.cat(pieces)
            h, c = _lstm_step(v, h, c, cell.weight_ih, cell.weight_hh, cell.bias_ih, cell.bias_hh)
            out[b, t] = h
    return out


@pytest.mark.parametrize(("F", "band_size", "band_stride"), [(12, 4, 2), (7, 3, 2), (5, 5, 1), (3, 4, 2), (9, 3, 3)])
def test_equals_the_naive_per_frame_per_band_loop(F, band_size, band_stride):
    torch.manual_seed(0)
    model = rnnzoo.create("ft_lstm", F, 5, band_size=band_size, band_stride=band_stride, band_hidden=3).double()
    cell = model.layers[0].cell
    assert cell.n_bands == band_count(F, band_size, band_stride) == 1 + math.ceil(max(F - band_size, 0) / band_stride)
    x = torch.randn(3, 6, F, dtype=torch.float64)
    lengths = [6, 2, 4]
    expected = naive_ft_lstm(cell, x, lengths)
    with torch.no_grad():
        for use_fused in (True, False):
            got = model.run(x, lengths=lengths, use_fused=use_fused).output
            torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-12)


def test_a_frames_f_lstm_output_does_not_depend_on_other_frames():
    """The F-LSTM's summary v_t of frame t (``spectral``) is unchanged when every other frame changes, and its
    first band's output is the F-LSTM's first step from a zero state (no state crosses frames)."""
    torch.manual_seed(1)
    cell = FTLSTMCell(12, 4, band_size=4, band_stride=2, band_hidden=3).double()
    x = torch.randn(2, 5, 12, dtype=torch.float64)
    y = torch.randn(2, 5, 12, dtype=torch.float64)
    y[:, 2] = x[:, 2]
    vx, vy = cell.spectral(x), cell.spectral(y)
    torch.testing.assert_close(vx[:, 2], vy[:, 2], rtol=0, atol=0)
    assert not torch.allclose(vx[:, 1], vy[:, 1])
    q0, _ = cell.f_lstm(x[:, 2, :4])  # band 0 from the zero state
    torch.testing.assert_close(vx[:, 2, :3], q0)
    # the frame alone (a batch of one frame, one time step) gives the same summary
    torch.testing.assert_close(cell.spectral(x[0, 2]), vx[0, 2])


def test_variable_lengths_equal_each_sequence_alone():
    torch.manual_seed(2)
    model = rnnzoo.create("ft_lstm", 12, 6, band_hidden=4).double()
    x = torch.randn(3, 7, 12, dtype=torch.float64)
    lengths = [3, 7, 5]
    out, state = model(x, lengths=lengths)
    for b, n in enumerate(lengths):
        alone, s = model(x[b:b + 1, :n])
        torch.testing.assert_close(out[b:b + 1, :n], alone)
        assert bool((out[b, n:] == 0).all())
        torch.testing.assert_close(state.layers[0].h[b:b + 1], s.layers[0].h)


def test_parameters_are_shared_over_bands_and_frames():
    """One F-LSTM (4 gates x band_hidden rows) whatever F and T; the T-LSTM reads M * band_hidden features."""
    cell = FTLSTMCell(12, 6, band_size=4, band_stride=2, band_hidden=3)
    shapes = {n: tuple(p.shape) for n, p in cell.named_parameters()}
    assert shapes == {"weight_ih": (24, 15), "weight_hh": (24, 6), "bias_ih": (24,), "bias_hh": (24,),
                      "f_lstm.weight_ih": (12, 4), "f_lstm.weight_hh": (12, 3), "f_lstm.bias_ih": (12,),
                      "f_lstm.bias_hh": (12,)}


def test_forget_bias_and_recurrent_blocks_reach_both_lstms():
    cell = FTLSTMCell(12, 6, band_hidden=3, forget_bias=1.0)
    assert bool((cell.bias_ih[6:12] == 1).all()) and bool((cell.f_lstm.bias_ih[3:6] == 1).all())
    names = [b.name for b in cell.recurrent_blocks()]
    assert names[:4] == ["weight_hh[i]", "weight_hh[f]", "weight_hh[g]", "weight_hh[o]"]
    assert names[4:] == ["f_lstm.weight_hh[i]", "f_lstm.weight_hh[f]", "f_lstm.weight_hh[g]", "f_lstm.weight_hh[o]"]
    assert cell.initialize("forget_bias", 2.0)
    assert bool((cell.bias_ih[6:12] == 2).all()) and bool((cell.f_lstm.bias_ih[3:6] == 2).all())


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"band_size": 0}, "band_size: expected a positive int, got 0"),
    ({"band_stride": 5, "band_size": 4}, "band_stride: expected at most band_size=4"),
    ({"band_hidden": 2.5}, "band_hidden: expected a positive int, got 2.5"),
])
def test_bad_options_name_the_argument(kwargs, message):
    with pytest.raises(ValueError, match=message):
        rnnzoo.create("ft_lstm", 12, 4, **kwargs)


def test_bad_input_names_the_argument():
    model = rnnzoo.create("ft_lstm", 12, 4)
    with pytest.raises(ValueError, match=r"expected 12 input features .* got 10"):
        model(torch.randn(2, 3, 10))
    with pytest.raises(TypeError, match="options: 'ft_lstm' has no option 'bands'"):
        rnnzoo.create("ft_lstm", 12, 4, bands=3)


def test_the_trainers_sequence_model_builds_it():
    """The trainer's SequenceModel builds it like any vector cell (what ``rnnzoo train --model ft_lstm`` does)."""
    from rnnzoo.train.heads import SequenceModel

    model = SequenceModel("ft_lstm", input_size=12, output_size=3, hidden_size=8, head="last")
    y, _ = model(torch.randn(4, 5, 12), lengths=torch.tensor([5, 1, 3, 2]))
    assert y.shape == (4, 3)
