"""rnnzoo's classic cells against Keras 3 (torch backend), an independent implementation, in float64.

rnnzoo's weights are mapped into Keras layers (``dtype="float64"``) and both are run on the same input;
outputs and final states must agree to 1e-12 (float64 rounding; the observed differences are ~1e-16).

Weight layouts (read from ``keras/src/layers/rnn/{lstm,gru,simple_rnn,conv_lstm}.py``, Keras 3.15.1):

* ``LSTM``: ``kernel`` (I, 4H) = ``weight_ih.T``, ``recurrent_kernel`` (H, 4H) = ``weight_hh.T``, gate order
  i, f, c, o (torch's i, f, g, o), one ``bias`` (4H,) = ``bias_ih + bias_hh``. ``unit_forget_bias`` only
  initialises the bias (+1 on f); weights assigned afterwards are used as given, so it changes nothing here.
* ``GRU``: gate order **z, r, h** (torch: r, z, n); ``h = z * h_prev + (1 - z) * hh`` as torch.
  ``reset_after=True``: ``bias`` (2, 3H) = [input bias; recurrent bias] = [``bias_ih``; ``bias_hh``], and
  ``hh = tanh(W_h x + b_ih + r * (U_h h + b_hh))``, rnnzoo ``reset="after"``.
  ``reset_after=False``: one ``bias`` (3H,) added to the input product, and
  ``hh = tanh(W_h x + b + U_h (r * h))``: the reset gate multiplies h *before* the product and no bias is
  inside r; that is rnnzoo ``reset="before"`` (``n = tanh(W_n x + b_in + U_n (r * h) + b_hn)``) with
  ``b = bias_ih + bias_hh``. :func:`test_gru_reset_forms_differ` shows the two forms are told apart.
* ``SimpleRNN``: ``kernel`` (I, H), ``recurrent_kernel`` (H, H), ``bias`` = ``bias_ih + bias_hh``.
* ``ConvLSTM2D``: ``kernel`` (k, k, C, 4H) = ``weight_ih.permute(2, 3, 1, 0)`` (both cross-correlate),
  ``recurrent_kernel`` (k, k, H, 4H), ``bias`` (4H,) = rnnzoo's one ``bias``; gates i, f, c, o; the input
  convolution pads "same" (symmetric for odd k), the recurrent one always "same"; ``data_format=
  "channels_first"`` reads rnnzoo's (B, T, C, Y, X) as it is.
* ``Bidirectional``: ``forward_layer`` and ``backward_layer`` each take the weights of rnnzoo's
  ``forward_layer.cell`` / ``backward_layer.cell``; ``merge_mode="concat"`` is rnnzoo's ``merge="concat"``
  ([forward, backward] on the last axis). Final states: (forward..., backward...).

Masking (read from ``keras/src/backend/torch/rnn.py`` ``rnn()``, the non-unrolled branch, and
``keras/src/layers/rnn/rnn.py``, ``bidirectional.py``): at a masked step Keras keeps every state
(``torch.where(mask_t, new_state, state)``), exactly as rnnzoo does, so final states agree for any mask
(prefix or with holes, a fully masked row included). The *outputs* at masked steps differ on purpose:

* a Keras RNN layer (``zero_output_for_mask=False``, the default) emits at a masked step the output of the
  previous step (``flat_mask_output = prev_output``; zeros before the first valid step), i.e. the last
  valid output carried forward; rnnzoo emits zeros (README: "zero past each sequence's end"). The tests
  compare Keras against rnnzoo's output with that carry-forward applied (:func:`carry_forward`), which
  checks every step, not only the valid ones.
* ``Bidirectional`` forces ``zero_output_for_mask = return_sequences`` on both directions
  (``force_zero_output_for_mask``), so there Keras also emits zeros and the outputs agree at every step.
  Keras' backward layer (``go_backwards=True``) flips the sequence and its mask; the masked steps it meets
  first (right padding) leave the zero state untouched, so it starts at each sequence's last valid step,
  as rnnzoo's ``reverse`` does; with holes both simply skip the masked steps in reverse order.

Precision: Keras 3.15.1 computes ``ops.matmul`` of two float64 tensors in float32 on the torch backend
(its type promotion demotes 64-bit floats except on TensorFlow; keras-team/keras#23704), and its RNN cells
multiply with ``ops.matmul``. Each test here therefore runs with that demotion lifted (the autouse fixture
:func:`keras_float64`, undone after the test); :func:`test_keras_as_shipped_multiplies_in_float32` runs
stock Keras and shows agreement to float32 rounding only (~1e-7).

Code paths covered. Keras: unmasked ``LSTM`` and unmasked ``GRU(reset_after=True)`` run the torch
backend's own loops (``_fallback_lstm`` / ``_fallback_gru``, plain ``torch.matmul``: float64 even without
the fixture); with a mask, ``GRU(reset_after=False)``, ``SimpleRNN`` and ``ConvLSTM2D`` run the generic
``rnn()`` loop over the Keras cell (``ConvLSTM2D`` convolves with ``ops.conv``, which keeps float64).
rnnzoo: no mask and lengths run torch's kernels (LSTM, GRU "after", Elman tanh/relu), a mask with holes
their step loop; GRU "before", Elman sigmoid and the ConvLSTM run rnnzoo's fused recurrences, masked or not.
"""

