"""CNN-BiLSTM (Ma & Hovy 2016) against a naive loop typed from the paper's equations, masks and bad input."""

from __future__ import annotations

import pytest
import torch

import rnnzoo
from rnnzoo.cells.cnn_bilstm import CNNBiLSTM

OPTS = dict(hidden_size=4, word_vocab=11, char_vocab=9, word_dim=5, char_dim=3, char_filters=6, char_kernel=3)
B, T, W = 3, 5, 6
LENGTHS = [5, 2, 4]


def _input(generator=None, words_chars=None):
    """Random words of 1..W left-aligned characters; padded time steps all zero."""
    g = generator or torch.Generator().manual_seed(0)
    x = torch.zeros(B, T, 1 + W, dtype=torch.long)
    for b, n in enumerate(LENGTHS):
        for t in range(n):
            x[b, t, 0] = torch.randint(0, OPTS["word_vocab"], (), generator=g)
            k = int(torch.randint(1, W + 1, (), generator=g))
            x[b, t, 1:1 + k] = torch.randint(1, OPTS["char_vocab"], (k,), generator=g)
    return x


def _model(**kw):
    """Built by the class: ``rnnzoo.create`` takes ``num_layers`` and ``dropout`` as its own stacking
    arguments and refuses them for a whole model (core/factory.py), so they cannot reach this model there."""
    torch.manual_seed(0)
    return CNNBiLSTM(**{**OPTS, **kw}).double().eval()


def _naive_lstm(cell, xs):
    """Ma & Hovy sec. 2.2.1, one step at a time, gates (i, f, g, o) in torch's order."""
    H = cell.hidden_size
    h = torch.zeros(H, dtype=torch.float64)
    c = torch.zeros(H, dtype=torch.float64)
    out = []
    for x in xs:
        pre = cell.weight_ih @ x + cell.weight_hh @ h + cell.bias_ih + cell.bias_hh
        i, f, g, o = (pre[k * H:(k + 1) * H] for k in range(4))
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        out.append(h)
    return out


def _naive(model, x, n):
    """One sentence of n words, loops over words, characters and windows."""
    K = model.char_kernel
    reps = []
    for t in range(n):
        parts = [model.word_embedding.weight[x[t, 0]]]
        if model.char_cnn:
            chars = [int(c) for c in x[t, 1:] if c != 0]
            E = [model.char_embedding.weight[c] for c in chars]
            zero = torch.zeros_like(model.char_embedding.weight[0])
            windows = []
            for k in range(len(chars) + K - 1):  # window k covers characters k-K+1 .. k
                z = model.conv.bias.clone()
                for d in range(K):
                    j = k - K + 1 + d
                    z = z + model.conv.weight[:, :, d] @ (E[j] if 0 <= j < len(chars) else zero)
                windows.append(torch.tanh(z))
            parts.append(torch.stack(windows).max(0).values)
        reps.append(torch.cat(parts))
    layer = model.lstm.layers[0]
    fwd = _naive_lstm(layer.forward_layer.cell, reps)
    bwd = _naive_lstm(layer.backward_layer.cell, reps[::-1])[::-1]
    return torch.stack([torch.cat([f, b]) for f, b in zip(fwd, bwd, strict=True)])


@pytest.mark.parametrize("char_cnn", [True, False])
def test_equals_naive_loop_from_the_paper(char_cnn):
    model = _model(char_cnn=char_cnn)
    x = _input()
    out, _ = model(x, lengths=torch.tensor(LENGTHS))
    assert out.shape == (B, T, model.output_size) and model.output_size == 2 * OPTS["hidden_size"]
    for b, n in enumerate(LENGTHS):
        torch.testing.assert_close(out[b, :n], _naive(model, x[b], n), rtol=0, atol=1e-12)
        assert torch.count_nonzero(out[b, n:]) == 0


def test_padding_characters_never_change_the_output():
    model = _model()
    x = _input()
    out, _ = model(x, lengths=LENGTHS)
    wider = torch.cat([x, torch.zeros(B, T, 4, dtype=torch.long)], 2)  # more padding columns
    with torch.no_grad():
        model.char_embedding.weight[0] = 1e3  # and a huge padding embedding
    out2, _ = model(wider, lengths=LENGTHS)
    torch.testing.assert_close(out, out2, rtol=0, atol=1e-12)
    changed = x.clone()  # while a real character does change it
    changed[0, 0, 1] = 1 if changed[0, 0, 1] != 1 else 2
    assert not torch.allclose(model(changed, lengths=LENGTHS)[0][0], out[0])


def test_padding_windows_never_win_the_max():
    """A one-character word: the max is over its K windows only, never over padding-only windows (which would
    give tanh(conv.bias) for every filter)."""
    model = _model()
    with torch.no_grad():
        model.conv.bias.fill_(5.0)  # a padding-only window would win every filter
    chars = torch.tensor([[3, 0, 0, 0, 0, 0]])
    r = model.char_features(chars)
    assert (r < torch.tanh(torch.tensor(5.0, dtype=torch.float64))).any()
    torch.testing.assert_close(r, model.char_features(chars[:, :1]))


def test_batch_equals_each_sentence_alone_and_mask_equals_lengths():
    model = _model()
    x = _input()
    out, state = model(x, lengths=torch.tensor(LENGTHS))
    mask = torch.arange(T)[None] < torch.tensor(LENGTHS)[:, None]
    out_m, _ = model(x, mask=mask)
    torch.testing.assert_close(out, out_m)
    for b, n in enumerate(LENGTHS):
        alone, _ = model(x[b:b + 1, :n])
        torch.testing.assert_close(out[b:b + 1, :n], alone, rtol=0, atol=1e-12)


