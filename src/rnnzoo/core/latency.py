"""Latency-controlled (sliding-window) bidirectional layers for online use, for any cell.

A bidirectional layer (001 eqs (23)-(25)) needs the whole utterance before its first output. The
latency-controlled BLSTM (Zhang, Chen, Yu, Yao, Khudanpur & Glass 2016, "Highway Long Short-Term Memory
RNNs for Distant Speech Recognition", arXiv:1510.08983, section 3.2; Chen & Huo 2016, context-sensitive-chunk
BPTT, IEEE/ACM TASLP 24(6); 001 section 4.3) bounds that wait:

* the forward direction is the plain forward run: its state is carried across chunks,
  ``hf_t = cell_f(x_t, hf_{t-1})``;
* the sequence is cut into chunks of ``chunk`` = N_c frames starting at ``s_k = k N_c``; the backward
  direction restarts from the ZERO state in every chunk and runs backwards from the end of the chunk's
  window, its N_c frames plus ``right`` = N_r frames of right context:
  ``hb_t^(k) = cell_b(x_t, hb_{t+1}^(k))`` for ``t = e_k - 1, ..., s_k`` with
  ``e_k = min(s_k + N_c + N_r, T)`` and ``hb_{e_k}^(k) = 0``;
* only the chunk's N_c central frames are emitted: ``y_t = merge(hf_t, hb_t^(k))`` for
  ``s_k <= t < s_k + N_c`` (the last chunk is shorter, and so is its window);
* training chunks exactly as inference does (the layer's ``forward`` IS the chunked computation).

So the output at ``t`` depends on ``x_0 .. x_{e_k - 1}``: at most ``N_c - 1 + N_r`` future frames
(``delay``). With ``N_c = 1`` it is the sliding window of width ``N_r + 1``: each output waits exactly
N_r frames. With ``N_r >= T - 1`` (or ``N_c >= T``) it is the full :class:`~rnnzoo.core.layers.Bidirectional`.

The chunks are computed by the one runner (:func:`rnnzoo.core.runner.run`): the windows ``(B, K, W, *F)``
are gathered by index, reshaped into the batch axis ``(B K, W, *F)`` and run once with ``reverse=True`` and
per-window lengths (or masks): no Python loop over chunks. Variable lengths, masks (True = valid; a
chunk is a range of time indices, holes included), packed and time-major input as in every layer.

:class:`LatencyStream` (``layer.stream()``) takes frames as they arrive, any number per call, and
returns each output once it is final: the forward state is carried, the backward direction is computed
per chunk once the chunk's window has arrived (all ready chunks in one runner call), ``flush()`` ends
the utterance (the last, shorter windows). Its outputs equal the whole-sequence layer's.

Deviations: Zhang et al. describe the LSTM with highway connections; here any cell (and any merge of the
two directions) is accepted. Chen & Huo also prepend N_l frames of left context to each chunk to warm up
the forward state; here the forward state is simply carried (the latency-controlled form), so there is no
N_l. Chunks are ranges of time indices: a mask with holes keeps them where they are (the masked frames
are skipped, as in every run). The final backward state is that of the first chunk after its first
valid frame (what :class:`~rnnzoo.core.layers.Bidirectional` returns when the window reaches the end);
a given initial state sets the forward direction only (the backward one always restarts from zeros).

Example:
    >>> import torch, rnnzoo
    >>> from rnnzoo.core.latency import LatencyControlled
    >>> layer = LatencyControlled(rnnzoo.LSTMCell(3, 4), chunk=4, right=2)
    >>> x = torch.randn(2, 10, 3)
    >>> y, _ = layer(x)
    >>> y.shape, layer.delay
    (torch.Size([2, 10, 8]), 5)
    >>> stream = layer.stream()
    >>> parts = [stream.push(x[:, :7]), stream.push(x[:, 7:]), stream.flush()]
    >>> [p.shape[1] for p in parts]
    [4, 4, 2]
    >>> torch.allclose(torch.cat(parts, 1), y, atol=1e-6)
    True
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import torch
from torch import Tensor
from torch.nn.utils.rnn import pack_padded_sequence

from rnnzoo.core.cell import Cell
from rnnzoo.core.layers import Bidirectional, BidirectionalState, Merge, Recurrent, Stacked, _unpack
from rnnzoo.core.runner import RunOutput, StepHook, run, valid_steps
from rnnzoo.core.tree import tree_leaves, tree_map


def check_latency(latency: Any, name: str = "latency") -> tuple[int, int]:
    """``(N_c, N_r)`` validated: ``N_c`` (frames emitted per chunk) an int >= 1, ``N_r`` (right-context
    frames) an int >= 0; errors name ``name``."""
    if isinstance(latency, (str, bytes)) or not isinstance(latency, Sequence) or len(latency) != 2:
        raise TypeError(f"{name}: expected a pair (chunk N_c, right context N_r) of ints, got {latency!r}")
    chunk, right = latency
    if isinstance(chunk, bool) or not isinstance(chunk, int) or chunk < 1:
        raise ValueError(f"{name}: expected the chunk size N_c an int >= 1, got {chunk!r}")
    if isinstance(right, bool) or not isinstance(right, int) or right < 0:
        raise ValueError(f"{name}: expected the right context N_r an int >= 0, got {right!r}")
    return chunk, right


def windows(steps: int, chunk: int, right: int, n_chunks: int | None = None,
            device: torch.device | None = None) -> tuple[Tensor, Tensor, int]:
    """The backward direction's windows over ``steps`` frames.

    Returns ``(index (K, W), inside (K, W), emitted)``: ``index[k, j] = min(k N_c + j, steps - 1)`` (the
    frame read at window position j), ``inside`` True where ``k N_c + j < steps``, and the number of
    frames each window emits, ``min(N_c, W)``. ``W = min(N_c + N_r, steps)``; ``K = ceil(steps / N_c)``
    unless ``n_chunks`` is given (the stream's ready chunks).
    """
    width = min(chunk + right, steps)
    k = math.ceil(steps / chunk) if n_chunks is None else n_chunks
    pos = torch.arange(k, device=device).unsqueeze(1) * chunk + torch.arange(width, device=device).unsqueeze(0)
    return pos.clamp(max=steps - 1), pos < steps, min(chunk, width)


class LatencyControlled(Bidirectional):
    """A bidirectional layer whose backward direction sees at most ``right`` frames past each chunk
    (see the module docstring for the equations).

    Args:
        forward: the forward-direction cell (any :class:`~rnnzoo.core.cell.Cell`).
        backward: the backward-direction cell; default a copy of ``forward`` with fresh parameters.
        chunk: N_c, frames per chunk (emitted per backward run), >= 1.
        right: N_r, right-context frames read past each chunk and not emitted, >= 0.
        merge, merge_size, batch_first: as :class:`~rnnzoo.core.layers.Bidirectional`.

    Shapes: ``x`` ``(B, T, *F)`` (or ``(T, B, *F)``, ``(T, *F)`` unbatched, a PackedSequence) -> output
    ``(B, T, *O)``, zero at invalid steps; state a :class:`~rnnzoo.core.layers.BidirectionalState`.
    The parameters have the names of :class:`~rnnzoo.core.layers.Bidirectional`'s
    (``forward_layer.cell.*``, ``backward_layer.cell.*``): a trained bidirectional layer's ``state_dict``
    loads into a latency-controlled one and back.
    """

    def __init__(self, forward: Cell, backward: Cell | None = None, *, chunk: int, right: int,
                 merge: Merge = "concat", merge_size: int | None = None, batch_first: bool = True) -> None:
        super().__init__(forward, backward, merge=merge, merge_size=merge_size, batch_first=batch_first)
        self.chunk, self.right = check_latency((chunk, right), "chunk, right")

    @property
    def latency(self) -> tuple[int, int]:
        """``(N_c, N_r)``."""
        return self.chunk, self.right

    @property
    def delay(self) -> int:
        """The most future frames an output waits for: ``N_c - 1 + N_r`` (the first frame of a chunk)."""
        return self.chunk - 1 + self.right

    def stream(self, state: Any = None) -> LatencyStream:
        """A :class:`LatencyStream` over this layer (``state``: the forward direction's initial state)."""
        return LatencyStream(self, state)

    def backward_run(self, x: Any, *, lengths: Tensor | None = None, mask_bt: Tensor | None = None,
                     n_chunks: int | None = None, return_states: bool = False, use_fused: bool = True,
                     randomness: str = "per_sequence") -> RunOutput:
        """The backward direction over batch-first ``x`` ``(B, T, *F)`` (a tensor or a pytree of them):
        every chunk's window in the batch axis, one reversed run. ``lengths`` ``(B,)`` or ``mask_bt``
        ``(B, T)`` (not both); ``n_chunks``: emit only the first K chunks (the stream's full windows).

        Returns ``RunOutput(output (B, K', *O), state, states (B, K', ...) or None)`` with ``K'`` the
        emitted frames (``T``, or ``n_chunks * N_c``); outputs at invalid frames are zero.
        """
        leaves = tree_leaves(x, what="x")
        batch, steps, device = leaves[0].shape[0], leaves[0].shape[1], leaves[0].device
        index, inside, emitted = windows(steps, self.chunk, self.right, n_chunks, device)
        k, width = index.shape
        flat = index.reshape(-1)

        def gather(t: Tensor) -> Tensor:  # (B, T, ...) -> (B K, W, ...)
            return t[:, flat].reshape(batch * k, width, *t.shape[2:])

        xw = tree_map(gather, x)
        run_lengths = run_mask = valid = None
        if mask_bt is not None:
            valid = mask_bt[:, flat].reshape(batch, k, width) & inside
            run_mask = valid.reshape(batch * k, width)
        else:  # window counts from the lengths, which the runner keeps on the CPU (moved below)
            # cpu: lengths
            ends = torch.full((batch,), steps, dtype=torch.int64) if lengths is None else lengths.to("cpu")
            starts = torch.arange(k, dtype=torch.int64) * self.chunk  # cpu: beside the lengths
            counts = (ends.unsqueeze(1) - starts.unsqueeze(0)).clamp(0, width)  # (B, K) valid frames per window
            if not bool((counts == width).all()):
                # a window past a sequence's end runs one frame (the runner needs >= 1); masked out below
                run_lengths = counts.clamp(min=1).reshape(-1)
            valid = inside.unsqueeze(0) & (torch.arange(width).unsqueeze(0).unsqueeze(0)  # cpu: beside counts
                                           < counts.unsqueeze(2)).to(device)
        out = run(self.backward_layer.cell, xw, lengths=run_lengths, mask=run_mask, reverse=True,
                  return_states=return_states, use_fused=use_fused, randomness=randomness)

        def emit(t: Tensor) -> Tensor:  # (B K, W, ...) -> (B, K emitted, ...) -> (B, T', ...)
            t = t.reshape(batch, k, width, *t.shape[2:])[:, :, :emitted]
            t = t.reshape(batch, k * emitted, *t.shape[3:])
            return t[:, :steps] if n_chunks is None else t

        keep = emit(valid.reshape(batch * k, width))  # (B, T')
        output = tree_map(lambda t: torch.where(keep.view(*keep.shape, *([1] * (t.dim() - 2))), emit(t),
                                                t.new_zeros(())), out.output)
        states = tree_map(emit, out.states) if out.states is not None else None
        first = tree_map(lambda s: s.reshape(batch, k, *s.shape[1:])[:, 0], out.state)
        return RunOutput(output, first, states)

    def run(self, x: Any, state: Any = None, *, lengths: Any = None, mask: Tensor | None = None,
            return_states: bool = False, step_hook: StepHook | None = None, use_fused: bool = True,
            context: Any = None, randomness: str = "per_sequence") -> RunOutput:
        if step_hook is not None:
            raise ValueError("step_hook: a latency-controlled layer's backward direction runs its chunks side by "
                             "side in the batch axis, so a hook's time index would be ambiguous; run without one")
        if context is not None:
            raise ValueError("context: a latency-controlled layer does not take a per-run context (its backward "
                             "chunks run in the batch axis, where a batched context would not line up)")
        x, lengths, packed = _unpack(x, lengths, mask, self.batch_first)
        if state is None:
            sf = None
        else:
            if not isinstance(state, BidirectionalState):
                raise TypeError(f"state: expected a BidirectionalState(forward, backward=None), got "
                                f"{type(state).__name__}")
            if state.backward is not None:
                raise ValueError("state: the backward direction of a latency-controlled layer restarts from zeros "
                                 "in every chunk; pass BidirectionalState(forward_state, None)")
            sf = state.forward
        kw = dict(return_states=return_states, use_fused=use_fused, randomness=randomness)
        f = self.forward_layer.run(x, sf, lengths=lengths, mask=mask, **kw)  # validates x, lengths, mask
        unbatched = isinstance(x, Tensor) and x.dim() == self.feature_dims + 1
        xb = x.unsqueeze(0) if unbatched else x if self.batch_first else tree_map(lambda t: t.transpose(0, 1), x)
        first = tree_leaves(xb, what="x")[0]
        batch, steps = first.shape[0], first.shape[1]
        mask_t, lens = valid_steps(lengths, mask, batch, steps, batch_first=self.batch_first, device=first.device)
        holes = mask_t is not None and lens is None
        b = self.backward_run(xb, lengths=lens, mask_bt=mask_t.t() if holes else None, **kw)
        b_out = tree_map(lambda t: t.squeeze(0) if unbatched else t if self.batch_first else t.transpose(0, 1),
                         b.output)
        b_states = b.states
        if b_states is not None and not unbatched and not self.batch_first:
            b_states = tree_map(lambda t: t.transpose(0, 1), b_states)
        b_state = tree_map(lambda t: t.squeeze(0), b.state) if unbatched else b.state
        if unbatched and b_states is not None:
            b_states = tree_map(lambda t: t.squeeze(0), b_states)
        out = self._merge(f.output, b_out)
        if packed:
            out = pack_padded_sequence(out, lengths, batch_first=self.batch_first, enforce_sorted=False)
        states = BidirectionalState(f.states, b_states) if return_states else None
        return RunOutput(out, BidirectionalState(f.state, b_state), states)

    def extra_repr(self) -> str:
        return f"chunk={self.chunk}, right={self.right}, merge={self.merge!r}"


class LatencyStream:
    """Online use of a :class:`LatencyControlled` layer: frames in, final outputs out.

    ``push(x)`` takes the next frames ``x`` ``(B, n, *F)`` (batch first, any ``n >= 0``; every stream of
    the batch advances together) and returns the outputs ``(B, m, *O)`` that became final, in order:
    those of every chunk whose window (its N_c frames and N_r more) has arrived. ``flush()`` ends the
    utterance: it returns the remaining outputs (the last windows cut at the end, as the whole-sequence
    layer cuts them) and resets the stream for the next utterance.

    The output at frame ``t`` of chunk ``k`` is returned by the push that brings frame
    ``min(s_k + N_c + N_r, T) - 1``: at most ``layer.delay = N_c - 1 + N_r`` frames after ``t`` (exactly
    N_r with N_c = 1), and it never changes afterwards. The concatenated outputs equal ``layer(x)[0]``.
    Run the layer in ``eval()`` mode (a dropout wrapper draws its masks per call).
    """

    def __init__(self, layer: LatencyControlled, state: Any = None) -> None:
        if not isinstance(layer, LatencyControlled):
            raise TypeError(f"layer: expected a LatencyControlled layer, got {type(layer).__name__}")
        self.layer = layer
        self.initial = state
        self.reset()

    def reset(self) -> None:
        """Forget every frame: the next push starts a new utterance."""
        self._state = self.initial  # the forward direction's state after the frames pushed so far
        self._frames: Tensor | None = None  # (B, n, *F): the frames from the current chunk's start on
        self._forward: Tensor | None = None  # (B, n, *O_f): the forward outputs at those frames
        self.pushed = 0  # frames pushed in this utterance
        self.emitted = 0  # outputs returned in this utterance

    def push(self, x: Tensor) -> Tensor:
        """The next frames ``(B, n, *F)`` -> the outputs that became final, ``(B, m, *O)``."""
        layer = self.layer
        if not isinstance(x, Tensor) or x.dim() != layer.feature_dims + 2:
            shape = tuple(x.shape) if isinstance(x, Tensor) else type(x).__name__
            raise ValueError(f"x: expected frames (B, n, *F) with {layer.feature_dims} feature axes, got {shape}")
        if self._frames is not None and x.shape[0] != self._frames.shape[0]:
            raise ValueError(f"x: expected the stream's batch size {self._frames.shape[0]}, got {x.shape[0]}")
        if x.shape[1] > 0:
            bf = x if layer.batch_first else x.transpose(0, 1)
            f = layer.forward_layer.run(bf, self._state)
            self._state = f.state
            fo = f.output if layer.batch_first else f.output.transpose(0, 1)
            self._frames = x if self._frames is None else torch.cat([self._frames, x], 1)
            self._forward = fo if self._forward is None else torch.cat([self._forward, fo], 1)
            self.pushed += x.shape[1]
        n = 0 if self._frames is None else self._frames.shape[1]
        ready = max(0, (n - layer.right) // layer.chunk)
        return self._emit(ready, x)

    def flush(self) -> Tensor:
        """The remaining outputs ``(B, m, *O)`` (the utterance ends here); then :meth:`reset`."""
        if self._frames is None:
            raise ValueError("flush: no frames were pushed since the stream started (or was last flushed)")
        out = self._emit(None, self._frames)
        self.reset()
        return out

    def _emit(self, n_chunks: int | None, like: Tensor) -> Tensor:
        layer = self.layer
        if self._frames is None or n_chunks == 0 or self._frames.shape[1] == 0:
            return _empty(like, layer.output_size)
        b = layer.backward_run(self._frames, n_chunks=n_chunks).output
        m = b.shape[1]
        out = layer._merge(self._forward[:, :m], b)
        self._frames, self._forward = self._frames[:, m:], self._forward[:, m:]
        self.emitted += m
        return out


def _empty(like: Tensor, size: int) -> Tensor:
    """No frames: ``(B, 0, size, *spatial)`` shaped after the frames ``like``."""
    return like.new_zeros((like.shape[0], 0, size, *like.shape[3:]))


class _ForwardStream:
    """A unidirectional layer in a :class:`StackStream`: every frame's output at once, the state carried."""

    def __init__(self, layer: Recurrent) -> None:
        self.layer, self.state = layer, None

    def push(self, x: Tensor) -> Tensor:
        if x.shape[1] == 0:
            return _empty(x, self.layer.output_size)
        out = self.layer.run(x if self.layer.batch_first else x.transpose(0, 1), self.state)
        self.state = out.state
        return out.output if self.layer.batch_first else out.output.transpose(0, 1)

    def flush(self, like: Tensor) -> Tensor:
        self.state = None
        return _empty(like, self.layer.output_size)


class StackStream:
    """Online use of a stack (a :func:`rnnzoo.create` model or a :class:`~rnnzoo.core.layers.Stacked`) whose
    layers are :class:`LatencyControlled` or unidirectional :class:`~rnnzoo.core.layers.Recurrent` layers.

    ``push(x)`` / ``flush()`` as :class:`LatencyStream`: layer l's final outputs are pushed into layer l + 1 as
    they come (with the stack's residual connections; dropout between layers follows ``train()``/``eval()``:
    stream in eval mode). The output at t waits for at most ``delay``, the sum of the layers' delays. The
    concatenated outputs equal ``model(x)[0]``.
    """

    def __init__(self, model: Stacked) -> None:
        if not isinstance(model, Stacked):
            raise TypeError(f"model: expected a Stacked model (rnnzoo.create), got {type(model).__name__}")
        streams: list[Any] = []
        for i, layer in enumerate(model.layers):
            if isinstance(layer, LatencyControlled):
                streams.append(LatencyStream(layer))
            elif isinstance(layer, Recurrent) and not layer.reverse:
                streams.append(_ForwardStream(layer))
            else:
                what = "a reversed Recurrent" if isinstance(layer, Recurrent) else f"a {type(layer).__name__}"
                raise ValueError(f"model: layer {i} is {what}, which needs the whole sequence; a stream takes "
                                 "latency-controlled and unidirectional layers")
        self.model, self.streams = model, streams
        self.delay = sum(layer.delay for layer in model.layers if isinstance(layer, LatencyControlled))
        self._inputs: list[Tensor | None] = [None] * len(streams)
        self.started = False

    def _through(self, index: int, h: Tensor, y: Tensor) -> Tensor:
        """Layer ``index``'s new outputs ``y`` connected (residual, dropout) with the inputs they belong to."""
        pending = self._inputs[index]
        pending = h if pending is None else torch.cat([pending, h], 1)
        m = y.shape[1]
        self._inputs[index] = pending[:, m:]
        return self.model.connect(index, y, pending[:, :m])

    def push(self, x: Tensor) -> Tensor:
        """The next frames ``(B, n, *F)`` -> the stack's outputs that became final ``(B, m, *O)``."""
        self.started = True
        h = x
        for i, stream in enumerate(self.streams):
            h = self._through(i, h, stream.push(h))
        return h

    def flush(self) -> Tensor:
        """The remaining outputs: each layer takes what the layer below flushed, then ends; then a reset."""
        if not self.started:
            raise ValueError("flush: no frames were pushed since the stream started (or was last flushed)")
        h: Tensor | None = None
        for i, stream in enumerate(self.streams):
            parts = []
            if h is not None:
                parts.append(self._through(i, h, stream.push(h)))
            like = h if h is not None else self._inputs[i]
            assert like is not None
            rest = stream.flush() if isinstance(stream, LatencyStream) else stream.flush(like)
            parts.append(self._through(i, like[:, :0], rest))
            h = torch.cat(parts, 1)
        self._inputs = [None] * len(self.streams)
        self.started = False
        assert h is not None
        return h


def stream(model: LatencyControlled | Stacked) -> LatencyStream | StackStream:
    """A stream over a latency-controlled layer or a stack of such (and unidirectional) layers."""
    return LatencyStream(model) if isinstance(model, LatencyControlled) else StackStream(model)


__all__ = ["LatencyControlled", "LatencyStream", "StackStream", "check_latency", "stream", "windows"]