from __future__ import annotations

import os
import tempfile

import pytest
import torch

import rnnzoo


def _import_keras():
    """Import Keras on the torch backend, on the CPU, without reading or writing ``~/.keras``.

    The environment variables are set only while Keras is imported (Keras reads them then) and restored
    afterwards, so no other test sees them.
    """
    saved = {k: os.environ.get(k) for k in ("KERAS_BACKEND", "KERAS_HOME", "KERAS_TORCH_DEVICE")}
    try:
        with tempfile.TemporaryDirectory() as home:
            os.environ.update(KERAS_BACKEND="torch", KERAS_HOME=home, KERAS_TORCH_DEVICE="cpu")
            keras = pytest.importorskip("keras", reason="keras is not installed (`pip install -c constraints.txt "
                                        "-e .[test]` installs it): no cross-check against Keras 3")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
    if keras.backend.backend() != "torch":
        raise RuntimeError(f"keras was imported before this module with the {keras.backend.backend()!r} "
                           "backend; these tests need KERAS_BACKEND=torch")
    return keras


keras = _import_keras()

from keras.src.backend.common import dtypes as keras_dtypes  # noqa: E402  (after the backend is chosen)

#: Keras' own value: float64 results demoted to float32 on every backend but TensorFlow.
STOCK_FLOAT64_RESULT = keras_dtypes.BIT64_TO_BIT32_DTYPE["float64"]


@pytest.fixture(autouse=True)
def keras_float64(monkeypatch):
    """Keras' type promotion with 64-bit floats kept, as JAX with ``jax_enable_x64`` (for this test only).

    Keras 3.15.1's ``dtypes._lattice_result_type`` maps float64 to float32 on every backend but
    TensorFlow ("aligned with JAX's default behavior", ``BIT64_TO_BIT32_DTYPE``), and the torch
    backend's ``ops.matmul`` computes in ``result_type(x1, x2)``: two float64 operands are multiplied in
    float32 (keras-team/keras#23704). Keras' RNN cells (``LSTMCell``, ``GRUCell``, ``SimpleRNNCell``)
    use ``ops.matmul``, so without this a float64 Keras layer agrees with any float64 implementation
    only to float32 rounding (see :func:`test_keras_as_shipped_multiplies_in_float32`).
    """
    monkeypatch.setitem(keras_dtypes.BIT64_TO_BIT32_DTYPE, "float64", "float64")
    assert keras.backend.result_type("float64", "float64") == "float64"


DT = torch.float64
TOL = 1e-12
B, T, I, H = 5, 7, 3, 4
LENGTHS = [7, 4, 1, 6, 3]
HOLES = torch.tensor([[1, 0, 1, 1, 0, 1, 1],     # holes in the middle
                      [0, 0, 1, 1, 1, 0, 0],     # leading and trailing masked steps
                      [1, 1, 1, 1, 1, 1, 1],     # all valid
                      [0, 0, 0, 0, 0, 0, 0],     # all masked: the initial (zero) state throughout
                      [0, 1, 0, 1, 0, 1, 0]], dtype=torch.bool)
MASKS = ["none", "lengths", "holes"]


# ---------------------------------------------------------------------------------------------- helpers

def randomise(model: torch.nn.Module, seed: int = 0) -> torch.nn.Module:
    """float64 and every parameter N(0, 0.5^2): biases nonzero, gates far from 1/2, any swap visible."""
    g = torch.Generator().manual_seed(seed)
    model = model.to(DT)
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(torch.randn(p.shape, generator=g, dtype=DT) * 0.5)
    return model