def test_bidirectional_uses_the_future_and_two_layers_run():
    model = _model(num_layers=2)
    x = _input()
    out, _ = model(x)
    late = x.clone()
    late[0, 4, 0] = (late[0, 4, 0] + 1) % OPTS["word_vocab"]
    out2, _ = model(late)
    assert not torch.allclose(out[0, 0], out2[0, 0])  # step 0 sees step 4 through the backward LSTM
    assert len(model.lstm.layers) == 2


def test_dropout_acts_in_training_only_and_gradients_flow():
    model = _model(dropout=0.5).train()
    x = _input()
    a, _ = model(x, lengths=LENGTHS)
    b, _ = model(x, lengths=LENGTHS)
    assert not torch.equal(a, b)
    a.sum().backward()
    assert all(p.grad is not None for n, p in model.named_parameters() if n != "char_embedding.weight") and \
        model.char_embedding.weight.grad[1:].abs().sum() > 0
    model.eval()
    torch.testing.assert_close(model(x, lengths=LENGTHS)[0], model(x, lengths=LENGTHS)[0])


def test_bad_dropout_raises_naming_it():
    with pytest.raises(ValueError, match=r"dropout: expected a probability in \[0, 1\)"):
        CNNBiLSTM(**OPTS, dropout=1.0)


def test_registry_entry():
    info = rnnzoo.model_info("cnn_bilstm")
    assert info.kind is rnnzoo.ModelKind.MODEL and info.input_kind is rnnzoo.InputKind.WORD_CHARS
    assert isinstance(_model(), CNNBiLSTM)
    assert info.paper.arxiv == "1603.01354"


@pytest.mark.parametrize("x, error, match", [
    (torch.zeros(B, T, 1 + W), TypeError, "x: expected dtype int64"),
    (torch.zeros(T, 1 + W, dtype=torch.long), ValueError, r"x: expected shape \(B, T, 1 \+ W\)"),
    (torch.zeros(B, T, 1, dtype=torch.long), ValueError, r"x: expected shape \(B, T, 1 \+ W\) with W >= 1"),
    (torch.full((B, T, 1 + W), OPTS["word_vocab"], dtype=torch.long), ValueError, r"x: word ids .* got 11"),
    (torch.cat([torch.zeros(B, T, 1, dtype=torch.long), torch.full((B, T, W), 9)], 2), ValueError,
     r"x: character ids .*char_vocab=9\), got 9"),
    (torch.tensor([[[1, 0, 2]]]), ValueError, "x: character ids must be left-aligned"),
    ([[1, 2]], TypeError, "x: expected an int64 tensor"),
])
def test_bad_input_raises_naming_the_argument(x, error, match):
    with pytest.raises(error, match=match):
        _model()(x)


@pytest.mark.parametrize("options, match", [
    (dict(hidden_size=0), "hidden_size: expected a positive int"),
    (dict(char_cnn="yes"), "char_cnn: expected True or False"),
    (dict(char_vocab=1), "char_vocab: expected >= 2"),
    (dict(colour=1), "options: 'cnn_bilstm' has no option 'colour'"),
])
def test_create_builds_it_and_bad_options_raise_naming_them(options, match):
    assert isinstance(rnnzoo.create("cnn_bilstm", **OPTS), CNNBiLSTM)
    with pytest.raises((TypeError, ValueError), match=match):
        rnnzoo.create("cnn_bilstm", **{**OPTS, **options})


def _spelling_task(n=32, steps=6, width=4, seed=0):
    """Generated tagging data only the characters can solve: every word id is 0, the tag is the class of the
    word's first character ((c - 1) // 2 for c in 1..6, three tags)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, steps, 1 + width, dtype=torch.long)
    lens = torch.randint(1, width + 1, (n, steps), generator=g)
    chars = torch.randint(1, 7, (n, steps, width), generator=g)
    x[..., 1:] = torch.where(torch.arange(width) < lens.unsqueeze(2), chars, 0)
    return x, (x[..., 1] - 1) // 2


@pytest.mark.parametrize("char_cnn", [True, False])
def test_cnn_bilstm_crf_learns_a_spelling_task_only_with_the_char_cnn(char_cnn):
    from rnnzoo.crf import CRF

    torch.manual_seed(0)
    model = CNNBiLSTM(hidden_size=8, word_vocab=1, char_vocab=7, word_dim=4, char_dim=8, char_filters=8,
                      dropout=0.0, char_cnn=char_cnn)
    head, crf = torch.nn.Linear(model.output_size, 3), CRF(3)
    params = [*model.parameters(), *head.parameters(), *crf.parameters()]
    opt = torch.optim.Adam(params, lr=0.05)
    x, tags = _spelling_task()
    for _ in range(40):
        opt.zero_grad()
        crf.nll(head(model(x)[0]), tags).mean().backward()
        opt.step()
    x_test, tags_test = _spelling_task(seed=1)
    accuracy = crf.accuracy(head(model(x_test)[0]), tags_test).item()
    assert accuracy > 0.95 if char_cnn else accuracy < 0.6, accuracy


def test_create_forwards_num_layers_and_dropout_to_the_whole_model():
    model = rnnzoo.create("cnn_bilstm", hidden_size=8, word_vocab=20, char_vocab=10, num_layers=2, dropout=0.1)
    assert model.num_layers == 2 and model.dropout_p == 0.1
    with pytest.raises(TypeError, match="bidirectional"):
        rnnzoo.create("cnn_bilstm", hidden_size=8, word_vocab=20, char_vocab=10, bidirectional=True)
