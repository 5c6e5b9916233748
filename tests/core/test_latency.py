"""The latency-controlled bidirectional layer (rnnzoo.core.latency) against a naive per-chunk loop typed from
Zhang et al. 2016 / Chen & Huo 2016 (float64), the full Bidirectional layer, and its streaming form."""

from __future__ import annotations

import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

import rnnzoo
from rnnzoo.core.latency import LatencyControlled, LatencyStream, windows
from rnnzoo.core.latency import stream as stream_of
from rnnzoo.core.layers import BidirectionalState


def _layer(chunk: int, right: int, cell: str = "lstm", seed: int = 0, **kw) -> LatencyControlled:
    torch.manual_seed(seed)
    make = {"lstm": lambda: rnnzoo.LSTMCell(3, 4), "gru": lambda: rnnzoo.GRUCell(3, 4)}[cell]
    return LatencyControlled(make(), make(), chunk=chunk, right=right, **kw).double()


def naive(layer: LatencyControlled, x: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Per example, per chunk, per frame: the forward cell over every valid frame with its state carried; for
    each chunk [s, s + N_c) the backward cell from the zero state over frames min(s + N_c + N_r, T) - 1 down to
    s (masked frames skipped), emitting only the chunk's own frames; zeros at invalid frames."""
    fcell, bcell = layer.forward_layer.cell, layer.backward_layer.cell
    n_c, n_r = layer.chunk, layer.right
    batch, steps = x.shape[:2]
    out = torch.zeros(batch, steps, fcell.output_size + bcell.output_size, dtype=x.dtype)
    for b in range(batch):
        forward = {}
        state = None
        for t in range(steps):
            if valid[b, t]:
                forward[t], state = fcell(x[b, t], state)
        for start in range(0, steps, n_c):
            end = min(start + n_c + n_r, steps)
            state, backward = None, {}
            for t in range(end - 1, start - 1, -1):
                if valid[b, t]:
                    backward[t], state = bcell(x[b, t], state)
            for t in range(start, min(start + n_c, steps)):
                if valid[b, t]:
                    out[b, t] = torch.cat([forward[t], backward[t]])
    return out


@pytest.mark.parametrize(("chunk", "right", "cell"), [(3, 2, "lstm"), (1, 2, "gru"), (4, 0, "lstm"),
                                                      (2, 5, "gru"), (20, 1, "lstm")])
def test_equals_a_naive_per_chunk_loop_with_lengths(chunk, right, cell):
    layer = _layer(chunk, right, cell)
    x = torch.randn(3, 10, 3, dtype=torch.float64)
    lengths = torch.tensor([10, 7, 1])
    valid = torch.arange(10).unsqueeze(0) < lengths.unsqueeze(1)
    out, _ = layer(x, lengths=lengths)
    torch.testing.assert_close(out, naive(layer, x, valid))
    torch.testing.assert_close(layer(x)[0], naive(layer, x, torch.ones(3, 10, dtype=torch.bool)))


def test_a_mask_with_holes_equals_the_naive_loop():
    layer = _layer(3, 1, "lstm")
    x = torch.randn(2, 9, 3, dtype=torch.float64)
    mask = torch.ones(2, 9, dtype=torch.bool)
    mask[0, [1, 4, 5]] = False  # holes, one chunk (frames 3..5) with a single valid frame
    mask[1, 3:6] = False  # a whole chunk masked
    out, _ = layer(x, mask=mask)
    torch.testing.assert_close(out, naive(layer, x, mask))


def test_unbounded_right_context_equals_the_bidirectional_layer():
    lc = _layer(3, 9, "lstm")
    bi = rnnzoo.Bidirectional(rnnzoo.LSTMCell(3, 4)).double()
    bi.load_state_dict(lc.state_dict())  # the same parameter names
    x = torch.randn(2, 10, 3, dtype=torch.float64)
    for kw in ({}, {"lengths": [10, 4]}):
        (out, state), (ref, ref_state) = lc(x, **kw), bi(x, **kw)
        torch.testing.assert_close(out, ref)
        torch.testing.assert_close(state.backward.c, ref_state.backward.c)
        torch.testing.assert_close(state.forward.h, ref_state.forward.h)
    short = _layer(3, 2, "lstm")
    short.load_state_dict(lc.state_dict())
    assert not torch.allclose(short(x)[0], bi(x)[0])  # a bounded window differs (the test can fail)


def test_the_output_at_t_depends_on_frames_up_to_its_window_end_only():
    """Two inputs share frames 0..p and differ afterwards: outputs agree exactly where the window ends
    at or before p + 1 and differ where it reads a later frame."""
    for chunk, right in ((1, 2), (3, 2)):
        layer = _layer(chunk, right)
        x = torch.randn(1, 12, 3, dtype=torch.float64)
        p = 6
        y = x.clone()
        y[:, p + 1:] = torch.randn(1, 11 - p, 3, dtype=torch.float64)
        a, b = layer(x)[0][0], layer(y)[0][0]
        for t in range(12):
            end = min((t // chunk) * chunk + chunk + right, 12)  # one past the last frame t's output reads
            same = torch.allclose(a[t], b[t], rtol=0, atol=1e-12)
            assert same == (end <= p + 1), (chunk, right, t)


def test_windows_are_gathered_from_the_chunk_starts():
    index, inside, emitted = windows(7, 3, 1)
    assert index.tolist() == [[0, 1, 2, 3], [3, 4, 5, 6], [6, 6, 6, 6]]
    assert inside.tolist() == [[True] * 4, [True] * 4, [True, False, False, False]]
    assert emitted == 3
    index, _, emitted = windows(2, 3, 1)
    assert index.tolist() == [[0, 1]] and emitted == 2


@pytest.mark.parametrize(("chunk", "right"), [(3, 2), (1, 3), (4, 0)])
def test_stream_equals_the_whole_sequence_layer(chunk, right):
    layer = _layer(chunk, right, "gru").eval()
    x = torch.randn(2, 17, 3, dtype=torch.float64)
    whole, _ = layer(x)
    stream = layer.stream()
    parts, at = [], 0
    for n in (0, 5, 1, 0, 7, 4):
        parts.append(stream.push(x[:, at:at + n]))
        at += n
    parts.append(stream.flush())
    torch.testing.assert_close(torch.cat(parts, 1), whole)
    # flush reset the stream: a second utterance starts from the zero forward state
    again = torch.cat([stream.push(x[:, :9]), stream.flush()], 1)
    torch.testing.assert_close(again, layer(x[:, :9])[0])


@pytest.mark.parametrize(("chunk", "right"), [(1, 2), (3, 2), (2, 0)])
def test_stream_returns_each_output_once_its_window_has_arrived(chunk, right):
    """Frame by frame: the output at t comes with frame min(s_k + N_c + N_r, T) - 1 (frame t + N_r when
    N_c = 1), at most ``layer.delay`` frames late, and equals the whole-sequence layer's."""
    layer = _layer(chunk, right).eval()
    steps = 11
    x = torch.randn(1, steps, 3, dtype=torch.float64)
    whole, _ = layer(x)
    stream = LatencyStream(layer)
    arrived_at = {}
    for i in range(steps):
        y = stream.push(x[:, i:i + 1])
        for j in range(y.shape[1]):
            t = stream.emitted - y.shape[1] + j
            arrived_at[t] = i
            torch.testing.assert_close(y[:, j], whole[:, t])
    rest = stream.flush()
    for j in range(rest.shape[1]):
        t = steps - rest.shape[1] + j
        arrived_at[t] = steps  # at the end of the utterance
        torch.testing.assert_close(rest[:, j], whole[:, t])
    for t in range(steps):
        window_end = (t // chunk) * chunk + chunk + right - 1
        expected = window_end if window_end < steps else steps
        assert arrived_at[t] == expected, (t, arrived_at[t], expected)
        assert arrived_at[t] - t <= layer.delay or arrived_at[t] == steps
        if chunk == 1 and window_end < steps:
            assert arrived_at[t] == t + right


def test_time_major_packed_and_unbatched_inputs_agree():
    layer = _layer(2, 1)
    tm = _layer(2, 1, batch_first=False)
    tm.load_state_dict(layer.state_dict())
    x = torch.randn(2, 7, 3, dtype=torch.float64)
    out, _ = layer(x, lengths=[7, 5])
    torch.testing.assert_close(tm(x.transpose(0, 1), lengths=[7, 5])[0].transpose(0, 1), out)
    packed, _ = layer(pack_padded_sequence(x, [7, 5], batch_first=True, enforce_sorted=False))
    torch.testing.assert_close(pad_packed_sequence(packed, batch_first=True)[0], out)
    torch.testing.assert_close(layer(x[1, :5])[0], out[1, :5])


def test_return_states_and_gradients():
    layer = _layer(3, 1)
    x = torch.randn(2, 8, 3, dtype=torch.float64, requires_grad=True)
    out = layer.run(x, lengths=[8, 6], return_states=True)
    assert out.states.forward.c.shape == (2, 8, 4) and out.states.backward.c.shape == (2, 8, 4)
    torch.testing.assert_close(layer.backward_layer.cell.output(
        type(out.states.backward)(*(s[:, 5] for s in out.states.backward))), out.output[:, 5, 4:])
    out.output.sum().backward()
    assert x.grad[1, 6:].abs().sum() == 0 and x.grad[1, :6].abs().sum() > 0
    # the output at frame 0 reads frames 0..3 only (chunk 0's window): no gradient from later frames
    x.grad = None
    layer(x)[0][:, 0].sum().backward()
    assert x.grad[:, 4:].abs().sum() == 0 and x.grad[:, 3].abs().sum() > 0


def test_create_builds_it_for_any_cell_and_a_bidirectional_state_dict_loads():
    model = rnnzoo.create("gru", 3, 4, num_layers=2, bidirectional=True, latency=(2, 1))
    assert all(isinstance(layer, LatencyControlled) for layer in model.layers)
    assert model.config["latency"] == [2, 1] and not model.causal
    full = rnnzoo.create("gru", 3, 4, num_layers=2, bidirectional=True)
    model.load_state_dict(full.state_dict())
    x = torch.randn(2, 5, 3)
    wide = rnnzoo.create("gru", 3, 4, num_layers=2, bidirectional=True, latency=(2, 4))
    wide.load_state_dict(full.state_dict())
    torch.testing.assert_close(wide(x)[0], full(x)[0])
    with pytest.raises(ValueError, match="torch.nn equivalent"):
        model.to_torch()


def test_bad_input_names_the_argument():
    with pytest.raises(ValueError, match="latency: .*bidirectional=True"):
        rnnzoo.create("lstm", 3, 4, latency=(2, 1))
    with pytest.raises(ValueError, match="latency: expected the chunk size N_c an int >= 1, got 0"):
        rnnzoo.create("lstm", 3, 4, bidirectional=True, latency=(0, 1))
    with pytest.raises(ValueError, match="right context N_r an int >= 0, got -1"):
        LatencyControlled(rnnzoo.LSTMCell(3, 4), chunk=2, right=-1)
    with pytest.raises(TypeError, match="latency: expected a pair"):
        rnnzoo.create("lstm", 3, 4, bidirectional=True, latency=3)
    layer = _layer(2, 1)
    x = torch.randn(2, 5, 3, dtype=torch.float64)
    _, state = layer(x)
    with pytest.raises(ValueError, match="state: the backward direction"):
        layer(x, state)
    layer(x, BidirectionalState(state.forward, None))  # the forward state carries on
    with pytest.raises(ValueError, match="step_hook"):
        layer.run(x, step_hook=lambda t, s: s)
    with pytest.raises(ValueError, match="step: a bidirectional layer"):
        layer.step(x[:, 0])
    stream = layer.stream()
    stream.push(x)
    with pytest.raises(ValueError, match="x: expected the stream's batch size 2, got 1"):
        stream.push(x[:1])
    with pytest.raises(ValueError, match=r"x: expected frames \(B, n, \*F\)"):
        stream.push(x[0])
    stream.flush()
    with pytest.raises(ValueError, match="flush: no frames"):
        stream.flush()


def test_stream_of_a_stack_equals_the_model_with_residual_and_a_unidirectional_layer():
    torch.manual_seed(1)
    model = rnnzoo.create("lstm", 3, 4, num_layers=2, bidirectional=True, latency=(2, 1), residual=True).double()
    mixed = rnnzoo.Stacked([LatencyControlled(rnnzoo.GRUCell(3, 4), chunk=3, right=2),
                            rnnzoo.Recurrent(rnnzoo.LSTMCell(8, 5))]).double()
    x = torch.randn(2, 13, 3, dtype=torch.float64)
    for net, delay in ((model, 2 * (2 - 1 + 1)), (mixed, 3 - 1 + 2)):
        net.eval()
        stream = stream_of(net)
        assert stream.delay == delay
        parts, at = [], 0
        for n in (1, 4, 0, 1, 1, 6):
            y = stream.push(x[:, at:at + n])
            at += n
            parts.append(y)
            done = sum(p.shape[1] for p in parts)
            assert done >= at - delay  # every output at most `delay` frames late
        parts.append(stream.flush())
        torch.testing.assert_close(torch.cat(parts, 1), net(x)[0])
    with pytest.raises(ValueError, match="layer 0 is a Bidirectional"):
        stream_of(rnnzoo.create("lstm", 3, 4, bidirectional=True))


def test_flush_after_every_frame_was_emitted():
    layer = _layer(2, 0).eval()
    x = torch.randn(1, 6, 3, dtype=torch.float64)
    stream = layer.stream()
    y = stream.push(x)
    assert y.shape[1] == 6 and stream.flush().shape[1] == 0
    torch.testing.assert_close(y, layer(x)[0])


def test_a_spatial_cell_streams_and_matches_the_bidirectional_layer_when_the_window_reaches_the_end():
    torch.manual_seed(2)
    lc = LatencyControlled(rnnzoo.ConvLSTMCell(1, 2), chunk=2, right=1).double().eval()
    x = torch.randn(2, 5, 1, 4, 4, dtype=torch.float64)
    out, _ = lc(x, lengths=[5, 3])
    assert out.shape == (2, 5, 4, 4, 4) and out[1, 3:].abs().sum() == 0
    stream = lc.stream()
    parts = [stream.push(x[:, :3]), stream.push(x[:, 3:]), stream.flush()]
    torch.testing.assert_close(torch.cat(parts, 1), lc(x)[0])
    wide = LatencyControlled(rnnzoo.ConvLSTMCell(1, 2), chunk=2, right=4).double()
    bi = rnnzoo.Bidirectional(rnnzoo.ConvLSTMCell(1, 2)).double()
    wide.load_state_dict(lc.state_dict())
    bi.load_state_dict(lc.state_dict())
    torch.testing.assert_close(wide(x, lengths=[5, 3])[0], bi(x, lengths=[5, 3])[0])


def test_gradients_match_finite_differences():
    layer = _layer(2, 1, "gru")
    x = torch.randn(2, 5, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda t: layer(t, lengths=[5, 4])[0], (x,))