def inputs(*feature: int, batch: int = B, seed: int = 1) -> torch.Tensor:
    return torch.randn(batch, T, *feature, generator=torch.Generator().manual_seed(seed), dtype=DT)


def step_mask(kind: str, batch: int = B) -> torch.Tensor | None:
    """The (B, T) boolean mask (True = valid) of a case, or None."""
    if kind == "none":
        return None
    if kind == "lengths":
        return torch.arange(T) < torch.tensor(LENGTHS[:batch])[:, None]
    return HOLES[:batch]


def run_rnnzoo(model: torch.nn.Module, x: torch.Tensor, kind: str):
    """rnnzoo's (output, state); lengths are passed as lengths (torch's kernels), holes as a mask."""
    if kind == "lengths":
        return model(x, lengths=LENGTHS[:x.shape[0]])
    return model(x, mask=step_mask(kind, x.shape[0]))


def run_keras(layer, x: torch.Tensor, mask: torch.Tensor | None) -> list[torch.Tensor]:
    """``layer(x, mask=mask)`` (``return_sequences`` and ``return_state``) as float64 torch tensors."""
    out = layer(x, mask=mask) if mask is not None else layer(x)
    return [to_torch(t) for t in out]


def to_torch(t) -> torch.Tensor:
    """A Keras tensor or variable of the torch backend as a plain CPU tensor (no numpy round trip)."""
    t = getattr(t, "value", t)  # a keras.Variable holds a torch Parameter
    assert isinstance(t, torch.Tensor), type(t)
    return t.detach().cpu()


def carry_forward(out: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
    """What a Keras RNN layer emits where rnnzoo emits ``out``: at a masked step the previous step's
    output (zeros before the first valid step) instead of rnnzoo's zeros."""
    if mask is None:
        return out
    prev = torch.zeros_like(out[:, 0])
    steps = []
    for t in range(out.shape[1]):
        m = mask[:, t].reshape(-1, *[1] * (out.dim() - 2))
        prev = torch.where(m, out[:, t], prev)
        steps.append(prev)
    return torch.stack(steps, 1)


def agree(request, what: str, ours: torch.Tensor, theirs: torch.Tensor) -> None:
    """Same shape and |ours - theirs| <= 1e-12 everywhere; the maximum goes into the test's properties."""
    ours = ours.detach()
    assert ours.dtype == theirs.dtype == DT, (what, ours.dtype, theirs.dtype)
    assert ours.shape == theirs.shape, (what, tuple(ours.shape), tuple(theirs.shape))
    diff = (ours - theirs).abs().max().item()
    request.node.user_properties.append((f"max_abs_diff[{what}]", diff))  # in --junitxml reports
    assert diff <= TOL, f"{what}: max |rnnzoo - keras| = {diff:.3g} > {TOL}"


def _np(t: torch.Tensor):
    return t.detach().numpy()


def _assign(kcell, kernel: torch.Tensor, recurrent: torch.Tensor, bias: torch.Tensor | None) -> None:
    kcell.kernel.assign(_np(kernel))
    kcell.recurrent_kernel.assign(_np(recurrent))
    if bias is not None:
        kcell.bias.assign(_np(bias))


def _gru_blocks(w: torch.Tensor) -> torch.Tensor:
    """torch's (r, z, n) blocks along axis 0 -> Keras' (z, r, h)."""
    r, z, n = w.chunk(3, 0)
    return torch.cat([z, r, n], 0)


def load_keras_cell(kcell, cell) -> None:
    """Copy an rnnzoo cell's weights into the built Keras cell of the same kind."""
    if isinstance(cell, rnnzoo.ConvLSTMCell):
        assert not cell.peephole  # Keras' ConvLSTM2D has no peepholes
        _assign(kcell, cell.weight_ih.permute(2, 3, 1, 0), cell.weight_hh.permute(2, 3, 1, 0), cell.bias)
        return
    has_bias = cell.bias_ih is not None
    if isinstance(cell, (rnnzoo.LSTMCell, rnnzoo.ElmanCell)):
        _assign(kcell, cell.weight_ih.t(), cell.weight_hh.t(), cell.bias_ih + cell.bias_hh if has_bias else None)
    elif isinstance(cell, rnnzoo.GRUCell):
        bias = None
        if has_bias and kcell.reset_after:
            bias = torch.stack([_gru_blocks(cell.bias_ih), _gru_blocks(cell.bias_hh)])
        elif has_bias:
            bias = _gru_blocks(cell.bias_ih + cell.bias_hh)
        _assign(kcell, _gru_blocks(cell.weight_ih).t(), _gru_blocks(cell.weight_hh).t(), bias)
    else:
        raise TypeError(f"no Keras counterpart mapped for {type(cell).__name__}")


def keras_twin(layer, model_layer, x_shape: tuple[int, ...]):
    """Build the Keras ``layer`` for ``x_shape`` and load the weights of rnnzoo's ``model_layer``
    (a Recurrent, or a Bidirectional with forward/backward layers)."""
    layer.build(x_shape)
    if isinstance(layer, keras.layers.Bidirectional):
        load_keras_cell(layer.forward_layer.cell, model_layer.forward_layer.cell)
        load_keras_cell(layer.backward_layer.cell, model_layer.backward_layer.cell)
    else:
        load_keras_cell(layer.cell, model_layer.cell)
    return layer


def seq(cls, *args, **kw):
    """A Keras recurrent layer in float64 returning every output and the final states."""
    return cls(*args, return_sequences=True, return_state=True, dtype="float64", **kw)


# ---------------------------------------------------------------------------------------------- cells

def check_one_layer(request, model, klayer, x, kind: str) -> None:
    mask = step_mask(kind, x.shape[0])
    out, state = run_rnnzoo(model, x, kind)
    k_out, *k_states = run_keras(keras_twin(klayer, model.layers[0], tuple(x.shape)), x, mask)
    agree(request, "output", carry_forward(out, mask), k_out)
    if kind != "none":  # the valid steps alone, as both define them identically
        m = mask.reshape(*mask.shape, *[1] * (out.dim() - 2)).expand_as(out)
        agree(request, "valid outputs", out[m], k_out[m])
    ours = list(state.layers[0])
    assert len(ours) == len(k_states)
    for name, s, ks in zip(type(state.layers[0])._fields, ours, k_states, strict=True):
        agree(request, f"final {name}", s, ks)


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("unit_forget_bias", [True, False])
def test_lstm(request, kind, unit_forget_bias):
    model = randomise(rnnzoo.create("lstm", input_size=I, hidden_size=H))
    klayer = seq(keras.layers.LSTM, H, unit_forget_bias=unit_forget_bias)
    check_one_layer(request, model, klayer, inputs(I), kind)
    # the flag only initialises: the bias Keras ran with is exactly ours (no +1 on the forget gate)
    cell = model.layers[0].cell
    torch.testing.assert_close(to_torch(klayer.cell.bias), (cell.bias_ih + cell.bias_hh).detach(), rtol=0, atol=0)


def test_lstm_without_bias(request):
    model = randomise(rnnzoo.create("lstm", input_size=I, hidden_size=H, bias=False))
    assert model.layers[0].cell.bias_ih is None
    check_one_layer(request, model, seq(keras.layers.LSTM, H, use_bias=False), inputs(I), "lengths")


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("reset", ["after", "before"])
def test_gru(request, kind, reset):
    model = randomise(rnnzoo.create("gru", input_size=I, hidden_size=H, reset=reset))
    klayer = seq(keras.layers.GRU, H, reset_after=reset == "after")
    check_one_layer(request, model, klayer, inputs(I), kind)


@pytest.mark.parametrize("reset", ["after", "before"])
def test_gru_without_bias(request, reset):
    model = randomise(rnnzoo.create("gru", input_size=I, hidden_size=H, reset=reset, bias=False))
    klayer = seq(keras.layers.GRU, H, reset_after=reset == "after", use_bias=False)
    check_one_layer(request, model, klayer, inputs(I), "holes")


def test_gru_reset_forms_differ():
    """The check can tell the two GRU forms apart: Keras' reset_after=False is not rnnzoo's "after"."""
    model = randomise(rnnzoo.create("gru", input_size=I, hidden_size=H, reset="after"))
    x = inputs(I)
    klayer = keras_twin(seq(keras.layers.GRU, H, reset_after=False), model.layers[0], tuple(x.shape))
    k_out = run_keras(klayer, x, None)[0]
    assert (model(x)[0].detach() - k_out).abs().max().item() > 1e-3


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("activation", ["tanh", "relu", "sigmoid"])
def test_elman(request, kind, activation):
    model = randomise(rnnzoo.create("elman", input_size=I, hidden_size=H, activation=activation))
    klayer = seq(keras.layers.SimpleRNN, H, activation=activation)
    check_one_layer(request, model, klayer, inputs(I), kind)


@pytest.mark.parametrize("kind", MASKS)
def test_convlstm(request, kind):
    # non-square images and C != H, so a swapped spatial or channel axis cannot pass
    model = randomise(rnnzoo.create("convlstm", input_size=2, hidden_size=3, kernel_size=3))
    klayer = seq(keras.layers.ConvLSTM2D, 3, kernel_size=3, padding="same", data_format="channels_first")
    check_one_layer(request, model, klayer, inputs(2, 5, 6, batch=3), kind)


@pytest.mark.parametrize("name", ["lstm", "gru", "elman"])
def test_keras_as_shipped_multiplies_in_float32(request, monkeypatch, name):
    """What a Keras user gets without :func:`keras_float64`: the same function to float32 rounding."""
    monkeypatch.setitem(keras_dtypes.BIT64_TO_BIT32_DTYPE, "float64", STOCK_FLOAT64_RESULT)
    model = randomise(rnnzoo.create(name, input_size=I, hidden_size=H))
    klayer = seq({"lstm": keras.layers.LSTM, "gru": keras.layers.GRU, "elman": keras.layers.SimpleRNN}[name], H)
    x, mask = inputs(I), step_mask("holes")  # a mask sends every layer through the Keras cell (ops.matmul)
    out, _ = run_rnnzoo(model, x, "holes")
    k_out = run_keras(keras_twin(klayer, model.layers[0], tuple(x.shape)), x, mask)[0]
    diff = (carry_forward(out, mask).detach() - k_out).abs().max().item()
    request.node.user_properties.append(("max_abs_diff[output, stock keras]", diff))
    assert diff < 1e-5


# ---------------------------------------------------------------------------------------------- layers

def check_stack(request, model, klayers, x, kind: str) -> None:
    """rnnzoo's model against the Keras layers applied in turn, the mask handed to each."""
    mask = step_mask(kind, x.shape[0])
    out, state = run_rnnzoo(model, x, kind)
    h, k_states = x, []
    for klayer, layer in zip(klayers, model.layers, strict=True):
        h, *s = run_keras(keras_twin(klayer, layer, tuple(h.shape)), h, mask)
        k_states.append(s)
    bidirectional = isinstance(klayers[-1], keras.layers.Bidirectional)
    # Bidirectional zeroes its masked outputs as rnnzoo does; a plain Keras layer carries the last one on
    agree(request, "output", out if bidirectional else carry_forward(out, mask), h)
    for i, (ours, theirs) in enumerate(zip(state.layers, k_states, strict=True)):
        flat = [*ours.forward, *ours.backward] if bidirectional else list(ours)
        assert len(flat) == len(theirs)
        for j, (s, ks) in enumerate(zip(flat, theirs, strict=True)):
            agree(request, f"layer {i} final state {j}", s, ks)


@pytest.mark.parametrize("kind", MASKS)
def test_bidirectional_lstm(request, kind):
    model = randomise(rnnzoo.create("lstm", input_size=I, hidden_size=H, bidirectional=True))
    klayer = keras.layers.Bidirectional(seq(keras.layers.LSTM, H), merge_mode="concat", dtype="float64")
    check_stack(request, model, [klayer], inputs(I), kind)


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("reset", ["after", "before"])
def test_bidirectional_gru(request, kind, reset):
    model = randomise(rnnzoo.create("gru", input_size=I, hidden_size=H, bidirectional=True, reset=reset))
    klayer = keras.layers.Bidirectional(seq(keras.layers.GRU, H, reset_after=reset == "after"),
                                        merge_mode="concat", dtype="float64")
    check_stack(request, model, [klayer], inputs(I), kind)


@pytest.mark.parametrize("kind", MASKS)
@pytest.mark.parametrize("bidirectional", [False, True])
def test_two_layer_lstm(request, kind, bidirectional):
    model = randomise(rnnzoo.create("lstm", input_size=I, hidden_size=H, num_layers=2, bidirectional=bidirectional))
    klayers = [seq(keras.layers.LSTM, H) for _ in range(2)]
    if bidirectional:
        klayers = [keras.layers.Bidirectional(k, merge_mode="concat", dtype="float64") for k in klayers]
    check_stack(request, model, klayers, inputs(I), kind)
